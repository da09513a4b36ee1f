"""Sequential as a container: indexing, item assignment, deletion, slices, names; state_dict keys
after each edit match PyTorch's after the same edit (the `torch` fixture); save/load keeps
them."""
from collections import OrderedDict

import numpy as np
import pytest

import fastnn
from fastnn import nn


def _model():
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3))


def _keys(m):
    return list(m.state_dict())


def test_len_and_negative_indices():
    m = _model()
    assert len(m) == 5
    assert m[-1] is m[4] and m[-5] is m[0]
    with pytest.raises(IndexError, match=r"index 5 is out of range for 5 layers"):
        m[5]
    with pytest.raises(IndexError, match=r"index -6 is out of range"):
        m[-6]
    with pytest.raises(TypeError, match=r"index must be an int or a slice, got str"):
        m["0"]


def test_setitem_replaces_in_place_keeping_name_and_order():
    m = _model()
    new = nn.Linear(6, 10)
    m[-1] = new
    assert m[4] is new and m._modules["4"] is new and getattr(m, "4") is new
    assert _keys(m) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert m(np.ones((2, 4), np.float32)).shape == (2, 10)
    m[1] = nn.Sigmoid()  # the middle of the order, not moved to the end
    assert [type(x).__name__ for x in m] == ["Linear", "Sigmoid", "Linear", "Tanh", "Linear"]


@pytest.mark.parametrize("bad", [5, None, "relu", np.zeros(3)])
def test_setitem_non_module_is_type_error_and_model_unchanged(bad):
    m = _model()
    before = list(m._modules.items())
    sd = m.state_dict()
    with pytest.raises(TypeError, match=r"Sequential\[2\] = layer: layer must be a "
                                        r"fastnn.nn.Module, got"):
        m[2] = bad
    assert list(m._modules.items()) == before
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, sd[k])


def test_setitem_bad_index_and_slice():
    m = _model()
    with pytest.raises(IndexError):
        m[7] = nn.ReLU()
    with pytest.raises(TypeError, match="slice assignment is not supported"):
        m[1:2] = nn.ReLU()
    assert len(m) == 5


def test_delitem_int_and_slice_renumber():
    m = _model()
    first, last = m[0], m[4]
    del m[1]
    assert len(m) == 4 and list(m._modules) == ["0", "1", "2", "3"]
    assert m[0] is first and m[-1] is last
    assert not hasattr(m, "4")  # no stale attribute left behind
    assert _keys(m) == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
    assert m(np.ones((2, 4), np.float32)).shape == (2, 3)
    del m[1:3]
    assert _keys(m) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    del m[-1]
    assert len(m) == 1 and m[0] is first
    with pytest.raises(IndexError):
        del m[3]
    del m[:]
    assert len(m) == 0 and _keys(m) == []


def test_slice_keeps_names_and_append_never_overwrites():
    m = _model()
    tail = m[2:]
    assert list(tail._modules) == ["2", "3", "4"] and tail[0] is m[2]
    assert _keys(tail) == ["2.weight", "2.bias", "4.weight", "4.bias"]
    tail.append(nn.ReLU())  # "3" is taken: the next free number, not an overwrite
    assert list(tail._modules) == ["2", "3", "4", "5"] and len(tail) == 4
    assert list(m[::2]._modules) == ["0", "2", "4"]


def test_ordered_dict_names():
    m = nn.Sequential(OrderedDict([("fc", nn.Linear(3, 2)), ("act", nn.ReLU())]))
    assert _keys(m) == ["fc.weight", "fc.bias"] and m.fc is m[0]
    with pytest.raises(ValueError, match="without '.'"):
        nn.Sequential(OrderedDict([("a.b", nn.ReLU())]))
    with pytest.raises(ValueError, match="already an attribute"):
        nn.Sequential(OrderedDict([("forward", nn.ReLU())]))


def test_save_load_keeps_names_after_edits(tmp_path):
    m = _model()
    sliced = m[2:]
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(4, 2)), ("act", nn.ReLU())]))
    del m[1]
    m[0] = nn.Linear(4, 5)
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    for model, xin in ((m, x), (sliced, np.ones((3, 5), np.float32)), (named, x)):
        fastnn.save(model, tmp_path / "m.safetensors")
        back = fastnn.load(tmp_path / "m.safetensors")
        assert list(back._modules) == list(model._modules)
        assert _keys(back) == _keys(model)
        np.testing.assert_array_equal(back(xin), model(xin))


def test_state_dict_keys_match_torch_after_edits(torch):
    tnn = torch.nn

    def both():
        f = _model()
        t = tnn.Sequential(tnn.Linear(4, 5), tnn.ReLU(), tnn.Linear(5, 6), tnn.Tanh(),
                           tnn.Linear(6, 3))
        return f, t

    edits = [
        lambda s, L: s.__delitem__(1),
        lambda s, L: s.__delitem__(slice(1, 3)),
        lambda s, L: s.__delitem__(-2),
        lambda s, L: s.__delitem__(slice(None, None, 2)),
        lambda s, L: s.__setitem__(-1, L(6, 7)),
        lambda s, L: s.__setitem__(0, L(4, 5)),
    ]
    for edit in edits:
        f, t = both()
        edit(f, nn.Linear)
        edit(t, tnn.Linear)
        assert _keys(f) == list(t.state_dict()), edit
        assert list(f._modules) == list(t._modules)
    f, t = both()
    assert _keys(f[1:4]) == list(t[1:4].state_dict())
    assert _keys(f[::2]) == list(t[::2].state_dict())
    # the edited fastnn model loads torch's weights and computes the same
    f, t = both()
    del f[1]
    del t[1]
    f.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(f(x), t(torch.from_numpy(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)


def test_reassigned_attribute_keeps_its_place():
    m = _model()
    setattr(m, "0", nn.Linear(4, 5))  # as PyTorch: a registered name keeps its position
    assert list(m._modules) == ["0", "1", "2", "3", "4"]
    assert _keys(m)[:2] == ["0.weight", "0.bias"]
