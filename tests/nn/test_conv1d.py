"""Conv1d against torch.nn.Conv1d: forward, input / weight / bias gradients on every ISA path of
the Conv2d frame it runs on, for edge shapes (L = 1, prime lengths, a kernel longer than the
input with padding, stride > kernel, groups, depthwise, dilation, batch 1, one unbatched sample),
padding 'same' / 'valid', padding_mode reflect / replicate / circular; state_dict keys and shapes
equal to torch's; bad arguments; save / load, repr and config. Tolerances: float32 rounding of sums of K
terms, eps * sqrt(K) * (the sum of the terms' magnitudes), the magnitudes computed by PyTorch in
float64 on |x|, |w|, |grad|."""
import numpy as np
import pytest

import fastnn
from fastnn import nn

# PyTorch's note that padding='same' with an even kernel copies the input
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

EPS = float(np.finfo(np.float32).eps)

# (in, out, kernel_size, kwargs, input shape)
CASES = [
    (3, 4, 3, {}, (2, 3, 10)),
    (2, 5, 1, {}, (1, 2, 1)),  # L = 1, kernel 1, batch 1
    (3, 2, 5, dict(padding=2), (1, 3, 1)),  # kernel > L, the padding makes it fit
    (3, 6, 7, dict(padding=3, stride=2), (2, 3, 13)),  # prime lengths
    (4, 6, 2, dict(stride=5), (2, 4, 17)),  # stride > kernel
    (4, 6, 5, dict(stride=2, padding=2, groups=2, dilation=2), (3, 4, 23)),
    (6, 12, 3, dict(padding=1, groups=6, bias=False), (2, 6, 11)),  # depthwise x2
    (5, 3, 4, dict(padding="same"), (2, 5, 9)),  # odd total: one more on the right
    (5, 3, 3, dict(padding="same", dilation=3), (2, 5, 7)),
    (5, 3, 3, dict(padding="valid"), (2, 5, 7)),
    (3, 4, 3, dict(padding=2, padding_mode="reflect"), (2, 3, 5)),
    (3, 4, 4, dict(padding="same", padding_mode="replicate"), (2, 3, 6)),
    (3, 4, 3, dict(padding=4, padding_mode="replicate", bias=False), (2, 3, 2)),
    (3, 4, 3, dict(padding=2, padding_mode="circular"), (2, 3, 5)),
    (2, 4, 4, dict(padding="same", padding_mode="circular", dilation=2), (1, 2, 7)),
    (3, 4, 3, dict(padding=1), (3, 9)),  # one unbatched sample
    (16, 32, 9, dict(padding=4), (4, 16, 97)),  # long enough for the vector paths
]


def _pair(torch, rng, cin, cout, k, kw):
    t = torch.nn.Conv1d(cin, cout, k, **kw)
    with torch.no_grad():  # values away from the default bound so the bias matters
        t.weight.copy_(torch.tensor(rng.uniform(-1, 1, tuple(t.weight.shape))))
        if t.bias is not None:
            t.bias.copy_(torch.tensor(rng.uniform(-1, 1, tuple(t.bias.shape))))
    f = nn.Conv1d(cin, cout, k, **kw)
    f.load_state_dict({n: v.detach().numpy() for n, v in t.state_dict().items()})
    return f, t


def _reference(torch, t, x, g):
    """PyTorch in float64: (y, dx, dw, db) and the same computed on absolute values (the size of
    the terms each sum adds)."""
    out = []
    for absolute in (False, True):
        t64 = torch.nn.Conv1d(t.in_channels, t.out_channels, t.kernel_size, t.stride, t.padding,
                              t.dilation, t.groups, t.bias is not None, t.padding_mode).double()
        sd = {n: v.double() for n, v in t.state_dict().items()}
        xx, gg = torch.tensor(x, dtype=torch.float64), torch.tensor(g, dtype=torch.float64)
        if absolute:
            sd = {n: v.abs() for n, v in sd.items()}
            xx, gg = xx.abs(), gg.abs()
        t64.load_state_dict(sd)
        xx.requires_grad_()
        y = t64(xx)
        y.backward(gg)
        out.append([y.detach().numpy(), xx.grad.numpy(), t64.weight.grad.numpy(),
                    None if t64.bias is None else t64.bias.grad.numpy()])
    return out


def _check(ours, ref, mag, k, what):
    tol = 4 * EPS * np.sqrt(k) * mag.max() + 1e-30
    np.testing.assert_allclose(ours, ref, rtol=0, atol=tol, err_msg=what)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[:3]}-{c[3]}-{c[4]}")
