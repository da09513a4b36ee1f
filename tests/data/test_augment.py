"""fastnn.data.augment: kernels against numpy references, ranges, seeding, bad input."""
import numpy as np
import pytest

from fastnn.data import _augment
from fastnn.data import augment as A

DTYPES = (np.uint8, np.float32)


def make_batch(rng, shape, dtype):
    if dtype == np.uint8:
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    return rng.standard_normal(shape).astype(np.float32)


def ref_translate(x, oy, ox, oh, ow):
    """out[n, c, i, j] = x[n, c, i + oy, j + ox] inside, else 0 (plain loops over samples)."""
    n, c, h, w = x.shape
    out = np.zeros((n, c, oh, ow), x.dtype)
    for k in range(n):
        for i in range(oh):
            for j in range(ow):
                si, sj = i + oy[k], j + ox[k]
                if 0 <= si < h and 0 <= sj < w:
                    out[k, :, i, j] = x[k, :, si, sj]
    return out


# -- deterministic kernels ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,size", [((3, 2, 5, 7), (5, 7)), ((4, 1, 6, 6), (4, 3)),
                                        ((2, 3, 1, 1), (2, 2)), ((1, 1, 9, 4), (9, 4))])
def test_translate_matches_reference(rng, dtype, shape, size):
    x = make_batch(rng, shape, dtype)
    n = shape[0]
    # offsets inside, partly outside and entirely outside the image
    oy = rng.integers(-shape[2] - 2, shape[2] + 2, size=n)
    ox = rng.integers(-shape[3] - 2, shape[3] + 2, size=n)
    got = A.translate(x, oy, ox, size=size)
    np.testing.assert_array_equal(got, ref_translate(x, oy, ox, *size))
    assert got.dtype == dtype


def test_translate_huge_offsets_give_zeros(rng):
    x = make_batch(rng, (2, 1, 4, 4), np.uint8) | 1
    big = np.array([2**62, -(2**62)], np.int64)
    np.testing.assert_array_equal(A.translate(x, big, big[::-1].copy()), 0)


def test_shift_moves_known_pixel():
    img = np.zeros((1, 1, 7, 9), np.float32)
    img[0, 0, 3, 4] = 1.0
    img[0, 0, 0, 0] = 2.0  # shifted off the image when moving up/left
    out = A.translate(img, -2, 1)  # shift down by 2, left by 1
    assert out[0, 0, 5, 3] == 1.0
    assert out[0, 0].sum() == 1.0  # the (0, 0) pixel left the image; zero fill elsewhere
    out = A.translate(img, 1, -2)  # shift up by 1, right by 2
    assert out[0, 0, 2, 6] == 1.0
    assert out[0, 0].sum() == 1.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("w", [1, 2, 5, 28])
def test_hflip_matches_reference_and_twice_is_identity(rng, dtype, w):
    x = make_batch(rng, (4, 2, 3, w), dtype)
    flags = np.array([1, 0, 1, 1], bool)
    got = A.hflip(x, flags)
    ref = x.copy()
    ref[flags] = x[flags][..., ::-1]
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(A.hflip(got, flags), x)
    np.testing.assert_array_equal(A.hflip(A.hflip(x)), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_hflip_in_place(rng, dtype):
    x = make_batch(rng, (3, 1, 4, 5), dtype)
    y = x.copy()
    res = A.hflip(y, [True, False, True], out=y)
    assert res is not None and np.shares_memory(res, y)
    np.testing.assert_array_equal(y[0], x[0][..., ::-1])
    np.testing.assert_array_equal(y[1], x[1])


# -- random transforms --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nchw", [True, False])
def test_shapes_and_dtypes_preserved(rng, dtype, nchw):
    shape = (5, 2, 10, 12) if nchw else (5, 10, 12)
    x = make_batch(rng, shape, dtype)
    for t in (A.RandomShift(2), A.RandomHorizontalFlip(0.5), A.GaussianNoise(0.1),
              A.RandomCrop((10, 12), padding=3)):
        y = t(x, rng)
        assert y.shape == x.shape and y.dtype == x.dtype and y.flags.c_contiguous
        assert not np.shares_memory(x, y)
    y = A.RandomCrop((6, 8), padding=1)(x, rng)
    assert y.shape == shape[:-2] + (6, 8) and y.dtype == dtype


def test_crop_full_size_without_padding_is_identity(rng):
    for dtype in DTYPES:
        x = make_batch(rng, (6, 3, 8, 5), dtype)
        np.testing.assert_array_equal(A.random_crop(x, (8, 5), 0, rng), x)
        np.testing.assert_array_equal(A.random_shift(x, 0, rng), x)


def test_random_crop_is_a_window_of_the_padded_image():
    rng = np.random.default_rng(0)  # fixed: the coverage check below is probabilistic
    x = make_batch(rng, (600, 1, 5, 6), np.uint8) | 1  # non-zero pixels: zero fill is visible
    p, size = 2, (4, 4)
    out = A.random_crop(x, size, p, rng)
    seen = set()
    for k in range(len(x)):
        padded = np.pad(x[k, 0], p)
        hits = [(t, l) for t in range(5 + 2 * p - 4 + 1) for l in range(6 + 2 * p - 4 + 1)
                if np.array_equal(padded[t:t + 4, l:l + 4], out[k, 0])]
        assert hits, f"sample {k} is not a window of its padded image"
        seen.add(hits[0])
    assert len(seen) == 6 * 7  # every offset occurs (missing one: p < 1e-4 for any seed)


def test_random_shift_stays_within_range():
    rng = np.random.default_rng(1)  # fixed: the coverage check below is probabilistic
    x = make_batch(rng, (300, 2, 6, 6), np.uint8) | 1
    out = A.random_shift(x, (1, 2), rng)
    shifts = set()
    for k in range(len(x)):
        hits = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4)
                if np.array_equal(ref_translate(x[k:k + 1], [-dy], [-dx], 6, 6)[0], out[k])]
        assert len(hits) == 1
        shifts.add(hits[0])
    assert shifts == {(dy, dx) for dy in (-1, 0, 1) for dx in (-2, -1, 0, 1, 2)}


