"""int8 GEMM (u8 x s8 -> s32, fused requantisation) against exact numpy int64 references, on every
ISA path: edge shapes, odd K, zero points, values at the uint8/int8 extremes, rounding, saturation.
The AVX-512 table has two paths, the VNNI micro-kernel and the AMX tiles: `isa` here runs
"avx512" with AMX off and "avx512-amx" with AMX on for every call (skipped where the CPU has none).
"""
import numpy as np
import pytest

import fastnn
from fastnn import _C
from fastnn.quant import gemm_u8s8, pack_weights
from tests.kernels.amx_paths import PATHS, isa_with_amx

# Tile edges: VNNI 14x32, AVX2 3x32, generic 4x32, AMX 2 x 16 rows x 2 x 16 columns x 64 k;
# 32-column panels; k grouped by 4.
EDGE_M = [1, 2, 3, 4, 5, 13, 14, 15, 16, 17, 27, 28, 29, 31, 32, 33, 43, 48, 128]
EDGE_N = [1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 97]
EDGE_K = [1, 2, 3, 4, 5, 7, 8, 9, 31, 63, 64, 65, 127, 128, 129, 257]
S8_PATHS = PATHS


def amx_usable():
    return bool(_C.s8_gemm_info()["amx_usable"])


@pytest.fixture(params=S8_PATHS)
def isa(request):
    """conftest's `isa`, with the AVX-512 table's two int8 paths (AMX off / AMX on every call)."""
    yield from isa_with_amx(request.param, _C.s8_gemm_set_amx, amx_usable, "int8")


def rand_a(rng, m, k):
    return rng.integers(0, 256, (m, k), dtype=np.uint8)


def rand_w(rng, n, k):
    return rng.integers(-128, 128, (n, k), dtype=np.int8)


def acc_ref(a, w, za=0, bias_i32=None):
    """Exact sum_p (a - za) * w + bias in int64."""
    acc = (a.astype(np.int64) - za) @ w.astype(np.int64).T
    if bias_i32 is not None:
        acc = acc + bias_i32.astype(np.int64)
    return acc


def f32_ref(acc, scale_a, scale_b, bias=None, relu=False):
    y = float(scale_a) * np.asarray(scale_b, np.float64) * acc.astype(np.float64)
    if bias is not None:
        y = y + np.asarray(bias, np.float64)
    return np.maximum(y, 0.0) if relu else y


def u8_value(acc, scale_a, scale_b, bias, scale_out, z_out):
    """The exact (float64) value that is rounded: y / scale_out + z_out."""
    return f32_ref(acc, scale_a, scale_b, bias) / float(scale_out) + z_out


def u8_ref(v, z_out=0, relu=False):
    lo = z_out if relu else 0
    return np.clip(np.rint(v), lo, 255).astype(np.uint8)  # np.rint: round half to even


def check_int32(rng, m, n, k, za=None, bias=False):
    a, w = rand_a(rng, m, k), rand_w(rng, n, k)
    za = int(rng.choice([0, 128, 255])) if za is None else za
    b32 = rng.integers(-(2**20), 2**20, n, dtype=np.int32) if bias else None
    got = gemm_u8s8(a, pack_weights(w), za=za, out_dtype="int32", bias_i32=b32)
    assert got.dtype == np.int32 and got.shape == (m, n)
    np.testing.assert_array_equal(got, acc_ref(a, w, za, b32))


@pytest.mark.parametrize("m", EDGE_M)
def test_edge_m(isa, rng, m):
    check_int32(rng, m, 37, 23)


@pytest.mark.parametrize("n", EDGE_N)
def test_edge_n(isa, rng, n):
    check_int32(rng, 15, n, 20)


@pytest.mark.parametrize("k", EDGE_K)
def test_edge_k_incl_odd(isa, rng, k):
    check_int32(rng, 17, 33, k, bias=True)


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (1, 512, 100), (3, 5, 7), (29, 65, 131), (31, 3, 1000),
                                   (61, 67, 71), (200, 10, 36)])
def test_shapes(isa, rng, m, n, k):
    check_int32(rng, m, n, k, bias=True)


@pytest.mark.parametrize("za", [0, 1, 128, 255])
def test_zero_points(isa, rng, za):
    check_int32(rng, 19, 45, 37, za=za, bias=True)


