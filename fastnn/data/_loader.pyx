# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True
# distutils: language = c++
"""Batch gathers for fastnn.data.DataLoader: copy the rows a shuffled index picks into a batch
buffer, optionally converting to float32 with a per-channel affine map on the way, in one pass
without the GIL. Only the batch is touched, never the whole dataset.

Every index is checked against the dataset length before anything is written (IndexError)."""
from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memcpy

ctypedef fused pixel_t:
    uint8_t
    float


cdef int _check_index(const int64_t[::1] idx, Py_ssize_t n_rows) except -1:
    cdef Py_ssize_t i, bad = -1
    with nogil:
        for i in range(idx.shape[0]):
            if idx[i] < 0 or idx[i] >= n_rows:
                bad = i
                break
    if bad >= 0:
        raise IndexError(f"idx: index {idx[bad]} at position {bad} is out of range for "
                         f"{n_rows} rows")
    return 0


def gather_rows(const pixel_t[:, ::1] x, const int64_t[::1] idx, pixel_t[:, ::1] out):
    """out[i, :] = x[idx[i], :] (same dtype)."""
    cdef Py_ssize_t m = idx.shape[0], F = x.shape[1]
    if out.shape[0] != m or out.shape[1] != F:
        raise ValueError(f"out: expected shape ({m}, {F}), got ({out.shape[0]}, {out.shape[1]})")
    _check_index(idx, x.shape[0])
    if F == 0:
        return
    cdef Py_ssize_t i
    with nogil:
        for i in range(m):
            memcpy(&out[i, 0], &x[idx[i], 0], F * sizeof(pixel_t))


def gather_affine(const pixel_t[:, ::1] x, const int64_t[::1] idx, float[:, ::1] out,
                  const float[::1] scale, const float[::1] shift):
    """out[i, c*P + k] = x[idx[i], c*P + k] * scale[c] + shift[c] as float32, for C channels of P
    elements each (C = len(scale); F = C * P is the row length)."""
    cdef Py_ssize_t m = idx.shape[0], F = x.shape[1], C = scale.shape[0]
    if out.shape[0] != m or out.shape[1] != F:
        raise ValueError(f"out: expected shape ({m}, {F}), got ({out.shape[0]}, {out.shape[1]})")
    if C < 1 or shift.shape[0] != C or F % C != 0:
        raise ValueError(f"scale/shift: expected equal lengths dividing the row length {F}, got "
                         f"{scale.shape[0]} and {shift.shape[0]}")
    _check_index(idx, x.shape[0])
    if F == 0:
        return
    cdef Py_ssize_t P = F // C, i, c, k
    cdef float a, b
    cdef const pixel_t* src
    cdef float* dst
    with nogil:
        for i in range(m):
            src = &x[idx[i], 0]
            dst = &out[i, 0]
            for c in range(C):
                a = scale[c]
                b = shift[c]
                for k in range(P):
                    dst[c * P + k] = <float>src[c * P + k] * a + b
