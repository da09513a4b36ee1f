"""Sequential, Residual and nn.Model are one representation (a node graph run by one executor,
fastnn/nn/_exec.py), and every subsystem reads them through it: a Sequential holding a Residual
and a graph model, with a Sequential inside that graph, is trained, folded, unit-pruned,
quantized, exported and saved like a flat graph -- checked against PyTorch and against itself."""
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.nn.graph import as_model, expand
from fastnn.prune import unit_prune
from fastnn.quant import fold_batchnorm, quantize, quantize_dynamic


def _branch_model():
    """A graph (1x1 and 3x3 branches concatenated), one branch a Sequential."""
    x = nn.Input((8, 6, 6))
    a = nn.Sequential(nn.Conv2d(8, 4, 1), nn.ReLU())(x)
    b = nn.ReLU()(nn.Conv2d(8, 4, 3, padding=1)(x))
    return nn.Model(x, nn.Concat(1)(a, b))


def nested(seed=0):
    fastnn.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Residual(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, padding=1))),
        _branch_model(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 9, 5))


def _torch_nested(torch):
    tnn = torch.nn

    class Residual(tnn.Module):
        def __init__(self, block):
            super().__init__()
            self.block = block

        def forward(self, x):
            return x + self.block(x)

    class Branches(tnn.Module):
        def __init__(self):
            super().__init__()
            self.sequential = tnn.Sequential(tnn.Conv2d(8, 4, 1), tnn.ReLU())
            self.conv2d = tnn.Conv2d(8, 4, 3, padding=1)

        def forward(self, x):
            return torch.cat([self.sequential(x), torch.relu(self.conv2d(x))], 1)

    return tnn.Sequential(
        tnn.Conv2d(3, 8, 3, padding=1), tnn.BatchNorm2d(8), tnn.ReLU(),
        Residual(tnn.Sequential(tnn.Conv2d(8, 8, 3, padding=1), tnn.BatchNorm2d(8), tnn.ReLU(),
                                tnn.Conv2d(8, 8, 3, padding=1))),
        Branches(), tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(8 * 9, 5))


def warm(model, rng):
    model.train()
    for _ in range(3):
        model(rng.standard_normal((16, 3, 6, 6)).astype(np.float32))
    return model.eval()


def test_every_container_is_a_graph():
    model = nested()
    for m in (model, model[3], model[4], model[4].sequential):
        g = m._graph
        assert g is not None and len(g.nodes) == len(g.names)
    assert nn.Linear(2, 2)._graph is None  # a leaf runs as one node
    n_in, nodes, outs = expand(model)
    paths = [p for p, _, _, _ in nodes]
    leaves = [name for name, m in model.named_modules() if not m._modules]
    # The leaf view holds every leaf under its named_modules path, plus the Residual's join.
    assert [p for p in paths if p != "3"] == leaves
    join = nodes[paths.index("3")]
    assert isinstance(join[1], nn.merge.ResidualAdd)
    # The join reads the Residual's input (the ReLU's output) and the block's output.
    relu_out = nodes[paths.index("2")][3][0]
    block_out = nodes[paths.index("3.block.3")][3][0]
    assert join[2] == [relu_out, block_out] and n_in == 1 and outs == nodes[-1][3]


