"""Conv2d and ConvTranspose2d: forward and gradients against float64 references on every ISA path
(direct stride-1 kernels, the GEMM paths, depthwise), finite differences, torch where installed,
bad input."""
import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.nn.module import module_from_config
from fastnn import ops
from tests.conv_reference import (central_diff, conv2d_grads_ref, conv2d_ref, conv_transpose2d_ref,
                                  tol, winograd_tol)

# (n, cin, cout, kernel, stride, padding, dilation, groups, h, w, bias): each exercises a path or
# an edge of one (tile tails: 14/32-wide tiles on avx512, 6/16 on avx2, 8/8 generic).
CONV_CASES = [
    (2, 3, 8, 3, 1, 1, 1, 1, 9, 9, True),          # direct, per-row tiles
    (3, 5, 33, 3, 1, 1, 1, 1, 14, 15, True),       # kg past one channel panel, ow = 14 / wp = 16
    (2, 4, 15, 3, 1, 0, 1, 1, 8, 31, False),       # no padding: discarded columns in the tiles
    (1, 2, 16, (2, 3), 1, (1, 2), 1, 1, 7, 5, True),  # non-square kernel, batch 1
    (2, 6, 16, 3, 1, 2, 2, 2, 9, 10, True),        # dilation, groups
    (2, 8, 24, 1, 1, 0, 1, 1, 5, 7, True),         # 1x1: the input read in place
    (3, 4, 32, 1, 1, 0, 1, 2, 3, 3, False),        # 1x1 with groups
    (2, 1, 16, 3, 1, 1, 1, 1, 12, 11, True),       # one input channel: dX by GEMM + col2im
    (2, 5, 3, 3, 1, 1, 1, 1, 6, 6, True),          # few output channels: forward by GEMM
    (2, 3, 8, 3, 1, 3, 1, 1, 5, 6, True),          # padding > kernel - 1
    (2, 4, 10, 3, 2, 1, 1, 1, 11, 9, True),        # stride 2, few outputs: GEMM paths
    (2, 4, 32, 3, 2, 1, 1, 1, 11, 9, True),        # stride 2: direct forward and dW, GEMM dX
    (3, 3, 20, (3, 2), (2, 3), (2, 1), (2, 1), 1, 13, 14, True),  # strides, dilation, direct
    (2, 6, 8, (3, 2), (2, 3), (1, 0), (1, 2), 2, 13, 11, True),  # strides, dilation, groups
    (2, 6, 6, 3, 1, 1, 1, 6, 8, 9, True),          # depthwise
    (2, 4, 8, 3, 2, 1, 2, 4, 9, 8, False),         # depthwise, multiplier 2, stride, dilation
    (5, 3, 16, 3, 1, 1, 1, 1, 13, 29, True),       # images not divisible by threads
]


def _layer_and_inputs(rng, case):
    n, cin, cout, k, s, p, d, g, h, w, bias = case
    fastnn.manual_seed(7)
    m = nn.Conv2d(cin, cout, k, s, p, d, g, bias=bias)
    x = rng.standard_normal((n, cin, h, w)).astype(np.float32)
    return m, x


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("nthreads", [1, 2])
def test_conv2d_forward_backward(isa, rng, threads, case, nthreads):
    fastnn.set_num_threads(nthreads)
    n, cin, cout, k, s, p, d, g, h, w, bias = case
    m, x = _layer_and_inputs(rng, case)
    b = m.bias.data if bias else None
    y = m(x)
    want = conv2d_ref(x, m.weight.data, b, s, p, d, g)
    kdim = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
    # "auto" may pick Winograd (case 16), held to its own bound (tests/kernels/test_winograd.py).
    wino = ops.conv2d_algorithm(x.shape, m.weight.shape, s, p, d, g).startswith("winograd")
    assert y.dtype == np.float32 and y.shape == want.shape
    atol = winograd_tol(cin, x, m.weight.data) if wino else tol(kdim, x, m.weight.data)
    np.testing.assert_allclose(y, want, rtol=0, atol=atol + (0 if b is None else tol(1, b)))
    gy = rng.standard_normal(y.shape).astype(np.float32)
    dx = m.backward(gy)
    rdx, rdw, rdb = conv2d_grads_ref(x, m.weight.data, gy, s, p, d, g)
    atol = winograd_tol(cout, gy, m.weight.data) if wino else tol(cout * kdim, gy, m.weight.data)
    np.testing.assert_allclose(dx, rdx, rtol=0, atol=atol)
    np.testing.assert_allclose(m.weight.grad, rdw, rtol=0, atol=tol(gy[0, 0].size * n, gy, x))
    if bias:
        np.testing.assert_allclose(m.bias.grad, rdb, rtol=0, atol=tol(gy[0, 0].size * n, gy))


