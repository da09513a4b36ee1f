"""Shared fixtures: a seeded rng, `isa` (runs a test once per ISA path this machine has) and
`torch` (PyTorch for the reference comparisons).

A test that compares against PyTorch takes the `torch` fixture (never `pytest.importorskip`): it is
marked `torch`, skips when PyTorch is not installed (the README's test command does not install it)
and fails instead under FASTNN_REQUIRE_TORCH=1 -- the reference stage of .ci/run, which installs
the `bench` extra and runs `pytest -m torch`, so a missing torch cannot pass as green."""
import importlib
import os
import zlib

import numpy as np
import pytest

import fastnn
from fastnn import _C

ALL_ISAS = ("generic", "avx2", "avx512")
SUPPORTED_ISAS = tuple(i for i in ALL_ISAS if i in _C.build_info()["isa_supported"])
# Under FASTNN_ISA the suite is pinned to that path (used to run the suite once per path).
_PINNED = os.environ.get("FASTNN_ISA")


REQUIRE_TORCH = os.environ.get("FASTNN_REQUIRE_TORCH", "0") not in ("", "0")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "torch" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.torch)


@pytest.fixture(scope="session")
def torch():
    try:  # the one gateway to the optional reference: imported by name, never at module level
        torch_module = importlib.import_module("torch")
    except ImportError as e:
        if REQUIRE_TORCH:
            pytest.fail(f"FASTNN_REQUIRE_TORCH=1 but PyTorch cannot be imported ({e}); "
                        "install the bench extra: pip install -e '.[bench]'", pytrace=False)
        pytest.skip("PyTorch is not installed (reference comparison; pip install -e '.[bench]')")
    return torch_module


@pytest.fixture
def rng(request):
    # Seeded per test so failures reproduce.
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)


@pytest.fixture(params=ALL_ISAS)
def isa(request):
    """Run the test with the kernel table of each ISA; skip paths this CPU or build lacks."""
    name = request.param
    if name not in SUPPORTED_ISAS:
        pytest.skip(f"ISA {name} not supported on this machine/build")
    if _PINNED and name != _PINNED:
        pytest.skip(f"suite pinned to FASTNN_ISA={_PINNED}")
    before = fastnn.get_isa()
    fastnn.set_isa(name)
    yield name
    fastnn.set_isa(before)


@pytest.fixture
def threads():
    """Restore the thread count after a test that changes it."""
    before = fastnn.get_num_threads()
    yield
    fastnn.set_num_threads(before)
