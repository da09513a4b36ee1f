"""f32 GEMM against a float64 reference on every ISA path: edge shapes, transposes, epilogues."""
import numpy as np
import pytest

import fastnn
from fastnn import _C
from tests.reference import EPS32, act_ref, gemm_tol, matmul_ref

EDGE = [1, 3, 7, 17, 31, 63, 65, 127, 129, 255, 257]


def _check(rng, m, n, k, trans_a=False, trans_b=False, bias=False, activation=None, param=None,
           alpha=1.0):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    bv = rng.standard_normal(n).astype(np.float32) if bias else None
    got = fastnn.ops.matmul(a, b, trans_a=trans_a, trans_b=trans_b, bias=bv, activation=activation,
                            activation_param=param, alpha=alpha)
    want = matmul_ref(a, b, trans_a, trans_b, bv, activation, param, alpha)
    assert got.dtype == np.float32 and got.shape == (m, n)
    tol = gemm_tol(a, b, k, alpha=alpha, bias=bv)
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)


@pytest.mark.parametrize("m", EDGE)
def test_edge_m(isa, rng, m):
    _check(rng, m, 33, 19)


@pytest.mark.parametrize("n", EDGE)
def test_edge_n(isa, rng, n):
    _check(rng, 15, n, 23)


@pytest.mark.parametrize("k", EDGE + [511, 513])
def test_edge_k(isa, rng, k):
    _check(rng, 29, 37, k)


def test_one_by_one(isa, rng):
    _check(rng, 1, 1, 1)


@pytest.mark.parametrize("m,n,k", [(1000, 3, 20), (3, 1000, 20), (2, 2, 3000), (257, 129, 65),
                                   (128, 10, 256), (300, 64, 288)])
def test_tall_skinny_short_wide(isa, rng, m, n, k):
    _check(rng, m, n, k)


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_transposes(isa, rng, trans_a, trans_b):
    _check(rng, 67, 45, 131, trans_a, trans_b)


@pytest.mark.parametrize("activation,param", [(None, None), ("relu", None), ("leaky_relu", None),
                                              ("leaky_relu", 0.2), ("elu", None), ("elu", 0.5),
                                              ("sigmoid", None), ("tanh", None)])
def test_bias_activation(isa, rng, activation, param):
    _check(rng, 45, 71, 33, bias=True, activation=activation, param=param)
    _check(rng, 17, 40, 300, bias=False, activation=activation, param=param)


def test_alpha(isa, rng):
    _check(rng, 20, 30, 40, alpha=-0.5, bias=True, activation="relu")


def test_k_zero(isa):
    a = np.zeros((4, 0), np.float32)
    b = np.zeros((0, 5), np.float32)
    np.testing.assert_array_equal(fastnn.ops.matmul(a, b), np.zeros((4, 5), np.float32))
    bias = np.arange(5, dtype=np.float32) - 2
    np.testing.assert_array_equal(fastnn.ops.matmul(a, b, bias=bias, activation="relu"),
                                  np.maximum(np.tile(bias, (4, 1)), 0))


def test_empty_m_n(isa):
    assert fastnn.ops.matmul(np.zeros((0, 3), np.float32), np.zeros((3, 4), np.float32)).shape == (0, 4)
    assert fastnn.ops.matmul(np.zeros((2, 3), np.float32), np.zeros((3, 0), np.float32)).shape == (2, 0)


def test_strided_inputs(isa, rng):
    big_a = rng.standard_normal((90, 70)).astype(np.float32)
    big_b = rng.standard_normal((80, 60)).astype(np.float32)
    a = big_a[::2, 1::3]     # (45, 23), non-unit strides both ways
    b = big_b[5:28, ::-2]    # (23, 30), negative column stride
    got = fastnn.ops.matmul(a, b)
    np.testing.assert_allclose(got, matmul_ref(a, b), rtol=0, atol=gemm_tol(a, b, 23))
    # Fortran order and a transposed view
    af = np.asfortranarray(rng.standard_normal((33, 21)).astype(np.float32))
    bt = rng.standard_normal((17, 21)).astype(np.float32).T
    np.testing.assert_allclose(fastnn.ops.matmul(af, bt), matmul_ref(af, bt), rtol=0,
                               atol=gemm_tol(af, bt, 21))


