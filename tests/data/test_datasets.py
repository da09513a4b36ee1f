"""fastnn.datasets: IDX parsing, MNIST lookup order, checked download (no network), digits."""
import gzip
import hashlib
import os
import struct
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from fastnn import datasets as D

REPO = Path(__file__).resolve().parents[2]


def shared_mnist():
    """The machine's MNIST copy: $FASTNN_DATA, then ../shared/data/mnist.npz from the repo root
    (or from an ancestor, for git worktrees nested one level deeper)."""
    env = os.environ.get("FASTNN_DATA")
    cands = [Path(env) / "mnist.npz", Path(env)] if env else []
    cands += [p / "shared" / "data" / "mnist.npz" for p in [REPO.parent] + list(REPO.parents[1:3])]
    for c in cands:
        if c.is_file():
            return c
    return None


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No FASTNN_DATA, a private cache directory, and any network access fails the test."""
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def no_network(url, timeout=None):
        if not str(url).startswith("file:"):
            raise AssertionError(f"test tried to open {url}")
        import urllib.request
        return urllib.request.urlopen(url, timeout=timeout)

    monkeypatch.setattr(D, "_urlopen", no_network)
    return tmp_path


def fake_mnist(rng, n_train=12, n_test=5):
    return {"x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
            "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "y_test": rng.integers(0, 10, n_test).astype(np.uint8)}


def assert_same(loaded, arrays):
    (xtr, ytr), (xte, yte) = loaded
    for got, key in ((xtr, "x_train"), (ytr, "y_train"), (xte, "x_test"), (yte, "y_test")):
        np.testing.assert_array_equal(got, arrays[key])
        assert got.dtype == arrays[key].dtype


# -- IDX ------------------------------------------------------------------------------------------
def test_idx_known_bytes(tmp_path):
    """A file built by hand from the format description (independent of write_idx)."""
    data = np.arange(24, dtype=np.int16).reshape(2, 3, 4) - 5
    raw = b"\x00\x00\x0b\x03" + struct.pack(">III", 2, 3, 4) + data.astype(">i2").tobytes()
    (tmp_path / "a").write_bytes(raw)
    got = D.read_idx(tmp_path / "a")
    assert got.dtype == np.int16 and got.dtype.isnative and got.flags.writeable
    np.testing.assert_array_equal(got, data)
    (tmp_path / "b.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 3)
                                                  + bytes([7, 8, 9])))
    np.testing.assert_array_equal(D.read_idx(tmp_path / "b.gz"), [7, 8, 9])


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, rng, dtype, gz):
    arr = (rng.standard_normal((3, 5, 2)) * 50).astype(dtype)
    p = tmp_path / ("t.idx" + (".gz" if gz else ""))
    D.write_idx(p, arr)
    assert (p.read_bytes()[:2] == b"\x1f\x8b") == gz
    got = D.read_idx(p)
    assert got.dtype == arr.dtype and got.shape == arr.shape
    np.testing.assert_array_equal(got, arr)


def test_idx_bad_files(tmp_path):
    good = b"\x00\x00\x08\x02" + struct.pack(">II", 2, 3) + bytes(6)
    cases = {"magic": (b"\x01\x00\x08\x02" + good[4:], "not an IDX file"),
             "empty": (b"", "not an IDX file"),
             "code": (b"\x00\x00\x07\x02" + good[4:], "unknown IDX type code 0x07"),
             "ndim0": (b"\x00\x00\x08\x00", "0 dimensions"),
             "short_header": (good[:9], "truncated"),
             "short_data": (good[:-1], "truncated.*6 data bytes, file has 5"),
             "long_data": (good + b"\x00", "longer than its header"),
             "bad_gzip": (gzip.compress(good)[:-6], "gzip data is truncated or corrupted")}
    for name, (raw, msg) in cases.items():
        p = tmp_path / name
        p.write_bytes(raw)
        with pytest.raises(ValueError, match=msg) as info:
            D.read_idx(p)
        assert name in str(info.value)  # the message names the file
    with pytest.raises(TypeError, match="array"):
        D.write_idx(tmp_path / "x", np.zeros(3, np.int64))


# -- MNIST from files -----------------------------------------------------------------------------
@pytest.mark.parametrize("gz,dotted", [(False, False), (True, False), (True, True)])
def test_mnist_from_idx_directory(tmp_path, rng, gz, dotted):
    arrays = fake_mnist(rng)
    for key, base in D.MNIST_IDX.items():
        name = (base.replace("-idx", ".idx") if dotted else base) + (".gz" if gz else "")
        D.write_idx(tmp_path / name, arrays[key])
    assert_same(D.load_mnist(tmp_path), arrays)


def test_mnist_from_npz_and_lookup_order(isolated, rng, monkeypatch):
    a, b = fake_mnist(rng), fake_mnist(rng, 7, 3)
    np.savez(isolated / "a.npz", **a)
    assert_same(D.load_mnist(isolated / "a.npz"), a)
    # cache directory
    D.cache_dir().mkdir(parents=True)
    np.savez(D.cache_dir() / "mnist.npz", **a)
    assert_same(D.load_mnist(), a)
    # $FASTNN_DATA (a directory with mnist.npz) wins over the cache
    (isolated / "env").mkdir()
    np.savez(isolated / "env" / "mnist.npz", **b)
    monkeypatch.setenv("FASTNN_DATA", str(isolated / "env"))
    assert_same(D.load_mnist(), b)
    # ... and may name the file itself
    monkeypatch.setenv("FASTNN_DATA", str(isolated / "a.npz"))
    assert_same(D.load_mnist(), a)


def test_mnist_bad_files(tmp_path, rng):
    a = fake_mnist(rng)
    del a["y_test"]
    np.savez(tmp_path / "missing.npz", **a)
    with pytest.raises(ValueError, match=r"missing arrays \['y_test'\]"):
        D.load_mnist(tmp_path / "missing.npz")
    a = fake_mnist(rng)
    a["y_train"] = a["y_train"][:-1]
    np.savez(tmp_path / "len.npz", **a)
    with pytest.raises(ValueError, match="y_train"):
        D.load_mnist(tmp_path / "len.npz")
    a = fake_mnist(rng)
    a["x_test"] = a["x_test"].astype(np.float32)
    np.savez(tmp_path / "dtype.npz", **a)
    with pytest.raises(ValueError, match="x_test.*uint8"):
        D.load_mnist(tmp_path / "dtype.npz")
    good = tmp_path / "good.npz"
    np.savez(good, **fake_mnist(rng))
    (tmp_path / "trunc.npz").write_bytes(good.read_bytes()[:500])
    with pytest.raises(ValueError, match="trunc.npz.*not a readable .npz"):
        D.load_mnist(tmp_path / "trunc.npz")
    np.savez(tmp_path / "obj.npz", x_train=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="obj.npz"):  # never unpickles
        D.load_mnist(tmp_path / "obj.npz")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(FileNotFoundError, match="IDX"):
        D.load_mnist(tmp_path / "empty_dir")
    with pytest.raises(FileNotFoundError):
        D.load_mnist(tmp_path / "nope.npz")


# -- download -------------------------------------------------------------------------------------
def test_download_checks_sha256_and_caches_atomically(isolated, rng, monkeypatch):
    arrays = fake_mnist(rng)
    src = isolated / "served.npz"
    np.savez(src, **arrays)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    monkeypatch.setattr(D, "MNIST_URL", src.as_uri())
    monkeypatch.setattr(D, "MNIST_SHA256", digest)
    assert_same(D.load_mnist(), arrays)
    cached = D.cache_dir() / "mnist.npz"
    assert cached.read_bytes() == src.read_bytes()
    assert sorted(p.name for p in D.cache_dir().iterdir()) == ["mnist.npz"]  # no temp left
    # second call reads the cache, never the URL
    monkeypatch.setattr(D, "MNIST_URL", "https://example.invalid/mnist.npz")
    assert_same(D.load_mnist(), arrays)


def test_download_sha256_mismatch_leaves_nothing(isolated, rng, monkeypatch):
    src = isolated / "served.npz"
    np.savez(src, **fake_mnist(rng))
    monkeypatch.setattr(D, "MNIST_URL", src.as_uri())
    monkeypatch.setattr(D, "MNIST_SHA256", "0" * 64)
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        D.load_mnist()
    assert list(D.cache_dir().iterdir()) == []


def test_offline_message_says_what_to_do(isolated, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(D, "_urlopen", offline)
    for kwargs in ({}, {"download": False}):
        with pytest.raises(FileNotFoundError) as info:
            D.load_mnist(**kwargs)
        msg = str(info.value)
        for needle in ("FASTNN_DATA", "path=", D.MNIST_URL, D.MNIST_SHA256, str(D.cache_dir()),
                       "load_digits"):
            assert needle in msg, needle
        assert ("download=False" if kwargs else "name resolution") in msg
    assert not D.cache_dir().exists() or list(D.cache_dir().iterdir()) == []


# -- the real file --------------------------------------------------------------------------------
def test_real_mnist():
    path = shared_mnist()
    if path is None:
        pytest.skip("MNIST not found ($FASTNN_DATA or ../shared/data/mnist.npz)")
    (xtr, ytr), (xte, yte) = D.load_mnist(path)
    assert xtr.shape == (60000, 28, 28) and xte.shape == (10000, 28, 28)
    assert xtr.dtype == np.uint8 and ytr.dtype == np.uint8
    assert ytr.shape == (60000,) and yte.shape == (10000,)
    assert set(np.unique(ytr)) == set(range(10))
    assert 5000 < np.bincount(ytr).min() and xtr.max() == 255 and xtr.min() == 0


# -- digits ---------------------------------------------------------------------------------------
def test_digits():
    (xtr, ytr), (xte, yte) = D.load_digits()
    assert xtr.shape[1:] == (1, 8, 8) and xtr.dtype == np.float32
    assert ytr.dtype == np.int64 and len(xtr) + len(xte) == 1797
    assert 0.0 <= xtr.min() and xtr.max() == 1.0
    assert abs(len(xte) / 1797 - 0.2) < 0.01
    assert np.all(np.abs(np.bincount(yte) - 0.2 * np.bincount(np.concatenate([ytr, yte]))) <= 1)
    # fixed split for a seed; disjoint; another seed differs
    (xtr2, _), (xte2, _) = D.load_digits()
    np.testing.assert_array_equal(xte, xte2)
    (_, _), (xte3, _) = D.load_digits(seed=1)
    assert not np.array_equal(xte, xte3)
    rows_tr = {r.tobytes() for r in xtr}
    assert sum(r.tobytes() in rows_tr for r in xte) < 20  # digits has a few duplicate images


def test_digits_without_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        D.load_digits()
