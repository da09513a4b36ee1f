"""The quantized-tensor C++ ops against numpy references, exactly, on every ISA path: qparams,
quantize / dequantize (plain and NCHW <-> NHWC), min/max, histograms, int8 weights, dynamic
quantization, u8 max / global-average pooling, im2col and the u8 convolution."""
import numpy as np
import pytest

import fastnn
from fastnn import _C
from fastnn.quant import pack_weights, gemm_u8s8

F32 = np.float32
SIZES = [1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129, 1000, 70001]


def ref_quantize(x, scale, zp):
    inv = F32(1.0 / np.float64(F32(scale)))
    with np.errstate(invalid="ignore", over="ignore"):
        v = np.rint(x.astype(F32) * inv) + F32(zp)
        v = np.where(v > 0, v, F32(0))  # NaN -> 0
        v = np.where(v < 255, v, F32(255))
    return v.astype(np.uint8)


def ref_dequantize(q, scale, zp):
    return (q.astype(F32) - F32(zp)) * F32(scale)


# -- qparams ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("lo,hi", [(-1.0, 3.0), (0.0, 6.0), (0.5, 2.0), (-4.0, -1.0), (-2.5, 2.5),
                                   (0.0, 0.0), (-1e-9, 1e-9), (-3.0, 1e6)])
def test_choose_qparams_arithmetic(lo, hi):
    scale, zp = _C.choose_qparams_u8(lo, hi)
    l, h = min(lo, 0.0), max(hi, 0.0)
    want = max(float(F32((h - l) / 255.0)), float(np.finfo(F32).eps))
    assert scale == want
    assert zp == int(min(255, max(0, np.rint(-l / np.float64(F32(want))))))
    # zero is exact; the range ends map inside [0, 255] (up to the scale's float32 rounding)
    assert ref_quantize(np.array([0.0], F32), scale, zp)[0] == zp
    assert ref_dequantize(np.array([zp], np.uint8), scale, zp)[0] == 0.0
    ends = ref_dequantize(np.array([0, 255], np.uint8), scale, zp)
    assert ends[0] <= l + scale and ends[1] >= h - scale


@pytest.mark.parametrize("lo,hi", [(np.nan, 1.0), (0.0, np.inf), (2.0, 1.0)])
def test_choose_qparams_rejects(lo, hi):
    with pytest.raises(ValueError, match="range"):
        _C.choose_qparams_u8(lo, hi)


# -- quantize / dequantize -------------------------------------------------------------------------
@pytest.mark.parametrize("n", SIZES)
def test_quantize_dequantize_exact(isa, rng, n):
    x = (rng.standard_normal(n) * 3).astype(F32)
    scale, zp = _C.choose_qparams_u8(-2.0, 5.0)
    q = _C.quantize_u8(x, scale, zp)
    np.testing.assert_array_equal(q, ref_quantize(x, scale, zp))
    d = _C.dequantize_u8(q, scale, zp)
    np.testing.assert_array_equal(d, ref_dequantize(q, scale, zp))
    inside = (x >= -2.0) & (x <= 5.0 - scale)
    # half a step, plus the float32 rounding of x / scale (|x / scale| <= 255) and of d
    bound = scale * (0.5 + 512 * np.finfo(F32).eps)
    assert np.all(np.abs(d[inside] - x[inside]) <= bound)


def test_quantize_round_trip_of_grid_is_exact(isa):
    # every representable value comes back exactly: q -> x -> q is the identity
    scale, zp = 0.25, 37
    q = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(_C.quantize_u8(_C.dequantize_u8(q, scale, zp), scale, zp), q)


def test_quantize_ties_round_half_to_even(isa):
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 253.5, 254.5], F32)
    np.testing.assert_array_equal(_C.quantize_u8(x, 1.0, 0), [0, 2, 2, 0, 0, 254, 254])
    np.testing.assert_array_equal(_C.quantize_u8(x, 1.0, 10), [10, 12, 12, 10, 8, 255, 255])


def test_quantize_saturates_never_wraps(isa):
    x = np.array([1e30, -1e30, np.inf, -np.inf, np.nan, 300.0, -300.0, 255.4, -0.4, 128.0], F32)
    q = _C.quantize_u8(x, 1.0, 0)
    np.testing.assert_array_equal(q, [255, 0, 255, 0, 0, 255, 0, 255, 0, 128])
    q = _C.quantize_u8(x, 0.5, 200)
    np.testing.assert_array_equal(q, ref_quantize(x, 0.5, 200))