def test_flip_probability_extremes(rng):
    x = make_batch(rng, (7, 1, 3, 4), np.float32)
    np.testing.assert_array_equal(A.random_hflip(x, 0.0, rng), x)
    np.testing.assert_array_equal(A.random_hflip(x, 1.0, rng), x[..., ::-1])


def ref_normal(bits):
    """The deviates gaussian_noise makes from uniform 32-bit words (float32 arithmetic)."""
    q = A.normal_quantiles()
    i = (bits >> 20).astype(np.int64)
    frac = (bits & 0xFFFFF).astype(np.float32) * np.float32(2.0**-20)
    return q[i] + frac * (q[i + 1] - q[i])


def test_uint8_noise_is_rounded_and_clipped():
    x = np.tile(np.array([0, 1, 128, 254, 255], np.uint8), (6, 1, 4, 1))
    std = 0.5
    out = A.gaussian_noise(x, std, np.random.default_rng(3))
    assert out.dtype == np.uint8
    assert out.min() == 0 and out.max() == 255  # huge noise reaches both clips
    bits = np.random.default_rng(3).integers(0, 2**32, size=(6, x[0].size), dtype=np.uint32)
    v = x.reshape(6, -1).astype(np.float32) + np.float32(std * 255) * ref_normal(bits)
    ref = np.floor(np.clip(v, 0, 255) + 0.5).astype(np.uint8).reshape(x.shape)
    assert np.abs(out.astype(int) - ref).max() <= 1  # 1: float rounding at exact .5 ties
    assert np.mean(out == ref) > 0.99


def test_noise_deviates_are_standard_normal():
    from statistics import NormalDist
    q = A.normal_quantiles()
    assert q.dtype == np.float32 and len(q) == 4097
    assert np.all(np.diff(q) > 0) and q[2048] == 0 and np.allclose(q, -q[::-1])
    nd = NormalDist()
    np.testing.assert_allclose(q[1:-1:256], [nd.inv_cdf(j / 4096) for j in range(1, 4096, 256)],
                               rtol=1e-6, atol=1e-6)
    z = A.gaussian_noise(np.zeros((1000, 1000), np.float32)[:, None], 1.0, 0).ravel()
    assert abs(z.mean()) < 0.005 and abs(z.std() - 1.0) < 0.005 and np.abs(z).max() < 4.0
    zs = np.sort(z.astype(np.float64))
    for t in (-3.0, -2.0, -1.0, -0.3, 0.0, 0.7, 1.5, 2.5):
        # 1e6 samples: the empirical CDF's standard error is <= 5e-4
        assert abs(np.searchsorted(zs, t) / zs.size - nd.cdf(t)) < 2.5e-3, t