def test_conv2d_gradients_match_finite_differences(isa, rng):
    m = nn.Conv2d(2, 3, (2, 3), stride=(1, 2), padding=1, bias=True)
    x = rng.standard_normal((2, 2, 4, 5))
    gy = rng.standard_normal(m(x.astype(np.float32)).shape)
    dx = m.backward(gy.astype(np.float32))
    w64, b64 = m.weight.data.astype(np.float64), m.bias.data.astype(np.float64)
    arrays = [x.copy(), w64, b64]
    loss = lambda: float(np.sum(conv2d_ref(arrays[0], arrays[1], arrays[2], (1, 2), 1) * gy))
    for got, i in ((dx, 0), (m.weight.grad, 1), (m.bias.grad, 2)):
        np.testing.assert_allclose(got, central_diff(loss, arrays, i, 1e-4), rtol=1e-4, atol=1e-4)


def test_conv2d_noncontiguous_and_float64_input(isa, rng):
    m = nn.Conv2d(3, 16, 3, padding=1)
    base = rng.standard_normal((2, 9, 3, 7))
    x = base.transpose(0, 2, 3, 1)[:, :, ::2, :]  # (2, 3, 4, 9), non-contiguous float64 view
    y = m(x)
    np.testing.assert_array_equal(y, m(np.ascontiguousarray(x, dtype=np.float32)))
    gy = rng.standard_normal(y.shape)[..., ::-1]  # non-contiguous float64 gradient
    np.testing.assert_allclose(m.backward(gy), conv2d_grads_ref(x.astype(np.float32), m.weight.data, gy, 1, 1)[0],
                               atol=1e-4)


def test_conv2d_unbatched_input(rng):
    m = nn.Conv2d(2, 4, 3)
    x = rng.standard_normal((2, 6, 5)).astype(np.float32)
    batched = m(x[None])[0]
    y = m(x)
    assert y.shape == (4, 4, 3)
    np.testing.assert_array_equal(y, batched)
    assert m.backward(np.ones_like(y)).shape == x.shape