@pytest.mark.parametrize("aval,wval", [(255, 127), (255, -128), (255, -127), (0, -128)])
@pytest.mark.parametrize("za", [0, 255])
def test_extremes_never_saturate(isa, aval, wval, za):
    # 255*127 + 255*127 = 64770 overflows the int16 pair sum of vpmaddubsw; every path must be exact.
    m, n, k = 5, 33, 67
    a = np.full((m, k), aval, np.uint8)
    w = np.full((n, k), wval, np.int8)
    got = gemm_u8s8(a, pack_weights(w), za=za, out_dtype="int32")
    np.testing.assert_array_equal(got, np.full((m, n), (aval - za) * wval * k, np.int64))


def test_extremes_mixed(isa, rng):
    # Random choice between the extreme values, so adjacent pairs mix signs and magnitudes.
    m, n, k = 16, 40, 203
    a = rng.choice(np.array([0, 1, 254, 255], np.uint8), (m, k))
    w = rng.choice(np.array([-128, -127, 0, 126, 127], np.int8), (n, k))
    for za in (0, 128, 255):
        got = gemm_u8s8(a, pack_weights(w), za=za, out_dtype="int32")
        np.testing.assert_array_equal(got, acc_ref(a, w, za))


def test_max_k_accumulator_bound(isa):
    # k = 65536 at the extremes: |acc| = 65536 * 255 * 128 = 2^31 - 2^23, still exact in int32.
    k = 65536
    a = np.full((2, k), 255, np.uint8)
    w = np.stack([np.full(k, -128, np.int8), np.full(k, 127, np.int8), np.zeros(k, np.int8)])
    p = pack_weights(w)
    np.testing.assert_array_equal(gemm_u8s8(a, p, out_dtype="int32"), acc_ref(a, w))
    a0 = np.zeros((1, k), np.uint8)  # (0 - 255) * -128 * k: the zero point term at its bound
    np.testing.assert_array_equal(gemm_u8s8(a0, p, za=255, out_dtype="int32"), acc_ref(a0, w, 255))


def test_strided_and_packed_a(isa, rng):
    base = rand_a(rng, 40, 90)
    w = rand_w(rng, 21, 30)
    p = pack_weights(w)
    views = {"every_3rd_col": base[:, ::3], "col_slice": base[:, 7:37],
             "reversed_rows": base[::-1, :30], "transposed": np.ascontiguousarray(base[:30, :40]).T[:, :30]}
    for name, a in views.items():
        assert a.shape[1] == 30, name
        want = acc_ref(a, w, 128)
        np.testing.assert_array_equal(gemm_u8s8(a, p, za=128, out_dtype="int32"), want, err_msg=name)
    a = rand_a(rng, 33, 64)  # k % 4 == 0, contiguous: read in place by default; force packing too
    p = pack_weights(rand_w(rng, 50, 64))
    direct = _C.gemm_u8s8(a, p, 3, "int32", pack_a=0)
    packed = _C.gemm_u8s8(a, p, 3, "int32", pack_a=1)
    np.testing.assert_array_equal(direct, packed)
    np.testing.assert_array_equal(direct, acc_ref(a, p.unpack(), 3))


def test_strided_weights_and_roundtrip(rng):
    wt = rand_w(rng, 45, 70)         # (k, n) storage; its transpose view is the (n, k) weight
    w = wt.T
    p = pack_weights(w)
    assert p.shape == (70, 45) and p.n == 70 and p.k == 45 and (p.nr, p.kgroup) == (32, 4)
    np.testing.assert_array_equal(p.unpack(), w)
    np.testing.assert_array_equal(p.colsum, w.astype(np.int64).sum(1))
    assert p.nbytes == 3 * 32 * 48    # ceil(70/32) panels x 32 columns x ceil(45/4)*4
    assert "n=70" in repr(p) and "k=45" in repr(p)


def test_empty_shapes(isa, rng):
    p = pack_weights(rand_w(rng, 5, 8))
    assert gemm_u8s8(np.zeros((0, 8), np.uint8), p, out_dtype="int32").shape == (0, 5)
    p0 = pack_weights(np.zeros((0, 8), np.int8))
    assert gemm_u8s8(rand_a(rng, 3, 8), p0, scale_b=1.0).shape == (3, 0)
    # k == 0: the product is empty; the epilogue still adds the bias.
    pk = pack_weights(np.zeros((4, 0), np.int8))
    bias = np.array([-1.5, 0.0, 2.0, 3.25], np.float32)
    got = gemm_u8s8(np.zeros((2, 0), np.uint8), pk, za=7, scale_b=0.5, bias=bias, relu=True)
    np.testing.assert_array_equal(got, np.maximum(np.tile(bias, (2, 1)), 0))


