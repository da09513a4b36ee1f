"""bf16 mixed-precision products (Module.to_bf16(); kernel_table.h "[bf16 GEMM]"): both operands
rounded to bfloat16 (round to nearest even), exact products, float32 sums -- against a float64
reference of the rounded operands, on every ISA path: "generic" and "avx2" (the portable 8x8
emulation), "avx512" (VDPBF16PS where the CPU has avx512_bf16, else the AVX-512 emulation; AMX
off) and "avx512-amx" (the AMX tiles on every call; skipped where the CPU has none)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn import _C
from tests.kernels.amx_paths import PATHS, isa_with_amx

EPS = np.finfo(np.float32).eps
# Tile edges: generic/AVX2 8x8, AVX-512 14x32 (12x32 emulated), AMX 2 x 16 rows x 2 x 16 columns
# x 32 k; bf16 pairs along k (odd k); the rows path up to 3 rows.
EDGE_M = [1, 2, 3, 4, 7, 8, 9, 13, 14, 15, 16, 17, 31, 32, 33, 47]
EDGE_N = [1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 65]
EDGE_K = [1, 2, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 257, 1031]


def amx_usable():
    return bool(_C.gemm_config()["bf16_amx_usable"])


@pytest.fixture(params=PATHS)
def isa(request):
    """conftest's `isa`, with the AVX-512 table's two bf16 paths (AMX off / AMX on), named
    "avx512" / "avx512-amx" for the tests."""
    for base in isa_with_amx(request.param, _C.bf16_set_amx, amx_usable, "bf16"):
        yield request.param


def bf16(x):
    """x rounded to bfloat16 (nearest even), as float32: numpy's own reference of the rounding."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = np.where(nan, ((u >> 16) | 0x40) << 16, r)
    return r.astype(np.uint32).view(np.float32).reshape(np.shape(x))


def ref(a, b):
    return bf16(a).astype(np.float64) @ bf16(b).astype(np.float64)


def tol(a, b):
    """float32 summation error of the exact bf16 products: eps * sqrt(k) * the largest sum of
    magnitudes (times a small constant for the blocked sums)."""
    k = a.shape[1]
    mag = np.abs(bf16(a)).astype(np.float64) @ np.abs(bf16(b)).astype(np.float64)
    return 4 * EPS * np.sqrt(k) * mag.max() + 1e-30


def test_numpy_rounding_matches_the_frame():
    """The test's bf16() and the frame's rounding agree (ties to even, NaN quiet, inf kept):
    matmul_reference(bf16=True) of a column times 1."""
    vals = np.array([1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8), 3.0e38, np.inf, -np.inf,
                     1e-40, 0.0, -0.0, 0.1, 65504.0, 1.00390625], np.float32)
    got = _C.matmul_reference(vals[:, None], np.ones((1, 1), np.float32), bf16=True)[:, 0]
    np.testing.assert_array_equal(got, bf16(vals))
    assert bf16(np.float32(1 + 2 ** -8)) == 1.0 and bf16(np.float32(1 + 3 * 2 ** -8)) == 1 + 2 ** -6


@pytest.mark.parametrize("m", EDGE_M)
def test_edge_shapes(isa, m):
    rng = np.random.default_rng(m)
    for n in EDGE_N:
        for k in EDGE_K[:: 1 if m in (1, 17, 33) else 3]:
            a = rng.standard_normal((m, k)).astype(np.float32)
            b = rng.standard_normal((k, n)).astype(np.float32)
            got = _C.matmul(a, b, bf16=True)
            np.testing.assert_allclose(got, ref(a, b), rtol=0, atol=tol(a, b),
                                       err_msg=f"{isa} m={m} n={n} k={k}")


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_few_rows_with_weight_layout(isa, m):
    """a @ w.T with w row-major (a Linear): up to 4 rows take the rows path (bf16_gemv_rows
    leaf, weights rounded as read), from 5 the GEMM; both against the reference."""
    rng = np.random.default_rng(40 + m)
    for n in EDGE_N:
        for k in EDGE_K:
            a = rng.standard_normal((m, k)).astype(np.float32)
            w = rng.standard_normal((n, k)).astype(np.float32)
            got = _C.matmul(a, w, trans_b=True, bf16=True)
            np.testing.assert_allclose(got, ref(a, w.T), rtol=0, atol=tol(a, w.T),
                                       err_msg=f"{isa} m={m} n={n} k={k}")


