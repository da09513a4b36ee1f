"""Winograd F(4x4, 3x3) / F(2x2, 3x3) convolution on every ISA path: the tile-transform leaves
against their matrices, the whole convolution (forward, input gradient) against a float64 direct
convolution within the accuracy bound of the issue, edge sizes, blocking edges, threads, the
algorithm choice and its errors."""
import numpy as np
import pytest

import fastnn
from fastnn import _C, nn, ops
from tests.conv_reference import conv2d_grads_ref, conv2d_ref, winograd_tol

# Lavin & Gray's matrices (csrc/kernels/simd/winograd_body.h), in float64.
BT = {2: np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], float),
      4: np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                   [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], float)}
AT = {2: np.array([[1, 1, 1, 0], [0, 1, -1, -1]], float),
      4: np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                   [0, 1, -1, 8, -8, 1]], float)}
ALGOS = {"winograd": 4, "winograd_f2": 2}


bound = winograd_tol  # 2e-5 * sqrt(9 * C_in) * max|x| * max|w|


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("panels", [1, 2])
def test_input_transform_leaf(isa, rng, m, panels):
    nr = _C.gemm_tile()[1]
    a = m + 2
    patches = rng.standard_normal((panels * nr, a, 8)).astype(np.float32)
    got = _C._leaf_winograd_input(m, patches)
    d = patches[:, :, :a].astype(np.float64)
    want = np.einsum("ri,lij,sj->rsl", BT[m], d, BT[m]).reshape(a * a, -1)
    # Each output sums at most a*a terms with coefficients up to |4*4| (F4) or 1 (F2).
    scale = 25.0 if m == 4 else 1.0
    np.testing.assert_allclose(got, want, rtol=0, atol=a * a * scale * 4e-7 * np.abs(d).max())


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("bias", [0.0, -1.25])
def test_output_transform_leaf(isa, rng, m, bias):
    nr = _C.gemm_tile()[1]
    a = m + 2
    s = rng.standard_normal((a * a, nr)).astype(np.float32)
    got = _C._leaf_winograd_output(m, s, bias)
    want = np.einsum("ri,ijl,sj->lrs", AT[m], s.reshape(a, a, nr).astype(np.float64), AT[m]) + bias
    scale = 64.0 if m == 4 else 1.0
    np.testing.assert_allclose(got, want, rtol=0, atol=a * a * scale * 4e-7 * np.abs(s).max() + 1e-6)


def test_leaf_hooks_reject_bad_shapes():
    nr = _C.gemm_tile()[1]
    with pytest.raises(ValueError, match="m: expected 2 or 4"):
        _C._leaf_winograd_input(3, np.zeros((nr, 5, 8), np.float32))
    with pytest.raises(ValueError, match="patches"):
        _C._leaf_winograd_input(4, np.zeros((nr + 1, 6, 8), np.float32))
    with pytest.raises(ValueError, match="s"):
        _C._leaf_winograd_output(2, np.zeros((15, nr), np.float32), 0.0)


# (n, c, k, h, w, padding): plane sizes 1..5 and odd ones not multiples of the tile, batch 1,
# channels 1 and 3, output channels around the register tile (mr = 6/8/14) and past one chunk
# of 128, input channels past one micro-kernel K block (256), tile counts around a panel (nr).
CASES = [
    (1, 1, 1, 1, 1, 1), (1, 1, 2, 2, 2, 1), (1, 3, 3, 3, 3, 1), (1, 1, 4, 4, 4, 1),
    (1, 3, 5, 5, 5, 1), (2, 3, 6, 7, 9, 1), (1, 2, 7, 3, 5, 0), (3, 3, 8, 11, 6, 2),
    (1, 4, 13, 9, 13, 0), (2, 5, 14, 15, 16, 1), (1, 6, 15, 17, 1, 1), (2, 7, 16, 5, 31, 2),
    (1, 9, 130, 6, 7, 1), (1, 300, 9, 5, 6, 1), (4, 8, 8, 16, 16, 1), (5, 3, 20, 13, 29, 1),
    (1, 2, 3, 6, 6, 3),
]


@pytest.mark.parametrize("algorithm", list(ALGOS))
@pytest.mark.parametrize("case", CASES)
def test_forward_matches_float64_direct(isa, rng, algorithm, case):
    n, c, k, h, w, p = case
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((k, c, 3, 3)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    y = ops.conv2d(x, wt, b, padding=p, algorithm=algorithm)
    want = conv2d_ref(x, wt, b, 1, p)
    assert y.shape == want.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, want, rtol=0, atol=bound(c, x, wt) + 1e-6 * np.abs(b).max())


