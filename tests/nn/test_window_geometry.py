"""One window geometry (issue 13, point 3): Window2d::out_size (csrc/frame/window.cpp) is the only
output-size formula of the convolution, pooling, quantized, sparse and binary paths. Checked here
against PyTorch's shapes through _C.window_out_size (the Python entry to it) and through each path
that used to compute its own extent (the u8 max pooling's unchecked formula among them); the frame
owns the "kernel larger than the padded input" checks the bindings and layers used to repeat."""
import itertools

import numpy as np
import pytest

from fastnn import _C, nn
from fastnn.prune import SparseConv2d

# (size, kernel, stride, padding, dilation): edge sizes 1, primes, windows that just fit.
CASES = [(1, 1, 1, 0, 1), (7, 3, 2, 1, 1), (13, 5, 3, 2, 2), (11, 2, 2, 0, 1), (5, 5, 1, 2, 1),
         (2, 3, 1, 1, 1), (17, 3, 7, 1, 3), (6, 4, 3, 2, 1), (3, 1, 5, 0, 1)]


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("case_h,case_w", list(itertools.combinations(CASES, 2))[::4])
def test_out_size_matches_torch_pooling(case_h, case_w, ceil_mode, torch):
    (h, kh, sh, ph, dh), (w, kw, sw, pw, dw) = case_h, case_w
    got = _C.window_out_size((h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil_mode)
    x = torch.zeros(1, 1, h, w)
    want = torch.nn.functional.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw), (dh, dw),
                                          ceil_mode=ceil_mode).shape[2:]
    assert tuple(got) == tuple(want)


@pytest.mark.parametrize("case", CASES)
def test_out_size_matches_torch_conv(case, torch):
    size, k, s, p, d = case
    got = _C.window_out_size((size, 1), (k, 1), (s, 1), (p, 0), (d, 1))
    x, wt = torch.zeros(1, 1, size, 1), torch.zeros(1, 1, k, 1)
    want = torch.nn.functional.conv2d(x, wt, stride=(s, 1), padding=(p, 0), dilation=(d, 1))
    assert tuple(got) == tuple(want.shape[2:])


def test_out_size_zero_when_no_window_fits():
    # (2 + 2*0 - 3) < 0 along h: no window; w has one.
    assert tuple(_C.window_out_size((2, 3), (3, 3), (1, 1), (0, 0))) == (0, 1)


@pytest.mark.parametrize("arg,value,lo", [("kernel_size", 0, 1), ("stride", 0, 1),
                                          ("padding", -1, 0), ("dilation", 0, 1),
                                          ("stride", 2**31, 1)])
def test_out_size_range_checks_name_the_argument(arg, value, lo):
    kwargs = dict(size=(5, 5), kernel_size=(2, 2), stride=(1, 1), padding=(0, 0),
                  dilation=(1, 1))
    kwargs[arg] = (1 if arg != "padding" else 0, value)
    with pytest.raises(ValueError, match=rf"window_out_size: {arg} must be in \[{lo}, "
                                         rf"2147483647\], got {value}"):
        _C.window_out_size(**kwargs)


def test_out_size_negative_input():
    with pytest.raises(ValueError, match="window_out_size: negative input size -3"):
        _C.window_out_size((-3, 4), (1, 1), (1, 1), (0, 0))


@pytest.mark.parametrize("h,w,k,s,p", [(1, 1, 1, 1, 0), (7, 5, 3, 2, 1), (11, 13, 2, 3, 1),
                                       (5, 5, 5, 1, 2)])
def test_u8_maxpool_extent_is_the_shared_one(h, w, k, s, p, torch):
    # maxpool2d_u8 used its own unchecked (h + 2p - k) / s + 1; now out_size, same numbers.
    rng = np.random.default_rng(h * 31 + w)
    x = rng.integers(0, 256, (2, h, w, 3), dtype=np.uint8)
    y = _C.maxpool2d_u8(x, (k, k), (s, s), (p, p), None)
    ref = torch.nn.functional.max_pool2d(torch.from_numpy(x.astype(np.float32)).permute(0, 3, 1, 2),
                                         k, s, p).permute(0, 2, 3, 1)
    assert y.shape == tuple(ref.shape)
    np.testing.assert_array_equal(y, ref.numpy().astype(np.uint8))


def test_u8_maxpool_kernel_larger_than_input_reported_by_the_frame():
    x = np.zeros((1, 2, 2, 1), np.uint8)
    with pytest.raises(ValueError,
                       match=r"x: pooling kernel larger than the padded input \(2 x 2\)"):
        _C.maxpool2d_u8(x, (3, 3), (1, 1), (0, 0), None)
    with pytest.raises(ValueError, match="padding: must be at most half of kernel_size"):
        _C.maxpool2d_u8(x, (2, 2), (1, 1), (2, 2), None)


def test_u8_im2col_kernel_larger_than_input_reported_by_the_frame():
    x = np.zeros((1, 2, 3, 4), np.uint8)
    with pytest.raises(ValueError, match=r"x: kernel \(3, 5\) larger than the padded image "
                                         r"\(2 x 3\)"):
        _C.im2col_u8(x, (2, 3), (1, 1), (0, 0), (2, 2), 0, -1)


def test_u8_im2col_kp_checked_by_the_frame():
    x = np.zeros((1, 3, 3, 4), np.uint8)
    with pytest.raises(ValueError, match=r"kp: must be >= kh \* kw \* c = 16, got 12"):
        _C.im2col_u8(x, (2, 2), (1, 1), (0, 0), (1, 1), 0, 12)
    assert _C.im2col_u8(x, (2, 2), (1, 1), (0, 0), (1, 1), 0, 20).shape == (4, 20)


def test_conv_kernel_larger_than_input_reported_by_the_frame():
    layer = nn.Conv2d(1, 2, 3, dilation=2)
    with pytest.raises(ValueError, match=r"conv2d: kernel \(5, 5\) \(dilated\) is larger than the "
                                         r"padded input \(4, 6\)"):
        layer(np.zeros((1, 1, 4, 6), np.float32))


def test_pool_kernel_larger_than_input_reported_by_the_frame():
    with pytest.raises(ValueError, match=r"pool2d: kernel_size \(5, 3\) \(dilated\) is larger "
                                         r"than the padded input \(4, 6\)"):
        nn.MaxPool2d((3, 3), dilation=(2, 1))(np.zeros((1, 1, 4, 6), np.float32))
    with pytest.raises(ValueError, match=r"pool2d: kernel_size \(3, 3\) is larger than the padded "
                                         r"input \(2, 8\)"):
        nn.AvgPool2d(3, padding=(0, 1))(np.zeros((1, 1, 2, 6), np.float32))


def test_sparse_conv_kernel_larger_than_input_reported_by_the_frame():
    layer = SparseConv2d.from_conv(nn.Conv2d(2, 3, 3, dilation=2))
    with pytest.raises(ValueError, match=r"x: the \(dilated\) kernel 5x5 is larger than the "
                                         r"padded input 4x9"):
        layer(np.zeros((1, 2, 4, 9), np.float32))


def test_conv_groups_checked_once_by_the_frame():
    x = np.zeros((1, 4, 5, 5), np.float32)
    w = np.zeros((6, 4, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"conv2d: groups \(3\) must divide in_channels \(4\) "
                                         r"and out_channels \(6\)"):
        _C.conv2d_forward(x, w, None, (1, 1), (0, 0), (1, 1), 3)
    with pytest.raises(ValueError, match=r"conv2d: groups must be in \[1, 2147483647\], got 0"):
        _C.conv2d_forward(x, w, None, (1, 1), (0, 0), (1, 1), 0)
