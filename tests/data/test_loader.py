"""fastnn.data.DataLoader: coverage of each epoch, conversion, seeding, memory, bad input."""
import tracemalloc

import numpy as np
import pytest

import fastnn
from fastnn.data import DataLoader, _loader
from fastnn.data import augment as A


def ids_dataset(n, shape=(3,)):
    """float32 samples whose every element is the sample's index: batches reveal their rows."""
    return np.broadcast_to(np.arange(n, dtype=np.float32).reshape((n,) + (1,) * len(shape)),
                           (n,) + shape).copy()


@pytest.mark.parametrize("n,bs", [(10, 4), (12, 4), (1, 64), (7, 1), (64, 64)])
def test_epoch_covers_every_sample_once(n, bs):
    x = ids_dataset(n)
    y = np.arange(n) * 10
    dl = DataLoader(x, y, batch_size=bs, seed=0)
    seen = []
    sizes = []
    for xb, yb in dl:
        assert xb.dtype == np.float32 and yb.dtype == np.int64
        assert xb.shape[1:] == (3,)
        rows = xb[:, 0].astype(int)
        np.testing.assert_array_equal(xb, ids_dataset(n)[rows])
        np.testing.assert_array_equal(yb, rows * 10)
        seen.extend(rows)
        sizes.append(len(xb))
    assert sorted(seen) == list(range(n))
    assert len(sizes) == len(dl) == -(-n // bs)
    assert all(s == bs for s in sizes[:-1])


def test_drop_last_and_no_shuffle():
    x = ids_dataset(10)
    dl = DataLoader(x, batch_size=4, shuffle=False, drop_last=True)
    batches = list(dl)
    assert len(dl) == len(batches) == 2
    np.testing.assert_array_equal(np.concatenate(batches)[:, 0], np.arange(8))
    assert not isinstance(batches[0], tuple)  # y=None yields x only


def test_order_changes_per_epoch_and_is_seeded():
    x = ids_dataset(50)

    def orders(dl, epochs=3):
        return [np.concatenate([b[:, 0] for b in dl]) for _ in range(epochs)]

    a = orders(DataLoader(x, batch_size=8, seed=5))
    b = orders(DataLoader(x, batch_size=8, seed=5))
    c = orders(DataLoader(x, batch_size=8, seed=6))
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], a[1])
    assert not np.array_equal(a[0], c[0])
    # resuming at epoch 2 repeats epoch 2
    dl = DataLoader(x, batch_size=8, seed=5)
    dl.set_epoch(2)
    np.testing.assert_array_equal(orders(dl, 1)[0], a[2])
    state = dl.state_dict()
    dl2 = DataLoader(x, batch_size=8, seed=99)
    dl2.load_state_dict(state)
    assert dl2.state_dict() == state == {"seed": 5, "epoch": 3}


def test_manual_seed_makes_default_loader_reproducible():
    x = ids_dataset(30)
    fastnn.manual_seed(123)
    a = np.concatenate(list(DataLoader(x, batch_size=7)))
    fastnn.manual_seed(123)
    b = np.concatenate(list(DataLoader(x, batch_size=7)))
    np.testing.assert_array_equal(a, b)


def test_uint8_scaled_per_batch(rng):
    x = rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=20).astype(np.uint8)
    dl = DataLoader(x, y, batch_size=6, shuffle=False)
    xb, yb = next(iter(dl))
    assert xb.dtype == np.float32 and xb.shape == (6, 28, 28) and xb.flags.c_contiguous
    np.testing.assert_array_equal(xb, x[:6].astype(np.float32) * np.float32(1 / 255))
    assert yb.dtype == np.int64
    np.testing.assert_array_equal(yb, y[:6])
    assert 0.0 <= xb.min() and xb.max() <= 1.0