def test_conv2d_accumulates_and_freezes(rng):
    m = nn.Conv2d(3, 4, 3, padding=1)
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    gy = rng.standard_normal((2, 4, 5, 5)).astype(np.float32)
    m(x)
    m.backward(gy)
    once_w, once_b = m.weight.grad.copy(), m.bias.grad.copy()
    with pytest.raises(ValueError, match=r"a second time after one forward"):
        m.backward(gy)  # one forward, one backward: never the gradients added twice
    m(x)
    m.backward(gy)
    np.testing.assert_allclose(m.weight.grad, 2 * once_w, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(m.bias.grad, 2 * once_b, rtol=1e-6)
    m.zero_grad()
    m.weight.requires_grad = False
    m(x)
    dx = m.backward(gy)
    assert not m.weight.grad.any() and m.bias.grad.any()
    np.testing.assert_allclose(dx, conv2d_grads_ref(x, m.weight.data, gy, 1, 1)[0], atol=1e-4)


def test_conv2d_init_and_seed():
    fastnn.manual_seed(3)
    a = nn.Conv2d(4, 8, 3)
    fastnn.manual_seed(3)
    b = nn.Conv2d(4, 8, 3)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    bound = 1 / np.sqrt(4 * 9)
    for p in (a.weight.data, a.bias.data):
        assert p.dtype == np.float32 and np.abs(p).max() <= bound
    assert np.abs(a.weight.data).max() > 0.8 * bound and abs(a.weight.data.mean()) < 0.3 * bound
    assert nn.ConvTranspose2d(4, 6, 3, groups=2).weight.shape == (4, 3, 3, 3)


def test_conv2d_deterministic_per_thread_count(rng, threads):
    x = rng.standard_normal((6, 8, 10, 10)).astype(np.float32)
    m = nn.Conv2d(8, 16, 3, padding=1)
    gy = rng.standard_normal((6, 16, 10, 10)).astype(np.float32)
    for nt in (1, 2):
        fastnn.set_num_threads(nt)
        runs = []
        for _ in range(2):
            m.zero_grad()
            y = m(x)
            runs.append((y, m.backward(gy), m.weight.grad.copy()))
        for a, b in zip(*runs):
            np.testing.assert_array_equal(a, b)


def test_conv2d_nan_inf_propagate(isa):
    m = nn.Conv2d(1, 2, 3, padding=1)
    x = np.zeros((1, 1, 6, 6), np.float32)
    x[0, 0, 2, 3] = np.nan
    x[0, 0, 5, 0] = np.inf
    y = m(x)
    assert np.isnan(y[0, :, 1:4, 2:5]).all()
    assert np.isfinite(y[0, :, 0, :]).all()
    assert not np.isfinite(y[0, :, 4:6, 0:2]).any()
    dx = m.backward(np.ones_like(y))
    assert dx.shape == x.shape and np.isnan(m.weight.grad).any()


# ---- ConvTranspose2d ---------------------------------------------------------------------------

# (n, cin, cout, kernel, stride, padding, output_padding, dilation, groups, h, w, bias)
CONVT_CASES = [
    (2, 3, 8, 3, 1, 1, 0, 1, 1, 6, 7, True),     # stride 1: direct kernel
    (2, 4, 6, 3, 2, 1, 1, 1, 2, 5, 4, True),     # stride 2, output_padding, groups
    (1, 2, 5, (2, 3), (2, 1), (0, 1), (1, 0), (1, 2), 1, 4, 5, False),
    (2, 4, 4, 3, 1, 0, 0, 2, 4, 5, 5, True),     # depthwise geometry
    (2, 1, 16, 3, 1, 1, 0, 1, 1, 7, 7, True),    # one input channel
]


@pytest.mark.parametrize("case", CONVT_CASES)
def test_conv_transpose2d_forward_backward(isa, rng, case):
    n, cin, cout, k, s, p, op, d, g, h, w, bias = case
    m = nn.ConvTranspose2d(cin, cout, k, s, p, op, g, bias, d)
    x = rng.standard_normal((n, cin, h, w)).astype(np.float32)
    b = m.bias.data if bias else None
    y = m(x)
    want = conv_transpose2d_ref(x, m.weight.data, b, s, p, op, d, g)
    assert y.shape == want.shape
    kdim = m.weight.shape[0] * m.weight.shape[2] * m.weight.shape[3]
    np.testing.assert_allclose(y, want, rtol=0, atol=tol(kdim, x, m.weight.data) + 1e-6)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    dx = m.backward(gy)
    # ConvTranspose2d(x) is conv2d's input gradient: its gradients are conv2d's forward and
    # weight gradient with the roles of input and output swapped.
    np.testing.assert_allclose(dx, conv2d_ref(gy, m.weight.data, None, s, p, d, g), rtol=0,
                               atol=tol(kdim * cout, gy, m.weight.data))
    _, rdw, _ = conv2d_grads_ref(gy, m.weight.data, x, s, p, d, g)
    np.testing.assert_allclose(m.weight.grad, rdw, rtol=0, atol=tol(x.size, x, gy))
    if bias:
        np.testing.assert_allclose(m.bias.grad, gy.sum(axis=(0, 2, 3)), rtol=0, atol=tol(gy.size, gy))


def test_conv_transpose2d_finite_differences(rng):
    m = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1)
    x = rng.standard_normal((1, 2, 3, 2))
    gy = rng.standard_normal(m(x.astype(np.float32)).shape)
    dx = m.backward(gy.astype(np.float32))
    arrays = [x.copy(), m.weight.data.astype(np.float64), m.bias.data.astype(np.float64)]
    loss = lambda: float(np.sum(conv_transpose2d_ref(*arrays, 2, 1, 1) * gy))
    for got, i in ((dx, 0), (m.weight.grad, 1), (m.bias.grad, 2)):
        np.testing.assert_allclose(got, central_diff(loss, arrays, i, 1e-4), rtol=1e-4, atol=1e-4)


