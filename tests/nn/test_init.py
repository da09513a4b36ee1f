"""fastnn.nn.init: distribution statistics, PyTorch's fans and gains, seeding, in-place semantics."""
import math

import numpy as np
import pytest

import fastnn
import fastnn.nn as nn
from fastnn.nn import init


def rel(a, b):
    return abs(a / b - 1)


@pytest.mark.parametrize("shape,fan_in,fan_out", [((300, 200), 200, 300),
                                                  ((64, 32, 3, 3), 288, 576),
                                                  ((16, 8, 5), 40, 80)])
def test_fans_and_std(shape, fan_in, fan_out):
    fastnn.manual_seed(0)
    w = np.empty(shape, np.float32)
    n = w.size  # relative std error of a sample std ~ 1/sqrt(2n) (< 0.6% here): 4% bound
    init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")
    assert rel(w.std(), math.sqrt(2 / fan_in)) < 0.04 and abs(w.mean()) < 5 * w.std() / math.sqrt(n)
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert rel(w.std(), math.sqrt(2 / fan_out)) < 0.04
    init.kaiming_uniform_(w, a=0.1)
    bound = math.sqrt(2 / (1 + 0.01)) * math.sqrt(3 / fan_in)
    assert np.abs(w).max() <= bound and rel(w.std(), bound / math.sqrt(3)) < 0.04
    init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w).max() <= bound and rel(w.std(), bound / math.sqrt(3)) < 0.04
    init.xavier_normal_(w)
    assert rel(w.std(), math.sqrt(2 / (fan_in + fan_out))) < 0.04
    init.lecun_normal_(w)
    assert rel(w.std(), math.sqrt(1 / fan_in)) < 0.04


def test_parameter_in_place_and_return():
    p = nn.Parameter(np.zeros((10, 10)))
    data = p.data
    assert init.kaiming_uniform_(p) is p
    assert p.data is data and data.any()
    assert init.zeros_(p) is p and not p.data.any()
    init.constant_(p, 0.1)
    assert np.all(p.data == np.float32(0.1))
    init.ones_(p)
    assert np.all(p.data == 1)
    init.uniform_(p, -2, -1)
    assert p.data.min() >= -2 and p.data.max() <= -1
    init.normal_(p, 5.0, 0.0)
    assert np.all(p.data == 5)


def test_seeding():
    a, b = np.empty((50, 40), np.float32), np.empty((50, 40), np.float32)
    fastnn.manual_seed(9)
    init.xavier_normal_(a)
    fastnn.manual_seed(9)
    init.xavier_normal_(b)
    np.testing.assert_array_equal(a, b)
    init.xavier_normal_(b)
    assert not np.array_equal(a, b)


def test_gains():
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == 0.75


def test_errors():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.kaiming_uniform_(np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="mode must be"):
        init.kaiming_normal_(np.zeros((2, 2), np.float32), mode="fan_avg")
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(TypeError, match="Parameter or a numpy array"):
        init.zeros_([1.0, 2.0])
    with pytest.raises(TypeError, match="floating"):
        init.zeros_(np.zeros(3, np.int32))
    ro = np.zeros((2, 2), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        init.zeros_(ro)
    with pytest.raises(ValueError, match="a <= b"):
        init.uniform_(np.zeros(3, np.float32), 1, 0)


def test_gains_match_torch(torch):
    for name, param in [("linear", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
                        ("leaky_relu", 0.3), ("selu", None), ("sigmoid", None)]:
        assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    for shape in [(7, 5), (8, 4, 3, 3), (4, 2, 5)]:
        fi, fo = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        w = np.empty(shape, np.float32)
        fastnn.manual_seed(0)
        init.kaiming_uniform_(w, a=math.sqrt(5))
        assert np.abs(w).max() <= 1 / math.sqrt(fi)  # PyTorch's Linear/Conv default bound
        assert fo == shape[0] * int(np.prod(shape[2:]))