def test_quantize_strided_and_float64_input(isa, rng):
    x = rng.standard_normal((37, 20)).astype(np.float64)
    view = x[::2, 1::3]
    q = _C.quantize_u8(view, 0.05, 100)
    np.testing.assert_array_equal(q, ref_quantize(view.astype(F32), 0.05, 100))
    assert q.shape == view.shape


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 1, 4, 4), (3, 32, 7, 7), (2, 5, 1, 1),
                                   (1, 70, 33, 3)])
def test_nchw_nhwc_layouts(isa, rng, shape):
    x = rng.uniform(-1, 2, shape).astype(F32)
    q = _C.quantize_u8(x, 0.02, 60, nhwc=True)
    np.testing.assert_array_equal(q, ref_quantize(x, 0.02, 60).transpose(0, 2, 3, 1))
    back = _C.dequantize_u8(q, 0.02, 60, nchw=True)
    np.testing.assert_array_equal(back, ref_dequantize(q, 0.02, 60).transpose(0, 3, 1, 2))


def test_out_arguments(rng):
    x = rng.uniform(-1, 1, (2, 3, 4, 5)).astype(F32)
    out = np.empty((2, 4, 5, 3), np.uint8)
    r = _C.quantize_u8(x, 0.01, 100, nhwc=True, out=out)
    assert r is out or np.shares_memory(r, out)
    np.testing.assert_array_equal(out, _C.quantize_u8(x, 0.01, 100, nhwc=True))
    back = np.empty_like(x)
    _C.dequantize_u8(out, 0.01, 100, nchw=True, out=back)
    np.testing.assert_array_equal(back, _C.dequantize_u8(out, 0.01, 100, nchw=True))
    with pytest.raises(ValueError, match=r"out: expected shape \(2, 4, 5, 3\)"):
        _C.quantize_u8(x, 0.01, 100, nhwc=True, out=np.empty((2, 3, 4, 5), np.uint8))
    with pytest.raises(TypeError, match="out: expected dtype uint8"):
        _C.quantize_u8(x, 0.01, 100, nhwc=True, out=np.empty((2, 4, 5, 3), np.int8))
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.maxpool2d_u8(out, (2, 2), (2, 2), (0, 0), out=np.empty((2, 2, 2, 6), np.uint8)[..., ::2])
    with pytest.raises(ValueError, match="share memory"):
        _C.global_avgpool_u8(out, out=out.reshape(-1)[:6].reshape(2, 3))


def test_quantize_bad_arguments():
    x = np.zeros(4, F32)
    with pytest.raises(ValueError, match=r"zero_point: must be in \[0, 255\], got 256"):
        _C.quantize_u8(x, 0.1, 256)
    with pytest.raises(ValueError, match=r"zero_point: must be in \[0, 255\], got -1"):
        _C.dequantize_u8(np.zeros(4, np.uint8), 0.1, -1)
    # beyond int32: the binding saturates, so the frame still rejects it (no wrap to 0)
    with pytest.raises(ValueError, match=r"zero_point: must be in \[0, 255\]"):
        _C.quantize_u8(x, 0.1, 2**32)
    with pytest.raises(ValueError, match=r"zero_point: must be in \[0, 255\]"):
        _C.quantize_u8(x.reshape(1, 2, 2, 1), 0.1, -(2**40), nhwc=True)
    with pytest.raises(ValueError, match="scale"):
        _C.quantize_u8(x, 0.0, 0)
    with pytest.raises(ValueError, match="scale"):
        _C.quantize_u8(x, np.nan, 0)
    with pytest.raises(TypeError, match="x"):
        _C.quantize_u8(np.zeros(4, np.int32), 0.1, 0)
    with pytest.raises(TypeError, match="uint8"):
        _C.dequantize_u8(np.zeros(4, np.int8), 0.1, 0)
    with pytest.raises(ValueError, match="4-D"):
        _C.quantize_u8(x, 0.1, 0, nhwc=True)


