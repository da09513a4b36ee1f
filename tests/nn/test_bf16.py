"""Module.to_bf16(): eval-mode inference of every Linear and Conv2d in bf16 mixed precision, the
compiled plan and the layers' own forward alike; training, weights and state_dicts untouched."""
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import _C, nn
from fastnn.nn import _precision
from tests.kernels.test_gemm_bf16 import bf16

EPS = np.finfo(np.float32).eps


def cnn():
    fastnn.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU(), nn.Flatten(),
                         nn.Linear(16 * 49, 32), nn.ReLU(), nn.Linear(32, 10))


def mlp():
    fastnn.manual_seed(1)
    return nn.Sequential(nn.Linear(40, 64), nn.ReLU(), nn.Linear(64, 10))


def run(model, x, plan=True):
    prev = fastnn.nn.set_inference_plan(plan)
    try:
        with fastnn.no_grad():
            return model(x)
    finally:
        fastnn.nn.set_inference_plan(prev)


def mlp_ref(model, x):
    """The MLP in float64 from bf16-rounded operands (each layer's input rounded again)."""
    l1, l2 = model[0], model[2]
    h = np.maximum(bf16(x).astype(np.float64) @ bf16(l1.weight.data).T.astype(np.float64)
                   + l1.bias.data, 0).astype(np.float32)
    return bf16(h).astype(np.float64) @ bf16(l2.weight.data).T.astype(np.float64) + l2.bias.data


@pytest.mark.parametrize("batch", [1, 2, 5, 64])
def test_mlp_matches_the_bf16_reference(isa, batch):
    model = mlp().eval()
    x = np.random.default_rng(batch).standard_normal((batch, 40)).astype(np.float32)
    f32 = run(model, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.to_bf16()
    got = run(model, x)
    want = mlp_ref(model, x)
    t = 16 * EPS * np.sqrt(64) * np.abs(want).max() + 1e-5 * np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=0, atol=t)
    assert np.abs(got - f32).max() > 10 * t  # bf16 really differs from float32
    np.testing.assert_array_equal(run(model, x, plan=False), got)  # plan == layers
    model.to_float()
    np.testing.assert_array_equal(run(model, x), f32)


@pytest.mark.parametrize("batch", [1, 3, 32])
def test_cnn_plan_and_layers_agree(isa, threads, batch):
    model = cnn().eval()
    x = np.random.default_rng(batch).standard_normal((batch, 1, 14, 14)).astype(np.float32)
    f32 = run(model, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.to_bf16()
    for nt in (1, 2):
        fastnn.set_num_threads(nt)
        got = run(model, x)
        np.testing.assert_array_equal(run(model, x, plan=False), got)
    rel = np.abs(got - f32).max() / np.abs(f32).max()
    assert 1e-5 < rel < 0.05, rel  # bf16 rounding: visible, small
    assert (got.argmax(1) == f32.argmax(1)).mean() >= 0.9


def test_precision_attributes_and_untouched_state():
    model = cnn()
    sd = {k: v.copy() for k, v in model.state_dict().items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert model.to_bf16() is model
    kinds = {type(m).__name__: m.precision for m in model.modules() if hasattr(m, "precision")}
    assert kinds == {"Conv2d": "bf16", "Linear": "bf16"}
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, sd[k])
    assert model.to_float() is model
    assert all(m.precision == "float32" for m in model.modules() if hasattr(m, "precision"))


def test_training_stays_float32():
    """Training mode (forward, backward, fit) computes in float32 after to_bf16()."""
    x = np.random.default_rng(4).standard_normal((16, 40)).astype(np.float32)
    y = np.random.default_rng(5).integers(0, 10, 16)
    ref_model, model = mlp(), mlp()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.to_bf16()
    np.testing.assert_array_equal(model(x), ref_model(x))  # train mode: float32
    for m in (ref_model, model):
        fastnn.fit(m, nn.CrossEntropyLoss(), fastnn.optim.SGD(m.parameters(), lr=0.1), x, y,
                   epochs=2, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(model.parameters(), ref_model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_graph_model_with_residual():
    fastnn.manual_seed(2)
    block = nn.Residual(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, 8, 3, padding=1)))
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), block, nn.ReLU(),
                          nn.GlobalAvgPool2d(), nn.Flatten(), nn.Linear(8, 4)).eval()
    x = np.random.default_rng(6).standard_normal((4, 3, 12, 12)).astype(np.float32)
    f32 = run(model, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.to_bf16()
    got = run(model, x)
    np.testing.assert_array_equal(run(model, x, plan=False), got)
    assert 0 < np.abs(got - f32).max() < 0.05 * np.abs(f32).max()


def test_warns_once_where_emulated():
    from tests.conftest import SUPPORTED_ISAS
    if "avx2" not in SUPPORTED_ISAS:
        pytest.skip("needs the AVX2 table (an emulated bf16 path) on this machine")
    before = fastnn.get_isa()
    fastnn.set_isa("avx2")
    _precision._bf16_warned[0] = False
    try:
        with pytest.warns(RuntimeWarning, match="no avx512_bf16.*emulated"):
            mlp().to_bf16()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            mlp().to_bf16()  # once per process
    finally:
        fastnn.set_isa(before)
    if _C.gemm_config()["bf16_native"]:
        _precision._bf16_warned[0] = False
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            mlp().to_bf16()  # native: no warning


def test_show_config_reports_the_bf16_path(capsys):
    from fastnn._config import config
    info = config()["bf16_gemm"]
    assert set(info) >= {"kernel", "tile", "native", "amx", "amx_usable", "amx_mode"}
    fastnn.show_config()
    line = [ln for ln in capsys.readouterr().out.splitlines() if "bf16 products" in ln]
    assert len(line) == 1
    assert ("TDPBF16PS" in line[0]) == info["amx"]
    if not info["amx"]:
        assert info["kernel"] in line[0]
