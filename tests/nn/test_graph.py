"""nn.Model and per-call records: build-time errors, shared layers, stable keys, save/load, one
backward per forward, no_grad, threads, the PyTorch loop idiom, fit with several inputs."""
import threading

import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.nn import _calls


def _f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _inception(seed=0):
    fastnn.manual_seed(seed)
    x = nn.Input((3, 8, 8))
    a = nn.Conv2d(3, 4, 1)(x)
    b = nn.Conv2d(3, 4, 3, padding=1)(x)
    y = nn.Concat(dim=1)(a, b)
    y = nn.ReLU()(y) + nn.Conv2d(8, 8, 1)(y)
    return nn.Model(inputs=x, outputs=nn.Linear(512, 5)(nn.Flatten()(y)))


# -- building ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("build, match", [
    (lambda x: nn.Concat(1)(nn.Conv2d(3, 4, 1)(x), nn.Conv2d(3, 4, 3)(x)),
     r"Concat on input shape\(s\) \(N, 4, 8, 8\), \(N, 4, 6, 6\).*agree in every dimension"),
    (lambda x: nn.Conv2d(3, 16, 1)(x) + nn.Conv2d(3, 20, 1)(x),
     r"Add on input shape\(s\) \(N, 16, 8, 8\), \(N, 20, 8, 8\).*do not match"),
    (lambda x: nn.Conv2d(4, 8, 3)(x), r"Conv2d on input shape\(s\) \(N, 3, 8, 8\).*expected 4 "
                                      r"channels"),
    (lambda x: nn.Linear(10, 2)(nn.Flatten()(x)), r"Linear on .*\(N, 192\).*\(\*, 10\)"),
])
def test_bad_graphs_fail_when_built(build, match):
    x = nn.Input((3, 8, 8))
    with pytest.raises(ValueError, match=match):
        build(x)


def test_bad_model_arguments():
    x, other = nn.Input((4,)), nn.Input((4,))
    y = nn.Linear(4, 2)(x) + nn.Linear(4, 2)(other)
    with pytest.raises(ValueError, match="not one of the model's inputs"):
        nn.Model(x, y)
    with pytest.raises(ValueError, match=r"inputs\[0\]: expected a tensor made by nn.Input"):
        nn.Model(nn.ReLU()(x), y)
    with pytest.raises(TypeError, match=r"outputs\[0\]: expected a SymbolicTensor"):
        nn.Model(x, np.zeros(3))
    with pytest.raises(TypeError, match="argument 1: expected a SymbolicTensor"):
        nn.Add()(x, np.zeros((1, 4), np.float32))
    with pytest.raises(ValueError, match="Input: shape"):
        nn.Input((3, 0))
    m = nn.Model([x, other], y)
    with pytest.raises(TypeError, match=r"expected 2 input\(s\), got 1"):
        m(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"input 1: expected shape \(N, 4\), got \(2, 5\)"):
        m(np.zeros((2, 4), np.float32), np.zeros((2, 5), np.float32))


def test_failed_build_registers_nothing(rng):
    x = nn.Input((4,))
    lin = nn.Linear(4, 3)
    h = lin(x)
    with pytest.raises(ValueError):
        nn.Model(x, h + nn.Linear(4, 3)(nn.Input((4,))))
    m = nn.Model(x, nn.ReLU()(h))  # the same layers build a model afterwards, unaffected
    assert list(m.state_dict()) == ["linear.weight", "linear.bias"]
    assert "_graph" not in lin.__dict__ and lin._graph is None  # a leaf layer, untouched


def test_keys_are_stable_and_transfer(rng):
    a, b = _inception(0), _inception(1)
    assert list(a.state_dict()) == list(b.state_dict())
    assert list(a.state_dict())[:4] == ["conv2d.weight", "conv2d.bias", "conv2d_1.weight",
                                        "conv2d_1.bias"]
    b.load_state_dict(a.state_dict())
    xb = _f32(rng, 2, 3, 8, 8)
    np.testing.assert_array_equal(a(xb), b(xb))
    assert [type(m).__name__ for m in a.layers] == ["Conv2d", "Conv2d", "Concat", "ReLU",
                                                     "Conv2d", "Add", "Flatten", "Linear"]
    s = a.summary()
    assert "concat (Concat)" in s and "(None, 8, 8, 8)" in s and "total parameters: 2,765" in s


