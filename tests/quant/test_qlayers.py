"""Each quantized layer's output against float64 within a bound derived from the scales:
for y = W x + b with x ~ x_q (|x - x_q| <= s_in / 2) and W ~ W_q (|W - W_q| <= s_w / 2 per row),
|W x - W_q x_q| <= s_w / 2 * sum|x| + s_in / 2 * sum|W_q|, plus half an output step. Max pooling
commutes with quantization (exact); global average pooling is within half a step. Values outside
the calibrated range saturate, never wrap."""
import numpy as np
import pytest

from fastnn import _C
from fastnn.quant import choose_qparams
from fastnn.quant import stages as st

F32 = np.float32
EPS = np.finfo(F32).eps


def deq(q, qp):
    return (q.astype(np.float64) - qp[1]) * qp[0]


def linear_bound(x, wq_deq, s_w, s_in, s_out):
    # per output element (i, j): the two input/weight terms, half an output step, float32 slack
    t1 = np.abs(x).sum(1)[:, None] * (s_w[None, :] / 2)
    t2 = (s_in * (0.5 + 512 * EPS)) * np.abs(wq_deq).sum(1)[None, :]
    return t1 + t2 + s_out * (0.5 + 1e-3)


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("relu", [False, True])
def test_qlinear_within_scale_bound(isa, rng, per_channel, relu):
    n, k, m = 70, 37, 19
    x = rng.uniform(-1, 2, (n, k)).astype(F32)
    w = (rng.standard_normal((m, k)) * rng.uniform(0.05, 1, (m, 1))).astype(F32)
    b = (rng.standard_normal(m) * 0.1).astype(F32)
    ref = x.astype(np.float64) @ w.T.astype(np.float64) + b
    if relu:
        ref = np.maximum(ref, 0)
    qin = choose_qparams(x.min(), x.max())
    qout = choose_qparams(ref.min(), ref.max())
    wq, s_w = _C.quantize_weights_s8(w, per_channel)
    stage = st.QLinear(wq, s_w, b, *qin, *qout, relu=relu)
    xq = _C.quantize_u8(x, *qin)
    yq = stage.run(xq)
    y = deq(yq, qout)
    bound = linear_bound(x, wq * s_w[:, None].astype(np.float64), s_w, qin[0], qout[0])
    assert np.all(np.abs(y - ref) <= bound)
    # and the integer pipeline itself: exact int64 accumulator, requantised in float64, is the
    # same uint8 up to float32 rounding at .5 ties
    acc = (xq.astype(np.int64) - qin[1]) @ wq.astype(np.int64).T
    v = acc * (np.float64(qin[0]) * s_w.astype(np.float64)) + b
    v = np.maximum(v, 0) if relu else v
    want = np.clip(np.rint(v / qout[0]) + qout[1], 0, 255)
    assert np.abs(yq.astype(np.int64) - want).max() <= 1
    assert (yq == want).mean() > 0.99
    # float32 output (the logits layer): no output step
    stage_f = st.QLinear(wq, s_w, b, *qin, relu=relu)
    yf = stage_f.run(_C.quantize_u8(x, *qin))
    assert yf.dtype == F32
    assert np.all(np.abs(yf - ref) <= bound - qout[0] * (0.5 + 1e-3) + 1e-5 * np.abs(ref).max())


def conv_ref_nchw(x, w, b, stride, pad):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    cols = np.empty((n, oh, ow, kh, kw, c))
    for ky in range(kh):
        for kx in range(kw):
            ys, xs = slice(ky, ky + stride * (oh - 1) + 1, stride), \
                slice(kx, kx + stride * (ow - 1) + 1, stride)
            win = xp[:, :, ys, xs]
            cols[:, :, :, ky, kx, :] = win.transpose(0, 2, 3, 1)
    cols = cols.reshape(n * oh * ow, -1)
    wf = w.transpose(0, 2, 3, 1).reshape(o, -1).astype(np.float64)
    return cols, (cols @ wf.T + b).reshape(n, oh, ow, o)


