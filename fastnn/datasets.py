"""Datasets: MNIST (Keras ``mnist.npz`` or the four IDX files, with a checked, cached download) and
scikit-learn's 8x8 digits (offline, the fallback when MNIST is not at hand).

Nothing here unpickles: ``.npz`` files are read with ``allow_pickle=False``.
"""
import gzip
import hashlib
import os
import struct
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

__all__ = ["load_mnist", "load_digits", "read_idx", "write_idx", "cache_dir", "download_file",
           "MNIST_URL", "MNIST_SHA256"]

# The file keras.datasets.mnist.load_data() fetches, and its published SHA-256.
MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MNIST_IDX = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}

def _urlopen(url, timeout):
    """The one place that opens a URL (a seam for tests: the test suite never uses the network)."""
    import urllib.request  # imported on first download only: it is slow to import
    return urllib.request.urlopen(url, timeout=timeout)


def cache_dir():
    """Where downloads are kept: ``$XDG_CACHE_HOME/fastnn``, by default ``~/.cache/fastnn``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fastnn"


# -- IDX files ------------------------------------------------------------------------------------
# Magic: two zero bytes, a type code, the number of dimensions; then one big-endian uint32 per
# dimension; then the data, big-endian, C order (http://yann.lecun.com/exdb/mnist/).
_IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_CODES = {dt.newbyteorder("=") if dt.itemsize > 1 else dt: code
              for code, dt in _IDX_TYPES.items()}


def _read_maybe_gzip(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: gzip data is truncated or corrupted ({e})") from None
    return raw


def read_idx(path):
    """Read an IDX file (gzip-compressed or not; detected from its content) as a numpy array in
    native byte order. Raises ValueError naming the file when the header or length is wrong."""
    path = Path(path)
    raw = _read_maybe_gzip(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (expected magic 00 00 <type> <ndim>, got "
                         f"{raw[:4].hex(' ') or 'an empty file'})")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x} (expected one of "
                         f"{', '.join(f'0x{c:02x}' for c in _IDX_TYPES)})")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header has 0 dimensions")
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise ValueError(f"{path}: file is truncated (IDX header of {ndim} dimensions needs "
                         f"{start} bytes, file has {len(raw)})")
    dims = struct.unpack(f">{ndim}I", raw[4:start])
    dtype = _IDX_TYPES[code]
    count = int(np.prod(dims, dtype=np.int64))
    expected = count * dtype.itemsize
    if len(raw) - start != expected:
        what = "truncated" if len(raw) - start < expected else "longer than its header says"
        raise ValueError(f"{path}: file is {what}: header says shape {tuple(dims)} of "
                         f"{dtype.name} = {expected} data bytes, file has {len(raw) - start}")
    arr = np.frombuffer(raw, dtype, count=count, offset=start).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # native order, writeable copy


def write_idx(path, array):
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends with ``.gz``)."""
    arr = np.asarray(array)
    native = arr.dtype.newbyteorder("=") if arr.dtype.itemsize > 1 else arr.dtype
    if native not in _IDX_CODES:
        raise TypeError(f"array: IDX stores uint8, int8, int16, int32, float32 or float64, got "
                        f"{arr.dtype}")
    if arr.ndim == 0 or arr.ndim > 255:
        raise ValueError(f"array: IDX needs 1 to 255 dimensions, got shape {arr.shape}")
    header = bytes([0, 0, _IDX_CODES[native], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + np.ascontiguousarray(arr, native.newbyteorder(">")).tobytes()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    with open(path, "wb") as f:
        f.write(data)


# -- MNIST ----------------------------------------------------------------------------------------
def _idx_file(directory, base):
    """The file in ``directory`` holding IDX set ``base``: the usual and the dotted spelling
    ("train-images.idx3-ubyte"), each optionally gzipped."""
    dotted = base.replace("-idx", ".idx")
    for name in (base, base + ".gz", dotted, dotted + ".gz"):
        p = directory / name
        if p.is_file():
            return p
    return None


def _find_mnist(location):
    """A path load_mnist can read at ``location`` (file, or directory with mnist.npz or the four
    IDX files), or None."""
    location = Path(location).expanduser()
    if location.is_file():
        return location
    if location.is_dir():
        if (location / "mnist.npz").is_file():
            return location / "mnist.npz"
        if all(_idx_file(location, b) for b in MNIST_IDX.values()):
            return location
    return None


def _check_mnist(arrays, source):
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 3:
            raise ValueError(f"{source}: x_{split}: expected uint8 images (N, H, W), got "
                             f"{x.dtype} {x.shape}")
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(f"{source}: y_{split}: expected {len(x)} labels, got shape {y.shape}")
        if y.dtype.kind not in "iu" or (len(y) and (y.min() < 0 or y.max() > 9)):
            raise ValueError(f"{source}: y_{split}: expected integer labels 0..9")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _load_mnist_from(path):
    path = Path(path).expanduser()
    if path.is_dir():
        found = _find_mnist(path)
        if found is None:
            missing = [b for b in MNIST_IDX.values() if _idx_file(path, b) is None]
            raise FileNotFoundError(f"{path}: no mnist.npz and missing IDX files {missing} "
                                    "(optionally .gz)")
        if found != path:
            return _load_mnist_from(found)
        arrays = {k: read_idx(_idx_file(path, b)) for k, b in MNIST_IDX.items()}
        return _check_mnist(arrays, path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file or directory")
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with npz:
            files = list(npz.files)
            arrays = {k: npz[k] for k in MNIST_IDX if k in files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable .npz file ({e}); if it was downloaded it may "
                         "be truncated: delete it and fetch it again") from None
    missing = [k for k in MNIST_IDX if k not in arrays]
    if missing:
        raise ValueError(f"{path}: not in the Keras mnist.npz layout: missing arrays {missing} "
                         f"(has {files})")
    return _check_mnist(arrays, path)


def _offline_message(reason):
    env = os.environ.get("FASTNN_DATA")
    return (f"MNIST is not available: {reason}.\n"
            f"Looked in $FASTNN_DATA ({env if env else 'not set'}) and {cache_dir()}.\n"
            f"To fix, get mnist.npz from {MNIST_URL} (SHA-256 {MNIST_SHA256}) — or the four IDX "
            f"files {', '.join(b + '.gz' for b in MNIST_IDX.values())} — and then either\n"
            f"  * put mnist.npz into {cache_dir()}, or\n"
            f"  * set FASTNN_DATA to the directory holding it (or to the file), or\n"
            f"  * call fastnn.datasets.load_mnist(path='/path/to/mnist.npz') (or the IDX "
            f"directory).\n"
            f"fastnn.datasets.load_digits() works offline (needs scikit-learn).")


def download_file(url, dest, sha256, timeout=60, progress=True):
    """Fetch ``url`` into ``dest`` atomically: stream into a temporary file in the same directory,
    check its SHA-256, fsync, then rename. A failed or mismatching download leaves nothing."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as f, _urlopen(url, timeout=timeout) as r:
            total = r.headers.get("Content-Length") if hasattr(r, "headers") else None
            bar = _progress(total, dest.name) if progress else None
            try:
                while True:
                    chunk = r.read(1 << 20)
                    if not chunk:
                        break
                    f.write(chunk)
                    h.update(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
            f.flush()
            os.fsync(f.fileno())
        digest = h.hexdigest()
        if digest != sha256.lower():
            raise ValueError(f"{url}: SHA-256 mismatch (expected {sha256}, got {digest}); the "
                             "download was discarded. Try again, or fetch the file by hand")
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(dest.parent)
    return dest


def _progress(total, name):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=int(total) if total else None, unit="B", unit_scale=True,
                desc=f"downloading {name}", file=sys.stderr, leave=False)


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_mnist(path=None, download=True):
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)``, like keras.datasets.mnist.

    Images are uint8 arrays ``(N, 28, 28)`` with values 0..255 (60000 train, 10000 test); labels
    are uint8 arrays ``(N,)`` with values 0..9 (as Keras returns them; ``DataLoader`` turns
    them into int64 and the images into float32 per batch).

    path: ``mnist.npz`` (Keras layout: x_train, y_train, x_test, y_test) or a directory holding
    it or the four IDX files (``train-images-idx3-ubyte`` etc., optionally ``.gz``).
    With no path: ``$FASTNN_DATA`` (such a file or directory), then ``cache_dir()``; then, if
    ``download``, the Keras copy is fetched into ``cache_dir()`` and its SHA-256 checked. When
    none of that works a FileNotFoundError says what to do.
    """
    if path is not None:
        return _load_mnist_from(path)
    env = os.environ.get("FASTNN_DATA")
    for location in ([Path(env)] if env else []) + [cache_dir()]:
        found = _find_mnist(location)
        if found is not None:
            return _load_mnist_from(found)
    if not download:
        raise FileNotFoundError(_offline_message("not found and download=False"))
    target = cache_dir() / "mnist.npz"
    try:
        download_file(MNIST_URL, target, MNIST_SHA256)
    except OSError as e:  # urllib.error.URLError is an OSError
        reason = getattr(e, "reason", None) or e
        raise FileNotFoundError(_offline_message(f"not found locally and the download failed "
                                                 f"({reason})")) from e
    return _load_mnist_from(target)


# -- digits ---------------------------------------------------------------------------------------
def load_digits(test_fraction=0.2, seed=0):
    """scikit-learn's 8x8 handwritten digits (1797 images, shipped with scikit-learn: offline).

    Returns ``(x_train, y_train), (x_test, y_test)``: images float32 ``(N, 1, 8, 8)`` scaled to
    [0, 1] (the raw values are 0..16), labels int64 0..9. The split is stratified (each class
    contributes ``round(test_fraction * count)`` test images) and fixed by ``seed``.
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction: expected a number in (0, 1), got {test_fraction!r}")
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as e:
        raise ImportError("fastnn.datasets.load_digits needs scikit-learn: "
                          "pip install scikit-learn  (or pip install 'fastnn[demo]')") from e
    d = _sk_load_digits()
    x = (np.asarray(d.images, np.float64) / 16.0).astype(np.float32)[:, None]
    y = np.asarray(d.target, np.int64)
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        test.append(idx[:int(round(len(idx) * float(test_fraction)))])
    is_test = np.zeros(len(y), bool)
    is_test[np.concatenate(test)] = True
    return (x[~is_test], y[~is_test]), (x[is_test], y[is_test])