# ---- float32 output (dequantised) ----------------------------------------------------------------

def f32_tol(acc, scale_a, scale_b, bias):
    # float(acc'), the float32 scale and the fma each round once (<= 2^-24 relative), plus the bias.
    s = np.abs(float(scale_a) * np.asarray(scale_b, np.float64) * acc)
    return 4 * 2.0**-24 * (s + (0 if bias is None else np.abs(bias))) + 1e-30


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("m,n,k", [(1, 33, 17), (29, 64, 130), (15, 97, 256)])
def test_f32_output(isa, rng, m, n, k, relu):
    a, w = rand_a(rng, m, k), rand_w(rng, n, k)
    scale_a, za = 0.0173, 121
    scale_b = rng.uniform(1e-3, 2e-2, n).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    b32 = rng.integers(-1000, 1000, n, dtype=np.int32)
    got = gemm_u8s8(a, pack_weights(w), za=za, scale_a=scale_a, scale_b=scale_b, bias=bias,
                    bias_i32=b32, relu=relu)
    assert got.dtype == np.float32
    acc = acc_ref(a, w, za, b32)
    want = f32_ref(acc, np.float32(scale_a), scale_b, bias, relu)
    np.testing.assert_array_less(np.abs(got - want), f32_tol(acc, scale_a, scale_b, bias))
    if relu:
        assert not np.signbit(got).any()  # ReLU gives +0, never -0


# ---- uint8 output (requantised) -----------------------------------------------------------------

def test_u8_rounding_half_to_even_exact(isa, rng):
    # Power-of-two scales make every float32 step exact, so the output must equal the float64
    # reference bit for bit, including the ties (.5 values, rounded to even).
    m, n, k = 23, 41, 19
    a, w = rand_a(rng, m, k), rng.integers(-6, 7, (n, k), dtype=np.int8)
    scale_a, scale_b, scale_out = 0.5, np.full(n, 0.25, np.float32), 1.0   # y = acc' / 8 + bias
    bias = (rng.integers(-64, 64, n) * 0.125).astype(np.float32)
    za, z_out = 130, 128
    got = gemm_u8s8(a, pack_weights(w), za=za, out_dtype="uint8", scale_a=scale_a,
                    scale_b=scale_b, bias=bias, scale_out=scale_out, z_out=z_out)
    v = u8_value(acc_ref(a, w, za), scale_a, scale_b, bias, scale_out, z_out)
    ties = (v % 1 == 0.5) & (v > 0) & (v < 255)
    assert ties.sum() > 20, "the data must contain ties for this test to mean anything"
    assert (v < 0).any() and (v > 255).any(), "and values to saturate at both ends"
    np.testing.assert_array_equal(got, u8_ref(v, z_out))


def test_u8_ties_values(isa):
    # acc' = -3..4, y = acc' / 2 + 10 = 8.5, 9, 9.5, 10, 10.5, 11, 11.5, 12 -> ties go to even.
    k, n = 1, 1
    w = np.ones((n, k), np.int8)
    a = np.arange(0, 8, dtype=np.uint8).reshape(-1, 1)
    got = gemm_u8s8(a, pack_weights(w), za=3, out_dtype="uint8", scale_b=0.5, z_out=10)
    np.testing.assert_array_equal(got[:, 0], [8, 9, 10, 10, 10, 11, 12, 12])


def test_u8_random_scales(isa, rng):
    # Float32 rounding may flip a value lying within the rounding error of a .5 boundary; nowhere
    # else may the result differ from the float64 reference, and never by more than 1.
    m, n, k = 37, 70, 150
    a, w = rand_a(rng, m, k), rand_w(rng, n, k)
    za, z_out, scale_a, scale_out = 97, 60, 0.0213, 0.7391
    scale_b = rng.uniform(0.03, 0.06, n).astype(np.float32)
    bias = rng.uniform(-5, 5, n).astype(np.float32)
    got = gemm_u8s8(a, pack_weights(w), za=za, out_dtype="uint8", scale_a=scale_a,
                    scale_b=scale_b, bias=bias, scale_out=scale_out, z_out=z_out)
    acc = acc_ref(a, w, za)
    v = u8_value(acc, np.float32(scale_a), scale_b, bias, np.float32(scale_out), z_out)
    want = u8_ref(v, z_out)
    assert 0 < (want == 0).sum() and 0 < (want == 255).sum() and ((want > 0) & (want < 255)).mean() > 0.3
    diff = got.astype(int) - want.astype(int)
    near_tie = np.abs(v % 1 - 0.5) <= 8 * 2.0**-24 * (np.abs(v) + z_out + 1)
    assert np.all(np.abs(diff) <= 1) and np.all((diff == 0) | near_tie)


