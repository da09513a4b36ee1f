"""Binary kernels (binary_pack, binary_gemm, binary_gemm_f32) against the +-1 integer reference, on
every ISA path; the avx512 path also needs VPOPCNTDQ (this CPU may lack it: then it skips)."""
import numpy as np
import pytest

from fastnn import _C

KS = (1, 63, 64, 65, 127, 1000)


def signs(x):
    return np.where(x < 0, -1, 1).astype(np.int64)


def rand(rng, *shape):
    x = rng.standard_normal(shape).astype(np.float32)
    x[rng.random(shape) < 0.05] = 0.0  # sign(0) = +1
    return x


def expected_kernel(isa):
    if isa == "avx512" and not _C.binary_vpopcntdq():
        return "avx2"
    return isa


def test_kernel_follows_isa(isa):
    assert _C.binary_kernel() == expected_kernel(isa)


def test_avx512_vpopcntdq_path_runs_when_available():
    if "avx512" not in _C.build_info()["isa_supported"] or not _C.binary_vpopcntdq():
        pytest.skip("no AVX-512 VPOPCNTDQ on this CPU: the avx512 popcount path is compiled, not run")


@pytest.mark.parametrize("K", KS)
def test_pack_bits(K, rng):
    x = rand(rng, 3, K)
    p = _C.binary_pack(x)
    assert p.shape == (3, (K + 63) // 64) and p.dtype == np.uint64
    bits = np.unpackbits(p.view(np.uint8), axis=1, bitorder="little")[:, :K]
    np.testing.assert_array_equal(bits, (x < 0).astype(np.uint8))
    assert not np.unpackbits(p.view(np.uint8), axis=1, bitorder="little")[:, K:].any()


@pytest.mark.parametrize("K", KS)
@pytest.mark.parametrize("M,N", [(1, 1), (1, 7), (5, 4), (9, 13), (4, 8)])
def test_xnor_gemm_exact(isa, K, M, N, rng):
    a, b = rand(rng, M, K), rand(rng, N, K)
    alpha = np.ones(N, np.float32)
    y = _C.binary_gemm(_C.binary_pack(a), _C.binary_pack(b), K, alpha)
    np.testing.assert_array_equal(y, (signs(a) @ signs(b).T).astype(np.float32))


def test_xnor_gemm_scale_bias(isa, rng):
    K, M, N = 200, 6, 11
    a, b = rand(rng, M, K), rand(rng, N, K)
    alpha, bias = rng.random(N).astype(np.float32), rng.standard_normal(N).astype(np.float32)
    y = _C.binary_gemm(_C.binary_pack(a), _C.binary_pack(b), K, alpha, bias)
    ref = (signs(a) @ signs(b).T) * alpha.astype(np.float64) + bias
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-5)


def test_xnor_gemm_strided_input(isa, rng):
    a = rand(rng, 10, 130)[::2, ::2]  # (5, 65), not contiguous
    b = rand(rng, 3, 65)
    y = _C.binary_gemm(_C.binary_pack(a), _C.binary_pack(b), 65, np.ones(3, np.float32))
    np.testing.assert_array_equal(y, (signs(a) @ signs(b).T).astype(np.float32))


@pytest.mark.parametrize("K", KS)
def test_sign_gemm_f32(isa, K, rng):
    M, N = 3, 5
    x, w = rand(rng, M, K), rand(rng, N, K)
    alpha = rng.random(N).astype(np.float32)
    y = _C.binary_gemm_f32(x, _C.binary_pack(w), alpha)
    ref = (x.astype(np.float64) @ signs(w).T) * alpha
    tol = np.finfo(np.float32).eps * np.sqrt(K) * 4 * np.abs(x).max() * K ** 0.5
    np.testing.assert_allclose(y, ref, rtol=0, atol=tol)


