"""Window hyper-parameters past int32 (issue 11, finding 4): the output-size arithmetic used to
overflow int64 (Conv2d with padding 2**63 - 1 returned a (1, 1, 3, 4) output, ConvTranspose2d with
dilation 2**63 - 1 one of (1, 1, 1, 5), pooling -inf / 0). Every kernel size, stride, padding,
dilation, output_padding and groups is now range-checked ([min, 2**31 - 1]) by the layers and by
every binding, and the extents are computed with overflow checks: ValueError naming the
parameter. Small shapes only (also runs under ASan/UBSan, where UBSan sees signed overflow)."""
import numpy as np
import pytest

from fastnn import _C, nn
from fastnn.prune import SparseConv2d

HUGE = [2**63 - 1, 2**62, 2**31]


def ones(*shape, dtype=np.float32):
    return np.ones(shape, dtype)


X = ones(1, 1, 5, 5)
W = ones(1, 1, 3, 3)


def conv(stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    return _C.conv2d_forward(X, W, None, stride, padding, dilation, groups)


def conv_bwd(stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    return _C.conv2d_backward(X, ones(1, 1, 3, 3), W, stride, padding, dilation, groups, True,
                              None, None)


def convt(stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1), groups=1):
    return _C.conv_transpose2d_forward(X, W, None, stride, padding, output_padding, dilation,
                                       groups)


def pool(fn, kernel=(2, 2), stride=(2, 2), padding=(0, 0)):
    def call():
        if fn == "maxpool2d_backward":
            return _C.maxpool2d_backward(ones(1, 1, 2, 2), np.zeros((1, 1, 2, 2), np.int32),
                                         (1, 1, 5, 5), kernel, stride, padding)
        if fn == "avgpool2d_backward":
            return _C.avgpool2d_backward(ones(1, 1, 2, 2), (1, 1, 5, 5), kernel, stride, padding)
        return getattr(_C, fn)(X, kernel, stride, padding)
    return call


U8X = ones(1, 5, 5, 2, dtype=np.uint8)


def im2col(kernel=(3, 3), stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    return _C.im2col_u8(U8X, kernel, stride, padding, dilation, 0)


def sparse(kernel=(3, 3), stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    m = _C.SparseMatrix.from_dense(ones(2, 9))
    return _C.sparse_conv2d(m, X, None, kernel, stride, padding, dilation)


def conv_u8(pool_spec):
    packed = _C.pack_weights_s8(np.ones((2, 4), np.int8))
    x = ones(1, 4, 4, 4, dtype=np.uint8)
    return _C.conv2d_u8(x, packed, (1, 1), (1, 1), (0, 0), (1, 1), 4, 0, 1.0, ones(2), None,
                        "uint8", pool=pool_spec)


def binding_cases():
    cases = []
    for v in HUGE:
        cases += [
            (f"conv2d.padding={v}", "padding", lambda v=v: conv(padding=(v, 0))),
            (f"conv2d.stride={v}", "stride", lambda v=v: conv(stride=(1, v))),
            (f"conv2d.dilation={v}", "dilation", lambda v=v: conv(dilation=(v, 1))),
            (f"conv2d.groups={v}", "groups", lambda v=v: conv(groups=v)),
            (f"conv2d_backward.padding={v}", "padding", lambda v=v: conv_bwd(padding=(0, v))),
            (f"convt.dilation={v}", "dilation", lambda v=v: convt(dilation=(v, 1))),
            (f"convt.padding={v}", "padding", lambda v=v: convt(padding=(v, v))),
            (f"convt.stride={v}", "stride", lambda v=v: convt(stride=(v, 1))),
            (f"convt.output_padding={v}", "output_padding",
             lambda v=v: convt(output_padding=(v, 0))),
            (f"convt.groups={v}", "groups", lambda v=v: convt(groups=v)),
            (f"maxpool.padding={v}", "padding", pool("maxpool2d_forward", padding=(v, 0))),
            (f"maxpool.kernel={v}", "kernel_size", pool("maxpool2d_forward", kernel=(1, v))),
            (f"maxpool.stride={v}", "stride", pool("maxpool2d_forward", stride=(v, 1))),
            (f"maxpool_bwd.padding={v}", "padding", pool("maxpool2d_backward", padding=(v, v))),
            (f"avgpool.padding={v}", "padding", pool("avgpool2d_forward", padding=(0, v))),
            (f"avgpool_bwd.kernel={v}", "kernel_size", pool("avgpool2d_backward", kernel=(v, 2))),
            (f"im2col_u8.padding={v}", "padding", lambda v=v: im2col(padding=(v, 0))),
            (f"im2col_u8.dilation={v}", "dilation", lambda v=v: im2col(dilation=(1, v))),
            (f"im2col_u8.kernel={v}", "kernel_size", lambda v=v: im2col(kernel=(v, 1))),
            (f"maxpool2d_u8.padding={v}", "padding",
             lambda v=v: _C.maxpool2d_u8(U8X, (2, 2), (2, 2), (v, 0))),
            (f"sparse_conv2d.padding={v}", "padding", lambda v=v: sparse(padding=(v, 0))),
            (f"sparse_conv2d.dilation={v}", "dilation", lambda v=v: sparse(dilation=(1, v))),
            (f"conv2d_u8.pool.stride={v}", "stride",
             lambda v=v: conv_u8(((2, 2), (v, 2), (0, 0)))),
            (f"conv2d_u8.pool.padding={v}", "padding",
             lambda v=v: conv_u8(((2, 2), (2, 2), (v, 0)))),
        ]
    return cases


CASES = binding_cases()


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_binding_refuses_window_param_past_int32(index):
    _, name, call = CASES[index]
    with pytest.raises(ValueError, match=rf"{name}(:| must be| \(| =|s? must)"):
        call()


def test_limits_themselves_are_accepted():
    """2**31 - 1 is in range: a padding that large is refused only by the size of the output it
    would need, a stride that large gives one output pixel."""
    assert conv(stride=(2**31 - 1, 1)).shape == (1, 1, 1, 3)
    assert pool("maxpool2d_forward", stride=(2**31 - 1, 1))()[0].shape == (1, 1, 1, 4)
    # (5 - 1) - 2 * (2**31 - 2) + (2**31 - 1) * 2 + 1 = 7 rows; tap 1 lands on rows 1..5.
    y = convt(dilation=(2**31 - 1, 1), padding=(2**31 - 2, 0))
    assert y.shape == (1, 1, 7, 7)
    np.testing.assert_array_equal(y[0, 0, 1:6], np.tile([1, 2, 3, 3, 3, 2, 1], (5, 1)))
    np.testing.assert_array_equal(y[0, 0, [0, 6]], 0)


def test_transposed_output_size_overflow_is_refused():
    """Within range, the transposed extent (size - 1) * stride + ... is overflow-checked too."""
    x = np.broadcast_to(np.float32(1), (1, 1, 2**40, 1))  # no memory: refused before any copy
    with pytest.raises((ValueError, MemoryError)):
        _C.conv_transpose2d_forward(x, W, None, (2**31 - 1, 1), (0, 0), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="conv_transpose2d: output size"):
        convt(padding=(2**30, 0))


def test_output_too_large_for_memory_is_refused_before_allocating():
    """A legal geometry whose output cannot be allocated: MemoryError naming it (no malloc of
    16 TiB, which would abort an ASan build)."""
    with pytest.raises(MemoryError, match=r"^output: cannot allocate \d+ bytes .* for an output "
                                          r"of shape \(1, 1, 2097155, 2097155\)"):
        conv(padding=(2**20, 2**20))
    with pytest.raises(MemoryError, match=r"^output: cannot allocate"):
        convt(stride=(2**20, 2**20))
    with pytest.raises(MemoryError, match=r"^output: cannot allocate"):
        sparse(padding=(2**20, 2**20))
    with pytest.raises(MemoryError, match=r"^output: cannot allocate"):
        im2col(padding=(2**20, 2**20))


LAYERS = [
    ("Conv2d.padding", "padding", lambda v: nn.Conv2d(1, 1, 3, padding=(v, 0))),
    ("Conv2d.stride", "stride", lambda v: nn.Conv2d(1, 1, 3, stride=v)),
    ("Conv2d.dilation", "dilation", lambda v: nn.Conv2d(1, 1, 3, dilation=(1, v))),
    ("Conv2d.kernel_size", "kernel_size", lambda v: nn.Conv2d(1, 1, (v, 1))),
    ("Conv2d.groups", "groups", lambda v: nn.Conv2d(1, 1, 1, groups=v)),
    ("Conv2d.in_channels", "in_channels", lambda v: nn.Conv2d(v, 1, 1)),
    ("ConvTranspose2d.dilation", "dilation", lambda v: nn.ConvTranspose2d(2, 1, 3, dilation=(v, 1))),
    ("ConvTranspose2d.output_padding", "output_padding",
     lambda v: nn.ConvTranspose2d(2, 1, 3, stride=2, output_padding=v)),
    ("MaxPool2d.padding", "padding", lambda v: nn.MaxPool2d(3, padding=v)),
    ("MaxPool2d.kernel_size", "kernel_size", lambda v: nn.MaxPool2d(v)),
    ("AvgPool2d.padding", "padding", lambda v: nn.AvgPool2d(3, padding=(0, v))),
    ("AvgPool2d.stride", "stride", lambda v: nn.AvgPool2d(3, stride=v)),
    ("SparseConv2d.padding", "padding", lambda v: SparseConv2d(1, 1, 3, padding=v)),
    ("SparseConv2d.dilation", "dilation", lambda v: SparseConv2d(1, 1, 3, dilation=(v, 1))),
]


@pytest.mark.parametrize("case", LAYERS, ids=[c[0] for c in LAYERS])
@pytest.mark.parametrize("value", HUGE)
def test_layer_constructor_refuses_window_param_past_int32(case, value):
    _, name, make = case
    with pytest.raises(ValueError, match=rf"{name}.*(<=|must be <=) 2147483647"):
        make(value)


def test_reported_layers_no_longer_return_outputs():
    with pytest.raises(ValueError, match="padding"):
        nn.Conv2d(1, 1, 3, padding=(2**63 - 1, 0))
    with pytest.raises(ValueError, match="dilation"):
        nn.ConvTranspose2d(2, 1, 3, dilation=(2**63 - 1, 1))
    for cls in (nn.MaxPool2d, nn.AvgPool2d):
        with pytest.raises(ValueError, match="padding"):
            cls(3, padding=2**63 - 1)
