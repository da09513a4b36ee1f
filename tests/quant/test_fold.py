"""fold_batchnorm: the folded model equals the unfolded one in eval mode; the original is left
alone; BatchNorms that cannot be folded stay."""
import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.quant import fold_batchnorm

F32 = np.float32


def randomise_bn(bn, rng):
    c = bn.num_features
    bn.weight.data[...] = rng.uniform(0.5, 2, c)
    bn.bias.data[...] = rng.standard_normal(c)
    bn.running_mean[...] = rng.standard_normal(c)
    bn.running_var[...] = rng.uniform(0.2, 3, c)


def close(a, b, k):
    # float32 rounding of one fused affine map over k terms
    tol = 16 * np.finfo(F32).eps * np.sqrt(k) * max(1.0, float(np.abs(b).max()))
    np.testing.assert_allclose(a, b, rtol=0, atol=tol)


def test_linear_bn1d_folds(rng):
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 16), nn.BatchNorm1d(16), nn.ReLU(),
                          nn.Sequential(nn.Linear(16, 8, bias=False), nn.BatchNorm1d(8)),
                          nn.Linear(8, 3))
    randomise_bn(model[1], rng)
    randomise_bn(model[3][1], rng)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    model.train()
    folded = fold_batchnorm(model)
    assert model.training  # the original is untouched
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    names = [type(m).__name__ for m in folded.modules()]
    assert "BatchNorm1d" not in names
    assert folded[2][0].bias is not None
    x = rng.standard_normal((33, 20)).astype(F32)
    close(folded(x), model.eval()(x), 20)


def test_conv_bn2d_folds(rng):
    fastnn.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 4, 3, stride=2, bias=False), nn.BatchNorm2d(4),
                          nn.Flatten(), nn.Linear(4 * 3 * 3, 5))
    randomise_bn(model[1], rng)
    randomise_bn(model[4], rng)
    folded = fold_batchnorm(model)
    assert len(folded) == 5
    x = rng.standard_normal((4, 3, 8, 8)).astype(F32)
    close(folded(x), model.eval()(x), 72)
    # the folded model is an ordinary model: it saves and loads
    assert fastnn.nn.module_from_config(folded.to_spec()).load_state_dict(folded.state_dict())


def test_unfoldable_batchnorm_stays(rng):
    model = nn.Sequential(nn.BatchNorm1d(6), nn.Linear(6, 4), nn.ReLU(), nn.BatchNorm1d(4),
                          nn.Linear(4, 4), nn.BatchNorm1d(4, track_running_stats=False))
    folded = fold_batchnorm(model)
    assert [type(m).__name__ for m in folded] == ["BatchNorm1d", "Linear", "ReLU",
                                                  "BatchNorm1d", "Linear", "BatchNorm1d"]


def test_no_batchnorm_is_an_equal_copy(rng):
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    folded = fold_batchnorm(model)
    assert folded is not model and folded[0].weight is not model[0].weight
    x = rng.standard_normal((3, 5)).astype(F32)
    np.testing.assert_array_equal(folded(x), model.eval()(x))
    with pytest.raises(TypeError, match="model"):
        fold_batchnorm("not a model")
