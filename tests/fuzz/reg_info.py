"""Fuzz registry, the module's own entry points (module.cpp, bind_gemm.cpp, bind_conv_leaves.cpp,
bind_quant_gemm.cpp): build and dispatch information, ISA and thread settings. The two setters
are fuzzed with the current setting (s8_gemm_set_amx and bf16_set_amx too) as the valid call; tests/fuzz/test_fuzz.py restores both after
every case."""
from fastnn import _C

from .core import Arg, Call, registrar

ENTRIES = []
entry = registrar(ENTRIES)

# Names that take no argument: called once each (and once with a stray argument).
for _name in ("build_info", "active_isa", "get_num_threads", "gemm_tile", "gemm_config",
              "s8_gemm_info", "_conv_tile", "kernel_names"):
    entry(_name)(lambda _name=_name: Call(getattr(_C, _name)))


@entry("set_isa", Arg("name", "str"))
def _set_isa():
    return Call(_C.set_isa, name=_C.active_isa())


@entry("set_num_threads", Arg("n", "int"))
def _set_threads():
    return Call(_C.set_num_threads, n=_C.get_num_threads())


@entry("s8_gemm_set_amx", Arg("mode", "str"))
def _set_amx():
    return Call(_C.s8_gemm_set_amx, mode=_C.s8_gemm_info()["amx_mode"])


@entry("bf16_set_amx", Arg("mode", "str"))
def _set_bf16_amx():
    return Call(_C.bf16_set_amx, mode=_C.gemm_config()["bf16_amx_mode"])


# The micro-kernel test hooks' tile query (bind_ukr.cpp).
entry("_ukr_tiles")(lambda: Call(_C._ukr_tiles))