def test_matches_torch(torch, isa, rng, case):
    cin, cout, k, kw, shape = case
    f, t = _pair(torch, rng, cin, cout, k, kw)
    x = rng.standard_normal(shape).astype(np.float32)
    y = f(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    (ry, rdx, rdw, rdb), (my, mdx, mdw, mdb) = _reference(torch, t, x, g)
    assert y.shape == ry.shape and y.dtype == np.float32
    f.zero_grad()
    dx = f.backward(g)
    assert dx.shape == x.shape
    terms_y = cin // f.groups * k
    n_out = int(np.prod(y.shape)) // cout
    _check(y, ry, my, terms_y, "output")
    _check(dx, rdx, mdx, cout * k, "input gradient")
    _check(f.weight.grad, rdw, mdw, n_out, "weight gradient")
    if f.bias is not None:
        _check(f.bias.grad, rdb, mdb, n_out, "bias gradient")


def test_gradients_accumulate_and_frozen_weight(torch, rng):
    f, t = _pair(torch, rng, 3, 4, 3, dict(padding=1))
    x = rng.standard_normal((2, 3, 8)).astype(np.float32)
    g = rng.standard_normal((2, 4, 8)).astype(np.float32)
    f.zero_grad()
    for _ in range(2):
        f(x)
        f.backward(g)
    xt = torch.tensor(x)
    t(xt).backward(torch.tensor(g))
    np.testing.assert_allclose(f.weight.grad, 2 * t.weight.grad.numpy(), rtol=1e-5, atol=1e-5)
    f.zero_grad()
    f.weight.requires_grad = False
    f(x)
    f.backward(g)
    assert not f.weight.grad.any() and f.bias.grad.any()


def test_state_dict_layout_matches_torch(torch):
    for kw in ({}, dict(groups=2, bias=False), dict(padding="same", padding_mode="reflect")):
        f, t = nn.Conv1d(4, 6, 3, **kw), torch.nn.Conv1d(4, 6, 3, **kw)
        assert {n: v.shape for n, v in f.state_dict().items()} == \
            {n: tuple(v.shape) for n, v in t.state_dict().items()}


def test_default_init_bound():
    f = nn.Conv1d(6, 4, 4, groups=2)
    bound = 1 / np.sqrt(3 * 4)
    assert np.abs(f.weight.data).max() <= bound and np.abs(f.weight.data).max() > bound / 2
    assert np.abs(f.bias.data).max() <= bound


def test_bad_arguments():
    cases = [
        (dict(kernel_size=0), ValueError, "kernel_size: expected a value >= 1"),
        (dict(kernel_size=(3, 3)), TypeError, "kernel_size: expected an int or a 1-tuple"),
        (dict(kernel_size=2.0), TypeError, "kernel_size: expected an int"),
        (dict(stride=0), ValueError, "stride: expected a value >= 1"),
        (dict(padding=-1), ValueError, "padding: expected a value >= 0"),
        (dict(padding="full"), ValueError, "padding: expected an int, a 1-tuple, 'same' or "
                                           "'valid', got 'full'"),
        (dict(padding="same", stride=2), ValueError, "padding='same' needs stride 1, got "
                                                     "stride 2"),
        (dict(dilation=True), TypeError, "dilation: expected an int"),
        (dict(groups=3), ValueError, r"groups \(3\) must divide in_channels \(4\)"),
        (dict(padding_mode="wrap"), ValueError, "padding_mode: expected 'zeros', 'reflect', "
                                                "'replicate' or 'circular', got 'wrap'"),
        (dict(padding_mode="zero"), ValueError, "padding_mode: .* got 'zero'"),
    ]
    for kw, exc, match in cases:
        args = dict(in_channels=4, out_channels=6, kernel_size=3)
        args.update(kw)
        with pytest.raises(exc, match=match):
            nn.Conv1d(**args)
    f = nn.Conv1d(4, 6, 5)
    with pytest.raises(ValueError, match=r"expected 4 channels at axis 1 .* got shape "
                                         r"\(2, 3, 9\)"):
        f(np.ones((2, 3, 9), np.float32))
    with pytest.raises(ValueError, match=r"expected a 2-D or 3-D array \(N, C, L\)"):
        f(np.ones((2, 4, 9, 9), np.float32))
    with pytest.raises(TypeError, match="expected a floating-point array"):
        f(np.ones((2, 4, 9), np.int32))
    with pytest.raises(ValueError, match=r"Conv1d\(4, 6.*input of shape \(2, 4, 4\) .*"
                                         r"kernel \(1, 5\) \(dilated\) is larger than the "
                                         r"padded input \(1, 4\)"):
        f(np.ones((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"backward\(\) called before forward"):
        nn.Conv1d(4, 6, 5).backward(np.ones((1, 6, 1), np.float32))
    f(np.ones((2, 4, 9), np.float32))
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(2, 6, 5\)"):
        f.backward(np.ones((2, 6, 4), np.float32))
    r = nn.Conv1d(4, 6, 3, padding=3, padding_mode="reflect")
    with pytest.raises(ValueError, match=r"input of shape .*reflect padding \(0, 0, 3, 3\) "
                                         r"must be smaller than the input extent"):
        r(np.ones((1, 4, 3), np.float32))


def test_save_load_repr_config(tmp_path, rng):
    m = nn.Sequential(nn.Conv1d(3, 4, 3, padding="same", padding_mode="reflect"), nn.ReLU(),
                      nn.Conv1d(4, 2, 2, stride=2, padding=1, dilation=2, groups=2, bias=False))
    x = rng.standard_normal((2, 3, 11)).astype(np.float32)
    want = m(x)
    back = fastnn.load(fastnn.save(m, tmp_path / "c1.safetensors"))
    np.testing.assert_array_equal(back(x), want)
    assert repr(m[0]) == ("Conv1d(3, 4, kernel_size=(3,), stride=(1,), padding=same, "
                          "padding_mode=reflect)")
    assert repr(m[2]) == ("Conv1d(4, 2, kernel_size=(2,), stride=(2,), padding=(1,), "
                          "dilation=(2,), groups=2, bias=False)")
    assert m[2].get_config() == {"in_channels": 4, "out_channels": 2, "kernel_size": 2,
                                 "stride": 2, "padding": 1, "dilation": 2, "groups": 2,
                                 "bias": False, "padding_mode": "zeros"}


def test_trains_in_a_sequential(rng):
    """A small 1-D CNN fits a fixed random target: the loss falls (SGD)."""
    fastnn.manual_seed(0)
    m = nn.Sequential(nn.Conv1d(2, 8, 5, padding=2), nn.BatchNorm1d(8), nn.ReLU(),
                      nn.MaxPool1d(2), nn.Conv1d(8, 4, 3), nn.AvgPool1d(2), nn.Flatten(),
                      nn.Linear(12, 3))
    x = rng.standard_normal((16, 2, 16)).astype(np.float32)
    target = rng.integers(0, 3, 16)
    loss_fn = nn.CrossEntropyLoss()
    opt = fastnn.optim.SGD(m.parameters(), lr=0.1)
    losses = []
    for _ in range(80):
        loss = loss_fn(m(x), target)
        m.zero_grad()
        m.backward(loss_fn.backward())
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]


def test_quantize_keeps_1d_layers_in_float(rng):
    """fastnn.quant has no int8 1-D kernels: quantize() keeps the 1-D layers in float (named, with
    the reason) and the model still predicts."""
    from fastnn import quant
    fastnn.manual_seed(2)
    m = nn.Sequential(nn.Conv1d(2, 8, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
                      nn.Conv1d(8, 4, 3), nn.AvgPool1d(2), nn.Flatten(), nn.Linear(12, 3)).eval()
    x = rng.standard_normal((16, 2, 16)).astype(np.float32)
    q = quant.quantize(m, x)
    rows = {r["name"]: r for r in q.layers}
    assert rows["0"]["type"] == "Conv1d(2, 8, 5)" and rows["0"]["status"] == "float"
    assert rows["0"]["reason"] == "Conv1d: no int8 version"
    assert rows["2"]["reason"] == "MaxPool1d: no int8 version"
    want = m(x)
    np.testing.assert_allclose(q.predict(x), want, rtol=0, atol=0.02 * np.abs(want).max())


def test_weight_mask_keeps_pruned_weights_at_zero(rng):
    """A weight.mask (as fastnn.prune sets) is applied to .data on every forward and to .grad on
    every backward, as in Conv2d."""
    f = nn.Conv1d(3, 4, 3, padding=1)
    mask = (rng.random(f.weight.shape) < 0.5).astype(np.float32)
    f.weight.mask = mask
    f.weight.data[...] = rng.standard_normal(f.weight.shape)  # written by hand: masked again
    x = rng.standard_normal((2, 3, 7)).astype(np.float32)
    y = f(x)
    assert np.array_equal(f.weight.data * (1 - mask), np.zeros_like(mask))
    ref = nn.Conv1d(3, 4, 3, padding=1)
    ref.load_state_dict(f.state_dict())
    np.testing.assert_array_equal(ref(x), y)
    f.zero_grad()
    f.backward(np.ones_like(y))
    assert not (f.weight.grad * (1 - mask)).any() and (f.weight.grad * mask).any()
