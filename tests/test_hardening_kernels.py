"""Findings of the adversarial probe (issue 11) on the bindings' arrays and ints: a copy that cannot
be allocated, the _leaf_ test hooks' int arguments, byte-swapped float32, misaligned arrays,
aliasing of gradient buffers, and dtype / range checks of single bindings. Each test failed (or
crashed) before the fix.

Nothing here allocates a large array: the "huge" inputs are np.broadcast_to views (no memory), and
the bindings refuse their copies before allocating anything, so this file also runs under
ASan/UBSan (where a failed multi-TiB malloc would abort the process)."""
import re

import numpy as np
import pytest

import fastnn
from fastnn import _C, nn
from fastnn.optim import SGD

# -- 1. a copy that cannot be allocated: MemoryError naming the argument and the bytes ----------

B1, B2, B4 = (2**40,), (2**20, 2**20), (2**10,) * 4  # 2**40 elements: 4 TiB as float32


def big(shape, dtype=np.float64):
    """A read-only view of 2**40 equal elements (no memory): every binding must copy it."""
    return np.broadcast_to(np.array(0.5).astype(dtype), shape)


def small(*shape):
    return np.ones(shape, np.float32)


PACKED = None


def packed():
    global PACKED
    if PACKED is None:
        PACKED = _C.pack_weights_s8(np.ones((3, 4), np.int8))
    return PACKED