@pytest.mark.parametrize("c,o,k,stride,pad", [(1, 8, 3, 1, 1), (5, 16, 3, 2, 1), (32, 7, 1, 1, 0),
                                              (3, 33, 5, 1, 2)])
def test_qconv2d_within_scale_bound(isa, rng, c, o, k, stride, pad):
    x = rng.uniform(0, 1.5, (2, c, 9, 8)).astype(F32)
    w = (rng.standard_normal((o, c, k, k)) * 0.2).astype(F32)
    b = (rng.standard_normal(o) * 0.1).astype(F32)
    cols, ref = conv_ref_nchw(x, w, b, stride, pad)
    ref = np.maximum(ref, 0)
    qin = choose_qparams(x.min(), x.max())
    qout = choose_qparams(ref.min(), ref.max())
    kk = c * k * k
    kp = c if k == 1 else -(-kk // 4) * 4
    wf = np.pad(w.transpose(0, 2, 3, 1).reshape(o, kk), ((0, 0), (0, kp - kk)))
    wq, s_w = _C.quantize_weights_s8(np.ascontiguousarray(wf), True)
    stage = st.QConv2d(wq, s_w, b, *qin, *qout, True, (k, k), (stride, stride), (pad, pad), (1, 1))
    y = deq(stage.run(_C.quantize_u8(x, *qin, nhwc=True)), qout)
    assert y.shape == ref.shape
    bound = linear_bound(cols, (wq * s_w[:, None])[:, :kk].astype(np.float64), s_w, qin[0],
                         qout[0])
    assert np.all(np.abs(y.reshape(-1, o) - ref.reshape(-1, o)) <= bound)


def test_qmaxpool_commutes_with_quantization(isa, rng):
    x = rng.uniform(-1, 3, (2, 5, 8, 8)).astype(F32)
    qp = choose_qparams(x.min(), x.max())
    q = _C.quantize_u8(x, *qp, nhwc=True)
    y = st.QMaxPool2d((2, 2), (2, 2), (0, 0)).run(q)
    xd = _C.dequantize_u8(q, *qp, nchw=True).reshape(2, 5, 4, 2, 4, 2)
    np.testing.assert_array_equal(_C.dequantize_u8(y, *qp, nchw=True), xd.max(axis=(3, 5)))


def test_qglobal_avgpool_within_half_step(isa, rng):
    x = rng.uniform(0, 2, (3, 6, 5, 7)).astype(F32)
    qp = choose_qparams(0, x.max())
    q = _C.quantize_u8(x, *qp, nhwc=True)
    y = st.QGlobalAvgPool2d().run(q)
    mean = _C.dequantize_u8(q, *qp, nchw=True).astype(np.float64).mean(axis=(2, 3))
    assert np.all(np.abs(deq(y, qp) - mean) <= qp[0] / 2 * (1 + 1e-6))
    assert st.QGlobalAvgPool2d(keepdim=True).run(q).shape == (3, 1, 1, 6)


def test_outputs_outside_the_calibrated_range_saturate(isa, rng):
    x = rng.uniform(0, 1, (40, 16)).astype(F32)
    w = rng.standard_normal((8, 16)).astype(F32)
    ref = x @ w.T
    qin = choose_qparams(0, 1)
    qout = choose_qparams(-0.5, 0.5)  # far narrower than the real outputs
    wq, s_w = _C.quantize_weights_s8(w, True)
    y = st.QLinear(wq, s_w, None, *qin, *qout).run(_C.quantize_u8(x, *qin))
    hi, lo = ref > 0.5 + qout[0], ref < -0.5 - qout[0]
    assert hi.any() and lo.any()
    assert np.all(y[hi] == 255) and np.all(y[lo] == 0)  # never wraps around
    # inputs beyond the input range saturate too: the same as clipped inputs
    big = x * 50 - 20
    np.testing.assert_array_equal(_C.quantize_u8(big, *qin),
                                  _C.quantize_u8(np.clip(big, 0, 255 * qin[0]), *qin))
