"""bf16 inference: ``Module.to_bf16()`` / ``Module.to_float()``.

``to_bf16()`` sets ``precision = "bf16"`` on every Linear and Conv2d of a module. In eval mode --
the compiled inference plan and the layers' own forward alike -- their products then run with
both operands rounded to bfloat16 (round to nearest even: 8 significant bits) and float32 sums
(kernel_table.h "[bf16 GEMM]"). Training mode (``fit``, backward, the optimizers) stays float32,
as do the weights (nothing is converted in place: ``to_float()`` gives the float32 outputs back
bit for bit), the state_dict, ``fastnn.save`` and every other layer, a depthwise Conv2d included.
The mode is not saved in files: a loaded model computes in float32 until ``to_bf16()`` is called
again. The products use AMX tiles or VDPBF16PS where the CPU has them (Sapphire Rapids, Cooper
Lake, Zen 4); elsewhere an emulation gives the same results, slower than float32, with a
RuntimeWarning (once per process). Accuracy and speed: docs/kernels.md "bf16 inference" and
``bench/compare.py bf16``.
"""
import warnings

from fastnn import _C

_bf16_warned = [False]


def set_precision(module, precision):
    """Set ``precision`` on every Linear / Conv2d of module (an attribute assignment: the plans
    that cover them are rebuilt). Warns once per process when bf16 is emulated."""
    from fastnn.nn.conv import Conv2d
    from fastnn.nn.linear import Linear
    if precision == "bf16" and not _bf16_warned[0]:
        cfg = _C.gemm_config()
        if not (cfg["bf16_native"] or cfg["bf16_amx"]):
            _bf16_warned[0] = True
            warnings.warn(f"to_bf16: this CPU (or FASTNN_ISA / FASTNN_NO_BF16) gives no "
                          f"avx512_bf16 or AMX; the bf16 products are emulated "
                          f"({cfg['bf16_kernel']}): the same results, slower than float32",
                          RuntimeWarning, stacklevel=3)
    for m in module.modules():
        if type(m) in (Linear, Conv2d):
            m.precision = precision