def test_float_noise_statistics_and_clip(rng):
    x = np.zeros((50, 1, 20, 20), np.float32)
    out = A.gaussian_noise(x, 0.1, rng)
    assert out.dtype == np.float32
    assert abs(out.std() - 0.1) < 0.005 and abs(out.mean()) < 0.005
    clipped = A.GaussianNoise(1.0, clip=(-0.5, 0.25))(x, rng)
    assert clipped.min() == -0.5 and clipped.max() == 0.25
    np.testing.assert_array_equal(A.gaussian_noise(x, 0.0, rng), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_seeded_determinism(rng, dtype):
    x = make_batch(rng, (8, 1, 12, 12), dtype)
    aug = A.Compose([A.RandomCrop(12, padding=2), A.RandomShift(2), A.RandomHorizontalFlip(0.5),
                     A.GaussianNoise(0.05)])
    a = aug(x, np.random.default_rng(7))
    b = aug(x, np.random.default_rng(7))
    c = aug(x, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # an int seed is the same as a Generator seeded with it
    np.testing.assert_array_equal(aug(x, 7), a)
    # Compose is the transforms applied in order on one stream
    g = np.random.default_rng(7)
    seq = x
    for t in aug.transforms:
        seq = t(seq, g)
    np.testing.assert_array_equal(seq, a)


def test_global_seed_used_when_rng_is_none():
    import fastnn
    x = np.arange(4 * 36, dtype=np.uint8).reshape(4, 1, 6, 6)
    fastnn.manual_seed(11)
    a = A.random_shift(x, 2)
    fastnn.manual_seed(11)
    np.testing.assert_array_equal(A.random_shift(x, 2), a)


def test_non_contiguous_input(rng):
    base = make_batch(rng, (4, 2, 8, 10), np.float32)
    view = base[:, :, ::2, ::2]
    np.testing.assert_array_equal(A.hflip(view), np.ascontiguousarray(view)[..., ::-1])


def test_empty_batch(rng):
    for dtype in DTYPES:
        x = np.zeros((0, 1, 4, 4), dtype)
        assert A.GaussianNoise(0.1)(x, rng).shape == x.shape
        assert A.RandomCrop(3, 1)(x, rng).shape == (0, 1, 3, 3)


# -- bad input ----------------------------------------------------------------------------------
def test_bad_batch_type_dtype_ndim():
    with pytest.raises(TypeError, match="batch"):
        A.random_hflip([[1, 2]], 0.5, 0)
    with pytest.raises(TypeError, match="batch.*float64"):
        A.RandomShift(1)(np.zeros((2, 1, 4, 4)), 0)
    with pytest.raises(TypeError, match="batch.*int32"):
        A.GaussianNoise(0.1)(np.zeros((2, 1, 4, 4), np.int32), 0)
    with pytest.raises(ValueError, match=r"batch.*\(4, 4\)"):
        A.RandomCrop(2)(np.zeros((4, 4), np.float32), 0)
    with pytest.raises(ValueError, match="batch"):
        A.hflip(np.zeros((1, 1, 1, 4, 4), np.uint8))


def test_bad_parameters():
    x = np.zeros((2, 1, 4, 4), np.uint8)
    with pytest.raises(ValueError, match="size"):
        A.random_crop(x, 9, padding=2, rng=0)
    with pytest.raises(ValueError, match="size"):
        A.RandomCrop(0)
    with pytest.raises(TypeError, match="size"):
        A.RandomCrop(2.5)
    with pytest.raises(ValueError, match="padding"):
        A.RandomCrop(4, padding=-1)
    with pytest.raises(ValueError, match="max_shift"):
        A.RandomShift(-1)
    with pytest.raises(ValueError, match="p"):
        A.RandomHorizontalFlip(1.5)
    with pytest.raises(ValueError, match="std"):
        A.GaussianNoise(-0.1)
    with pytest.raises(ValueError, match="std"):
        A.gaussian_noise(x, float("nan"), 0)
    with pytest.raises(ValueError, match="clip"):
        A.gaussian_noise(x.astype(np.float32), 0.1, 0, clip=(1, 0))
    with pytest.raises(TypeError, match="rng"):
        A.random_shift(x, 1, rng="seed")
    with pytest.raises(ValueError, match="oy"):
        A.translate(x, [1, 2, 3], 0)
    with pytest.raises(TypeError, match="transforms"):
        A.Compose([A.RandomShift(1), 3])


def test_bad_out():
    x = np.zeros((2, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="out.*shape"):
        A.random_shift(x, 1, 0, out=np.zeros((2, 1, 4, 5), np.float32))
    with pytest.raises(TypeError, match="out.*dtype"):
        A.random_shift(x, 1, 0, out=np.zeros((2, 1, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="overlap"):
        A.random_shift(x, 1, 0, out=x)
    with pytest.raises(ValueError, match="contiguous"):
        A.hflip(x, out=np.zeros((2, 1, 4, 8), np.float32)[..., ::2])
    out = np.full((2, 1, 3, 3), 7, np.float32)
    res = A.random_crop(x, 3, 0, 0, out=out)
    assert np.shares_memory(res, out) and np.all(out == 0)


def test_kernels_check_shapes_themselves():
    x = np.zeros((2, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="out"):
        _augment.translate(x, np.zeros((3, 1, 4, 4), np.float32), np.zeros(2, np.int64),
                           np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="oy/ox"):
        _augment.translate(x, np.zeros((2, 1, 4, 4), np.float32), np.zeros(1, np.int64),
                           np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="flip"):
        _augment.hflip(x, x.copy(), np.zeros(5, np.uint8))
    q = A.normal_quantiles()
    with pytest.raises(ValueError, match="bits"):
        _augment.add_noise(x.reshape(2, -1), x.reshape(2, -1).copy(),
                           np.zeros((2, 3), np.uint32), q, 1.0, 0.0, 1.0, True)
    with pytest.raises(ValueError, match="quantiles"):
        _augment.add_noise(x.reshape(2, -1), x.reshape(2, -1).copy(),
                           np.zeros((2, 16), np.uint32), q[:-1], 1.0, 0.0, 1.0, True)
