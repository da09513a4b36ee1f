"""Rotation, zoom and affine warps (Cython), against np.rot90 and scipy.ndimage."""
import numpy as np
import pytest
import scipy.ndimage as ndi

from fastnn.data import augment as A


def _scipy_rotate(x, deg):
    return ndi.rotate(x, deg, axes=(-2, -1), reshape=False, order=1, mode="constant")


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
@pytest.mark.parametrize("shape", [(3, 1, 28, 28), (2, 3, 9, 9), (4, 8, 8)])
def test_quarter_turns_equal_rot90(rng, dtype, shape):
    x = (rng.random(shape) * 255).astype(dtype)
    for k in range(1, 4):
        np.testing.assert_array_equal(A.rotate(x, 90 * k), np.rot90(x, k, axes=(-2, -1)))
    np.testing.assert_array_equal(A.rotate(x, 0), x)
    np.testing.assert_array_equal(A.rotate(x, 360), x)


@pytest.mark.parametrize("deg", [30, -47.5, 12.25, 135])
@pytest.mark.parametrize("shape", [(3, 1, 28, 28), (2, 2, 11, 17)])
def test_matches_scipy(rng, deg, shape):
    x = rng.random(shape).astype(np.float32)
    ours, ref = A.rotate(x, deg), _scipy_rotate(x, deg)
    # inside the image (away from the border, where a sample point may fall a rounding error
    # either side of the edge) the values agree to float32 rounding
    np.testing.assert_allclose(ours[..., 2:-2, 2:-2], ref[..., 2:-2, 2:-2], atol=1e-6)
    assert np.mean(np.abs(ours - ref) < 1e-6) > 0.99
    u = (x * 255).astype(np.uint8)
    diff = np.abs(A.rotate(u, deg).astype(int) - _scipy_rotate(u, deg).astype(int))
    assert diff[..., 2:-2, 2:-2].max() <= 1


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_one_angle_table_kernel_equals_per_sample_kernel(rng, dtype):
    # one angle for the batch runs the shared-table kernel; the same angle per sample the other
    x = (rng.random((3, 2, 13, 10)) * 255).astype(dtype)
    for deg in (30.0, -90.0, 7.5):
        np.testing.assert_array_equal(A.rotate(x, deg), A.rotate(x, np.full(3, deg)))
    m = np.array([0.9, 0.2, 1.0, -0.1, 1.1, -0.5])
    np.testing.assert_array_equal(A.affine(x, m), A.affine(x, np.tile(m, (3, 1))))
    empty = np.zeros((2, 1, 0, 5), dtype)
    assert A.rotate(empty, 30).shape == empty.shape


def test_per_sample_angles_and_random_rotate_seeded(rng):
    x = rng.random((5, 1, 12, 12)).astype(np.float32)
    deg = np.array([0.0, 90.0, 10.0, -20.0, 180.0])
    y = A.rotate(x, deg)
    for i in range(5):
        np.testing.assert_allclose(y[i], A.rotate(x[i:i + 1], deg[i])[0], atol=0)
    a = A.random_rotate(x, 15, rng=3)
    b = A.random_rotate(x, 15, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    angles = np.random.default_rng(3).uniform(-15, 15, size=5)
    np.testing.assert_array_equal(a, A.rotate(x, angles))
    t = A.Compose([A.RandomRotation(10), A.RandomZoom(0.1)])
    np.testing.assert_array_equal(t(x, 7), t(x, 7))
    assert x.dtype == np.float32 and A.RandomRotation(10)(x, 0).shape == x.shape


def test_zoom_and_affine(rng):
    x = rng.random((2, 1, 15, 15)).astype(np.float32)
    # zoom by exactly 1 and an identity affine leave the batch unchanged
    np.testing.assert_array_equal(A.random_zoom(x, (1.0, 1.0), rng=0), x)
    np.testing.assert_array_equal(A.affine(x, [1, 0, 0, 0, 1, 0]), x)
    # zoom 2 about the centre: output pixel (i, j) samples (i - 7) / 2 + 7
    z = A.random_zoom(x, (2.0, 2.0), rng=0)
    ref = ndi.affine_transform(x[0, 0], np.eye(2) / 2, offset=(3.5, 3.5), order=1,
                               mode="constant")
    np.testing.assert_allclose(z[0, 0], ref, atol=1e-6)
    # a whole-pixel translation equals translate()
    m = [1, 0, -2, 0, 1, 3]  # out[i, j] = x[i - 2, j + 3]
    np.testing.assert_array_equal(A.affine(x, m), A.translate(x, -2, 3))
    y = A.random_affine(x, degrees=10, translate=0.1, scale=(0.9, 1.1), rng=1)
    assert y.shape == x.shape and np.isfinite(y).all()
    np.testing.assert_array_equal(A.RandomAffine(10, 0.1, (0.9, 1.1))(x, 1), y)


def test_bad_arguments():
    x = np.zeros((2, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="degrees"):
        A.rotate(x, np.nan)
    with pytest.raises(ValueError, match="degrees"):
        A.rotate(x, [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="batch"):
        A.rotate(x.astype(np.float64), 3)
    with pytest.raises(ValueError, match="max_degrees"):
        A.random_rotate(x, -5)
    with pytest.raises(ValueError, match="zoom_range"):
        A.random_zoom(x, (0.0, 1.0))
    with pytest.raises(ValueError, match="translate"):
        A.random_affine(x, translate=2)
    with pytest.raises(ValueError, match="matrices"):
        A.affine(x, np.zeros((3, 6)))
    with pytest.raises(ValueError, match="out"):
        A.rotate(x, 5, out=x)


def test_kernel_direct_nonfinite_matrix_gives_zeros():
    # the wrapper refuses non-finite matrices; the kernel itself never reads out of bounds
    from fastnn.data import _augment
    x = np.ones((1, 1, 4, 4), np.float32)
    out = np.full_like(x, 7.0)
    _augment.affine(x, out, np.array([[np.nan, 0, 0, 0, np.inf, 0]]))
    np.testing.assert_array_equal(out, 0.0)
