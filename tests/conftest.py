"""Shared fixtures: a seeded rng and `isa`, which runs a test once per ISA path this machine has."""
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