# ---- against PyTorch ---------------------------------------------------------------------------

def test_against_torch(torch, rng):
    for cls, tcls, args in [(nn.Conv2d, torch.nn.Conv2d, (6, 12, 3, 2, 1, 1, 3)),
                            (nn.Conv2d, torch.nn.Conv2d, (4, 8, 3, 1, 1, 2, 1)),
                            (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, (6, 4, 3, 2, 1, 1, 2))]:
        ours, theirs = cls(*args), tcls(*args).double()
        with torch.no_grad():
            theirs.weight.copy_(torch.from_numpy(ours.weight.data))
            theirs.bias.copy_(torch.from_numpy(ours.bias.data))
        x = rng.standard_normal((3, args[0], 9, 8)).astype(np.float32)
        xt = torch.from_numpy(x).double().requires_grad_()
        y, yt = ours(x), theirs(xt)
        np.testing.assert_allclose(y, yt.detach().numpy(), atol=1e-5)
        gy = rng.standard_normal(y.shape).astype(np.float32)
        yt.backward(torch.from_numpy(gy).double())
        np.testing.assert_allclose(ours.backward(gy), xt.grad.numpy(), atol=1e-4)
        np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), atol=1e-4)
        np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), atol=1e-4)


def test_state_dict_matches_torch(torch):
    ours = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.MaxPool2d(2),
                         nn.Conv2d(8, 4, 1, bias=False), nn.ConvTranspose2d(4, 2, 2, stride=2))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.BatchNorm2d(8),
                                 torch.nn.MaxPool2d(2), torch.nn.Conv2d(8, 4, 1, bias=False),
                                 torch.nn.ConvTranspose2d(4, 2, 2, stride=2))
    tsd = {k: v for k, v in theirs.state_dict().items() if not k.endswith("num_batches_tracked")}
    sd = ours.state_dict()
    assert list(sd) == list(tsd)
    assert all(sd[k].shape == tuple(v.shape) for k, v in tsd.items())
    ours.load_state_dict(theirs.state_dict())  # num_batches_tracked accepted and ignored
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    theirs.train()
    np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), atol=1e-4)


# ---- config, repr ------------------------------------------------------------------------------

def test_repr_and_config_round_trip():
    m = nn.Conv2d(3, 16, 3, stride=2, padding=1, dilation=2, groups=1, bias=False)
    assert repr(m) == ("Conv2d(3, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
                       "dilation=(2, 2), bias=False)")
    assert repr(nn.Conv2d(1, 32, 3)) == "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1))"
    t = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
    assert repr(t) == ("ConvTranspose2d(4, 2, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
                       "output_padding=(1, 1))")
    for layer in (m, t, nn.Conv2d(4, 4, (1, 3), groups=4)):
        clone = module_from_config(layer.to_spec())
        assert repr(clone) == repr(layer) and clone.weight.shape == layer.weight.shape


