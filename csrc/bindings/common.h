// Shared checks and the one input conversion of the bindings: every array is checked here (dtype,
// byte order, alignment, ndim, shape, layout, writability) before the GIL is released and a kernel
// runs. Messages name the argument and give the expected versus the actual value.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fastnn/params.h"

namespace fastnn {
namespace py = pybind11;

std::string shape_str(const py::array& a);
std::string shape_str(const std::vector<int64_t>& s);
std::vector<int64_t> shape_of(const py::array& a);

// Raise MemoryError "<name>: cannot allocate N bytes (x GiB) for <what>" when count * itemsize
// bytes overflow or exceed the machine's physical memory: such a buffer can never be filled (with
// memory overcommit the kernel would hand it out and the OOM killer end the process midway), so
// it is refused before anything is allocated.
void check_allocatable(int64_t count, int64_t itemsize, const std::string& name,
                       const std::string& what);

// A new C-contiguous array of `shape` for a binding's result whose size the caller's arguments
// decide (a convolution's output, a gradient): refused first (check_allocatable: MemoryError
// naming `name`, instead of numpy's anonymous one or an allocator abort under ASan).
template <class T>
py::array_t<T> new_array(const std::vector<int64_t>& shape, const std::string& name) {
  int64_t count = 1;
  bool too_big = false;
  for (int64_t d : shape) too_big |= d < 0 || __builtin_mul_overflow(count, d, &count);
  check_allocatable(too_big ? -1 : count, sizeof(T), name, "an output of shape " + shape_str(shape));
  return py::array_t<T>(std::vector<py::ssize_t>(shape.begin(), shape.end()));
}

// Any array-like as an ndarray (an ndarray is taken as it is). TypeError naming `name` when it
// cannot be one; MemoryError naming it when its conversion cannot be allocated.
py::array as_array(const py::handle& obj, const std::string& name);

// The one conversion of an input array: `arr` as a native-endian, aligned, C-contiguous array of
// dtype `dt`, copied only when one of these does not hold already. Values are cast (forcecast):
// callers check the dtype kind first. A copy that cannot be allocated raises MemoryError naming
// `name` and the bytes it needed (never a null array).
py::array c_array(const py::array& arr, const py::dtype& dt, const std::string& name);
template <class T>
py::array_t<T, py::array::c_style> c_array(const py::array& arr, const std::string& name) {
  return py::reinterpret_borrow<py::array_t<T, py::array::c_style>>(
      c_array(arr, py::dtype::of<T>(), name));
}

// Accepts any real floating (or, if allow_int, integer) array-like for `name`; returns a float32
// array, converting only when needed and keeping the caller's strides when no copy is made. Every
// element of the result is native-endian and aligned (a byte-swapped or misaligned array is
// copied). TypeError naming `name` for non-numeric, complex, datetime or (unless allowed) integer
// input; MemoryError naming it when the copy cannot be allocated.
py::array_t<float> as_f32(const py::handle& obj, const std::string& name, bool allow_int = false);

// as_f32, then C-contiguous (a read-only input a kernel reads as one block).
py::array_t<float> c_f32(const py::handle& obj, const std::string& name, bool allow_int = false);

// c_f32 of exactly n values (a bias, per-channel scales): ValueError naming `name` otherwise.
py::array_t<float> vec_f32(const py::handle& obj, const std::string& name, int64_t n);

// ValueError naming `name` unless every element of `a` is at an address its dtype's alignment
// divides (numpy's aligned flag): an array written in place cannot be replaced by a copy.
void check_aligned(const py::array& a, const std::string& name);

// True when `a`'s dtype is stored in this machine's byte order (or has none, as uint8).
bool native_byte_order(const py::array& a);

void check_ndim(const py::array& a, const std::string& name, int ndim);
// -1 in `expected` matches any extent (so never pass a computed extent that may be negative).
void check_shape(const py::array& a, const std::string& name, const std::vector<int64_t>& expected);

// An array used as it is, never a silent copy (a parameter, or a buffer a kernel writes):
// numpy.ndarray, float32 in native byte order, aligned, C-contiguous, of exactly `expected` shape
// (-1: any extent), writeable when `writeable`. TypeError for the type or dtype (byte order
// included), ValueError for shape, layout, alignment or a read-only array; each names `name`.
py::array_t<float> exact_f32(const py::handle& obj, const std::string& name,
                             const std::vector<int64_t>& expected, bool writeable = false);

// A buffer the kernel writes: exact_f32(..., writeable = true).
py::array_t<float> check_out(const py::handle& obj, const std::string& name,
                             const std::vector<int64_t>& expected);

// An integer array a kernel updates in place (a histogram, step counters): numpy.ndarray of
// exactly dtype T (native byte order), aligned, C-contiguous and writeable; 1-D of any length when
// `expected` is empty, else of that shape.
template <class T>
py::array_t<T> exact_int_inplace(const py::handle& obj, const std::string& name, const char* want,
                                 const std::vector<int64_t>& expected = {});

// Two arrays overlap in memory (conservative: by byte extents).
bool overlaps(const py::array& a, const py::array& b);

// A buffer a kernel writes must not share memory with what it reads (the result would depend on
// the order of the reads and writes): ValueError "<name>: must not share memory with <other>"
// for the first of `inputs` that `out` overlaps (empty arrays never do).
void check_no_alias(const py::array& out, const std::string& name,
                    const std::vector<std::pair<py::array, std::string>>& inputs);

// A 2-D float32 array as a strided view (strides in elements; any sign, as numpy allows).
MatView mat_view(const py::array_t<float>& a);

// a * b and a + b for the size checks of the bindings: false when the result overflows int64.
inline bool mul_ok(int64_t a, int64_t b, int64_t* out) { return !__builtin_mul_overflow(a, b, out); }
inline bool add_ok(int64_t a, int64_t b, int64_t* out) { return !__builtin_add_overflow(a, b, out); }

// An int argument of a binding in [lo, hi]; ValueError naming it, the range and the value.
void check_range(int64_t v, const std::string& name, int64_t lo, int64_t hi);

}  // namespace fastnn