def test_rounding_really_happens(isa):
    """A product whose float32 value differs from the bf16 one by far more than the tolerance:
    the bf16 flag is not ignored."""
    a = np.full((5, 64), 1 + 2 ** -8, np.float32)  # rounds to 1.0 (tie to even)
    b = np.full((64, 33), 1 + 3 * 2 ** -8, np.float32)  # rounds to 1 + 2**-6
    got = _C.matmul(a, b, bf16=True)
    np.testing.assert_array_equal(got, np.full((5, 33), 64 * (1 + 2 ** -6), np.float32))
    assert abs(float(_C.matmul(a, b)[0, 0]) - 64 * (1 + 2 ** -6)) > 1e-3  # float32: 65.0029


def test_small_integers_exact(isa):
    """Integers below 2**8 are bf16 values and their sums stay exact in float32: every path
    gives the exact product."""
    rng = np.random.default_rng(1)
    for m, n, k in [(1, 10, 784), (2, 33, 129), (33, 65, 257), (64, 64, 1024)]:
        a = rng.integers(-15, 16, (m, k)).astype(np.float32)
        b = rng.integers(-15, 16, (k, n)).astype(np.float32)
        np.testing.assert_array_equal(_C.matmul(a, b, bf16=True),
                                      (a.astype(np.int64) @ b.astype(np.int64)).astype(np.float32))


def test_strided_epilogue_and_accumulate(isa):
    rng = np.random.default_rng(2)
    for m, n, k in [(1, 40, 50), (3, 17, 9), (20, 33, 70), (45, 70, 129)]:
        a = rng.standard_normal((k, m)).astype(np.float32)  # used transposed
        b = rng.standard_normal((n, k)).astype(np.float32)  # used transposed
        bias = rng.standard_normal(n).astype(np.float32)
        want = ref(a.T, b.T) + bias
        got = _C.matmul(a, b, trans_a=True, trans_b=True, bias=bias, act=_C.Unary.relu, bf16=True)
        t = tol(a.T, b.T) + 4 * EPS * np.abs(bias).max()
        np.testing.assert_allclose(got, np.maximum(want, 0), rtol=0, atol=t)
        out = rng.standard_normal((m, n)).astype(np.float32)
        want2 = 0.5 * ref(a.T, b.T) + out
        got2 = _C.matmul(a[:, :], b, trans_a=True, trans_b=True, alpha=0.5, out=out.copy(),
                         beta=1.0, bf16=True)
        np.testing.assert_allclose(got2, want2, rtol=0, atol=t + 4 * EPS * np.abs(out).max())
        # a view with a row stride: every second row of a larger array
        big = rng.standard_normal((2 * m, k)).astype(np.float32)
        np.testing.assert_allclose(_C.matmul(big[::2], b.T, bf16=True), ref(big[::2], b.T),
                                   rtol=0, atol=tol(big[::2], b.T))


def test_nan_and_inf_propagate(isa):
    a = np.ones((4, 40), np.float32)
    a[1, 3] = np.nan
    a[2, 5] = np.inf
    b = np.ones((40, 18), np.float32)
    got = _C.matmul(a, b, bf16=True)
    assert np.isnan(got[1]).all() and np.isposinf(got[2]).all()
    assert (got[[0, 3]] == 40).all()


def test_threads_same_bits(isa, threads):
    rng = np.random.default_rng(3)
    for m, n, k in [(2, 300, 400), (96, 200, 300), (300, 64, 77)]:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        fastnn.set_num_threads(1)
        one = _C.matmul(a, b, bf16=True)
        fastnn.set_num_threads(2)
        np.testing.assert_array_equal(_C.matmul(a, b, bf16=True), one)


def test_emulation_gives_the_native_bits():
    """FASTNN_NO_BF16=1 registers the AVX-512 emulation instead of VDPBF16PS: the same bits (both
    add the high pair's product, then the low one's, each rounded to float32)."""
    if not _C.gemm_config()["bf16_native"]:
        pytest.skip("no avx512_bf16 on this CPU/build: the emulation is the only AVX-512 path")
    code = ("import numpy as np, sys\nfrom fastnn import _C\n_C.bf16_set_amx('off')\n"
            "rng = np.random.default_rng(5)\nouts = []\n"
            "for m, n, k in [(1, 33, 7), (15, 33, 65), (40, 70, 300)]:\n"
            "    a = rng.standard_normal((m, k)).astype(np.float32)\n"
            "    b = rng.standard_normal((k, n)).astype(np.float32)\n"
            "    outs.append(_C.matmul(a, b, bf16=True))\n"
            "np.savez(sys.argv[1], *outs)\n"
            "print(_C.gemm_config()['bf16_kernel'])\n")
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        res = {}
        for label, extra in (("native", {}), ("emu", {"FASTNN_NO_BF16": "1"})):
            env = dict(os.environ, FASTNN_ISA="avx512", **extra)
            path = os.path.join(d, label + ".npz")
            r = subprocess.run([sys.executable, "-c", code, path], env=env, capture_output=True,
                               text=True, check=True)
            res[label] = (r.stdout.strip(), np.load(path))
        assert "vdpbf16ps" in res["native"][0] and "emulated" in res["emu"][0]
        for key in res["native"][1]:
            np.testing.assert_array_equal(res["emu"][1][key], res["native"][1][key])


