"""Canonical Huffman coding of integer symbol streams (numpy encode, table decode).

Stream layout: u32 alphabet size A, u64 symbol count n, u64 bit count, A code lengths (uint8),
the code bits MSB first, packed (numpy.packbits)."""
import heapq
import struct

import numpy as np

_HEAD = struct.Struct("<IQQ")


def code_lengths(counts):
    """Huffman code lengths (uint8) for the symbol counts (0 for unused symbols; a lone symbol
    gets length 1)."""
    counts = np.asarray(counts, np.int64)
    used = np.flatnonzero(counts)
    lens = np.zeros(counts.size, np.uint8)
    if used.size == 1:
        lens[used] = 1
        return lens
    heap = [(int(counts[s]), int(s), (int(s),)) for s in used]
    heapq.heapify(heap)
    depth = np.zeros(counts.size, np.int64)
    while len(heap) > 1:
        c1, t1, a = heapq.heappop(heap)
        c2, t2, b = heapq.heappop(heap)
        merged = a + b
        depth[list(merged)] += 1
        heapq.heappush(heap, (c1 + c2, min(t1, t2), merged))
    if depth.max(initial=0) > 255:
        raise ValueError("huffman: code length over 255 bits")
    lens[used] = depth[used]
    return lens


def canonical_codes(lens):
    """Canonical codes (uint64) for the code lengths: by (length, symbol), consecutive values."""
    order = np.lexsort((np.arange(lens.size), lens))
    order = order[lens[order] > 0]
    codes = np.zeros(lens.size, np.uint64)
    code, prev = 0, 0
    for s in order:
        code <<= int(lens[s]) - prev
        prev = int(lens[s])
        codes[s] = code
        code += 1
    return codes


def encode(symbols, alphabet):
    """Bytes of the canonical Huffman code of ``symbols`` (ints in [0, alphabet))."""
    s = np.asarray(symbols, np.int64).ravel()
    if s.size and (s.min() < 0 or s.max() >= alphabet):
        raise ValueError(f"huffman: symbols must lie in [0, {alphabet})")
    lens = code_lengths(np.bincount(s, minlength=alphabet))
    codes = canonical_codes(lens)
    total = int(lens[s].astype(np.int64).sum())
    if s.size and total > 0:
        m = int(lens.max())
        ln = lens[s].astype(np.int64)[:, None]
        j = np.arange(m)[None, :]
        shift = np.clip(ln - 1 - j, 0, None).astype(np.uint64)
        bits = ((codes[s][:, None] >> shift) & np.uint64(1)).astype(np.uint8)
        payload = np.packbits(bits[j < ln]).tobytes()
    else:
        payload = b""
    return _HEAD.pack(alphabet, s.size, total) + lens.tobytes() + payload


def decode(data):
    """(symbols int64, bytes consumed) from ``encode``'s bytes; ValueError when they do not
    form a valid stream."""
    if len(data) < _HEAD.size:
        raise ValueError("huffman: truncated header")
    alphabet, n, total = _HEAD.unpack_from(data)
    end = _HEAD.size + alphabet + (total + 7) // 8
    if alphabet > 1 << 24 or len(data) < end:
        raise ValueError("huffman: truncated stream")
    lens = np.frombuffer(data, np.uint8, alphabet, _HEAD.size)
    if n and not lens.any():
        raise ValueError("huffman: no code lengths")
    bits = np.unpackbits(np.frombuffer(data, np.uint8, (total + 7) // 8, _HEAD.size + alphabet))
    out = np.empty(n, np.int64)
    if n == 0:
        return out, end
    codes = canonical_codes(lens)
    m = int(lens.max())
    if np.sum(np.ldexp(1.0, -lens[lens > 0].astype(np.int64))) > 1.0 + 1e-12:
        raise ValueError("huffman: code lengths violate the Kraft inequality")
    if m <= 20:  # table decode: the next m bits index (symbol, length)
        table_sym = np.full(1 << m, -1, np.int64)
        table_len = np.zeros(1 << m, np.int64)
        for s in np.flatnonzero(lens):
            lo = int(codes[s]) << (m - int(lens[s]))
            hi = lo + (1 << (m - int(lens[s])))
            table_sym[lo:hi], table_len[lo:hi] = s, lens[s]
        padded = np.concatenate([bits[:total], np.zeros(m, np.uint8)]).astype(np.int64)
        weights = 1 << np.arange(m - 1, -1, -1)
        # the m-bit window at every bit offset (vectorised), then a sequential walk
        win = np.convolve(padded, weights[::-1], "valid")[:total + 1] if total else np.zeros(1, np.int64)
        syms, lns = table_sym[win].tolist(), table_len[win].tolist()
        pos = 0
        for i in range(n):
            if pos >= total or syms[pos] < 0:
                raise ValueError("huffman: invalid or truncated code bits")
            out[i] = syms[pos]
            pos += lns[pos]
        if pos != total:
            raise ValueError("huffman: bit count does not match the symbols")
        return out, end
    lookup = {(int(lens[s]), int(codes[s])): int(s) for s in np.flatnonzero(lens)}
    pos, b = 0, bits[:total].tolist()
    for i in range(n):
        code, ln = 0, 0
        while True:
            if pos >= total or ln >= m:
                raise ValueError("huffman: invalid or truncated code bits")
            code, ln, pos = (code << 1) | b[pos], ln + 1, pos + 1
            if (ln, code) in lookup:
                out[i] = lookup[(ln, code)]
                break
    return out, end
