"""The Deep Compression file (save_compressed), read back by fastnn.load.

Layout (version 2): MAGIC, u64 header length, one byte naming the header's codec (0 raw JSON,
1 lzma of it: whichever is smaller; the architecture and the stream descriptors are ~7% of a
LeNet-300-100 file as raw JSON), the header, the streams, SHA-256 of all bytes before it.
Version 1 files (MAGIC ``FNDC\x01``, a raw JSON header without the codec byte) still load.
A clustered weight is stored as its non-zero positions (relative gaps of at most 255, with a
filler entry when a gap is longer) and cluster indices (the filler has its own symbol), plus the
float32 codebook; other float tensors as float16 when that round-trips exactly, else float32.
Each stream is stored with the smallest of: canonical Huffman (symbol streams), lzma, raw."""
import hashlib
import json
import lzma
import struct

import numpy as np

from fastnn.compress import _huffman
from fastnn.nn.module import Module

MAGIC = b"FNDC\x02\n"
MAGIC_V1 = b"FNDC\x01\n"
_HEAD_CODECS = {0: lambda b: b, 1: lzma.decompress}
GAP = 255  # largest relative gap of the 8-bit position stream


class _Writer:
    def __init__(self):
        self.chunks, self.size = [], 0

    def stream(self, data, symbols=None, alphabet=None):
        """Store bytes (or a symbol stream) with the smallest codec; returns its descriptor."""
        cands = [("raw", data), ("lzma", lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))]
        if symbols is not None:
            cands.append(("huffman", _huffman.encode(symbols, alphabet)))
        codec, blob = min(cands, key=lambda c: len(c[1]))
        desc = {"codec": codec, "offset": self.size, "length": len(blob), "raw": len(data)}
        self.chunks.append(blob)
        self.size += len(blob)
        return desc


def _gaps(pos, fill_symbol, idx):
    """(gap stream, symbol stream) for flat positions `pos` (ascending) with symbols `idx`."""
    g = np.diff(pos, prepend=-1) - 1
    nfill = g // (GAP + 1)
    rem = g - nfill * (GAP + 1)
    count = nfill + 1
    gaps = np.full(int(count.sum()), GAP, np.int64)
    syms = np.full(gaps.size, fill_symbol, np.int64)
    last = np.cumsum(count) - 1
    gaps[last], syms[last] = rem, idx
    return gaps.astype(np.uint8), syms


def _small_float(v):
    h = v.astype(np.float16)
    return (h, "float16") if np.array_equal(h.astype(np.float32), v, equal_nan=True) else \
        (v, "float32")


def save_compressed(model, path):
    """Write ``model`` as a Deep Compression file; returns its size in bytes."""
    if not isinstance(model, Module):
        raise TypeError(f"save_compressed: model: expected a fastnn.nn.Module, got "
                        f"{type(model).__name__}")
    arch = json.dumps(model.to_spec())
    params = dict(model.named_parameters())
    w = _Writer()
    entries, masks, frozen = [], [], [n for n, p in params.items() if not p.requires_grad]
    for key, v in model.state_dict().items():
        v = np.ascontiguousarray(v)
        p = params.get(key)
        e = {"key": key, "shape": list(v.shape), "dtype": str(v.dtype)}
        if p is not None and p.cluster is not None:
            idx, c = p.cluster
            flat = idx.ravel()
            pos = np.flatnonzero(flat >= 0)
            gaps, syms = _gaps(pos, c.size, flat[pos])
            e.update(kind="shared", n=int(gaps.size), k=int(c.size),
                     codebook=w.stream(c.astype("<f4").tobytes()),
                     gaps=w.stream(gaps.tobytes(), gaps, GAP + 1),
                     index=w.stream(syms.astype("<u2").tobytes(), syms, c.size + 1))
            if p.mask is not None:
                masks.append(key)
        elif v.dtype.kind == "f":
            small, dt = _small_float(v.astype(np.float32))
            e.update(kind="dense", store=dt, data=w.stream(small.astype("<" + small.dtype.str[1:])
                                                           .tobytes()))
        else:
            e.update(kind="raw", data=w.stream(v.astype(v.dtype.newbyteorder("<")).tobytes()))
        if p is not None and p.mask is not None and e["kind"] != "shared":
            e["mask"] = w.stream(np.packbits(np.asarray(p.mask).ravel() != 0).tobytes())
            masks.append(key)
        entries.append(e)
    head = json.dumps({"architecture": arch, "training": bool(model.training), "frozen": frozen,
                       "masks": masks, "tensors": entries}, separators=(",", ":")).encode()
    packed = lzma.compress(head, preset=9 | lzma.PRESET_EXTREME)
    head = b"\x01" + packed if len(packed) < len(head) else b"\x00" + head
    body = MAGIC + struct.pack("<Q", len(head)) + head + b"".join(w.chunks)
    data = body + hashlib.sha256(body).digest()
    from fastnn.io import _atomic_write
    from pathlib import Path
    _atomic_write(Path(path), data)
    return len(data)