@pytest.mark.parametrize("algorithm", list(ALGOS))
def test_large_magnitudes_stay_within_bound(isa, rng, algorithm):
    # The bound scales with max|x| * max|w|: inputs with a wide range of magnitudes.
    x = (rng.standard_normal((2, 16, 12, 12)) * 10.0 ** rng.integers(-3, 4, (2, 16, 12, 12)))
    x = x.astype(np.float32)
    wt = rng.uniform(-50, 50, (24, 16, 3, 3)).astype(np.float32)
    y = ops.conv2d(x, wt, None, padding=1, algorithm=algorithm)
    np.testing.assert_allclose(y, conv2d_ref(x, wt, None, 1, 1), rtol=0, atol=bound(16, x, wt))


@pytest.mark.parametrize("algorithm", list(ALGOS))
def test_bits_do_not_depend_on_threads(rng, threads, algorithm):
    x = rng.standard_normal((3, 5, 21, 19)).astype(np.float32)
    wt = rng.standard_normal((11, 5, 3, 3)).astype(np.float32)
    outs = []
    for nt in (1, 2, 3):
        fastnn.set_num_threads(nt)
        outs.append(ops.conv2d(x, wt, None, padding=1, algorithm=algorithm))
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


@pytest.mark.parametrize("algorithm", list(ALGOS))
@pytest.mark.parametrize("case", [(2, 3, 5, 7, 9, 1), (1, 4, 6, 5, 5, 0), (2, 6, 4, 8, 6, 2),
                                  (1, 3, 4, 6, 7, 3)])
