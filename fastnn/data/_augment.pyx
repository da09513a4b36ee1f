# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True
# distutils: language = c++
"""Augmentation kernels on NCHW batches (uint8 or float32), the pixel loops of fastnn.data.augment.

Contract: the Python wrapper (augment.py) checks dtypes, shapes, contiguity and overlap and draws
every random number from a numpy Generator; these kernels only apply the drawn per-sample
parameters, without the GIL. Each kernel re-checks the shapes it relies on for memory safety and
raises ValueError, so a direct call cannot read or write out of bounds either.
"""
import numpy as np

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

ctypedef fused pixel_t:
    uint8_t
    float


def translate(const pixel_t[:, :, :, ::1] x, pixel_t[:, :, :, ::1] out,
              const int64_t[::1] oy, const int64_t[::1] ox):
    """out[n, c, i, j] = x[n, c, i + oy[n], j + ox[n]] where that lies inside x, else 0.

    One kernel serves random crop with zero padding (oy = top - padding) and random shift by
    (dy, dx) with zero fill (oy = -dy). out may have a different H and W than x (the crop size);
    it must not overlap x (checked by the caller)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3]
    if out.shape[0] != N or out.shape[1] != C:
        raise ValueError(f"out: expected shape ({N}, {C}, H, W), got "
                         f"({out.shape[0]}, {out.shape[1]}, {OH}, {OW})")
    if oy.shape[0] != N or ox.shape[0] != N:
        raise ValueError(f"oy/ox: expected {N} offsets each, got {oy.shape[0]} and {ox.shape[0]}")
    if OW < 1 or OH < 1:
        return
    cdef Py_ssize_t n, c, i, si, dy, dx, j0, j1
    cdef size_t px = sizeof(pixel_t)
    cdef pixel_t* orow
    with nogil:
        for n in range(N):
            # clamp: any offset beyond these gives an all-zero sample; avoids index overflow
            dy = min(max(oy[n], -OH), H)
            dx = min(max(ox[n], -OW), W)
            # output columns j with 0 <= j + dx < W
            j0 = -dx if dx < 0 else 0
            j1 = W - dx if W - dx < OW else OW
            if j0 > OW:
                j0 = OW
            if j1 < j0:
                j1 = j0
            for c in range(C):
                for i in range(OH):
                    orow = &out[n, c, i, 0]
                    si = i + dy
                    if si < 0 or si >= H or j0 == j1:
                        memset(orow, 0, OW * px)
                        continue
                    if j0 > 0:
                        memset(orow, 0, j0 * px)
                    memcpy(orow + j0, &x[n, c, si, j0 + dx], (j1 - j0) * px)
                    if j1 < OW:
                        memset(orow + j1, 0, (OW - j1) * px)


def hflip(const pixel_t[:, :, :, ::1] x, pixel_t[:, :, :, ::1] out, const uint8_t[::1] flip):
    """out[n] = x[n] mirrored left-right where flip[n] != 0, else a copy. out may be x itself
    (in place); any other overlap is excluded by the caller."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    if out.shape[0] != N or out.shape[1] != C or out.shape[2] != H or out.shape[3] != W:
        raise ValueError(f"out: expected shape ({N}, {C}, {H}, {W}), got "
                         f"({out.shape[0]}, {out.shape[1]}, {out.shape[2]}, {out.shape[3]})")
    if flip.shape[0] != N:
        raise ValueError(f"flip: expected {N} flags, got {flip.shape[0]}")
    if W < 1 or H < 1:
        return
    cdef Py_ssize_t n, c, i, j
    cdef pixel_t a, b
    cdef const pixel_t* src
    cdef pixel_t* dst
    with nogil:
        for n in range(N):
            for c in range(C):
                for i in range(H):
                    src = &x[n, c, i, 0]
                    dst = &out[n, c, i, 0]
                    if flip[n]:
                        # read both ends before writing: correct in place too
                        for j in range(W // 2):
                            a = src[j]
                            b = src[W - 1 - j]
                            dst[j] = b
                            dst[W - 1 - j] = a
                        if W % 2:
                            dst[W // 2] = src[W // 2]
                    elif <const void*>dst != <const void*>src:
                        memcpy(dst, src, W * sizeof(pixel_t))


def add_noise(const pixel_t[:, ::1] x, pixel_t[:, ::1] out, const uint32_t[:, ::1] bits,
              const float[::1] quantiles, float sigma, float lo, float hi, bint clip):
    """out = x + sigma * z, z standard normal drawn by inverse transform sampling: the top bits of
    each uniform 32-bit word pick a bin of the piecewise-linear normal quantile table
    ``quantiles`` (2^B + 1 knots), the low bits interpolate inside it. Clipped to [lo, hi] when
    clip (always for uint8, where the result is also rounded to the nearest integer).
    Element-wise, so out may be x itself."""
    cdef Py_ssize_t N = x.shape[0], F = x.shape[1], K = quantiles.shape[0] - 1
    if out.shape[0] != N or out.shape[1] != F:
        raise ValueError(f"out: expected shape ({N}, {F}), got ({out.shape[0]}, {out.shape[1]})")
    if bits.shape[0] != N or bits.shape[1] != F:
        raise ValueError(f"bits: expected shape ({N}, {F}), got "
                         f"({bits.shape[0]}, {bits.shape[1]})")
    cdef int shift = 0
    while shift < 32 and (<Py_ssize_t>1 << (32 - shift)) > K:
        shift += 1
    if K < 2 or (<Py_ssize_t>1 << (32 - shift)) != K:
        raise ValueError(f"quantiles: expected 2^B + 1 knots (B >= 1), got {K + 1}")
    cdef uint32_t frac_mask = (<uint32_t>1 << shift) - 1
    cdef float frac_scale = 1.0 / (<double>(<uint64_t>1 << shift))
    cdef Py_ssize_t n, k
    cdef uint32_t u, i
    cdef float v, z, q0
    cdef bint is_u8 = pixel_t is uint8_t
    if is_u8:
        lo = lo if lo > 0.0 else 0.0
        hi = hi if hi < 255.0 else 255.0
        clip = True
    with nogil:
        for n in range(N):
            for k in range(F):
                u = bits[n, k]
                i = u >> shift
                q0 = quantiles[i]
                z = q0 + <float><int>(u & frac_mask) * frac_scale * (quantiles[i + 1] - q0)
                v = <float>x[n, k] + sigma * z
                if clip:
                    v = lo if v < lo else v
                    v = hi if v > hi else v
                if pixel_t is uint8_t:
                    out[n, k] = <uint8_t>(v + 0.5)  # v in [0, 255]: round half up
                else:
                    out[n, k] = v


cdef float _U8F[256]
for _i in range(256):
    _U8F[_i] = _i


def affine(const pixel_t[:, :, :, ::1] x, pixel_t[:, :, :, ::1] out, const double[:, ::1] mats):
    """Inverse-mapped affine warp, bilinear, zero fill (scipy.ndimage.affine_transform with
    order=1, mode="constant"): out[n, c, i, j] samples x[n, c] at row r = m0*i + m1*j + m2 and
    column q = m3*i + m4*j + m5 (m = mats[n]); a point outside [0, H-1] x [0, W-1] gives 0.
    uint8 results are rounded to nearest. out must not overlap x (checked by the caller)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3]
    if out.shape[0] != N or out.shape[1] != C:
        raise ValueError(f"out: expected shape ({N}, {C}, H, W), got "
                         f"({out.shape[0]}, {out.shape[1]}, {OH}, {OW})")
    if mats.shape[0] != N or mats.shape[1] != 6:
        raise ValueError(f"mats: expected shape ({N}, 6), got ({mats.shape[0]}, {mats.shape[1]})")
    cdef Py_ssize_t n, c, i, j, r0, q0, dr, dq
    cdef double r, q, m0, m1, m2, m3, m4, m5, eps = 1e-9, rmax = H - 1, qmax = W - 1
    cdef float fr, fq, v, top, bot
    cdef const pixel_t* img
    cdef const pixel_t* p
    cdef pixel_t* orow
    if OH < 1 or OW < 1:
        return
    with nogil:
        for n in range(N):
            m0, m1, m2 = mats[n, 0], mats[n, 1], mats[n, 2]
            m3, m4, m5 = mats[n, 3], mats[n, 4], mats[n, 5]
            for c in range(C):
                img = &x[n, c, 0, 0] if H > 0 and W > 0 else NULL
                for i in range(OH):
                    orow = &out[n, c, i, 0]
                    r = m0 * i + m2
                    q = m3 * i + m5
                    for j in range(OW):
                        # written so that a NaN coordinate (a direct call) counts as outside
                        if not (r >= -eps and r <= rmax + eps and q >= -eps and q <= qmax + eps):
                            orow[j] = 0
                        else:
                            # r + eps <= rmax + 2 eps < H: r0 and q0 are in range
                            r0 = <Py_ssize_t>(r + eps)
                            q0 = <Py_ssize_t>(q + eps)
                            fr = <float>(r - r0)
                            fq = <float>(q - q0)
                            dr = W if r0 + 1 < H else 0
                            dq = 1 if q0 + 1 < W else 0
                            p = img + r0 * W + q0
                            if pixel_t is uint8_t:  # a table load beats an int-to-float convert
                                top = _U8F[p[0]] + fq * (_U8F[p[dq]] - _U8F[p[0]])
                                bot = _U8F[p[dr]] + fq * (_U8F[p[dr + dq]] - _U8F[p[dr]])
                            else:
                                top = p[0] + fq * (p[dq] - p[0])
                                bot = p[dr] + fq * (p[dr + dq] - p[dr])
                            v = top + fr * (bot - top)
                            if pixel_t is uint8_t:
                                v = v + 0.5
                                if v > 255:
                                    v = 255
                            orow[j] = <pixel_t>v
                        r = r + m1
                        q = q + m4


def affine_shared(const pixel_t[:, :, :, ::1] x, pixel_t[:, :, :, ::1] out,
                  const double[::1] mat):
    """``affine`` with one matrix for every sample: the sample points, their four neighbours'
    offsets and the bilinear weights are computed once (a table per output pixel) and applied to
    all N*C images; same results as ``affine`` with the matrix repeated."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3]
    if out.shape[0] != N or out.shape[1] != C:
        raise ValueError(f"out: expected shape ({N}, {C}, H, W), got "
                         f"({out.shape[0]}, {out.shape[1]}, {OH}, {OW})")
    if mat.shape[0] != 6:
        raise ValueError(f"mat: expected 6 values, got {mat.shape[0]}")
    if OH < 1 or OW < 1 or N < 1 or C < 1:
        return
    cdef Py_ssize_t P = OH * OW
    cdef int64_t[::1] base = np.empty(P, np.int64)
    cdef int32_t[::1] step = np.empty(P, np.int32)  # dq in the low bit, dr above it
    cdef float[::1] wq = np.empty(P, np.float32)
    cdef float[::1] wr = np.empty(P, np.float32)
    cdef Py_ssize_t n, c, i, j, k, r0, q0, dr, dq
    cdef double r, q, eps = 1e-9, rmax = H - 1, qmax = W - 1
    cdef float fr, fq, v, top, bot
    cdef const pixel_t* img
    cdef const pixel_t* p
    cdef pixel_t* o
    with nogil:
        for i in range(OH):
            r = mat[0] * i + mat[2]
            q = mat[3] * i + mat[5]
            for j in range(OW):
                k = i * OW + j
                if not (r >= -eps and r <= rmax + eps and q >= -eps and q <= qmax + eps):
                    base[k] = -1
                else:
                    r0 = <Py_ssize_t>(r + eps)
                    q0 = <Py_ssize_t>(q + eps)
                    base[k] = r0 * W + q0
                    step[k] = (<int32_t>(W if r0 + 1 < H else 0) << 1) | (1 if q0 + 1 < W else 0)
                    wr[k] = <float>(r - r0)
                    wq[k] = <float>(q - q0)
                r = r + mat[1]
                q = q + mat[4]
        for n in range(N):
            for c in range(C):
                img = &x[n, c, 0, 0]
                o = &out[n, c, 0, 0]
                for k in range(P):
                    if base[k] < 0:
                        o[k] = 0
                        continue
                    p = img + base[k]
                    dq = step[k] & 1
                    dr = step[k] >> 1
                    fq = wq[k]
                    fr = wr[k]
                    if pixel_t is uint8_t:
                        top = _U8F[p[0]] + fq * (_U8F[p[dq]] - _U8F[p[0]])
                        bot = _U8F[p[dr]] + fq * (_U8F[p[dr + dq]] - _U8F[p[dr]])
                    else:
                        top = p[0] + fq * (p[dq] - p[0])
                        bot = p[dr] + fq * (p[dr + dq] - p[dr])
                    v = top + fr * (bot - top)
                    if pixel_t is uint8_t:
                        v = v + 0.5
                        if v > 255:
                            v = 255
                    o[k] = <pixel_t>v