def test_shared_layer_sums_gradients(rng):
    """One Linear used twice equals two copies of it whose gradients are added."""
    lin = nn.Linear(5, 5)
    x = nn.Input(5)
    m = nn.Model(x, lin(nn.Tanh()(lin(x))))
    assert len(m.layers) == 2 and len(list(m.parameters())) == 2
    c1, c2 = nn.Linear(5, 5), nn.Linear(5, 5)
    for c in (c1, c2):
        c.load_state_dict(lin.state_dict())
    ref = nn.Sequential(c1, nn.Tanh(), c2)
    xb, g = _f32(rng, 3, 5), _f32(rng, 3, 5)
    np.testing.assert_allclose(m(xb), ref(xb), rtol=1e-6)
    gin = m.backward(g)
    np.testing.assert_allclose(gin, ref.backward(g), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lin.weight.grad, c1.weight.grad + c2.weight.grad, rtol=1e-5,
                               atol=1e-6)


def test_sequential_with_a_repeated_layer(rng):
    lin = nn.Linear(4, 4)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    c1, c2 = nn.Linear(4, 4), nn.Linear(4, 4)
    for c in (c1, c2):
        c.load_state_dict(lin.state_dict())
    ref = nn.Sequential(c1, nn.ReLU(), c2)
    xb, g = _f32(rng, 3, 4), _f32(rng, 3, 4)
    seq(xb), ref(xb)
    np.testing.assert_allclose(seq.backward(g), ref.backward(g), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lin.weight.grad, c1.weight.grad + c2.weight.grad, rtol=1e-5,
                               atol=1e-6)


def test_nested_models_and_sequential_nodes(rng):
    inner = _inception(2)
    x = nn.Input((3, 8, 8))
    enc = nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU())
    m = nn.Model(x, nn.Softmax()(inner(enc(x))))
    assert list(m.state_dict())[:2] == ["sequential.0.weight", "sequential.0.bias"]
    xb = _f32(rng, 2, 3, 8, 8)
    y = m(xb)
    gin = m.backward(np.ones_like(y))
    assert gin.shape == xb.shape and np.isfinite(gin).all()


def test_fusion_on_single_consumer_edges(rng, monkeypatch):
    x = nn.Input(6)
    lin, act = nn.Linear(6, 4), nn.ReLU()
    m = nn.Model(x, act(lin(x)))
    ref = nn.Sequential(nn.Linear(6, 4), nn.ReLU())
    ref[0].load_state_dict(lin.state_dict())
    xb = _f32(rng, 3, 6)
    want = ref(xb)
    monkeypatch.setattr(nn.ReLU, "forward", lambda self, v: pytest.fail("not fused"))
    np.testing.assert_array_equal(m(xb), want)
    g = _f32(rng, 3, 4)
    np.testing.assert_array_equal(m.backward(g), ref.backward(g))
    np.testing.assert_array_equal(lin.weight.grad, ref[0].weight.grad)


# -- one backward per forward; nothing kept in inference ------------------------------------------

def test_one_backward_per_forward(rng):
    m = _inception()
    xb = _f32(rng, 2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"backward\(\) called before forward"):
        m.backward(np.ones((2, 5), np.float32))
    y = m(xb)
    with pytest.raises(ValueError, match=r"expected shape \(2, 5\)"):
        m.backward(np.ones((3, 5), np.float32))  # a failed backward loses nothing
    m.backward(np.ones_like(y))
    w = m.linear.weight.grad.copy()
    with pytest.raises(ValueError, match="a second time after one forward"):
        m.backward(np.ones_like(y))
    np.testing.assert_array_equal(m.linear.weight.grad, w)