def test_bad_inputs():
    p = _C.binary_pack(np.ones((2, 70), np.float32))
    one = np.ones(2, np.float32)
    with pytest.raises(ValueError, match=r"b: expected shape \(rows, 2\) for K=70, got \(2, 1\)"):
        _C.binary_gemm(p, p[:, :1].copy(), 70, one)
    with pytest.raises(TypeError, match="a: expected dtype uint64"):
        _C.binary_gemm(p.astype(np.int64), p, 70, one)
    with pytest.raises(ValueError, match="alpha"):
        _C.binary_gemm(p, p, 70, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="K: expected >= 1"):
        _C.binary_gemm(p, p, 0, one)
    with pytest.raises(ValueError, match="x"):
        _C.binary_pack(np.ones(5, np.float32))
    with pytest.raises(ValueError, match="b: expected shape"):
        _C.binary_gemm_f32(np.ones((1, 64), np.float32), p, one)


def test_padding_bits_past_k_are_refused():
    """Bits set past K in a row's last word would count signs that do not exist (or, in the
    float-input path, read past the row): refused, naming the row."""
    p = _C.binary_pack(-np.ones((2, 70), np.float32))
    bad = p.copy()
    bad[1, 1] |= np.uint64(1) << np.uint64(63)
    one = np.ones(2, np.float32)
    with pytest.raises(ValueError, match="b: row 1 has bits set past K=70"):
        _C.binary_gemm(p, bad, 70, one)
    with pytest.raises(ValueError, match="a: row 1 has bits set past K=70"):
        _C.binary_gemm(bad, p, 70, one)
    with pytest.raises(ValueError, match="b: row 1 has bits set past K=70"):
        _C.binary_gemm_f32(np.ones((1, 70), np.float32), bad, one)
    _C.binary_gemm(p, p, 70, one)  # binary_pack's own output passes
    full = _C.binary_pack(-np.ones((1, 128), np.float32))
    _C.binary_gemm(full, full, 128, np.ones(1, np.float32))  # K a multiple of 64: no padding


def test_plane_kernel_follows_isa(isa):
    assert _C.binary_plane_kernel() == isa


@pytest.mark.parametrize("M,N", [(1, 1), (1, 130), (3, 5), (4, 64), (8, 65), (9, 7), (17, 3)])
@pytest.mark.parametrize("K", [1, 7, 8, 9, 63, 64, 65, 127, 1000])
def test_plane_kernels_tiles_and_tails(isa, M, N, K, rng):
    """Float x times binary and ternary bit-planes on every ISA path, over the row blocks (8, 4,
    1), the 64-column tiles and every K tail (8 and 16 lanes, 64-bit words); x strided."""
    x = rand(rng, M, 2 * K)[:, ::2]  # a strided view: the binding takes a contiguous copy
    t = rng.integers(-1, 2, (N, K))
    one = np.float32(1)
    pos = _C.binary_pack(np.where(t > 0, -one, one))
    neg = _C.binary_pack(np.where(t < 0, -one, one))
    alpha = rng.random(N).astype(np.float32) + 0.5
    tol = np.finfo(np.float32).eps * K * np.abs(x).max() * 2 + 1e-7
    ref = (x.astype(np.float64) @ t.T) * alpha
    np.testing.assert_allclose(_C.ternary_gemm_f32(x, pos, neg, alpha, None), ref, rtol=0,
                               atol=tol * alpha.max())
    s = np.where(t < 0, -1, 1)
    ref = (x.astype(np.float64) @ s.T) * alpha
    np.testing.assert_allclose(_C.binary_gemm_f32(x, neg, alpha, None), ref, rtol=0,
                               atol=tol * alpha.max())