def test_nested_containers_match_torch(rng, torch):
    model, tmodel = nested(), _torch_nested(torch)
    assert list(model.state_dict()) == [k for k in tmodel.state_dict()
                                        if not k.endswith("num_batches_tracked")]
    with torch.no_grad():
        for k, v in model.state_dict().items():
            tmodel.state_dict()[k].copy_(torch.from_numpy(v))
    xb = rng.standard_normal((4, 3, 6, 6)).astype(np.float32)
    g = rng.standard_normal((4, 5)).astype(np.float32)
    model.train()
    tmodel.train()
    y = model(xb)
    tx = torch.from_numpy(xb.copy()).requires_grad_(True)
    ty = tmodel(tx)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    gin = model.backward(g)
    np.testing.assert_allclose(gin, tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    tparams = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        want = tparams[name].grad.numpy()
        np.testing.assert_allclose(p.grad, want, rtol=1e-4,
                                   atol=1e-4 * max(1.0, np.abs(want).max()), err_msg=name)


def test_fold_keeps_container_types_and_outputs(rng):
    model = warm(nested(), rng)
    folded = fold_batchnorm(model)
    assert type(folded) is nn.Sequential and type(folded[2]) is nn.Residual
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert len(folded) == len(model) - 1 and len(folded[2].block) == 3  # renumbered, as del does
    assert not folded.training and not folded[2].training
    xb = rng.standard_normal((6, 3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(fastnn.predict(folded, xb), fastnn.predict(model, xb),
                               rtol=1e-4, atol=1e-4)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # model unchanged


def test_unit_prune_inside_nested_containers(rng):
    model, ref = nested(), nested()
    report = unit_prune(model, 0.5, input_shape=(3, 6, 6))
    assert "Residual" in report["skipped"]["0"]  # feeds x + block(x): width kept
    assert report["3.block.0"]["after"] == 4 and model[3].block[1].num_features == 4
    assert model[3].block[3].in_channels == 4
    mods = dict(ref.named_modules())
    pruned = [n for n in report if n != "skipped" and report[n]["removed"] is not None
              and len(report[n]["removed"])]
    assert set(pruned) == {"3.block.0", "4.sequential.0", "4.conv2d"}  # Concat: slices follow
    for name in pruned:  # the same outputs as the original with those units silenced
        gone = report[name]["removed"]
        mods[name].weight.data[gone] = 0
        mods[name].bias.data[gone] = 0
    ref[3].block[1].bias.data[report["3.block.0"]["removed"]] = 0
    xb = rng.standard_normal((3, 3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(fastnn.predict(model, xb), fastnn.predict(ref, xb), rtol=1e-5,
                               atol=1e-5)


def test_quantize_nested_containers_runs_int8_everywhere(rng):
    model = warm(nested(), rng)
    calib = rng.standard_normal((64, 3, 6, 6)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize(model, calib, check_speed=False)
    kinds = [type(m).__name__ for m in q.layers]
    assert "Residual" not in kinds and "Sequential" not in kinds and "Model" not in kinds
    assert kinds.count("QuantizedJoin") == 2  # the Residual's join and the Concat, on uint8
    ref = fastnn.predict(model, calib)
    err = np.linalg.norm(fastnn.predict(q, calib) - ref) / np.linalg.norm(ref)
    assert err < 0.05


def test_quantize_dynamic_needs_the_shape_of_a_branched_sequential(rng):
    fastnn.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(),
                          nn.Residual(nn.Sequential(nn.Linear(8, 8), nn.ReLU())), nn.Linear(8, 3))
    with pytest.raises(ValueError, match="sample_shape"):
        quantize_dynamic(model)
    q = quantize_dynamic(model, input_shape=(6,))
    xb = rng.standard_normal((5, 6)).astype(np.float32)
    ref = fastnn.predict(model, xb)
    assert np.linalg.norm(fastnn.predict(q, xb) - ref) / np.linalg.norm(ref) < 0.05


def test_save_load_and_as_model(rng, tmp_path):
    model = warm(nested(), rng)
    xb = rng.standard_normal((3, 3, 6, 6)).astype(np.float32)
    fastnn.save(model, tmp_path / "m.fnn")
    back = fastnn.load(tmp_path / "m.fnn")
    assert type(back[3]) is nn.Residual and type(back[4]) is nn.Model
    np.testing.assert_array_equal(fastnn.predict(back, xb), fastnn.predict(model, xb))
    flat = as_model(model, (3, 6, 6))  # the same layer objects, one flat graph
    assert {id(p) for p in flat.parameters()} == {id(p) for p in model.parameters()}
    np.testing.assert_array_equal(fastnn.predict(flat, xb), fastnn.predict(model, xb))


def test_define_by_run_module_as_a_graph_node(rng):
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 3), nn.Linear(4, 3)

        def forward(self, x):
            return self.a(x) * self.b(x)

    fastnn.manual_seed(2)
    pair = Pair()
    x = nn.Input((4,))
    model = nn.Model(x, nn.Linear(3, 2)(pair(x)))
    xb = rng.standard_normal((5, 4)).astype(np.float32)
    y = model(xb)
    gin = model.backward(np.ones_like(y))
    # Against the same arithmetic written out: d/dx sum(W2 (a(x) * b(x))).
    a = xb @ pair.a.weight.data.T + pair.a.bias.data
    b = xb @ pair.b.weight.data.T + pair.b.bias.data
    g = np.ones_like(y) @ model.linear.weight.data
    want = (g * b) @ pair.a.weight.data + (g * a) @ pair.b.weight.data
    np.testing.assert_allclose(gin, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(pair.a.weight.grad, (g * b).T @ xb, rtol=1e-5, atol=1e-5)


def test_sequential_layers_answer_their_own_backward(rng):
    """After ``seq(x)`` each layer's latest call is pending, so layer-by-layer backward (what
    Sequential.backward used to be) still works -- and then the container refuses a second one."""
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    xb = rng.standard_normal((3, 4)).astype(np.float32)
    y = model(xb)
    g = np.ones_like(y)
    manual = g
    for layer in reversed(list(model)):
        manual = layer.backward(manual)
    with pytest.raises(ValueError, match="a second time"):
        model.backward(g)
    model.zero_grad()
    model(xb)
    np.testing.assert_allclose(model.backward(g), manual, rtol=1e-6, atol=1e-6)


def test_backward_follows_the_graph_of_its_forward(rng):
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    xb = rng.standard_normal((3, 4)).astype(np.float32)
    y = model(xb)
    model.append(nn.Linear(4, 2))  # edited between forward and backward
    gin = model.backward(np.ones_like(y))  # the gradient of the two-layer forward that ran
    assert gin.shape == xb.shape and model[2].weight.grad.any() == False  # noqa: E712
    out = model(xb)
    assert out.shape == (3, 2)


def test_residual_shape_mismatch():
    res = nn.Residual(nn.Linear(4, 3))
    with pytest.raises(ValueError, match=r"Residual: block output shape \(2, 3\) differs from "
                                         r"input shape \(2, 4\)"):
        res(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="Residual"):  # at graph-building time too
        res(nn.Input((4,)))