# -- statistics ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", SIZES)
def test_minmax(isa, rng, n):
    x = rng.standard_normal(n).astype(F32)
    assert _C.minmax_f32(x) == (x.min(), x.max())
    x[n // 2] = np.inf
    assert _C.minmax_f32(x)[1] == np.inf
    x[n // 3] = np.nan
    with pytest.raises(ValueError, match="acts: contains NaN"):
        _C.minmax_f32(x, "acts")


def test_minmax_empty():
    with pytest.raises(ValueError, match="non-empty"):
        _C.minmax_f32(np.zeros((0, 3), F32))


@pytest.mark.parametrize("absval", [False, True])
def test_histogram_counts(rng, absval, threads):
    x = rng.standard_normal(200003).astype(F32)
    x[:5] = [np.nan, 10.0, -10.0, 2.0, -2.0]
    lo, hi, bins = (0.0, 3.0, 96) if absval else (-3.0, 3.0, 77)
    v = np.abs(x) if absval else x
    v = v[~np.isnan(v)]
    inv = F32(bins / (hi - lo))
    b = np.clip((v - F32(lo)) * inv, 0, bins - 1).astype(np.int64)
    want = np.bincount(b, minlength=bins)
    for nt in (1, 2):
        fastnn.set_num_threads(nt)
        h = np.zeros(bins, np.int64)
        _C.histogram_f32(x, lo, hi, h, absval)
        np.testing.assert_array_equal(h, want)
        _C.histogram_f32(x, lo, hi, h, absval)  # accumulates
        np.testing.assert_array_equal(h, 2 * want)


def test_quantize_weights_s8(rng):
    w = rng.standard_normal((13, 29)).astype(F32)
    w[3] = 0.0
    for per_channel in (True, False):
        q, s = _C.quantize_weights_s8(w, per_channel)
        amax = np.abs(w).max(1) if per_channel else np.full(13, np.abs(w).max(), F32)
        want_s = np.where(amax > 0, amax / F32(127), F32(1)).astype(F32)
        np.testing.assert_array_equal(s, want_s)
        inv = (1.0 / want_s.astype(np.float64)).astype(F32)
        want_q = np.clip(np.rint(w * inv[:, None]), -127, 127).astype(np.int8)
        np.testing.assert_array_equal(q, want_q)
        assert np.all(np.abs(q.astype(F32) * s[:, None] - w) <= s[:, None] / 2 * (1 + 1e-5))
    with pytest.raises(ValueError, match="NaN or inf"):
        _C.quantize_weights_s8(np.full((2, 2), np.nan, F32), True)


def test_quantize_dynamic(isa, rng):
    x = rng.uniform(-3, 1, (17, 33)).astype(F32)
    q, scale, zp = _C.quantize_dynamic_u8(x)
    assert (scale, zp) == _C.choose_qparams_u8(float(x.min()), float(x.max()))
    np.testing.assert_array_equal(q, ref_quantize(x, scale, zp))
    with pytest.raises(ValueError, match="NaN"):
        _C.quantize_dynamic_u8(np.array([[1.0, np.nan]], F32))


# -- u8 layers -------------------------------------------------------------------------------------
def ref_maxpool_nhwc(x, k, s, p):
    n, h, w, c = x.shape
    xp = np.zeros((n, h + 2 * p[0], w + 2 * p[1], c), np.int16) - 1  # padding never wins
    xp[:, p[0]:p[0] + h, p[1]:p[1] + w] = x
    oh, ow = (h + 2 * p[0] - k[0]) // s[0] + 1, (w + 2 * p[1] - k[1]) // s[1] + 1
    y = np.empty((n, oh, ow, c), np.int16)
    for i in range(oh):
        for j in range(ow):
            win = xp[:, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]]
            y[:, i, j] = win.max(axis=(1, 2))
    return y.astype(np.uint8)


@pytest.mark.parametrize("shape,k,s,p", [((2, 8, 8, 32), (2, 2), (2, 2), (0, 0)),
                                         ((1, 7, 9, 3), (3, 3), (2, 2), (1, 1)),
                                         ((3, 5, 5, 65), (3, 2), (1, 2), (1, 1)),
                                         ((1, 4, 4, 1), (4, 4), (1, 1), (0, 0)),
                                         ((2, 6, 6, 130), (2, 2), (2, 2), (1, 0))])
def test_maxpool_u8(isa, rng, shape, k, s, p):
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    np.testing.assert_array_equal(_C.maxpool2d_u8(x, k, s, p), ref_maxpool_nhwc(x, k, s, p))


@pytest.mark.parametrize("shape", [(2, 7, 7, 64), (1, 1, 1, 3), (3, 5, 3, 17), (1, 2, 1, 100)])
def test_global_avgpool_u8_round_half_even(isa, rng, shape):
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    s = x.astype(np.int64).sum(axis=(1, 2))
    hw = shape[1] * shape[2]
    q, r = np.divmod(s, hw)
    want = q + ((2 * r > hw) | ((2 * r == hw) & (q % 2 == 1)))
    np.testing.assert_array_equal(_C.global_avgpool_u8(x), want.astype(np.uint8))


def test_global_avgpool_u8_ties():
    x = np.array([[1, 2], [2, 3], [254, 255]], np.uint8).T.reshape(1, 2, 1, 3)  # means .5 ties
    np.testing.assert_array_equal(_C.global_avgpool_u8(x), [[2, 2, 254]])


def ref_im2col_nhwc(x, k, s, p, d, pad, kp):
    n, h, w, c = x.shape
    xp = np.full((n, h + 2 * p[0], w + 2 * p[1], c), pad, np.uint8)
    xp[:, p[0]:p[0] + h, p[1]:p[1] + w] = x
    oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    cols = np.full((n, oh, ow, kp), pad, np.uint8)
    for ky in range(k[0]):
        for kx in range(k[1]):
            patch = xp[:, ky * d[0]:ky * d[0] + s[0] * (oh - 1) + 1:s[0],
                       kx * d[1]:kx * d[1] + s[1] * (ow - 1) + 1:s[1]]
            t = ky * k[1] + kx
            cols[..., t * c:(t + 1) * c] = patch
    return cols.reshape(n * oh * ow, kp)


CONV_CASES = [  # shape (n, h, w, c), kernel, stride, padding, dilation
    ((2, 8, 8, 1), (3, 3), (1, 1), (1, 1), (1, 1)),
    ((1, 9, 7, 3), (3, 3), (2, 2), (1, 1), (1, 1)),
    ((2, 6, 6, 32), (3, 3), (1, 1), (1, 1), (1, 1)),
    ((1, 10, 10, 5), (3, 2), (2, 1), (2, 0), (2, 1)),
    ((3, 4, 4, 67), (1, 1), (1, 1), (0, 0), (1, 1)),
    ((1, 5, 5, 8), (5, 5), (1, 1), (0, 0), (1, 1)),
    ((2, 3, 3, 130), (2, 2), (1, 1), (1, 1), (1, 1)),
]


@pytest.mark.parametrize("shape,k,s,p,d", CONV_CASES)
def test_im2col_u8(isa, rng, shape, k, s, p, d):
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    kk = k[0] * k[1] * shape[3]
    kp = -(-kk // 4) * 4 + 4
    got = _C.im2col_u8(x, k, s, p, d, 77, kp)
    np.testing.assert_array_equal(got, ref_im2col_nhwc(x, k, s, p, d, 77, kp))


@pytest.mark.parametrize("shape,k,s,p,d", CONV_CASES)
@pytest.mark.parametrize("cout", [1, 16, 45])
def test_conv2d_u8_exact(isa, rng, threads, shape, k, s, p, d, cout):
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    x.flat[:7] = 255
    c = shape[3]
    kk = k[0] * k[1] * c
    direct = k == (1, 1) and s == (1, 1) and p == (0, 0)
    kp = c if direct else -(-kk // 4) * 4
    w = rng.integers(-127, 128, (cout, kk), dtype=np.int8)
    w[0, :] = -128  # extremes
    wp = np.zeros((cout, kp), np.int8)
    wp[:, :kk] = w
    packed = pack_weights(wp)
    za = 13
    cols = ref_im2col_nhwc(x, k, s, p, d, za, kp)
    acc = (cols.astype(np.int64) - za) @ wp.astype(np.int64).T  # exact integer reference
    oh, ow = (shape[1] + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1, \
        (shape[2] + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    ones = np.ones(cout, F32)
    # float32 output with unit scales and no bias is the accumulator itself (|acc| < 2^24)
    y = _C.conv2d_u8(x, packed, k, s, p, d, kp, za, 1.0, ones, None, "float32")
    assert y.shape == (shape[0], oh, ow, cout)
    np.testing.assert_array_equal(y.reshape(-1, cout), acc.astype(F32))
    # uint8 output: the same bits as the (separately tested) GEMM on the im2col rows, any threads
    sb = rng.uniform(1e-3, 2e-3, cout).astype(F32)
    bias = rng.standard_normal(cout).astype(F32)
    want = gemm_u8s8(cols, packed, za=za, out_dtype="uint8", scale_a=0.02, scale_b=sb,
                     bias=bias, scale_out=0.05, z_out=7, relu=True)
    for nt in (1, 2):
        fastnn.set_num_threads(nt)
        got = _C.conv2d_u8(x, packed, k, s, p, d, kp, za, 0.02, sb, bias, "uint8", 0.05, 7, True)
        np.testing.assert_array_equal(got.reshape(-1, cout), want)


@pytest.mark.parametrize("shape,k,s,p,d", [CONV_CASES[0], CONV_CASES[2], CONV_CASES[3],
                                           CONV_CASES[4]])
@pytest.mark.parametrize("pool", [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)),
                                  ((2, 1), (1, 1), (1, 0))])
def test_conv2d_u8_fused_pool_is_conv_then_pool(isa, rng, threads, shape, k, s, p, d, pool):
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    c = shape[3]
    kk = k[0] * k[1] * c
    kp = c if (k, s, p) == ((1, 1), (1, 1), (0, 0)) else -(-kk // 4) * 4
    w = np.zeros((19, kp), np.int8)
    w[:, :kk] = rng.integers(-127, 128, (19, kk), dtype=np.int8)
    packed = pack_weights(w)
    sb = rng.uniform(1e-4, 3e-4, 19).astype(F32)
    args = (x, packed, k, s, p, d, kp, 9, 0.02, sb, None, "uint8", 0.05, 3, True)
    conv = _C.conv2d_u8(*args)
    want = _C.maxpool2d_u8(conv, *pool)
    for nt in (1, 2):
        fastnn.set_num_threads(nt)
        np.testing.assert_array_equal(_C.conv2d_u8(*args, pool=pool), want)
    with pytest.raises(ValueError, match="pool"):
        _C.conv2d_u8(*args, pool=((9, 9), (1, 1), (0, 0)))


def test_conv2d_u8_bad_arguments(rng):
    x = rng.integers(0, 256, (1, 6, 6, 3), dtype=np.uint8)
    packed = pack_weights(np.zeros((4, 28), np.int8))
    ones = np.ones(4, F32)
    with pytest.raises(ValueError, match=r"packed: expected weights of shape \(out_channels, 28\)"):
        _C.conv2d_u8(x, pack_weights(np.zeros((4, 27), np.int8)), (3, 3), (1, 1), (1, 1),
                     (1, 1), 28, 0, 1.0, ones, None, "uint8")
    with pytest.raises(ValueError, match="scale_b"):
        _C.conv2d_u8(x, packed, (3, 3), (1, 1), (1, 1), (1, 1), 28, 0, 1.0, np.ones(3, F32),
                     None, "uint8")
    with pytest.raises(ValueError, match="kernel"):
        _C.conv2d_u8(x, packed, (9, 9), (1, 1), (0, 0), (1, 1), 28, 0, 1.0, ones, None, "uint8")
    with pytest.raises(TypeError, match="uint8"):
        _C.conv2d_u8(x.astype(np.int8), packed, (3, 3), (1, 1), (1, 1), (1, 1), 28, 0, 1.0, ones,
                     None, "uint8")
    with pytest.raises(ValueError, match="4-D"):
        _C.conv2d_u8(x[0], packed, (3, 3), (1, 1), (1, 1), (1, 1), 28, 0, 1.0, ones, None,
                     "uint8")
    with pytest.raises(ValueError, match="za"):
        _C.conv2d_u8(x, packed, (3, 3), (1, 1), (1, 1), (1, 1), 28, 300, 1.0, ones, None,
                     "uint8")
