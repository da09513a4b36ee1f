// Shared checks for the bindings: every array is checked here (dtype, ndim, shape, layout,
// writability) before the GIL is released and a kernel runs. Messages name the argument and give
// the expected versus the actual shape.
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

// Accepts any real floating (or, if allow_int, integer) array-like for `name`; returns a float32
// array, converting dtype only when needed and keeping the caller's strides when no copy is made.
// Raises TypeError naming `name` for non-numeric, complex or (unless allowed) integer input.
py::array_t<float> as_f32(const py::handle& obj, const char* name, bool allow_int = false);

void check_ndim(const py::array& a, const char* name, int ndim);
// -1 in `expected` matches any extent.
void check_shape(const py::array& a, const char* name, const std::vector<int64_t>& expected);

// A buffer the kernel writes: float32, C-contiguous, writeable, of exactly `expected` shape.
py::array_t<float> check_out(const py::handle& obj, const char* name,
                             const std::vector<int64_t>& expected);

// Two arrays overlap in memory (conservative: by byte extents).
bool overlaps(const py::array& a, const py::array& b);

// A 2-D float32 array as a strided view (strides in elements; any sign, as numpy allows).
MatView mat_view(const py::array_t<float>& a);

}  // namespace fastnn
