"""The `isa` fixture of the kernel suites with AMX tiles: conftest's ISA paths, and the AVX-512
table once more with AMX forced on for every call ("avx512-amx"; the plain "avx512" runs with it
off). Used by the int8 (test_gemm_s8.py) and bf16 (test_gemm_bf16.py) GEMM tests."""
import pytest

import fastnn

PATHS = ["generic", "avx2", "avx512", "avx512-amx"]


def isa_with_amx(name, set_amx, usable, what):
    """Generator for a fixture: switch to ISA `name` (with "-amx": AMX on, else off, through
    `set_amx`), yield the base ISA name, restore both. Skips paths this machine lacks."""
    from tests.conftest import SUPPORTED_ISAS, _PINNED
    base, amx = name.split("-")[0], name.endswith("-amx")
    if base not in SUPPORTED_ISAS:
        pytest.skip(f"ISA {base} not supported on this machine/build")
    if _PINNED and base != _PINNED:
        pytest.skip(f"suite pinned to FASTNN_ISA={_PINNED}")
    if amx and not usable():
        pytest.skip(f"no AMX {what} tiles on this CPU/OS/build (Sapphire Rapids and later)")
    before = fastnn.get_isa()
    fastnn.set_isa(base)
    prev = set_amx("on" if amx else "off")
    try:
        yield base
    finally:
        set_amx(prev)
        fastnn.set_isa(before)