def _stream(payload, desc, bad):
    try:
        off, ln, raw = int(desc["offset"]), int(desc["length"]), int(desc["raw"])
        blob = payload[off:off + ln]
        if off < 0 or len(blob) != ln:
            raise ValueError("stream outside the file")
        if desc["codec"] == "raw":
            out = blob
        elif desc["codec"] == "lzma":
            out = lzma.decompress(blob)
        elif desc["codec"] == "huffman":
            syms, _ = _huffman.decode(blob)
            return syms
        else:
            raise ValueError(f"unknown codec {desc['codec']!r}")
    except (KeyError, TypeError, ValueError, lzma.LZMAError) as e:
        raise ValueError(f"{bad} (bad stream: {e})") from None
    if len(out) != raw:
        raise ValueError(f"{bad} (stream of {len(out)} bytes, expected {raw})")
    return out


def read_compressed(data, path):
    """(metadata, tensors) of a Deep Compression file's bytes, in fastnn.io's form."""
    bad = f"{path}: compressed file is truncated or corrupted"
    if len(data) < len(MAGIC) + 8 + 32 or hashlib.sha256(data[:-32]).digest() != data[-32:]:
        raise ValueError(f"{bad} (checksum mismatch)")
    version = data[:len(MAGIC)]
    if version not in (MAGIC, MAGIC_V1):
        raise ValueError(f"{path}: not a fastnn Deep Compression file of a known version "
                         f"(starts with {version!r})")
    (n,) = struct.unpack_from("<Q", data, len(MAGIC))
    start = len(MAGIC) + 8
    try:
        head = data[start:start + n]
        if version == MAGIC:  # the codec byte, then the header
            if not head or head[0] not in _HEAD_CODECS:
                raise ValueError(f"unknown header codec {head[:1]!r}")
            head = _HEAD_CODECS[head[0]](head[1:])
        head = json.loads(head.decode())
        payload = data[start + n:-32]
        tensors, entries = {}, head["tensors"]
        for e in entries:
            key, shape = e["key"], tuple(e["shape"])
            size = int(np.prod(shape, dtype=np.int64))
            if e["kind"] == "shared":
                c = np.frombuffer(_bytes(_stream(payload, e["codebook"], bad), "<f4"), "<f4")
                gaps = _ints(_stream(payload, e["gaps"], bad), np.uint8)
                syms = _ints(_stream(payload, e["index"], bad), "<u2")
                if gaps.size != syms.size or (syms.size and syms.max() > c.size):
                    raise ValueError("index and position streams do not match")
                pos = np.cumsum(gaps.astype(np.int64) + 1) - 1
                if pos.size and pos[-1] >= size:
                    raise ValueError(f"position {pos[-1]} outside {shape}")
                flat = np.zeros(size, np.float32)
                keep = syms < c.size
                flat[pos[keep]] = c[syms[keep]]
                tensors[f"model/{key}"] = flat.reshape(shape)
                if key in head["masks"]:
                    m = np.zeros(size, np.float32)
                    m[pos[keep]] = 1
                    tensors[f"mask/{key}"] = m.reshape(shape)
                continue
            dt = np.dtype(e.get("store", e["dtype"])).newbyteorder("<")
            v = np.frombuffer(_stream(payload, e["data"], bad), dt)
            tensors[f"model/{key}"] = v.astype(np.dtype(e["dtype"])).reshape(shape)
            if "mask" in e:
                bits = np.unpackbits(np.frombuffer(_stream(payload, e["mask"], bad), np.uint8))
                tensors[f"mask/{key}"] = bits[:size].astype(np.float32).reshape(shape)
        metadata = {"format": "fastnn", "architecture": head["architecture"],
                    "model": json.dumps({"training": head["training"], "frozen": head["frozen"],
                                         "masks": head["masks"]})}
    except (KeyError, TypeError, ValueError, UnicodeDecodeError, lzma.LZMAError) as e:
        raise ValueError(f"{bad} ({e})") from None
    return metadata, tensors


def _bytes(x, dt):
    return x if isinstance(x, bytes) else np.asarray(x).astype(dt).tobytes()


def _ints(x, dt):
    return np.frombuffer(x, dt).astype(np.int64) if isinstance(x, bytes) else x