def test_backward_frees_the_saved_state(rng):
    m = _inception()
    m(_f32(rng, 2, 3, 8, 8))
    _, recs = m._node_records  # (the graph run, one record per node)
    assert all(r is not None and r.vals is not None for r in recs)
    m.backward(np.ones((2, 5), np.float32))
    assert all(r.vals is None for r in recs)


def test_no_grad_and_inference_keep_nothing(rng):
    m = _inception()
    xb = _f32(rng, 2, 3, 8, 8)
    with fastnn.no_grad():
        y = m(xb)
        assert not fastnn.is_grad_enabled()
    assert fastnn.is_grad_enabled()
    with pytest.raises(ValueError, match="called before forward"):
        m.backward(np.ones_like(y))
    bn = nn.BatchNorm1d(3)
    with fastnn.inference_mode():
        bn(_f32(rng, 4, 3))  # eval behaviour: running statistics untouched
        assert not bn.training
    assert bn.training and not bn.running_mean.any()


def test_predict_in_a_thread_does_not_disturb_fit(rng):
    """fit in one thread while another predicts from the same model gives the same weights,
    bit for bit, as fit alone."""
    x = _f32(rng, 256, 3, 8, 8)
    y = rng.integers(0, 5, 256)

    def train(model, stop=None):
        opt = fastnn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        fastnn.fit(model, nn.CrossEntropyLoss(), opt, x, y, batch_size=32, epochs=2, seed=3,
                   verbose=0)
        if stop is not None:
            stop.set()

    alone = _inception(5)
    train(alone)
    shared = _inception(5)
    stop, errors, preds = threading.Event(), [], [0]

    def predict():
        try:
            while not stop.is_set():
                out = fastnn.predict(shared, x[:64], batch_size=16)
                assert out.shape == (64, 5)
                preds[0] += 1
        except Exception as e:  # reported below
            errors.append(e)

    t = threading.Thread(target=predict)
    t.start()
    train(shared, stop)
    t.join()
    assert not errors and preds[0] >= 1
    for (k, a), (_, b) in zip(alone.state_dict().items(), shared.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=k)


# -- the PyTorch loop idiom; define-by-run --------------------------------------------------------

def test_loss_backward_idiom(rng):
    a, b = _inception(7), _inception(7)
    xb, yb = _f32(rng, 4, 3, 8, 8), rng.integers(0, 5, 4)
    crit = nn.CrossEntropyLoss()
    loss = crit(a(xb), yb)
    assert isinstance(loss, float)
    loss.backward()
    crit(b(xb), yb)
    b.backward(crit.backward())  # the explicit form
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.grad, q.grad)
    with pytest.raises(ValueError, match="a second time after one forward"):
        loss.backward()
    with pytest.raises(ValueError, match="not produced by a fastnn model"):
        crit(_f32(rng, 4, 5), yb).backward()


def test_two_losses_on_two_outputs(rng):
    x = nn.Input(6)
    h = nn.Linear(6, 4)(x)
    m = nn.Model(x, [nn.Linear(4, 3)(h), nn.Linear(4, 1)(h)])
    xb = _f32(rng, 5, 6)
    c1, c2 = nn.CrossEntropyLoss(), nn.MSELoss()
    o1, o2 = m(xb)
    total = c1(o1, rng.integers(0, 3, 5)) + 0.5 * c2(o2, _f32(rng, 5, 1))
    total.backward()
    got = [p.grad.copy() for p in m.parameters()]
    m.zero_grad()
    m(xb)
    m.backward(c1.backward(), 0.5 * c2.backward())
    for g, p in zip(got, m.parameters()):
        np.testing.assert_allclose(g, p.grad, rtol=1e-6, atol=1e-7)


def test_define_by_run_refuses_untracked_numpy(rng):
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)

        def forward(self, x):
            return self.b(self.a(x) * 2.0)  # a numpy op between layers: no gradient can follow

    m = Bad()
    y = m(_f32(rng, 2, 3))
    with pytest.raises(ValueError, match=r"computed outside fastnn's recorded calls"):
        m.backward(np.ones_like(y))


