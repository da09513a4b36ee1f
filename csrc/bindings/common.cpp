#include "common.h"

#include <algorithm>
#include <sstream>

namespace fastnn {

std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream o;
  o << "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) o << ", ";
    if (s[i] < 0) o << "*"; else o << s[i];
  }
  if (s.size() == 1) o << ",";
  o << ")";
  return o.str();
}

std::string shape_str(const py::array& a) {
  std::vector<int64_t> s(a.shape(), a.shape() + a.ndim());
  return shape_str(s);
}

py::array_t<float> as_f32(const py::handle& obj, const char* name, bool allow_int) {
  if (obj.is_none()) throw py::type_error(std::string(name) + ": expected an array, got None");
  py::array arr = py::array::ensure(obj);
  if (!arr) throw py::type_error(std::string(name) + ": expected a numeric array");
  const char kind = arr.dtype().kind();
  const bool ok = kind == 'f' || (allow_int && (kind == 'i' || kind == 'u' || kind == 'b'));
  if (!ok)
    throw py::type_error(std::string(name) + ": expected a real floating array (float32), got dtype " +
                         std::string(py::str(arr.dtype())));
  if (py::isinstance<py::array_t<float>>(arr) && arr.dtype().kind() == 'f' && arr.itemsize() == 4) {
    // float32 already: keep the strides if they are whole elements, else copy.
    bool whole = true;
    for (py::ssize_t d = 0; d < arr.ndim(); ++d) whole &= arr.strides(d) % 4 == 0;
    if (whole) return py::reinterpret_borrow<py::array_t<float>>(arr);
  }
  return py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(arr);
}

void check_ndim(const py::array& a, const char* name, int ndim) {
  if (a.ndim() != ndim)
    throw py::value_error(std::string(name) + ": expected a " + std::to_string(ndim) +
                          "-D array, got shape " + shape_str(a) + " (" + std::to_string(a.ndim()) +
                          "-D)");
}

void check_shape(const py::array& a, const char* name, const std::vector<int64_t>& expected) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(expected.size());
  for (size_t i = 0; ok && i < expected.size(); ++i)
    ok = expected[i] < 0 || a.shape(i) == expected[i];
  if (!ok)
    throw py::value_error(std::string(name) + ": expected shape " + shape_str(expected) + ", got " +
                          shape_str(a));
}

py::array_t<float> check_out(const py::handle& obj, const char* name,
                             const std::vector<int64_t>& expected) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + ": expected a numpy.ndarray of float32");
  py::array arr = py::reinterpret_borrow<py::array>(obj);
  if (!(arr.dtype().kind() == 'f' && arr.itemsize() == 4))
    throw py::type_error(std::string(name) + ": expected dtype float32, got " +
                         std::string(py::str(arr.dtype())));
  check_shape(arr, name, expected);
  if (!(arr.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + ": expected a C-contiguous array");
  if (!arr.writeable()) throw py::value_error(std::string(name) + ": array is read-only");
  return py::reinterpret_borrow<py::array_t<float>>(arr);
}

namespace {
void extent(const py::array& a, intptr_t& lo, intptr_t& hi) {
  lo = hi = reinterpret_cast<intptr_t>(a.data());
  if (a.size() == 0) { hi = lo; return; }
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    const intptr_t span = static_cast<intptr_t>(a.shape(d) - 1) * a.strides(d);
    if (span < 0) lo += span; else hi += span;
  }
  hi += a.itemsize();
}
}  // namespace

bool overlaps(const py::array& a, const py::array& b) {
  if (a.size() == 0 || b.size() == 0) return false;
  intptr_t alo, ahi, blo, bhi;
  extent(a, alo, ahi);
  extent(b, blo, bhi);
  return alo < bhi && blo < ahi;
}

MatView mat_view(const py::array_t<float>& a) {
  MatView v;
  v.data = a.data();
  v.rows = a.shape(0);
  v.cols = a.shape(1);
  v.rs = a.strides(0) / 4;
  v.cs = a.strides(1) / 4;
  return v;
}

}  // namespace fastnn