def test_layer_gradients_match_float64(isa, rng, algorithm, case):
    n, c, k, h, w, p = case  # padding 3: dX falls back from Winograd (padding 2 - p < 0)
    fastnn.manual_seed(3)
    layer = nn.Conv2d(c, k, 3, padding=p, algorithm=algorithm)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    y = layer(x)
    wt = layer.weight.data
    np.testing.assert_allclose(y, conv2d_ref(x, wt, layer.bias.data, 1, p), rtol=0,
                               atol=bound(c, x, wt) + 1e-6)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(gy)
    rdx, rdw, rdb = conv2d_grads_ref(x, wt, gy, 1, p)
    np.testing.assert_allclose(dx, rdx, rtol=0, atol=bound(k, gy, wt))
    np.testing.assert_allclose(layer.weight.grad, rdw, rtol=0,
                               atol=2e-6 * np.sqrt(gy[0, 0].size * n) * np.abs(gy).max() *
                               np.abs(x).max())
    np.testing.assert_allclose(layer.bias.grad, rdb, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("algorithm", ["im2col", "direct"])
@pytest.mark.parametrize("groups", [1, 2, 4])
def test_forced_gemm_and_direct_paths(isa, rng, algorithm, groups):
    # Forced algorithms run grouped and depthwise layers too (as a grouped GEMM / direct kernel).
    x = rng.standard_normal((2, 4, 9, 8)).astype(np.float32)
    fastnn.manual_seed(5)
    layer = nn.Conv2d(4, 8, 3, padding=1, groups=groups, algorithm=algorithm)
    y = layer(x)
    kdim = 4 // groups * 9
    want = conv2d_ref(x, layer.weight.data, layer.bias.data, 1, 1, 1, groups)
    np.testing.assert_allclose(y, want, rtol=0, atol=1e-6 * np.sqrt(kdim) * 8 + 1e-6)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(gy)
    rdx, rdw, _ = conv2d_grads_ref(x, layer.weight.data, gy, 1, 1, 1, groups)
    np.testing.assert_allclose(dx, rdx, rtol=0, atol=1e-5)
    np.testing.assert_allclose(layer.weight.grad, rdw, rtol=0, atol=1e-4)


def test_auto_rule_and_algorithm_report(threads):
    fastnn.set_num_threads(2)  # the rule asks for 2 x nr x threads tiles
    # Winograd where its GEMMs are big enough, the direct kernel for one input channel,
    # depthwise kernels for depthwise layers, GEMM paths where the rule says so.
    assert ops.conv2d_algorithm((4, 64, 56, 56), (64, 64, 3, 3), padding=1) == "winograd"
    assert ops.conv2d_algorithm((4, 1, 28, 28), (32, 1, 3, 3), padding=1) == "im2col"
    assert ops.conv2d_algorithm((16, 2, 32, 32), (16, 2, 3, 3), padding=1) == "im2col"
    assert ops.conv2d_algorithm((16, 3, 32, 32), (16, 3, 3, 3), padding=1) == "winograd"
    assert ops.conv2d_algorithm((16, 32, 32, 32), (3, 32, 3, 3), padding=1) == "winograd"
    assert ops.conv2d_algorithm((4, 64, 14, 14), (64, 64, 3, 3), padding=1) == "winograd"
    assert ops.conv2d_algorithm((3, 64, 14, 14), (64, 64, 3, 3), padding=1) == "direct"
    assert ops.conv2d_algorithm((8, 512, 7, 7), (512, 512, 3, 3), padding=1) == "direct"
    assert ops.conv2d_algorithm((1, 32, 14, 14), (64, 32, 3, 3), padding=1) == "direct"
    assert ops.conv2d_algorithm((4, 64, 56, 56), (64, 64, 3, 3), stride=2, padding=1) in (
        "direct", "im2col")
    assert ops.conv2d_algorithm((2, 8, 9, 9), (8, 1, 3, 3), padding=1, groups=8) == "depthwise"
    # Pointwise: a plain GEMM for long contractions over large planes, else the direct kernel
    # from 32 channels (the taps path below).
    assert ops.conv2d_algorithm((8, 256, 56, 56), (64, 256, 1, 1)) == "im2col"
    assert ops.conv2d_algorithm((1, 128, 28, 28), (512, 128, 1, 1)) == "im2col"
    assert ops.conv2d_algorithm((1, 1024, 14, 14), (256, 1024, 1, 1)) == "direct"
    assert ops.conv2d_algorithm((8, 64, 14, 14), (128, 64, 1, 1)) == "direct"
    assert ops.conv2d_algorithm((8, 64, 56, 56), (64, 64, 1, 1)) == "direct"
    assert ops.conv2d_algorithm((2, 16, 28, 28), (32, 16, 1, 1)) == "im2col"
    assert ops.conv2d_algorithm((1, 64, 56, 56), (64, 64, 3, 3), padding=1,
                                algorithm="winograd_f2") == "winograd_f2"


def test_auto_forward_equals_the_algorithm_it_reports(rng):
    x = rng.standard_normal((4, 32, 20, 20)).astype(np.float32)
    wt = rng.standard_normal((32, 32, 3, 3)).astype(np.float32)
    chosen = ops.conv2d_algorithm(x.shape, wt.shape, padding=1)
    np.testing.assert_array_equal(ops.conv2d(x, wt, padding=1),
                                  ops.conv2d(x, wt, padding=1, algorithm=chosen))


@pytest.mark.parametrize("kwargs,match", [
    (dict(kernel_size=5), r"kernel_size \(3, 3\), got \(5, 5\)"),
    (dict(stride=2), r"stride \(1, 1\), got \(2, 2\)"),
    (dict(dilation=2), r"dilation \(1, 1\), got \(2, 2\)"),
    (dict(groups=2), r"groups 1, got 2"),
])
def test_winograd_on_a_layer_it_cannot_run(kwargs, match):
    args = dict(kernel_size=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match="Conv2d: algorithm 'winograd': needs " + match):
        nn.Conv2d(4, 8, algorithm="winograd", **args)
    with pytest.raises(ValueError, match="algorithm 'winograd_f2'"):
        ops.conv2d(np.zeros((1, 4, 9, 9), np.float32),
                   np.zeros((8, 4 // args.get("groups", 1), args["kernel_size"],
                             args["kernel_size"]), np.float32),
                   stride=args.get("stride", 1), dilation=args.get("dilation", 1),
                   groups=args.get("groups", 1), algorithm="winograd_f2")


def test_unknown_algorithm_names_the_argument():
    with pytest.raises(ValueError, match="algorithm: expected one of 'auto'.*got 'fast'"):
        nn.Conv2d(3, 4, 3, algorithm="fast")
    with pytest.raises(TypeError, match="algorithm: expected a string"):
        nn.Conv2d(3, 4, 3, algorithm=4)
    with pytest.raises(ValueError, match="algorithm: expected one of"):
        _C.conv2d_forward(np.zeros((1, 3, 5, 5), np.float32), np.zeros((4, 3, 3, 3), np.float32),
                          None, (1, 1), (1, 1), (1, 1), 1, "depthwise")


def test_config_round_trip_keeps_the_algorithm(tmp_path):
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, algorithm="winograd_f2"), nn.ReLU())
    assert "algorithm='winograd_f2'" in repr(model)
    path = tmp_path / "m.safetensors"
    fastnn.save(model, path)
    loaded = fastnn.load(path)
    assert loaded[0].algorithm == "winograd_f2"
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 7)).astype(np.float32)
    np.testing.assert_array_equal(model(x), loaded(x))
    assert "algorithm" not in repr(nn.Conv2d(3, 8, 3))  # the default is not printed
