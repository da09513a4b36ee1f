"""pytest-benchmark cases for fastnn.ops.matmul, with numpy's matmul in the same group.

    python -m pytest bench/test_bench_gemm.py                     # all cases
    python -m pytest bench/test_bench_gemm.py -k "mlp and fused"  # a subset

Not collected by the test suite (pyproject's testpaths is ["tests"]); timings, not pass/fail.
Thread counts: fastnn.set_num_threads / OMP_NUM_THREADS and numpy's own defaults; for a
controlled side-by-side table use `python bench/compare.py gemm`.
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fastnn  # noqa: E402

# (id, M, K, N, trans_a, trans_b)
SHAPES = [
    ("square1024", 1024, 1024, 1024, False, False),
    ("mlp_fwd_784x512", 128, 784, 512, False, True),
    ("mlp_dW_784x512", 512, 128, 784, True, False),
    ("mlp_dX_784x512", 128, 512, 784, False, False),
    ("mlp_fwd_256x10", 128, 256, 10, False, True),
    ("im2col_12544x288x64", 12544, 288, 64, False, False),
]


def _operands(m, k, n, trans_a, trans_b):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if trans_a else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n), dtype=np.float32)
    bias = rng.standard_normal(n, dtype=np.float32)
    return a, b, bias, np.empty((m, n), np.float32)


@pytest.mark.parametrize("shape", SHAPES, ids=[s[0] for s in SHAPES])
@pytest.mark.parametrize("lib", ["fastnn", "numpy"])
def test_matmul(benchmark, shape, lib):
    name, m, k, n, ta, tb = shape
    a, b, _, out = _operands(m, k, n, ta, tb)
    benchmark.group = f"matmul {name}"
    benchmark.extra_info["gflop"] = 2.0 * m * n * k / 1e9
    if lib == "fastnn":
        benchmark(fastnn.ops.matmul, a, b, trans_a=ta, trans_b=tb, out=out)
    else:
        benchmark(np.matmul, a.T if ta else a, b.T if tb else b, out=out)


@pytest.mark.parametrize("shape", [s for s in SHAPES if s[0].startswith(("mlp_fwd", "im2col"))],
                         ids=lambda s: s[0])
@pytest.mark.parametrize("lib", ["fastnn", "numpy"])
def test_matmul_bias_relu_fused(benchmark, shape, lib):
    name, m, k, n, ta, tb = shape
    a, b, bias, out = _operands(m, k, n, ta, tb)
    benchmark.group = f"matmul+bias+relu {name}"
    benchmark.extra_info["gflop"] = 2.0 * m * n * k / 1e9
    if lib == "fastnn":
        benchmark(fastnn.ops.matmul, a, b, trans_a=ta, trans_b=tb, bias=bias, activation="relu",
                  out=out)
    else:
        a_op, b_op = (a.T if ta else a), (b.T if tb else b)

        def numpy_fused():
            np.matmul(a_op, b_op, out=out)
            np.add(out, bias, out=out)
            np.maximum(out, 0.0, out=out)

        benchmark(numpy_fused)