@pytest.mark.parametrize("K", KS)
def test_ternary_gemm_f32_exact_sums(K, rng):
    """Two disjoint bit-planes: out = alpha * (sum over +1 x - sum over -1 x) + bias, against a
    float64 reference (additions only: tolerance eps * K * max|x| * alpha)."""
    M, N = 3, 5
    t = rng.integers(-1, 2, (N, K))
    one = np.float32(1)
    pos = _C.binary_pack(np.where(t > 0, -one, one))
    neg = _C.binary_pack(np.where(t < 0, -one, one))
    x = rand(rng, M, K)
    alpha = rng.random(N).astype(np.float32) + 0.5
    bias = rng.standard_normal(N).astype(np.float32)
    ref = (x.astype(np.float64) @ t.T) * alpha + bias
    out = _C.ternary_gemm_f32(x, pos, neg, alpha, bias)
    tol = np.finfo(np.float32).eps * K * np.abs(x).max() * alpha.max() * 2 + 1e-6
    np.testing.assert_allclose(out, ref, rtol=0, atol=tol)
    np.testing.assert_allclose(_C.ternary_gemm_f32(x, pos, neg, alpha, None), ref - bias,
                               rtol=0, atol=tol + 1e-6)


def test_ternary_gemm_f32_checks(rng):
    x = rand(rng, 2, 70)
    one = np.float32(1)
    pos = _C.binary_pack(np.where(rng.random((3, 70)) < 0.3, -one, one))
    with pytest.raises(ValueError, match="pos, neg: the planes overlap in row"):
        _C.ternary_gemm_f32(x, pos, pos, np.ones(3, np.float32), None)
    with pytest.raises(ValueError, match=r"neg: expected shape \(3, 2\) like pos, got \(2, 2\)"):
        _C.ternary_gemm_f32(x, pos, pos[:2] * 0, np.ones(3, np.float32), None)
    with pytest.raises(ValueError, match=r"pos: expected shape \(rows, 2\) for K=70"):
        _C.ternary_gemm_f32(x, pos[:, :1], pos * 0, np.ones(3, np.float32), None)
    with pytest.raises(ValueError, match="alpha"):
        _C.ternary_gemm_f32(x, pos, pos * 0, np.ones(4, np.float32), None)


def _im2col_ref(x, k, s, p, d, pad_value):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=pad_value)
    oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    cols = np.empty((n, oh, ow, k[0], k[1], c), np.float32)
    for i in range(k[0]):
        for j in range(k[1]):
            v = xp[:, :, i * d[0]:i * d[0] + s[0] * (oh - 1) + 1:s[0],
                   j * d[1]:j * d[1] + s[1] * (ow - 1) + 1:s[1]]
            cols[:, :, :, i, j, :] = v.transpose(0, 2, 3, 1)
    return cols.reshape(n * oh * ow, -1)


@pytest.mark.parametrize("c", [1, 3, 63, 64, 65, 130])
@pytest.mark.parametrize("geom", [((3, 3), (1, 1), (1, 1), (1, 1)), ((2, 3), (2, 1), (2, 1), (1, 2)),
                                  ((1, 1), (1, 1), (0, 0), (1, 1))])
@pytest.mark.parametrize("pad_bit", [False, True])
def test_binary_im2col_equals_packed_float_im2col(c, geom, pad_bit, rng):
    """The packed sign bits of the im2col rows, exactly (bits in (i, j, c) order; padded taps
    take pad_bit; bits past K zero)."""
    k, s, p, d = geom
    x = rand(rng, 2, c, 5, 4)
    ref = _C.binary_pack(_im2col_ref(x, k, s, p, d, -1.0 if pad_bit else 1.0))
    got, oh, ow = _C.binary_im2col(x, list(k), list(s), list(p), list(d), pad_bit)
    np.testing.assert_array_equal(got, ref)
    assert got.shape[0] == 2 * oh * ow


def test_binary_im2col_checks(rng):
    x = rand(rng, 1, 2, 3, 3)
    with pytest.raises(ValueError, match="kernel larger than the padded input"):
        _C.binary_im2col(x, [5, 5], [1, 1], [0, 0], [1, 1], False)
    with pytest.raises(ValueError, match="stride"):
        _C.binary_im2col(x, [3, 3], [0, 1], [0, 0], [1, 1], False)
    with pytest.raises(ValueError, match=r"x: expected 4 dimensions|x: expected .*4"):
        _C.binary_im2col(x[0], [1, 1], [1, 1], [0, 0], [1, 1], False)
