"""to_sparse: converted models give the masked dense model's outputs (within float32 rounding),
fuse ReLU, refuse backward, leave the original alone; fastnn.save/load round-trips masks and
sparse layers (CSR arrays as integer tensors)."""
import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.prune import (SparseConv2d, SparseLinear, magnitude_prune, sparsity_report,
                          to_sparse)
from tests.prune.helpers import assert_unchanged, mlp, snapshot
from tests.reference import EPS32


def close(got, want, k, scale):
    np.testing.assert_allclose(got, want, rtol=0, atol=8 * EPS32 * np.sqrt(k) * scale + 1e-30)


@pytest.mark.parametrize("batch", [1, 3, 64, 130])
def test_to_sparse_matches_masked_dense(isa, rng, batch):
    model = mlp((50, 40, 30, 7))
    magnitude_prune(model, 0.85)
    model.eval()
    x = rng.standard_normal((batch, 50)).astype(np.float32)
    y_dense = model(x)
    snap = snapshot(model)
    sparse = to_sparse(model)
    assert_unchanged(model, snap)
    kinds = [type(m).__name__ for m in sparse]
    assert kinds == ["SparseLinear", "ReLU", "SparseLinear", "ReLU", "SparseLinear"]
    y = sparse(x)
    close(y, y_dense, 50, 1.0 + np.abs(y_dense).max())
    np.testing.assert_allclose(fastnn.predict(sparse, x), y, rtol=0, atol=1e-6)


def test_threshold_and_relu_fusion(rng):
    model = mlp((30, 20, 10, 4))
    magnitude_prune(model, 0.9, layers=["0"])
    magnitude_prune(model, 0.5, layers=["2"])
    sparse = to_sparse(model, min_sparsity=0.7)
    assert isinstance(sparse[0], SparseLinear) and isinstance(sparse[2], nn.Linear)
    assert isinstance(sparse[4], nn.Linear)
    x = rng.standard_normal((5, 30)).astype(np.float32)
    # Fused: the SparseLinear's output is already the ReLU's (no negative entries).
    h = sparse[0].forward_fused(x, sparse[1])
    assert h is not None and np.all(h >= 0)
    np.testing.assert_array_equal(h, np.maximum(sparse[0](x), 0))
    assert sparse[0].forward_fused(x, nn.Sigmoid()) is None
    # dense layers kept their masks in the copy
    assert sparse[2].weight.mask is not None
    assert to_sparse(model, min_sparsity=1.0)[0].__class__ is nn.Linear


def test_whole_model_is_one_linear(rng):
    lin = nn.Linear(6, 3)
    magnitude_prune(lin, 0.8)
    s = to_sparse(lin)
    assert isinstance(s, SparseLinear)
    x = rng.standard_normal((2, 6)).astype(np.float32)
    close(s(x), lin(x), 6, 1 + np.abs(lin(x)).max())


def test_sparse_layers_are_inference_only(rng):
    model = mlp((10, 8, 3))
    magnitude_prune(model, 0.9)
    sparse = to_sparse(model)
    y = sparse(rng.standard_normal((2, 10)).astype(np.float32))
    with pytest.raises(RuntimeError, match="inference-only"):
        sparse.backward(np.ones_like(y))
    assert list(sparse.parameters()) == []


def test_report_of_converted_model():
    model = mlp((40, 30, 5))
    magnitude_prune(model, 0.9)
    r_dense = sparsity_report(model)
    r_sparse = sparsity_report(to_sparse(model))
    for a, b in zip(r_dense["layers"], r_sparse["layers"]):
        assert (a["zeros"], a["params"], a["sparse_bytes"]) == (b["zeros"], b["params"],
                                                                b["sparse_bytes"])
        assert b["stored"] == "csr" and a["stored"] == "dense"
    assert r_dense["total"] == r_sparse["total"]


def test_save_load_masks_round_trip(tmp_path, rng):
    model = mlp()
    magnitude_prune(model, 0.7)
    path = tmp_path / "masked.fnn"
    fastnn.save(model, path)
    back = fastnn.load(path)
    for (n, p), (_, q) in zip(model.named_parameters(), back.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
        if p.mask is None:
            assert q.mask is None
        else:
            np.testing.assert_array_equal(p.mask, q.mask)
            assert q.mask.dtype == np.float32 and q.mask.flags.c_contiguous
    x = rng.standard_normal((4, 20)).astype(np.float32)
    np.testing.assert_array_equal(back(x), model(x))


def test_save_load_sparse_model_round_trip(tmp_path, rng):
    model = mlp((25, 19, 11, 3))
    magnitude_prune(model, 0.8)
    model.eval()
    sparse = to_sparse(model)
    path = tmp_path / "sparse.fnn"
    fastnn.save(sparse, path)
    back = fastnn.load(path)
    assert [type(m) for m in back] == [type(m) for m in sparse]
    sd_a, sd_b = sparse.state_dict(), back.state_dict()
    assert list(sd_a) == list(sd_b)
    for k in sd_a:
        assert sd_a[k].dtype == sd_b[k].dtype
        np.testing.assert_array_equal(sd_a[k], sd_b[k])
    assert sd_b["0.weight_col_idx"].dtype == np.int32
    assert sd_b["0.weight_row_ptr"].dtype == np.int64
    x = rng.standard_normal((6, 25)).astype(np.float32)
    np.testing.assert_array_equal(back(x), sparse(x))
    for a, b in zip(sparse, back):
        if isinstance(a, SparseLinear):
            assert a.get_config() == b.get_config()


def test_load_state_dict_into_sparse_layer_validates():
    a = SparseLinear.from_linear(nn.Linear(5, 4))
    b = SparseLinear(5, 4, nnz=a.nnz)
    with pytest.raises(ValueError, match="not a valid weight"):
        b(np.ones((1, 5), np.float32))  # arrays not loaded yet
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(b(np.ones((1, 5), np.float32)), a(np.ones((1, 5), np.float32)))
    bad = a.state_dict()
    bad["weight_col_idx"] = bad["weight_col_idx"].astype(np.float32)
    with pytest.raises(ValueError, match="integers"):
        b.load_state_dict(bad)
    bad = a.state_dict()
    bad["weight_col_idx"] = bad["weight_col_idx"] + 5  # out of range: caught on next use
    b.load_state_dict(bad)
    with pytest.raises(ValueError, match="col_idx"):
        b(np.ones((1, 5), np.float32))


def test_sparse_conv_model_matches_and_round_trips(tmp_path, rng):
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 8, 3, stride=2, padding=1, bias=False),
                          nn.Flatten(), nn.Linear(8 * 2 * 2, 5))
    magnitude_prune(model, 0.8)
    model.eval()
    x = rng.standard_normal((3, 3, 8, 8)).astype(np.float32)
    y = model(x)
    sparse = to_sparse(model)
    assert isinstance(sparse[0], SparseConv2d) and isinstance(sparse[3], SparseConv2d)
    assert sparse[3].bias is None
    close(sparse(x), y, 16 * 9, 1 + np.abs(y).max())
    close(sparse[0](x[0]), model[0](x[0]), 27, 10.0)  # one CHW image
    path = tmp_path / "conv.fnn"
    fastnn.save(sparse, path)
    back = fastnn.load(path)
    np.testing.assert_array_equal(back(x), sparse(x))