U8 = np.uint8
P2 = ((2, 2), (2, 2), (0, 0))
BINDING_CASES = [
    ("minmax_f32", "x", lambda: _C.minmax_f32(big(B1, np.float32))),
    ("minmax_f32_f64", "x", lambda: _C.minmax_f32(big(B1))),
    ("quantize_u8", "x", lambda: _C.quantize_u8(big(B1, np.float32), 0.1, 0)),
    ("dequantize_u8", "q", lambda: _C.dequantize_u8(big(B1, U8), 0.1, 0)),
    ("histogram_f32", "x", lambda: _C.histogram_f32(big(B1, np.float32), 0.0, 1.0,
                                                    np.zeros(8, np.int64))),
    ("entropy_calibration_bins", "hist",
     lambda: _C.entropy_calibration_bins(big(B1, np.int32), 128)),
    ("unit_norms", "weight", lambda: _C.unit_norms(big(B2, np.float32), 2)),
    ("quantize_dynamic_u8", "x", lambda: _C.quantize_dynamic_u8(big(B1, np.float32))),
    ("quantize_weights_s8", "weight", lambda: _C.quantize_weights_s8(big(B2, np.float32))),
    ("maxpool2d_u8", "x", lambda: _C.maxpool2d_u8(big(B4, U8), *P2)),
    ("global_avgpool_u8", "x", lambda: _C.global_avgpool_u8(big(B4, U8))),
    ("im2col_u8", "x", lambda: _C.im2col_u8(big(B4, U8), (1, 1), (1, 1), (0, 0), (1, 1), 0)),
    ("gemm_u8s8.scale_b", "scale_b",
     lambda: _C.gemm_u8s8(np.ones((2, 4), U8), packed(), scale_b=big(B1))),
    ("unary_forward", "input", lambda: _C.unary_forward(big(B1, np.float32), _C.Unary.relu)),
    ("unary_backward", "output", lambda: _C.unary_backward(None, big(B1), big(B1), _C.Unary.relu)),
    ("softmax_forward", "input", lambda: _C.softmax_forward(big(B2), 1)),
    ("softmax_backward", "output", lambda: _C.softmax_backward(big(B2), big(B2), 1)),
    ("dropout_forward", "input", lambda: _C.dropout_forward(big(B1), 0.5, 1)),
    ("dropout_backward", "grad_out", lambda: _C.dropout_backward(big(B1), 0.5, 1)),
    ("pointwise_loss_forward", "input",
     lambda: _C.pointwise_loss_forward(_C.PointwiseLossKind.mse, big(B1), big(B1))),
    ("pointwise_loss_backward", "input",
     lambda: _C.pointwise_loss_backward(_C.PointwiseLossKind.mse, big(B1), big(B1))),
    ("cross_entropy_forward", "CrossEntropyLoss: input",
     lambda: _C.cross_entropy_forward(big(B2), np.zeros(1, np.int64), None)),
    ("cross_entropy_backward", "CrossEntropyLoss: input",
     lambda: _C.cross_entropy_backward(big(B2), np.zeros(1, np.int64), None, 0.0, "mean",
                                       small(1))),
    ("linear_forward", "Linear: input", lambda: _C.linear_forward(big((2**38, 4)), small(2, 4),
                                                                  None)),
    ("linear_backward", "Linear: input",
     lambda: _C.linear_backward(small(1, 2), big((2**38, 4)), small(2, 4), None, None)),
    ("colsum_accumulate", "x", lambda: _C.colsum_accumulate(big(B2), small(2**20))),
    ("matmul", "a", lambda: _C.matmul(big(B2), small(2**20, 2))),
    ("matmul.bias", "bias", lambda: _C.matmul(small(2, 2), small(2, 2), bias=big(B1))),
    ("matmul_reference", "a", lambda: _C.matmul_reference(big(B2), small(2**20, 2))),
    ("conv2d_forward", "input",
     lambda: _C.conv2d_forward(big(B4), small(1, 2**10, 1, 1), None, (1, 1), (0, 0), (1, 1), 1)),
    ("conv2d_forward.bias", "bias",
     lambda: _C.conv2d_forward(small(1, 1, 3, 3), small(2, 1, 1, 1), big(B1), (1, 1), (0, 0),
                               (1, 1), 1)),
    ("conv2d_backward", "input",
     lambda: _C.conv2d_backward(big(B4), small(1, 1, 1, 1), small(1, 1, 1, 1), (1, 1), (0, 0),
                                (1, 1), 1, True, None, None)),
    ("conv_transpose2d_forward", "input",
     lambda: _C.conv_transpose2d_forward(big(B4), small(2**10, 1, 1, 1), None, (1, 1), (0, 0),
                                         (0, 0), (1, 1), 1)),
    ("conv_transpose2d_backward", "input",
     lambda: _C.conv_transpose2d_backward(big(B4), small(1, 1, 1, 1), small(1, 1, 1, 1), (1, 1),
                                          (0, 0), (0, 0), (1, 1), 1, True, None, None)),
    ("maxpool2d_forward", "input", lambda: _C.maxpool2d_forward(big(B4), *P2)),
    ("maxpool2d_backward", "grad_output",
     lambda: _C.maxpool2d_backward(big(B4), np.zeros((1, 1, 1, 1), np.int32), (1, 1, 2, 2), *P2)),
    ("avgpool2d_forward", "input", lambda: _C.avgpool2d_forward(big(B4), *P2)),
    ("avgpool2d_backward", "grad_output",
     lambda: _C.avgpool2d_backward(big(B4), (1, 1, 2, 2), *P2)),
    ("global_avgpool_forward", "input", lambda: _C.global_avgpool_forward(big(B4))),
    ("global_avgpool_backward", "grad_output",
     lambda: _C.global_avgpool_backward(big(B2), (1, 1, 2, 2))),
    ("batchnorm_forward", "input",
     lambda: _C.batchnorm_forward(big(B4), None, None, None, None, True, 0.1, 1e-5)),
    ("batchnorm_forward.weight", "weight",
     lambda: _C.batchnorm_forward(small(2, 3), big(B1), None, None, None, True, 0.1, 1e-5)),
    ("batchnorm_backward", "input",
     lambda: _C.batchnorm_backward(small(1, 1), big(B4), None, small(1), small(1), True, True,
                                   None, None)),
    ("mask_apply", "mask", lambda: _C.mask_apply(small(4), big(B1))),
    ("magnitude_masks", "weights[0]", lambda: _C.magnitude_masks([big(B1)], [None], 0)),
    ("sparse_conv2d", "x",
     lambda: _C.sparse_conv2d(_C.SparseMatrix.from_dense(small(2, 9)), big(B4), None, (3, 3),
                              (1, 1), (0, 0), (1, 1))),
    ("SparseMatrix.from_dense", "weight", lambda: _C.SparseMatrix.from_dense(big(B2))),
    ("SparseMatrix.from_csr", "row_ptr",
     lambda: _C.SparseMatrix.from_csr((2, 2), big(B1, np.int32), [0], [1.0])),
    ("SparseMatrix.spmm", "x",
     lambda: _C.SparseMatrix.from_dense(small(2, 4)).spmm(big((2**38, 4)))),
    ("SparseMatrix.matmul", "x",
     lambda: _C.SparseMatrix.from_dense(small(2, 4)).matmul(big((4, 2**38)))),
    ("_leaf_transpose_rows", "src", lambda: _C._leaf_transpose_rows(big(B2), 2**20, 2**20)),
    ("_leaf_copy_rows_padded", "src", lambda: _C._leaf_copy_rows_padded(big(B2), 0, 1, 1)),
    ("_leaf_conv_ukr", "a_base",
     lambda: _C._leaf_conv_ukr(big(B1), np.zeros(1, np.int64), 1, small(1, 1), small(1, 1), 1, 1,
                               False)),
    ("_leaf_conv_wgrad_ukr", "a",
     lambda: _C._leaf_conv_wgrad_ukr(big(B2), 1, 1, 1, 1, small(1, 1), small(1, 1), 1, False)),
]