def test_float64_and_lists_converted(isa, rng):
    a = rng.standard_normal((5, 6))
    b = rng.standard_normal((6, 7)).tolist()
    got = fastnn.ops.matmul(a, b)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, a @ np.array(b), rtol=1e-5, atol=1e-5)


def test_out_buffer(isa, rng):
    a = rng.standard_normal((12, 8)).astype(np.float32)
    b = rng.standard_normal((8, 9)).astype(np.float32)
    out = np.full((12, 9), np.nan, np.float32)
    res = fastnn.ops.matmul(a, b, out=out)
    assert res is out or np.shares_memory(res, out)
    np.testing.assert_allclose(out, matmul_ref(a, b), rtol=0, atol=gemm_tol(a, b, 8))


def test_nan_inf_propagate(isa):
    a = np.ones((3, 4), np.float32)
    a[0, 0] = np.nan
    a[1, 1] = np.inf
    b = np.ones((4, 2), np.float32)
    got = fastnn.ops.matmul(a, b, activation="relu")
    assert np.isnan(got[0]).all() and np.isinf(got[1]).all() and (got[2] == 4).all()


@pytest.mark.parametrize("nthreads", [1, 2, 3])
def test_threads_same_result(isa, rng, threads, nthreads):
    a = rng.standard_normal((200, 150)).astype(np.float32)
    b = rng.standard_normal((150, 130)).astype(np.float32)
    fastnn.set_num_threads(1)
    ref = fastnn.ops.matmul(a, b)
    fastnn.set_num_threads(nthreads)
    # Each output element is reduced in the same order whatever the thread count.
    np.testing.assert_array_equal(fastnn.ops.matmul(a, b), ref)


def test_reference_binding_matches_numpy(rng):
    a = rng.standard_normal((9, 13)).astype(np.float32)
    b = rng.standard_normal((13, 5)).astype(np.float32)
    np.testing.assert_allclose(_C.matmul_reference(a, b), matmul_ref(a, b), rtol=1e-6, atol=1e-6)


def test_activation_reference_formulas():
    # The reference itself, on known values, so a wrong reference cannot hide a wrong kernel.
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(act_ref(x, "relu"), [0, 0, 3])
    np.testing.assert_allclose(act_ref(x, "leaky_relu", 0.1), [-0.2, 0, 3])
    np.testing.assert_allclose(act_ref(x, "elu", 1.0), [np.exp(-2) - 1, 0, 3])
    np.testing.assert_allclose(act_ref(x, "sigmoid"), 1 / (1 + np.exp(-x)))


# ---- sizes taken from the active kernel table: tiles, narrow tile, cache-block bounds ----------

def _cfg():
    return _C.gemm_config()


def test_gemm_config_matches_isa(isa):
    cfg = _cfg()
    assert cfg["isa"] == isa
    mr, nr = cfg["tile"]
    assert mr >= 1 and nr >= 1 and cfg["kc"] >= 1 and cfg["mc"] >= mr and cfg["nc"] >= nr


@pytest.mark.parametrize("dm", [-1, 0, 1])
@pytest.mark.parametrize("dn", [-1, 0, 1])
def test_around_tile(isa, rng, dm, dn):
    # m, n just around one and two register tiles (edge tiles in both directions)
    mr, nr = _cfg()["tile"]
    for tm, tn in ((1, 1), (2, 2)):
        _check(rng, max(1, tm * mr + dm), max(1, tn * nr + dn), 37)


@pytest.mark.parametrize("n", [1, 5, 10, 15, 16, 17, 24, 33])
@pytest.mark.parametrize("m", [1, 27, 28, 29, 57, 128])
def test_narrow_n(isa, rng, m, n):
    # small n takes the narrow tile where the ISA has one (28x16 on AVX-512); sizes around it
    _check(rng, m, n, 45, bias=True, activation="relu")


def test_narrow_tile_around_its_size(isa, rng):
    narrow = _cfg()["narrow_tile"]
    # Only AVX-512 has a narrow tile (28x16); on the other paths small n runs the main tile,
    # which test_narrow_n covers.
    assert (narrow is not None) == (isa == "avx512"), (isa, narrow)
    if narrow is None:
        return
    mr, nr = narrow
    for m in (mr - 1, mr, mr + 1, 3 * mr + 2):
        for n in (1, nr - 1, nr):
            _check(rng, m, n, 70, trans_a=True)