# -- save / load; fit -----------------------------------------------------------------------------

def test_save_load_roundtrip(tmp_path, rng):
    x = nn.Input((3, 8, 8))
    y = nn.Flatten()(nn.Conv2d(3, 4, 3, padding=1)(x))
    p1, p2 = nn.Split([200, 56])(y)
    m = nn.Model(x, [nn.Linear(200, 3)(p1), p2])
    fastnn.save(m, tmp_path / "g.fnn")
    back = fastnn.load(tmp_path / "g.fnn")
    assert isinstance(back, nn.Model) and list(back.state_dict()) == list(m.state_dict())
    xb = _f32(rng, 2, 3, 8, 8)
    for u, v in zip(m(xb), back(xb)):
        np.testing.assert_array_equal(u, v)


def test_fit_with_two_inputs_and_two_outputs(rng):
    a, b = nn.Input(4), nn.Input(4)
    enc = nn.Linear(4, 8)
    h = nn.Concat(1)(nn.ReLU()(enc(a)), nn.ReLU()(enc(b)))
    model = nn.Model([a, b], [nn.Linear(16, 2)(h), nn.Linear(16, 1)(h)])
    xa, xb = _f32(rng, 400, 4), _f32(rng, 400, 4)
    cls = (xa.sum(1) > xb.sum(1)).astype(np.int64)

    class Both(nn.Loss):  # a custom loss over both outputs
        def __init__(self):
            super().__init__()
            self.ce, self.mse = nn.CrossEntropyLoss(), nn.MSELoss()

        def forward(self, out, y):
            reg = (xa[:len(y), :1] * 0).astype(np.float32)  # shape (N, 1) target
            return float(self.ce(out[0], y)) + float(self.mse(out[1], reg))

        def backward(self):
            return self.ce.backward(), self.mse.backward()

    opt = fastnn.optim.Adam(model.parameters(), lr=0.01)
    hist = fastnn.fit(model, Both(), opt, (xa, xb), cls, batch_size=32, epochs=15, seed=0,
                      verbose=0, metrics=None)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    p1, p2 = fastnn.predict(model, (xa, xb))
    assert p1.shape == (400, 2) and p2.shape == (400, 1)
    assert (p1.argmax(1) == cls).mean() > 0.9


def test_define_by_run_plus_and_times(rng):
    """``+`` and ``*`` between recorded outputs are recorded too; the derived backward matches
    central differences; an in-place ``+=`` on a recorded output is refused at once."""
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.r = nn.Linear(4, 4), nn.Linear(4, 4), nn.ReLU()

        def forward(self, x):
            h = self.a(x)
            return self.r(h + self.b(x)) * h

    m = Block()
    x = rng.standard_normal((3, 4))
    y = m(x.astype(np.float32))
    assert type(y) is np.ndarray  # the caller gets a plain array
    g = m.backward(np.ones_like(y))

    def total(v):
        with fastnn.no_grad():
            return float(m(v.astype(np.float32)).astype(np.float64).sum())

    eps, num = 1e-2, np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[idx] = eps
        num[idx] = (total(x + d) - total(x - d)) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=2e-3, atol=2e-3)

    class InPlace(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, x):
            h = self.a(x)
            h += self.b(x)
            return h

    with pytest.raises(ValueError, match=r"in-place add .* write h = h \+ g"):
        InPlace()(x.astype(np.float32))


def test_docs_graph_examples_run_as_written(capsys):
    """docs/graph.md's Python blocks, in order, in one namespace."""
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parents[2] / "docs" / "graph.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 3
    ns = {}
    for code in blocks:
        exec(compile(code, "docs/graph.md", "exec"), ns)
    assert ns["out"].shape == (4, 16, 8, 8) and ns["gin"].shape == (4, 3, 8, 8)
    assert isinstance(ns["loss"], float) and "concat (Concat)" in capsys.readouterr().out