@pytest.mark.parametrize("case", BINDING_CASES, ids=[c[0] for c in BINDING_CASES])
def test_uncopyable_input_raises_memory_error_naming_it(case):
    _, name, call = case
    with pytest.raises(MemoryError, match=rf"^{re.escape(name)}: cannot allocate \d+ bytes "
                                          r"\([\d.]+ [TP]iB\) for a C-contiguous"):
        call()


LAYER_CASES = [
    ("Linear", lambda: nn.Linear(4, 2)(big((2**38, 4)))),
    ("ReLU", lambda: nn.ReLU()(big(B1))),
    ("Sigmoid", lambda: nn.Sigmoid()(big(B1, np.float32))),
    ("Softmax", lambda: nn.Softmax(dim=1)(big(B2))),
    ("Dropout", lambda: nn.Dropout(0.5)(big(B1))),
    ("GELU", lambda: nn.GELU()(big(B2, np.float16))),
]


@pytest.mark.parametrize("case", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_uncopyable_input_raises_memory_error(case):
    layer, call = case
    with pytest.raises(MemoryError, match=rf"^{layer}\(.*\): input: cannot allocate \d+ bytes"):
        call()


def test_unallocatable_output_raises_memory_error_naming_it():
    """Outputs whose size the arguments decide are refused before numpy allocates them."""
    with pytest.raises(MemoryError, match=r"^n: cannot allocate 4398046511104 bytes"):
        _C.dropout_mask(2**40, 0.5, 1)
    col, row = big((2**20, 1), np.float32), big((1, 2**20), np.float32)  # strided: not copied
    with pytest.raises(MemoryError, match=r"^out: cannot allocate \d+ bytes .* shape "
                                          r"\(1048576, 1048576\)"):
        _C.matmul(col, row)
    with pytest.raises(MemoryError, match=r"^Linear: output: cannot allocate"):
        _C.linear_forward(big((2**40, 1), np.float32), small(2**20, 1), None)
    with pytest.raises(MemoryError, match=r"^out: cannot allocate"):
        _C.SparseMatrix.from_dense(small(2**20, 1)).spmm(big((2**20, 1), np.float32))


def test_uncopyable_gradient_shape_raises_memory_error():
    """A backward allocates an input gradient of `input_shape`: refused before allocating."""
    with pytest.raises(MemoryError, match=r"input_shape: cannot allocate \d+ bytes"):
        _C.maxpool2d_backward(small(1, 1, 1, 1), np.zeros((1, 1, 1, 1), np.int32),
                              (2**20, 2**20, 2, 2), *P2)
    with pytest.raises(ValueError, match=r"input_shape: .* more than 2\*\*63 elements"):
        _C.global_avgpool_backward(small(2**3, 2**3), (2**3, 2**3, 2**40, 2**40))


# -- 2. the _leaf_ hooks check their ints like public functions ---------------------------------

def _tile():
    return _C._conv_tile()


def leaf_cases():
    mr, nr = _tile()
    src = small(1, 4)
    a_base, a_off, b_k1 = small(64), np.zeros(1, np.int64), small(1, nr)
    c = lambda m=1: np.zeros((m, nr), np.float32)  # noqa: E731
    ukr = lambda a_step=1, off=a_off, m=1, n=1: _C._leaf_conv_ukr(  # noqa: E731
        a_base, off, a_step, b_k1, c(), m, n, False)
    a = small(1, 8)
    wg = lambda rows=1, row_len=1, a_stride=8, a_step=1, n=1, b=None: (  # noqa: E731
        _C._leaf_conv_wgrad_ukr(a, rows, row_len, a_stride, a_step,
                                small(max(rows * row_len, 0), nr) if b is None else b, c(), n,
                                False))
    return [
        ("copy_lead_2**32+1", "lead", lambda: _C._leaf_copy_rows_padded(src, 2**32 + 1, 6, 6)),
        ("copy_lead_-2**40", "lead", lambda: _C._leaf_copy_rows_padded(src, -2**40, 6, 6)),
        ("copy_n_dst_negative", "n_dst", lambda: _C._leaf_copy_rows_padded(src, 0, -1, 6)),
        ("copy_n_dst_2**40", "n_dst", lambda: _C._leaf_copy_rows_padded(src, 0, 2**40, 2**40)),
        ("copy_dld_below_n_dst", "dld", lambda: _C._leaf_copy_rows_padded(src, 0, 6, 5)),
        ("transpose_ld_negative", "ld", lambda: _C._leaf_transpose_rows(src, -1, 1)),
        ("transpose_ld_2**40", "ld", lambda: _C._leaf_transpose_rows(src, 2**40, 1)),
        ("transpose_width_below_rows", "width", lambda: _C._leaf_transpose_rows(small(3, 4), 4, 2)),
        ("transpose_width_above_ld", "width", lambda: _C._leaf_transpose_rows(src, 4, 5)),
        ("ukr_a_step_2**61+1", "a_step", lambda: ukr(a_step=2**61 + 1)),
        ("ukr_a_step_zero", "a_step", lambda: ukr(a_step=0)),
        ("ukr_a_step_negative", "a_step", lambda: ukr(a_step=-3)),
        ("ukr_a_off_negative", r"a_off\[0\]", lambda: ukr(off=np.array([-1], np.int64))),
        ("ukr_a_off_2**62", r"a_off\[0\]", lambda: ukr(off=np.array([2**62], np.int64))),
        ("ukr_a_off_past_end", r"a_off\[0\]", lambda: ukr(off=np.array([64 - mr + 1], np.int64))),
        ("ukr_m_zero", "m", lambda: ukr(m=0)),
        ("ukr_m_above_mr", "m", lambda: ukr(m=mr + 1)),
        ("ukr_n_above_nr", "n", lambda: ukr(n=nr + 1)),
        ("wgrad_row_len_-1", "row_len", lambda: wg(row_len=-1, b=small(1, nr))),
        ("wgrad_row_len_zero", "row_len", lambda: wg(row_len=0, b=small(1, nr))),
        ("wgrad_rows_negative", "rows", lambda: wg(rows=-1, b=small(1, nr))),
        ("wgrad_rows_2**40", "rows", lambda: wg(rows=2**40, b=small(1, nr))),
        ("wgrad_a_step_2**62", "a_step", lambda: wg(a_step=2**62, row_len=2)),
        ("wgrad_a_step_zero", "a_step", lambda: wg(a_step=0)),
        ("wgrad_a_stride_zero", "a_stride", lambda: wg(a_stride=0)),
        ("wgrad_a_stride_past_a", "a_stride", lambda: wg(a_stride=9)),
        ("wgrad_reach_past_stride", "a_stride", lambda: wg(row_len=5, a_step=2, a_stride=8)),
        ("wgrad_rows_past_a", "a", lambda: wg(rows=2, a_stride=8)),
        ("wgrad_n_zero", "n", lambda: wg(n=0)),
    ]


LEAF_IDS = [c[0] for c in leaf_cases()]


@pytest.mark.parametrize("index", range(len(LEAF_IDS)), ids=LEAF_IDS)
def test_leaf_hook_rejects_out_of_range_int(index):
    _, name, call = leaf_cases()[index]
    with pytest.raises(ValueError, match=rf"^{name}: "):
        call()


def test_leaf_hooks_accept_their_limits(rng):
    """The checks leave every valid boundary call alone (negative lead is a valid shift)."""
    src = rng.standard_normal((2, 5)).astype(np.float32)
    got = _C._leaf_copy_rows_padded(src, -2, 4, 4)
    np.testing.assert_array_equal(got[:, :3], src[:, 2:5])
    np.testing.assert_array_equal(got[:, 3], 0)
    mr, nr = _tile()
    a_base = rng.standard_normal(mr).astype(np.float32)
    b = rng.standard_normal((1, nr)).astype(np.float32)
    c = _C._leaf_conv_ukr(a_base, np.zeros(1, np.int64), 1, b, np.zeros((mr, nr), np.float32),
                          mr, nr, False)
    np.testing.assert_allclose(c, a_base[:, None] * b, rtol=1e-6)


def test_leaf_hooks_reject_non_integer_offsets():
    mr, nr = _tile()
    with pytest.raises(TypeError, match="a_off: expected an integer array"):
        _C._leaf_conv_ukr(small(64), np.zeros(1), 1, small(1, nr), small(1, nr), 1, 1, False)


# -- 3. byte-swapped float32: inputs are converted, arrays used in place are refused ------------

def swapped(a):
    """The same values stored big-endian (non-native on every machine this runs on)."""
    out = np.asarray(a).astype(np.asarray(a).dtype.newbyteorder(">"))
    assert out.dtype.byteorder == ">" and np.array_equal(out, a)
    return out


def test_byteswapped_parameter_is_refused_not_misread():
    lin = nn.Linear(3, 2)
    x = np.ones((1, 3), np.float32)
    lin.weight.data = lin.weight.data.astype(">f4")  # the probe: outputs of +-1e37 before
    with pytest.raises(TypeError, match=r"^Linear\(3, 2\): weight: expected native-endian float32, "
                                        r"got dtype >f4"):
        lin(x)
    lin.weight.data = lin.weight.data.astype(np.float32)
    lin.bias.data = lin.bias.data.astype(">f4")
    with pytest.raises(TypeError, match=r"Linear\(3, 2\): bias: expected native-endian float32"):
        lin(x)


def _optim_table(params=None, grads=None, masks=None, buffers=None, steps=None):
    p = small(4) if params is None else params
    return _C.OptimTable(_C.OptimKind.sgd, [p], [small(4) if grads is None else grads], [masks],
                         [0], [True], [buffers, None, None],
                         np.zeros(1, np.int64) if steps is None else steps)


IN_PLACE_SWAPPED = [
    ("conv2d_backward.dw", "weight.grad",
     lambda: _C.conv2d_backward(small(1, 1, 3, 3), small(1, 1, 3, 3), small(1, 1, 1, 1), (1, 1),
                                (0, 0), (1, 1), 1, True, swapped(small(1, 1, 1, 1)), None)),
    ("conv_transpose2d_backward.db", "bias.grad",
     lambda: _C.conv_transpose2d_backward(small(1, 1, 3, 3), small(1, 1, 3, 3), small(1, 1, 1, 1),
                                          (1, 1), (0, 0), (0, 0), (1, 1), 1, True, None,
                                          swapped(small(1)))),
    ("linear_backward.weight_grad", "Linear: weight.grad",
     lambda: _C.linear_backward(small(1, 2), small(1, 4), small(2, 4), swapped(small(2, 4)), None)),
    ("batchnorm_forward.running_mean", "running_mean",
     lambda: _C.batchnorm_forward(small(2, 3), None, None, swapped(small(3)), small(3), True, 0.1,
                                  1e-5)),
    ("batchnorm_backward.dweight", "weight.grad",
     lambda: _C.batchnorm_backward(small(2, 3), small(2, 3), None, small(3), small(3), True, True,
                                   swapped(small(3)), None)),
    ("OptimTable.params", r"params\[0\]", lambda: _optim_table(params=swapped(small(4)))),
    ("OptimTable.grads", r"grads\[0\]", lambda: _optim_table(grads=swapped(small(4)))),
    ("OptimTable.masks", r"masks\[0\]", lambda: _optim_table(masks=swapped(small(4)))),
    ("OptimTable.buffers", r"buffers\[0\]", lambda: _optim_table(buffers=swapped(small(4)))),
    ("OptimTable.steps", "steps",
     lambda: _optim_table(steps=swapped(np.zeros(1, np.int64)))),
    ("clip_grad_norm", r"grads\[0\]", lambda: _C.clip_grad_norm([swapped(small(4))], 1.0)),
    ("histogram_f32.hist", "hist",
     lambda: _C.histogram_f32(small(4), 0.0, 1.0, swapped(np.zeros(8, np.int64)))),
    ("matmul.out", "out", lambda: _C.matmul(small(2, 2), small(2, 2), out=swapped(small(2, 2)))),
    ("mask_apply.data", "data", lambda: _C.mask_apply(swapped(small(4)), small(4))),
    ("colsum_accumulate.out", "out", lambda: _C.colsum_accumulate(small(2, 2), swapped(small(2)))),
    ("spmm.out", "out",
     lambda: _C.SparseMatrix.from_dense(small(2, 2)).spmm(small(2, 2), out=swapped(small(2, 2)))),
]


@pytest.mark.parametrize("case", IN_PLACE_SWAPPED, ids=[c[0] for c in IN_PLACE_SWAPPED])
def test_byteswapped_array_used_in_place_is_refused(case):
    _, name, call = case
    with pytest.raises(TypeError, match=rf"^{name}: expected native-endian (float32|int64), "
                                        r"got dtype >[fi][48]"):
        call()


def test_byteswapped_parameter_is_refused_by_the_optimizer():
    p = nn.Parameter(np.ones(4, np.float32))
    opt = SGD([p], lr=0.1)
    p.data = swapped(p.data)
    with pytest.raises(TypeError, match=r"params\[0\]: expected native-endian float32"):
        opt.step()


def _inputs_cases(rng):
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    x4, w4, b1, dy4, g3, b3 = f(2, 3, 6, 5), f(4, 3, 3, 3), f(4), f(2, 4, 6, 5), f(3), f(3)
    lin_w, lin_x = f(3, 5), f(4, 5)
    logits, target = f(6, 4), rng.integers(0, 4, 6)
    sp = _C.SparseMatrix.from_dense(lin_w)
    return [
        ("unary_forward", lambda s: _C.unary_forward(s(x4), _C.Unary.tanh)),
        ("softmax_forward", lambda s: _C.softmax_forward(s(logits), 1)),
        ("conv2d_forward", lambda s: _C.conv2d_forward(s(x4), s(w4), s(b1), (1, 1), (1, 1), (1, 1),
                                                       1)),
        ("conv2d_backward", lambda s: _C.conv2d_backward(s(x4), s(dy4), s(w4), (1, 1),
                                                         (1, 1), (1, 1), 1, True, None, None)),
        ("maxpool2d_forward", lambda s: _C.maxpool2d_forward(s(x4), *P2)[0]),
        ("avgpool2d_forward", lambda s: _C.avgpool2d_forward(s(x4), *P2)),
        ("linear_forward.input", lambda s: _C.linear_forward(s(lin_x), lin_w, None)),
        ("matmul", lambda s: _C.matmul(s(lin_x), s(lin_w), trans_b=True)),
        ("pointwise_loss", lambda s: _C.pointwise_loss_backward(_C.PointwiseLossKind.huber, s(x4),
                                                                s(x4 * 0.5),
                                                                reduction="sum")),
        ("cross_entropy", lambda s: _C.cross_entropy_backward(
            s(logits), s(target), None, 0.0, "mean",
            _C.cross_entropy_forward(s(logits), s(target), None)[1])),
        ("batchnorm_forward", lambda s: _C.batchnorm_forward(s(x4), s(g3), s(b3), None, None,
                                                             True, 0.1, 1e-5)[0]),
        ("quantize_u8", lambda s: _C.quantize_u8(s(x4), 0.05, 128)),
        ("minmax_f32", lambda s: np.array(_C.minmax_f32(s(x4)))),
        ("spmm", lambda s: sp.spmm(s(lin_x))),
        ("from_dense", lambda s: _C.SparseMatrix.from_dense(s(lin_w)).to_dense()),
        ("gemm_u8s8.bias_i32", lambda s: _C.gemm_u8s8(
            np.full((2, 4), 3, np.uint8), packed(), out_dtype="int32",
            bias_i32=s(np.arange(3, dtype=np.int32) * 70000))),
    ]


@pytest.mark.parametrize("index", range(16))
def test_byteswapped_input_is_converted(rng, index):
    name, call = _inputs_cases(rng)[index]
    np.testing.assert_array_equal(call(swapped), call(lambda a: a), err_msg=name)


# -- 7. misaligned arrays: inputs are copied to aligned buffers, in-place arrays refused --------

def misaligned(a):
    """A copy of `a` whose data starts one byte past an aligned address (numpy's aligned False)."""
    a = np.ascontiguousarray(a)
    buf = np.zeros(a.nbytes + 1, np.uint8)
    out = buf[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned
    return out


@pytest.mark.parametrize("index", range(16))
def test_misaligned_input_is_copied_to_aligned_memory(rng, index):
    """Under UBSan (the sanitizer build) a misaligned float load in a kernel aborts the run."""
    name, call = _inputs_cases(rng)[index]
    np.testing.assert_array_equal(call(misaligned), call(lambda a: a), err_msg=name)


def test_misaligned_input_through_layers(rng):
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    for make in (lambda: nn.Conv2d(3, 4, 3, padding=1), lambda: nn.MaxPool2d(2),
                 lambda: nn.AvgPool2d(3, stride=2, padding=1), lambda: nn.BatchNorm2d(3)):
        fastnn.manual_seed(3)
        a = make()
        fastnn.manual_seed(3)
        b = make()
        ya, yb = a(misaligned(x)), b(x)
        np.testing.assert_array_equal(ya, yb)
        g = rng.standard_normal(ya.shape).astype(np.float32)
        np.testing.assert_array_equal(a.backward(misaligned(g)), b.backward(g))
    lin = nn.Linear(6, 3)
    np.testing.assert_array_equal(lin(misaligned(x[0, 0])), lin(x[0, 0]))
    a, b = nn.MSELoss(), nn.MSELoss()
    assert a(misaligned(x), misaligned(x * 0.5)) == b(x, x * 0.5)
    np.testing.assert_array_equal(a.backward(), b.backward())


def test_misaligned_dataset_through_the_loader(rng):
    """The loader's Cython gathers read typed memoryviews: a misaligned dataset is copied."""
    from fastnn.data import DataLoader
    x = rng.integers(0, 255, (10, 1, 4, 4)).astype(np.float32)
    y = rng.integers(0, 3, 10)
    mis = lambda a: misaligned(a) if a.itemsize > 1 else a  # noqa: E731 (uint8: always aligned)
    for xs, ys in ((x, y), (x.astype(np.uint8), y.astype(np.int32)), (x, y.astype(np.float32))):
        got = list(DataLoader(mis(xs), mis(ys), batch_size=4, seed=5, mean=1.0))
        want = list(DataLoader(xs, ys, batch_size=4, seed=5, mean=1.0))
        for (gx, gy), (wx, wy) in zip(got, want):
            np.testing.assert_array_equal(gx, wx)
            np.testing.assert_array_equal(gy, wy)


MISALIGNED_IN_PLACE = [
    ("Linear.weight", r"Linear: weight",
     lambda: _C.linear_forward(small(2, 4), misaligned(small(3, 4)), None)),
    ("conv2d_backward.dw", "weight.grad",
     lambda: _C.conv2d_backward(small(1, 1, 3, 3), small(1, 1, 3, 3), small(1, 1, 1, 1), (1, 1),
                                (0, 0), (1, 1), 1, True, misaligned(small(1, 1, 1, 1)), None)),
    ("OptimTable.params", r"params\[0\]", lambda: _optim_table(params=misaligned(small(4)))),
    ("OptimTable.grads", r"grads\[0\]", lambda: _optim_table(grads=misaligned(small(4)))),
    ("OptimTable.masks", r"masks\[0\]", lambda: _optim_table(masks=misaligned(small(4)))),
    ("OptimTable.steps", "steps", lambda: _optim_table(steps=misaligned(np.zeros(1, np.int64)))),
    ("clip_grad_value", r"grads\[0\]", lambda: _C.clip_grad_value([misaligned(small(4))], 1.0)),
    ("matmul.out", "out", lambda: _C.matmul(small(2, 2), small(2, 2), out=misaligned(small(2, 2)))),
    ("dequantize_u8.out", "out",
     lambda: _C.dequantize_u8(np.ones(4, U8), 0.1, 0, out=misaligned(small(4)))),
    ("gemm_u8s8.out", "out",
     lambda: _C.gemm_u8s8(np.ones((2, 4), U8), packed(), out_dtype="int32",
                          out=misaligned(np.zeros((2, 3), np.int32)))),
    ("act_stats.stats", "ReLU: stats",
     lambda: _C.act_stats(small(2, 3), misaligned(np.zeros(6)), "ReLU")),
    ("unary_forward.stats", "ReLU: stats",
     lambda: _C.unary_forward(small(2, 3), _C.Unary.relu, 0.0, "ReLU", misaligned(np.zeros(6)))),
]


@pytest.mark.parametrize("case", MISALIGNED_IN_PLACE, ids=[c[0] for c in MISALIGNED_IN_PLACE])
def test_misaligned_array_used_in_place_is_refused(case):
    """Decision: an array a kernel updates in place (or a parameter, read as it is) cannot be
    copied without losing the update, so a misaligned one is refused with ValueError."""
    _, name, call = case
    with pytest.raises(ValueError, match=rf"^{name}: expected an aligned array"):
        call()


def test_misaligned_parameter_is_refused_by_the_optimizer():
    p = nn.Parameter(np.ones(4, np.float32))
    opt = SGD([p], lr=0.1)
    p.data = misaligned(p.data)
    with pytest.raises(ValueError, match=r"params\[0\]: expected an aligned array"):
        opt.step()


# -- 5. aliasing, and the checks of single bindings ----------------------------------------------

def _bn_args(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    w = rng.standard_normal(3).astype(np.float32)
    _, mean, invstd = _C.batchnorm_forward(x, w, None, None, None, True, 0.1, 1e-5)
    return x, w, mean, invstd


@pytest.mark.parametrize("alias", ["weight", "save_mean", "save_invstd"])
def test_batchnorm_backward_refuses_aliased_weight_grad(rng, alias):
    x, w, mean, invstd = _bn_args(rng)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    target = {"weight": w, "save_mean": mean, "save_invstd": invstd}[alias]
    with pytest.raises(ValueError, match=rf"^weight.grad: must not share memory with {alias}"):
        _C.batchnorm_backward(dy, x, w, mean, invstd, True, True, target, None)
    with pytest.raises(ValueError, match=rf"^bias.grad: must not share memory with {alias}"):
        _C.batchnorm_backward(dy, x, w, mean, invstd, True, True, None, target)
    # Not aliased: dx does not depend on where the gradients go.
    ref = _C.batchnorm_backward(dy, x, w, mean, invstd, True, True, None, None)
    got = _C.batchnorm_backward(dy, x, w, mean, invstd, True, True, np.zeros(3, np.float32),
                                np.zeros(3, np.float32))
    np.testing.assert_array_equal(got, ref)


def test_batchnorm_backward_refuses_weight_grad_aliasing_bias_grad(rng):
    x, w, mean, invstd = _bn_args(rng)
    g = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="bias.grad: must not share memory with weight.grad"):
        _C.batchnorm_backward(x, x, w, mean, invstd, True, True, g, g)


def test_batchnorm_forward_refuses_running_stats_aliasing_affine(rng):
    x, w, _, _ = _bn_args(rng)
    with pytest.raises(ValueError, match="running_mean: must not share memory with weight"):
        _C.batchnorm_forward(x, w, None, w, np.ones(3, np.float32), True, 0.1, 1e-5)


@pytest.mark.parametrize("transposed", [False, True])
def test_conv_backward_refuses_aliased_weight_grad(rng, transposed):
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    w = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    if transposed:
        dy = rng.standard_normal((1, 2, 7, 7)).astype(np.float32)
        call = lambda dw, db: _C.conv_transpose2d_backward(  # noqa: E731
            x, dy, w, (1, 1), (0, 0), (0, 0), (1, 1), 1, True, dw, db)
    else:
        dy = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
        call = lambda dw, db: _C.conv2d_backward(  # noqa: E731
            x, dy, w, (1, 1), (0, 0), (1, 1), 1, True, dw, db)
    with pytest.raises(ValueError, match="^weight.grad: must not share memory with weight"):
        call(w, None)
    with pytest.raises(ValueError, match="^bias.grad: must not share memory with input"):
        call(None, x[0, 0, 0, :2])


def test_entropy_calibration_bins_refuses_an_overflowing_sum():
    with pytest.raises(ValueError, match=r"^hist: the counts sum to more than 2\*\*63 - 1"):
        _C.entropy_calibration_bins(np.full(256, 2**62, np.int64), 128)
    with pytest.raises(ValueError, match=r"^hist: count 9223372036854775808 at bin 3 exceeds"):
        _C.entropy_calibration_bins(np.array([1, 1, 1, 2**63] + [0] * 252, np.uint64), 128)
    with pytest.raises(TypeError, match="^hist: expected an integer array of counts"):
        _C.entropy_calibration_bins(np.ones(256), 128)
    h = np.zeros(256, np.int64)
    h[:10] = 2**40
    assert 128 <= _C.entropy_calibration_bins(h, 128) <= 256


@pytest.mark.parametrize("delta", [0.0, -1.0, float("nan"), float("inf"), 1e300])
@pytest.mark.parametrize("backward", [False, True])
def test_huber_delta_must_be_finite_and_positive(delta, backward):
    fn = _C.pointwise_loss_backward if backward else _C.pointwise_loss_forward
    with pytest.raises(ValueError, match=r"^delta: expected a finite number > 0"):
        fn(_C.PointwiseLossKind.huber, small(3), np.zeros(3, np.float32), delta=delta)
    if not backward:
        with pytest.raises(ValueError, match="HuberLoss: delta must be > 0 and finite"):
            nn.HuberLoss(delta=delta)


@pytest.mark.parametrize("fn", ["matmul_reference"])
@pytest.mark.parametrize("bad", ["complex64", "complex128", "datetime64[s]", "timedelta64[s]",
                                 "object", "U3"])
@pytest.mark.parametrize("arg", ["a", "b"])
def test_test_matmuls_refuse_non_real_arrays(fn, bad, arg):
    ok = small(2, 2)
    wrong = np.ones((2, 2), dtype=bad) if bad != "U3" else np.full((2, 2), "abc")
    args = (wrong, ok) if arg == "a" else (ok, wrong)
    with pytest.raises(TypeError, match=rf"^{arg}: expected a real floating array"):
        getattr(_C, fn)(*args)