@pytest.mark.parametrize("dk", [-1, 0, 1])
def test_k_around_kc(isa, rng, dk):
    # one K block, two blocks (the second of 1 or 2 steps), and the balanced split of 2*kc + 1
    kc = _cfg()["kc"]
    _check(rng, 19, 35, kc + dk)
    _check(rng, 17, 33, 2 * kc + 1 + dk, bias=True, activation="leaky_relu")


@pytest.mark.parametrize("dm", [-1, 0, 1])
def test_m_around_mc(isa, rng, dm):
    # with k == kc an M block holds cfg["mc"] rows: one block, one block plus an edge row
    cfg = _cfg()
    _check(rng, cfg["mc"] + dm, 20, cfg["kc"])


def test_n_around_nc(isa, rng):
    # with k == kc a B block holds cfg["nc"] columns
    cfg = _cfg()
    for n in (cfg["nc"] - 1, cfg["nc"] + 1):
        _check(rng, 3, n, cfg["kc"], bias=True)


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_transposes_multi_block(isa, rng, trans_a, trans_b):
    # every packing path (row sweep and in-register transpose) with edge panels and K blocks
    kc = _cfg()["kc"]
    _check(rng, 61, 77, kc + 37, trans_a, trans_b, bias=True, activation="relu")


def test_out_nan_never_read(isa, rng):
    # beta == 0 never reads C, also across several K blocks, edge tiles and a fused epilogue
    kc = _cfg()["kc"]
    m, n, k = 45, 71, 2 * kc + 3
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    out = np.full((m, n), np.nan, np.float32)
    fastnn.ops.matmul(a, b, bias=bias, activation="relu", out=out)
    np.testing.assert_allclose(out, matmul_ref(a, b, bias=bias, activation="relu"), rtol=0,
                               atol=gemm_tol(a, b, k, bias=bias))


@pytest.mark.parametrize("k", [1, 40, 600])
def test_beta_accumulates_into_out(isa, rng, k):
    m, n = 33, 50
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    out = c0.copy()
    res = fastnn.ops.matmul(a, b, out=out, beta=1.0, alpha=0.5)
    assert np.shares_memory(res, out)
    want = 0.5 * matmul_ref(a, b) + c0
    np.testing.assert_allclose(out, want, rtol=0, atol=gemm_tol(a, b, k, alpha=0.5) + 4 * EPS32 * 8)


def test_beta_checks():
    a = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="beta"):
        fastnn.ops.matmul(a, a.T, beta=0.5, out=np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="beta.*out"):
        fastnn.ops.matmul(a, a.T, beta=1.0)