# ---- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,match", [
    (dict(in_channels=3, out_channels=8, kernel_size=0), "kernel_size"),
    (dict(in_channels=3, out_channels=8, kernel_size=3, stride=0), "stride"),
    (dict(in_channels=3, out_channels=8, kernel_size=3, padding=-1), "padding"),
    (dict(in_channels=3, out_channels=8, kernel_size=3, dilation=0), "dilation"),
    (dict(in_channels=3, out_channels=8, kernel_size=3, groups=2), r"groups \(2\) must divide"),
    (dict(in_channels=0, out_channels=8, kernel_size=3), "in_channels"),
    (dict(in_channels=3, out_channels=8, kernel_size=3, padding="same"), "padding"),
])
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nn.Conv2d(**kwargs)


@pytest.mark.parametrize("bad", [2.5, (1, 2, 3), "3", None, True])
def test_bad_argument_types(bad):
    with pytest.raises(TypeError, match="kernel_size"):
        nn.Conv2d(3, 8, bad)


def test_bad_transpose_output_padding():
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2d(3, 8, 3, stride=1, output_padding=1)


def test_bad_inputs():
    m = nn.Conv2d(3, 8, 3)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8.*input: expected a 3-D or 4-D array.*\(2, 3\)"):
        m(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8.*expected 3 channels.*\(2, 4, 5, 5\)"):
        m(np.zeros((2, 4, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"kernel \(3, 3\).*larger than the padded input \(2, 5\)"):
        m(np.zeros((1, 3, 2, 5), np.float32))
    with pytest.raises(TypeError, match="floating"):
        m(np.zeros((1, 3, 5, 5), np.int32))
    with pytest.raises(ValueError, match=r"backward\(\) called before forward"):
        nn.Conv2d(3, 8, 3).backward(np.zeros((1, 8, 3, 3), np.float32))
    m(np.zeros((1, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(1, 8, 3, 3\).*got \(1, 8, 3, 4\)"):
        m.backward(np.zeros((1, 8, 3, 4), np.float32))
    before = m.weight.grad.copy()
    with pytest.raises(ValueError):
        m.backward(np.zeros((2, 8, 3, 3), np.float32))
    np.testing.assert_array_equal(m.weight.grad, before)  # a failed call changes nothing


def test_raw_binding_checks():
    from fastnn import _C
    x = np.zeros((1, 4, 5, 5), np.float32)
    with pytest.raises(ValueError, match="groups"):
        _C.conv2d_forward(x, np.zeros((6, 2, 3, 3), np.float32), None, (1, 1), (0, 0), (1, 1), 3)
    with pytest.raises(ValueError, match="weight"):
        _C.conv2d_forward(x, np.zeros((6, 3, 3, 3), np.float32), None, (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="stride"):
        _C.conv2d_forward(x, np.zeros((6, 4, 3, 3), np.float32), None, (0, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="bias"):
        _C.conv2d_forward(x, np.zeros((6, 4, 3, 3), np.float32), np.zeros(5, np.float32), (1, 1), (0, 0), (1, 1), 1)
    w = np.zeros((6, 4, 3, 3), np.float32)
    dy = np.zeros((1, 6, 3, 3), np.float32)
    with pytest.raises(TypeError, match="weight.grad"):
        _C.conv2d_backward(x, dy, w, (1, 1), (0, 0), (1, 1), 1, True, np.zeros((6, 4, 3, 3)), None)
    with pytest.raises(ValueError, match="weight.grad"):
        _C.conv2d_backward(x, dy, w, (1, 1), (0, 0), (1, 1), 1, True, np.zeros((6, 4, 3, 3), np.float32)[:, :, ::-1], None)
    with pytest.raises(ValueError, match="grad_output"):
        _C.conv2d_backward(x, dy[:, :5], w, (1, 1), (0, 0), (1, 1), 1, True, None, None)
