"""concat_u8 / add_u8 (frame/quant_join.cpp): the uint8 joins of a quantized graph, exact
against tests/reference.py on every ISA path (the kernels are ISA-free; the fixture proves the
dispatch does not change them) and on edge shapes."""
import numpy as np
import pytest

from fastnn import _C
from tests.reference import add_u8_ref, concat_u8_ref


def u8(rng, *shape):
    return rng.integers(0, 256, shape).astype(np.uint8)


QPARAMS = [  # (scale, zero point) pairs: equal, wider, narrower, extreme zero points
    [(0.02, 128), (0.02, 128), (0.02, 128)],
    [(0.02, 128), (0.05, 0), (0.01, 255)],
    [(1e-3, 3), (0.5, 200), (0.07, 17)],
]


@pytest.mark.parametrize("qps", QPARAMS)
@pytest.mark.parametrize("lead,widths", [
    ((1,), (1, 1)),             # batch 1, one column each
    ((7,), (13, 3, 1)),         # primes
    ((2, 5, 3), (16, 17, 15)),  # NHWC rows, widths around a vector
    ((3,), (65537,)),           # one input wider than a parallel block
    ((70000,), (2, 1)),         # many short rows: several row blocks
])
@pytest.mark.parametrize("relu", [False, True])
def test_concat_matches_reference(isa, rng, qps, lead, widths, relu):
    ins = [u8(rng, *lead, w) for w in widths]
    scales = [qps[i % 3][0] for i in range(len(ins))]
    zps = [qps[i % 3][1] for i in range(len(ins))]
    out_s, out_z = 0.03, 90
    got = _C.concat_u8(ins, scales, zps, out_s, out_z, relu)
    np.testing.assert_array_equal(got, concat_u8_ref(ins, scales, zps, out_s, out_z, relu))


def test_concat_same_qparams_is_a_copy(isa, rng):
    a, b = u8(rng, 4, 6, 6, 3), u8(rng, 4, 6, 6, 5)
    got = _C.concat_u8([a, b], [0.1, 0.1], [7, 7], 0.1, 7)
    np.testing.assert_array_equal(got, np.concatenate([a, b], -1))


def test_concat_strided_input_is_read_in_order(isa, rng):
    base = u8(rng, 6, 10)
    a = base[:, ::2]  # not contiguous: made contiguous by the binding
    got = _C.concat_u8([a, base[:, :3]], [0.04, 0.02], [1, 250], 0.05, 60)
    np.testing.assert_array_equal(got, concat_u8_ref([np.ascontiguousarray(a), base[:, :3]],
                                                     [0.04, 0.02], [1, 250], 0.05, 60))


@pytest.mark.parametrize("shape", [(1,), (1, 1), (7, 13), (2, 3, 5, 17), (70001,)])
@pytest.mark.parametrize("relu", [False, True])
def test_add_matches_reference(isa, rng, shape, relu):
    for (sa, za), (sb, zb), (so, zo) in [((0.02, 128), (0.02, 128), (0.04, 128)),
                                         ((0.01, 0), (0.3, 255), (0.2, 30)),
                                         ((1e-3, 5), (1e-3, 250), (5e-4, 0))]:
        a, b = u8(rng, *shape), u8(rng, *shape)
        got = _C.add_u8(a, sa, za, b, sb, zb, so, zo, relu)
        np.testing.assert_array_equal(got, add_u8_ref(a, sa, za, b, sb, zb, so, zo, relu))


def test_add_is_the_real_sum_within_half_a_step(rng):
    a, b = u8(rng, 1000), u8(rng, 1000)
    sa, za, sb, zb, so, zo = 0.02, 100, 0.05, 20, 0.08, 60
    got = _C.add_u8(a, sa, za, b, sb, zb, so, zo)
    real = sa * (a.astype(np.float64) - za) + sb * (b.astype(np.float64) - zb)
    inside = (real / so + zo > 0) & (real / so + zo < 255)
    err = np.abs(so * (got.astype(np.float64) - zo) - real)[inside]
    assert err.max() <= so * 0.5 * (1 + 1e-5)


def test_empty_tensors(isa):
    e = np.zeros((0, 4), np.uint8)
    assert _C.concat_u8([e, np.zeros((0, 2), np.uint8)], [0.1, 0.2], [0, 0], 0.1, 0).shape == (0, 6)
    assert _C.add_u8(e, 0.1, 0, e, 0.1, 0, 0.1, 0).shape == (0, 4)


def test_bad_arguments_name_the_argument():
    a = np.zeros((2, 3), np.uint8)
    with pytest.raises(ValueError, match=r"inputs\[1\]: expected shape \(2, 3\).*got \(3, 3\)"):
        _C.concat_u8([a, np.zeros((3, 3), np.uint8)], [1.0, 1.0], [0, 0], 1.0, 0)
    with pytest.raises(TypeError, match=r"inputs\[0\].*uint8"):
        _C.concat_u8([a.astype(np.float32)], [1.0], [0], 1.0, 0)
    with pytest.raises(ValueError, match="one per input"):
        _C.concat_u8([a, a], [1.0], [0, 0], 1.0, 0)
    with pytest.raises(ValueError, match="at least one"):
        _C.concat_u8([], [], [], 1.0, 0)
    with pytest.raises(ValueError, match="scalar"):
        _C.concat_u8([np.zeros((), np.uint8)], [1.0], [0], 1.0, 0)
    with pytest.raises(ValueError,
                       match=r"inputs\[0\]: zero_point must be in \[0, 255\], got 256"):
        _C.concat_u8([a], [1.0], [256], 1.0, 0)
    with pytest.raises(ValueError, match=r"out: scale"):
        _C.concat_u8([a], [1.0], [0], 0.0, 0)
    with pytest.raises(ValueError, match=r"inputs\[0\]: scale"):
        _C.concat_u8([a], [float("nan")], [0], 1.0, 0)
    with pytest.raises(ValueError, match=r"b: expected the shape of a \(2, 3\), got \(3, 2\)"):
        _C.add_u8(a, 1.0, 0, a.T.copy(), 1.0, 0, 1.0, 0)
    with pytest.raises(ValueError, match=r"b: zero_point must be in \[0, 255\], got -1"):
        _C.add_u8(a, 1.0, 0, a, 1.0, -1, 1.0, 0)
    with pytest.raises(ValueError, match=r"a: scale"):
        _C.add_u8(a, float("inf"), 0, a, 1.0, 0, 1.0, 0)
    with pytest.raises(TypeError, match="b"):
        _C.add_u8(a, 1.0, 0, a.astype(np.int8), 1.0, 0, 1.0, 0)
