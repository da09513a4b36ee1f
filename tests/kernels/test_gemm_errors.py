"""Bad input to matmul: a TypeError/ValueError naming the argument and the shapes; never a crash."""
import numpy as np
import pytest

import fastnn


def f32(*shape):
    return np.ones(shape, np.float32)


def test_inner_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"b.*\(3, 4\).*\(5, 2\)|b.*3 rows.*\(5, 2\)"):
        fastnn.ops.matmul(f32(2, 3), f32(5, 2))
    with pytest.raises(ValueError, match="b"):
        fastnn.ops.matmul(f32(2, 3), f32(2, 3), trans_b=False)


@pytest.mark.parametrize("a,b,name", [(f32(3), f32(3, 2), "a"), (f32(2, 3), f32(3), "b"),
                                      (f32(1, 2, 3), f32(3, 2), "a")])
def test_wrong_ndim(a, b, name):
    with pytest.raises(ValueError, match=rf"{name}: expected a 2-D array, got shape"):
        fastnn.ops.matmul(a, b)


@pytest.mark.parametrize("bad", [np.ones((2, 3), np.int32), np.ones((2, 3), np.complex64),
                                 np.array([["a", "b", "c"]] * 2), None, "x"])
def test_wrong_dtype(bad):
    with pytest.raises(TypeError, match="a"):
        fastnn.ops.matmul(bad, f32(3, 2))


def test_bias_shape():
    with pytest.raises(ValueError, match=r"bias: expected shape \(2,\), got \(3,\)"):
        fastnn.ops.matmul(f32(4, 3), f32(3, 2), bias=f32(3))
    with pytest.raises(ValueError, match="bias"):
        fastnn.ops.matmul(f32(4, 3), f32(3, 2), bias=f32(1, 2))


def test_out_errors():
    a, b = f32(4, 3), f32(3, 2)
    with pytest.raises(ValueError, match=r"out: expected shape \(4, 2\), got \(2, 4\)"):
        fastnn.ops.matmul(a, b, out=f32(2, 4))
    with pytest.raises(TypeError, match="out: expected dtype float32"):
        fastnn.ops.matmul(a, b, out=np.ones((4, 2)))
    with pytest.raises(ValueError, match="out: expected a C-contiguous"):
        fastnn.ops.matmul(a, b, out=np.ones((2, 4), np.float32).T)
    ro = f32(4, 2)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="out: array is read-only"):
        fastnn.ops.matmul(a, b, out=ro)
    with pytest.raises(TypeError, match="out"):
        fastnn.ops.matmul(a, b, out=[[0, 0]] * 4)


def test_out_aliasing_input_rejected_and_untouched():
    a = np.arange(16, dtype=np.float32).reshape(4, 4)
    keep = a.copy()
    with pytest.raises(ValueError, match="out: must not share memory"):
        fastnn.ops.matmul(a, f32(4, 4), out=a)
    np.testing.assert_array_equal(a, keep)


def test_unknown_activation():
    with pytest.raises(ValueError, match="activation: expected one of"):
        fastnn.ops.matmul(f32(2, 2), f32(2, 2), activation="swish")
    with pytest.raises(TypeError, match="activation"):
        fastnn.ops.matmul(f32(2, 2), f32(2, 2), activation=3)