@pytest.mark.parametrize("relu", [False, True])
def test_u8_saturates_never_wraps(isa, rng, relu):
    m, n, k = 9, 35, 40
    a, w = rand_a(rng, m, k), rand_w(rng, n, k)
    z_out = 100
    got = gemm_u8s8(a, pack_weights(w), za=0, out_dtype="uint8", scale_b=1e6, scale_out=1e-3,
                    z_out=z_out, relu=relu)   # |y / scale_out| ~ 1e9 .. 1e15: far outside uint8
    acc = acc_ref(a, w)
    want = np.where(acc > 0, 255, np.where(acc < 0, z_out if relu else 0, z_out)).astype(np.uint8)
    np.testing.assert_array_equal(got, want)


def test_u8_relu_clamps_at_zero_point(isa, rng):
    a, w = rand_a(rng, 12, 16), rand_w(rng, 18, 16)
    kw = dict(za=128, out_dtype="uint8", scale_a=0.02, scale_b=0.01, scale_out=0.05, z_out=37)
    p = pack_weights(w)
    plain, relu = gemm_u8s8(a, p, **kw), gemm_u8s8(a, p, relu=True, **kw)
    np.testing.assert_array_equal(relu, np.maximum(plain, 37))
    assert (plain < 37).any()


# ---- consistency across ISAs and threads ----------------------------------------------------------

def test_all_isas_bit_identical(rng, threads):
    from tests.conftest import SUPPORTED_ISAS
    m, n, k = 45, 77, 203
    a, w = rand_a(rng, m, k), rand_w(rng, n, k)
    p = pack_weights(w)
    kw = dict(za=77, scale_a=0.031, scale_b=rng.uniform(1e-3, 1e-2, n), bias=rng.standard_normal(n),
              bias_i32=rng.integers(-500, 500, n, dtype=np.int32))
    before = fastnn.get_isa()
    prev = _C.s8_gemm_info()["amx_mode"]
    results = []
    try:
        for name in SUPPORTED_ISAS:
            fastnn.set_isa(name)
            for amx in (["off", "on"] if name == "avx512" and amx_usable() else ["off"]):
                _C.s8_gemm_set_amx(amx)
                for nt in (1, 2):
                    fastnn.set_num_threads(nt)
                    results.append((f"{name} amx {amx}", nt, gemm_u8s8(a, p, **kw),
                                    gemm_u8s8(a, p, out_dtype="uint8", scale_out=0.09, z_out=9,
                                              **kw)))
    finally:
        fastnn.set_isa(before)
        _C.s8_gemm_set_amx(prev)
    for name, nt, f, u in results[1:]:
        np.testing.assert_array_equal(f.view(np.int32), results[0][2].view(np.int32), err_msg=f"{name} {nt}")
        np.testing.assert_array_equal(u, results[0][3], err_msg=f"{name} {nt}")


def test_out_buffer_used(isa, rng):
    a, p = rand_a(rng, 6, 12), pack_weights(rand_w(rng, 10, 12))
    for dtype, kw in (("float32", dict(scale_b=1.0)), ("uint8", dict(scale_b=1.0)), ("int32", {})):
        out = np.full((6, 10), 7, dtype)
        r = gemm_u8s8(a, p, out_dtype=dtype, out=out, **kw)
        assert r is out
        np.testing.assert_array_equal(out, gemm_u8s8(a, p, out_dtype=dtype, **kw))


@pytest.mark.parametrize("m", [1, 2, 3, 5])
@pytest.mark.parametrize("k", [1, 5, 13, 17, 36])
def test_small_tiles_split_accumulators(isa, rng, m, k):
    # Tiles of < 8 accumulator chains split K over 2 or 4 accumulator sets (VNNI); k groups that
    # do not fill a set, and panels of <= 16 columns (n = 10, 40 = 32 + 8) take the narrow path.
    for n in (10, 32, 40):
        check_int32(rng, m, n, k, bias=True)
