"""ConvTranspose2d's shape rule, values and gradients against PyTorch over a grid of kernel x stride
x dilation x padding x output_padding (issue 11, finding 6: an output_padding that is >= the stride
but < the dilation -- valid in PyTorch -- was refused with "does not match the geometry")."""
import itertools

import numpy as np
import pytest

from fastnn import _C, nn

GRID = list(itertools.product((1, 2, 3), (1, 2, 3), (1, 2, 3)))  # kernel, stride, dilation


def _compare(torch, rng, in_ch, out_ch, kernel, stride, padding, output_padding, dilation, groups,
             shape):
    ours = nn.ConvTranspose2d(in_ch, out_ch, kernel, stride=stride, padding=padding,
                              output_padding=output_padding, groups=groups, dilation=dilation)
    theirs = torch.nn.ConvTranspose2d(in_ch, out_ch, kernel, stride=stride, padding=padding,
                                      output_padding=output_padding, groups=groups,
                                      dilation=dilation).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
        theirs.bias.copy_(torch.from_numpy(ours.bias.data))
    x = rng.standard_normal(shape).astype(np.float32)
    xt = torch.from_numpy(x).double().requires_grad_()
    yt = theirs(xt)
    y = ours(x)
    assert y.shape == tuple(yt.shape)
    np.testing.assert_allclose(y, yt.detach().numpy(), atol=1e-5)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    yt.backward(torch.from_numpy(gy).double())
    np.testing.assert_allclose(ours.backward(gy), xt.grad.numpy(), atol=1e-4)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), atol=1e-4)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), atol=1e-4)


@pytest.mark.parametrize("kernel,stride,dilation", GRID,
                         ids=[f"k{k}-s{s}-d{d}" for k, s, d in GRID])
def test_conv_transpose_grid_against_torch(torch, rng, kernel, stride, dilation):
    """Height takes (stride, dilation), width (dilation, stride): output_padding >= stride on one
    axis while < stride on the other. Every padding and output_padding PyTorch accepts."""
    checked = 0
    for padding, op in itertools.product((0, 1, 2), (0, 1, 2)):
        if op >= max(stride, dilation):
            continue  # PyTorch's rule: output_padding < stride or < dilation (tested below)
        shape = (2, 4, 3, 4)
        size = [(n - 1) * s - 2 * padding + d * (kernel - 1) + op + 1
                for n, s, d in ((3, stride, dilation), (4, dilation, stride))]
        if min(size) < 1:
            continue
        groups = 1 + (padding + op) % 2
        _compare(torch, rng, 4, 2, kernel, (stride, dilation), padding, op, (dilation, stride),
                 groups, shape)
        checked += 1
    assert checked > 0


def test_reported_case_output_padding_below_dilation(torch, rng):
    layer = nn.ConvTranspose2d(1, 1, (1, 3), dilation=(1, 2), output_padding=(0, 1))
    assert layer(np.ones((1, 1, 1, 2), np.float32)).shape == (1, 1, 1, 7)
    _compare(torch, rng, 1, 1, (1, 3), 1, 0, (0, 1), (1, 2), 1, (1, 1, 1, 2))
    _compare(torch, rng, 2, 3, (2, 3), (1, 2), (0, 1), (2, 1), (3, 3), 1, (3, 2, 4, 5))


def test_unbatched_input_with_output_padding_past_stride(torch, rng):
    ours = nn.ConvTranspose2d(2, 2, 2, output_padding=1, dilation=2)
    x = rng.standard_normal((2, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(ours(x), ours(x[None])[0])
    assert ours(x).shape == (2, 6, 6)


@pytest.mark.parametrize("stride,dilation,op", [(1, 1, 1), (2, 1, 2), (1, 2, 2), (2, 3, 3)])
def test_output_padding_not_below_stride_or_dilation_is_refused(torch, stride, dilation, op):
    with pytest.raises(Exception):
        torch.nn.ConvTranspose2d(1, 1, 3, stride=stride, output_padding=op,
                                 dilation=dilation)(torch.ones(1, 1, 4, 4))
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2d(1, 1, 3, stride=stride, output_padding=op, dilation=dilation)
    with pytest.raises(ValueError, match="output_padding must be smaller than stride or dilation"):
        _C.conv_transpose2d_forward(np.ones((1, 1, 4, 4), np.float32),
                                    np.ones((1, 1, 3, 3), np.float32), None, (stride, stride),
                                    (0, 0), (op, op), (dilation, dilation), 1)


def test_grad_output_of_the_wrong_shape_is_refused():
    x = np.ones((1, 1, 1, 2), np.float32)
    w = np.ones((1, 1, 1, 3), np.float32)
    args = ((1, 1), (0, 0), (0, 1), (1, 2), 1)
    assert _C.conv_transpose2d_forward(x, w, None, *args).shape == (1, 1, 1, 7)
    with pytest.raises(ValueError, match=r"grad_output: expected shape \(1, 1, 1, 7\)"):
        _C.conv_transpose2d_backward(x, np.ones((1, 1, 1, 6), np.float32), w, *args, True, None,
                                     None)
