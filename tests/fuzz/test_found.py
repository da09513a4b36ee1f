"""Cases the fuzzer found (beyond those fixed on the `harden` branch), kept as plain regression
tests: each one crashed, raised a type outside the contract or named no argument."""
import numpy as np
import pytest

from fastnn import _C

from .reg_optim import adam, table_args
from .reg_quant import _conv_u8


def test_optim_table_takes_an_ndarray_as_its_sequence_of_buffers():
    # Each row of an ndarray is a new object: a py::handle to it dangled (segfault).
    args = table_args()
    args["buffers"] = np.zeros((3, 17), np.float32)
    table = _C.OptimTable(**args)
    table.step([adam()])
    assert table.total == 17


@pytest.mark.parametrize("seq", ["grads", "masks"])
def test_optim_table_takes_ndarray_rows_as_grads_and_masks(seq):
    args = table_args()
    args["params"] = list(np.zeros((2, 4), np.float32))
    args["grads"] = np.ones((2, 4), np.float32) if seq == "grads" else [np.ones(4, np.float32)] * 2
    args["masks"] = np.ones((2, 4), np.float32) if seq == "masks" else [None, None]
    args["buffers"] = [np.zeros(8, np.float32) for _ in range(3)]
    if seq == "masks":
        args["grads"] = [np.ones(4, np.float32), np.ones(4, np.float32)]
    _C.OptimTable(**args).step([adam()])


@pytest.mark.parametrize("pool", ["3", 5, [[3, 3], [2, "a"], [1, 1]], [[3, 3], None, [1, 1]],
                                  [[3, 3], [2, 2], [1, 2 ** 64]]])
def test_conv2d_u8_pool_that_is_not_pairs_of_ints_is_a_type_error(pool):
    call = _conv_u8()
    call.kwargs["pool"] = pool
    with pytest.raises(TypeError, match="pool"):
        call()


@pytest.mark.parametrize("fn", ["conv2d_forward", "conv2d_backward"])
@pytest.mark.parametrize("shape", [(0, 2, 3, 3), (6, 2, 3, 0)])
def test_conv2d_empty_weight_is_named(fn, shape):
    x = np.zeros((2, 4, 6, 7), np.float32)
    w = np.zeros(shape, np.float32)
    geom = ((1, 2), (1, 1), (1, 1), 2)
    with pytest.raises(ValueError, match=r"weight: expected a non-empty"):
        if fn == "conv2d_forward":
            _C.conv2d_forward(x, w, None, *geom)
        else:
            _C.conv2d_backward(x, np.zeros((2, 6, 6, 4), np.float32), w, *geom, True, None, None)


def test_conv_transpose2d_empty_weight_is_named():
    with pytest.raises(ValueError, match=r"weight: expected a non-empty"):
        _C.conv_transpose2d_forward(np.zeros((2, 4, 5, 5), np.float32),
                                    np.zeros((4, 3, 3, 0), np.float32), None, (2, 2), (1, 1),
                                    (1, 1), (1, 1), 1)


def test_histogram_without_bins_is_named():
    with pytest.raises(ValueError, match=r"hist: expected at least 1 bin"):
        _C.histogram_f32(np.ones(4, np.float32), 0.0, 1.0, np.zeros(0, np.int64))


# Found under UBSan (signed overflow; a normal build wrapped around silently).
@pytest.mark.parametrize("count", [2 ** 63 - 1, -1])
def test_optim_step_refuses_a_step_counter_it_cannot_advance(count):
    args = table_args()
    args["steps"][1] = count
    before = [p.copy() for p in args["params"]]
    table = _C.OptimTable(**args)
    with pytest.raises(ValueError, match=r"steps\[1\]: expected a step count"):
        table.step([adam()])
    for p, b in zip(args["params"], before):  # nothing written
        np.testing.assert_array_equal(p, b)


def test_from_csr_with_2_63_minus_1_rows_is_a_value_error():
    with pytest.raises(ValueError, match=r"row_ptr: expected shape \(9223372036854775807 \+ 1,\)"):
        _C.SparseMatrix.from_csr((2 ** 63 - 1, 4), np.array([0, 1]), np.array([0], np.int32),
                                 np.array([1.0], np.float32))


def test_histogram_refuses_to_overflow_a_bin():
    hist = np.array([0, 2 ** 63 - 2, 0], np.int64)
    with pytest.raises(ValueError, match=r"hist: bin 1 holds"):
        _C.histogram_f32(np.full(5, 1.5, np.float32), 0.0, 3.0, hist)
    np.testing.assert_array_equal(hist, [0, 2 ** 63 - 2, 0])  # nothing written