def test_set_amx_errors():
    prev = _C.bf16_set_amx("off")
    try:
        with pytest.raises(ValueError, match="mode: expected 'off', 'auto' or 'on', got 'yes'"):
            _C.bf16_set_amx("yes")
        assert _C.bf16_set_amx("auto") == "off"
        if not amx_usable():
            with pytest.raises(ValueError, match="AMX bf16 tiles are not usable"):
                _C.bf16_set_amx("on")
            assert _C.gemm_config()["bf16_amx"] is False
        else:
            assert _C.bf16_set_amx("on") == "auto"
            assert _C.gemm_config()["bf16_amx"] is True
    finally:
        _C.bf16_set_amx(prev)


def test_config_reports_the_kernel(isa):
    cfg = _C.gemm_config()
    assert cfg["bf16_amx"] == isa.endswith("-amx")
    if isa in ("generic", "avx2"):
        assert cfg["bf16_tile"] == (8, 8) and "emulated" in cfg["bf16_kernel"]
    else:
        assert cfg["bf16_tile"] in ((14, 32), (12, 32))


# ---- the bf16 convolution (conv2d_forward algorithm "bf16": the im2col GEMM in bf16) ----------
CONV_CASES = [  # (n, c, h, w, k, kh, kw, stride, padding, dilation, groups)
    (1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1),
    (2, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1),
    (3, 7, 13, 11, 5, 3, 3, 1, 1, 1, 1),
    (2, 32, 14, 14, 64, 3, 3, 1, 1, 1, 1),
    (1, 17, 9, 9, 33, 3, 3, 2, 1, 1, 1),
    (2, 6, 11, 10, 4, 5, 3, (2, 1), (2, 0), (1, 2), 2),
    (2, 65, 8, 8, 31, 1, 1, 1, 0, 1, 1),
    (1, 3, 30, 31, 16, 7, 7, 2, 3, 1, 1),
    (2, 70, 9, 9, 20, 1, 1, 2, 0, 1, 1),      # a 1x1 stride-2 shortcut (one phase plane)
    (1, 33, 13, 14, 17, 3, 3, 3, 1, 1, 1),    # stride 3: 9 phase planes
    (1, 80, 8, 8, 16, 3, 3, 2, 1, 1, 2),      # strided, grouped
    (2, 40, 10, 10, 8, 3, 3, 1, 2, 2, 1),     # dilated, stride 1 (PaddedWidth)
    (1, 40, 10, 10, 8, 3, 3, 2, 2, 2, 1),     # dilated and strided: the rounded-copy path
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_forward(isa, threads, case):
    from tests.conv_reference import conv2d_ref
    n, c, h, w, k, kh, kw, s, p, d, g = case
    rng = np.random.default_rng(h * w + k)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((k, c // g, kh, kw)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    want = conv2d_ref(bf16(x), bf16(wt), b, s, p, d, g)
    t = 8 * EPS * np.sqrt(c // g * kh * kw) * np.abs(x).max() * np.abs(wt).max() * 4 + \
        4 * EPS * np.abs(b).max()
    for nt in (1, 2):
        fastnn.set_num_threads(nt)
        got = _C.conv2d_forward(x, wt, b, pair(s), pair(p), pair(d), g, "bf16")
        np.testing.assert_allclose(got, want, rtol=0, atol=t, err_msg=f"{isa} {case} {nt}")


def test_conv_depthwise_stays_float32(isa):
    """A depthwise layer has no bf16 path (bound by memory): "bf16" runs the float32 kernel."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 8, 10, 10)).astype(np.float32)
    w = rng.standard_normal((8, 1, 3, 3)).astype(np.float32)
    args = ((1, 1), (1, 1), (1, 1), 8)
    np.testing.assert_array_equal(_C.conv2d_forward(x, w, None, *args, "bf16"),
                                  _C.conv2d_forward(x, w, None, *args, "auto"))


def test_conv_bf16_is_forward_only():
    x = np.ones((1, 2, 5, 5), np.float32)
    w = np.ones((3, 2, 3, 3), np.float32)
    dy = np.ones((1, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match="'bf16': computes the forward only"):
        _C.conv2d_backward(x, dy, w, (1, 1), (0, 0), (1, 1), 1, True, None, None, "bf16")
    with pytest.raises(ValueError, match="Conv2d: algorithm: 'bf16' is set for inference by "
                                         "Module.to_bf16"):
        fastnn.nn.Conv2d(2, 3, 3, algorithm="bf16")
