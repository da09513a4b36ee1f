"""BatchNorm1d on (N, C, L) against torch.nn.BatchNorm1d over several training steps then eval:
outputs, input / weight / bias gradients, running statistics, for momentum (a number and None,
the cumulative average), affine=False and track_running_stats=False; edge shapes (L = 1, batch
1, prime lengths, a long L for the vector paths) on every ISA path. Tolerances: float32 rounding
of the per-channel sums over M = N * L values, eps * sqrt(M) relative to the largest value; for
the input gradient, whose three terms cancel (exactly, for M = 2), relative to the largest term,
|weight| * |grad| / sqrt(var + eps)."""
import numpy as np
import pytest

from fastnn import nn

EPS = float(np.finfo(np.float32).eps)

SHAPES = [(2, 3, 1), (1, 4, 7), (5, 2, 13), (3, 6, 97)]
OPTIONS = [dict(), dict(momentum=None), dict(affine=False, momentum=0.3),
           dict(track_running_stats=False)]


def _close(a, b, m, what, scale=None):
    b = np.asarray(b)
    scale = max(1.0, np.abs(b).max(), scale or 0.0)
    np.testing.assert_allclose(a, b, rtol=0, atol=8 * EPS * np.sqrt(m) * scale, err_msg=what)


def _term(layer, a, var, k=3):
    """The largest term: |weight| * k * |a| / sqrt(var + eps), a the input (the output's x - mean,
    k = 2) or the output gradient (the input gradient's three terms, k = 3)."""
    w = 1.0 if layer.weight is None else np.abs(layer.weight.data).max()
    return k * w * np.abs(a).max() / np.sqrt(np.min(var) + layer.eps)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("opts", OPTIONS, ids=str)
def test_matches_torch(torch, isa, rng, shape, opts):
    c, m = shape[1], shape[0] * shape[2]
    ours, theirs = nn.BatchNorm1d(c, **opts), torch.nn.BatchNorm1d(c, **opts)
    if theirs.affine:
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(rng.uniform(0.5, 2, c)))
            theirs.bias.copy_(torch.tensor(rng.standard_normal(c)))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for step in range(3):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(np.float32)
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        y = ours(x)
        var = x.astype(np.float64).var(axis=(0, 2))
        _close(y, yt.detach().numpy(), m, f"train output, step {step}", _term(ours, x, var, 2))
        g = rng.standard_normal(shape).astype(np.float32)
        yt.backward(torch.tensor(g))
        ours.zero_grad()
        _close(ours.backward(g), xt.grad.numpy(), m, f"input gradient, step {step}",
               _term(ours, g, var))
        if theirs.affine:
            _close(ours.weight.grad, theirs.weight.grad.numpy(), m, "weight gradient")
            _close(ours.bias.grad, theirs.bias.grad.numpy(), m, "bias gradient")
            theirs.zero_grad()
    if theirs.track_running_stats:
        _close(ours.running_mean, theirs.running_mean.numpy(), m, "running_mean")
        _close(ours.running_var, theirs.running_var.numpy(), m, "running_var")
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    var = x.astype(np.float64).var(axis=(0, 2)) if ours.running_var is None else ours.running_var
    _close(ours(x), yt.detach().numpy(), m, "eval output", _term(ours, x, var, 2))
    g = rng.standard_normal(shape).astype(np.float32)
    yt.backward(torch.tensor(g))
    _close(ours.backward(g), xt.grad.numpy(), m, "eval input gradient", _term(ours, g, var))


def test_one_value_per_channel_refused_in_training():
    with pytest.raises(ValueError, match=r"input: expected more than 1 value per channel when "
                                         r"training, got 1 \(batch 1 x 1 per sample, 3 channels\)"):
        nn.BatchNorm1d(3)(np.ones((1, 3, 1), np.float32))
    assert nn.BatchNorm1d(3).eval()(np.ones((1, 3, 1), np.float32)).shape == (1, 3, 1)