def test_mean_std_per_channel(rng):
    x = rng.integers(0, 256, size=(9, 3, 4, 5), dtype=np.uint8)
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    dl = DataLoader(x, batch_size=9, shuffle=False, mean=mean, std=std)
    xb = next(iter(dl))
    ref = (x / 255.0 - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    np.testing.assert_allclose(xb, ref, rtol=1e-5, atol=1e-5)
    # scalar normalisation and an explicit scale on float data
    xf = rng.standard_normal((5, 6)).astype(np.float32)
    xb = next(iter(DataLoader(xf, batch_size=5, shuffle=False, scale=2.0, mean=1.0, std=4.0)))
    np.testing.assert_allclose(xb, (xf * 2.0 - 1.0) / 4.0, rtol=1e-6, atol=1e-6)


def test_float32_is_gathered_exactly_and_other_dtypes_converted(rng):
    xf = rng.standard_normal((11, 2, 3)).astype(np.float32)
    xb = np.concatenate(list(DataLoader(xf, batch_size=4, shuffle=False)))
    np.testing.assert_array_equal(xb, xf)
    x64 = rng.standard_normal((5, 3))
    xb = next(iter(DataLoader(x64, batch_size=5, shuffle=False)))
    np.testing.assert_array_equal(xb, x64.astype(np.float32))
    yf = rng.standard_normal((5, 2))
    _, yb = next(iter(DataLoader(x64, yf, batch_size=5, shuffle=False)))
    assert yb.dtype == np.float32


def test_reuse_buffers():
    x = ids_dataset(10)
    fresh = list(DataLoader(x, batch_size=4, seed=1))
    assert not np.shares_memory(fresh[0], fresh[1])
    dl = DataLoader(x, np.arange(10), batch_size=4, seed=1, reuse_buffers=True)
    ptrs = set()
    for (xb, yb), ref in zip(dl, fresh):
        np.testing.assert_array_equal(xb, ref)
        np.testing.assert_array_equal(yb, ref[:, 0].astype(np.int64))
        ptrs.add(xb.__array_interface__["data"][0])
    assert len(ptrs) == 1


def test_augment_applied_in_data_dtype(rng):
    x = rng.integers(1, 256, size=(12, 1, 6, 6), dtype=np.uint8)
    dl = DataLoader(x, batch_size=5, shuffle=False, augment=A.RandomHorizontalFlip(1.0))
    xb = np.concatenate(list(dl))
    np.testing.assert_array_equal(xb, x[..., ::-1].astype(np.float32) * np.float32(1 / 255))
    # shape-changing augmentation, seeded per epoch
    aug = A.Compose([A.RandomCrop(4, padding=1), A.GaussianNoise(0.1)])
    a = [b.copy() for b in DataLoader(x, batch_size=5, augment=aug, seed=3, reuse_buffers=True)]
    b = list(DataLoader(x, batch_size=5, augment=aug, seed=3))
    assert a[0].shape == (5, 1, 4, 4) and a[-1].shape == (2, 1, 4, 4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    # float data with an augment that returns its input unchanged still yields a fresh array
    xf = x.astype(np.float32)
    out = list(DataLoader(xf, batch_size=4, shuffle=False, augment=lambda b, r: b))
    np.testing.assert_array_equal(np.concatenate(out), xf)
    assert not np.shares_memory(out[0], out[1])


def test_epoch_does_not_copy_the_dataset(rng):
    x = rng.integers(0, 256, size=(20000, 1, 28, 28), dtype=np.uint8)  # 15.7 MB
    y = rng.integers(0, 10, size=20000)
    dl = DataLoader(x, y, batch_size=128, seed=0, reuse_buffers=True,
                    augment=A.Compose([A.RandomShift(2), A.RandomHorizontalFlip()]))
    tracemalloc.start()
    try:
        for _ in dl:
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # permutation (160 kB) + batch buffers; a float32 copy of x would be 63 MB
    assert peak < x.nbytes / 8, peak


def test_bad_input():
    x = np.zeros((10, 3), np.float32)
    with pytest.raises(ValueError, match="y.*10"):
        DataLoader(x, np.zeros(9))
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(x, batch_size=0)
    with pytest.raises(TypeError, match="batch_size"):
        DataLoader(x, batch_size=2.5)
    with pytest.raises(TypeError, match="augment"):
        DataLoader(x, augment="flip")
    with pytest.raises(ValueError, match="scale"):
        DataLoader(x, scale="imagenet")
    with pytest.raises(ValueError, match="scale"):
        DataLoader(x, scale=0)
    with pytest.raises(ValueError, match="std"):
        DataLoader(x, std=0.0)
    with pytest.raises(ValueError, match="mean/std"):
        DataLoader(x, mean=[0.1, 0.2, 0.3])
    with pytest.raises(TypeError, match="x"):
        DataLoader(np.array(["a", "b"]))
    with pytest.raises(TypeError, match="y"):
        DataLoader(x, np.array(["a"] * 10))
    with pytest.raises(ValueError, match="seed"):
        DataLoader(x, seed=-1)
    with pytest.raises(TypeError, match="augment.*return"):
        list(DataLoader(x, augment=lambda b, r: [1]))
    with pytest.raises(ValueError, match="augment.*samples"):
        list(DataLoader(x, augment=lambda b, r: b[:1]))


def test_gather_kernels_check_indices_and_shapes():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    out = np.zeros((2, 3), np.float32)
    with pytest.raises(IndexError, match="idx"):
        _loader.gather_rows(x, np.array([0, 4], np.int64), out)
    with pytest.raises(IndexError, match="idx"):
        _loader.gather_rows(x, np.array([-1, 0], np.int64), out)
    with pytest.raises(ValueError, match="out"):
        _loader.gather_rows(x, np.array([0, 1, 2], np.int64), out)
    with pytest.raises(ValueError, match="scale"):
        _loader.gather_affine(x, np.array([0, 1], np.int64), out, np.ones(2, np.float32),
                              np.zeros(2, np.float32))
    _loader.gather_rows(x, np.array([3, 1], np.int64), out)
    np.testing.assert_array_equal(out, x[[3, 1]])