@pytest.mark.parametrize("n", [1, 7, 16, 17, 40, 100])
def test_fused_relu_leaky_bitwise(isa, rng, n):
    # The vectorised epilogue equals the scalar formula exactly (tails included): fusing must
    # give the same bits as the unfused product followed by the activation in float32.
    a = rng.standard_normal((37, 50)).astype(np.float32)
    b = rng.standard_normal((50, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    plain = fastnn.ops.matmul(a, b, bias=bias)
    np.testing.assert_array_equal(fastnn.ops.matmul(a, b, bias=bias, activation="relu"),
                                  np.maximum(plain, np.float32(0)))
    slope = np.float32(0.1)
    np.testing.assert_array_equal(
        fastnn.ops.matmul(a, b, bias=bias, activation="leaky_relu", activation_param=0.1),
        np.where(plain > 0, plain, plain * slope))


def test_leaky_relu_nan(isa):
    a = np.ones((2, 3), np.float32)
    a[0, 1] = np.nan
    got = fastnn.ops.matmul(a, np.full((3, 20), -1, np.float32), activation="leaky_relu")
    assert np.isnan(got[0]).all()
    np.testing.assert_allclose(got[1], np.float32(-0.03), rtol=1e-6)


@pytest.mark.parametrize("m,n,k", [(20, 1000, 300), (300, 70, 90), (1000, 20, 64), (5, 3000, 70)])
@pytest.mark.parametrize("nthreads", [2, 3, 4])
def test_threads_same_result_shapes(isa, rng, threads, m, n, k, nthreads):
    # row blocks per thread, column slices when rows are few, and several K blocks: the bits
    # never depend on the partition
    kc = _cfg()["kc"]
    k = k + kc  # at least two K blocks
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((n, k)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    fastnn.set_num_threads(1)
    ref = fastnn.ops.matmul(a, b, trans_b=True, bias=bias, activation="relu")
    fastnn.set_num_threads(nthreads)
    np.testing.assert_array_equal(fastnn.ops.matmul(a, b, trans_b=True, bias=bias, activation="relu"),
                                  ref)


def test_mlp_and_im2col_shapes(isa, rng):
    # the shapes the benchmarks time, checked once for correctness (forward and backward forms)
    _check(rng, 128, 512, 784, trans_b=True, bias=True, activation="relu")
    _check(rng, 512, 784, 128, trans_a=True)
    _check(rng, 128, 784, 512)
    _check(rng, 128, 10, 256, trans_b=True, bias=True)
    _check(rng, 10, 256, 128, trans_a=True)
    _check(rng, 128, 256, 10)
    _check(rng, 1568, 64, 288, bias=True, activation="relu")


def test_epilogue_activation_is_a_unary_member_the_epilogue_fuses():
    """act crosses as a _C.Unary member (or None): an int code is a TypeError, an activation the
    GEMM epilogue cannot fuse a ValueError naming act and the activation."""
    a, b = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
    np.testing.assert_allclose(_C.matmul(a, b, act=_C.Unary.tanh), np.tanh(a @ b), rtol=4 * EPS32)
    with pytest.raises(ValueError, match="act: expected None or an activation .* got GELU"):
        _C.matmul(a, b, act=_C.Unary.gelu)
    with pytest.raises(ValueError, match="Linear: act: .* got Mish"):
        _C.linear_forward(a, b.T.copy(), None, _C.Unary.mish)
    with pytest.raises(ValueError, match="act: .* got the value 0"):
        _C.matmul(a, b, act=_C.Unary(0))
    with pytest.raises(TypeError, match="act"):
        _C.matmul(a, b, act=1)



# -- a few rows times a row-major weight (B = W^T, trans_b): the f32_gemv_rows path, no packing --
@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("k", [1, 7, 8, 9, 15, 16, 17, 31, 33, 97, 784])
def test_few_rows_times_weight(isa, rng, m, k):
    """m <= 4 rows read the weight in place (the dot-product leaf, 4 weight rows at a time and
    a masked tail of k); m = 5 is the packed GEMM, for contrast. n around the leaf's 4 rows and
    the 64-column work items."""
    for n in (1, 3, 4, 5, 63, 64, 65, 130):
        _check(rng, m, n, k, trans_b=True, bias=True, activation="relu")
        _check(rng, m, n, k, trans_b=True, alpha=0.5)


def test_few_rows_strided_and_accumulating(isa, rng):
    """Rows of A with a row stride (every other row of a bigger array), beta = 1 accumulating into
    `out`, a bias and a non-zero-preserving activation; A transposed (column stride != 1) takes
    the packed path and agrees."""
    big = rng.standard_normal((8, 40)).astype(np.float32)
    a = big[::2]  # 4 rows, row stride 80 floats
    w = rng.standard_normal((70, 40)).astype(np.float32)
    bias = rng.standard_normal(70).astype(np.float32)
    out = rng.standard_normal((4, 70)).astype(np.float32)
    start = out.copy()
    got = fastnn.ops.matmul(a, w, trans_b=True, bias=bias, activation="tanh", out=out, beta=1.0)
    want = np.tanh(a.astype(np.float64) @ w.T.astype(np.float64) + start + bias)
    np.testing.assert_allclose(got, want, rtol=0, atol=gemm_tol(a, w.T, 40) + 1e-6)
    at = np.ascontiguousarray(a.T)
    packed = fastnn.ops.matmul(at, w, trans_a=True, trans_b=True)
    np.testing.assert_allclose(packed, a.astype(np.float64) @ w.T, rtol=0,
                               atol=gemm_tol(a, w.T, 40))
