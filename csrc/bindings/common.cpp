#include "common.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace fastnn {

namespace {

constexpr int kCContiguous = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_;
constexpr int kAligned = py::detail::npy_api::NPY_ARRAY_ALIGNED_;
constexpr int kForcecast = py::detail::npy_api::NPY_ARRAY_FORCECAST_;
constexpr int kEnsureArray = py::detail::npy_api::NPY_ARRAY_ENSUREARRAY_;

std::string dtype_str(const py::array& a) { return std::string(py::str(a.dtype())); }

std::string human_bytes(double b) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (b >= 1024.0 && u < 6) { b /= 1024.0; ++u; }
  char buf[64];
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", b, units[u]);
  return buf;
}

int64_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return INT64_MAX;
  int64_t total;
  return mul_ok(pages, page, &total) ? total : INT64_MAX;
}

[[noreturn]] void raise_memory_error(const std::string& msg) {
  PyErr_SetString(PyExc_MemoryError, msg.c_str());
  throw py::error_already_set();
}

// After a numpy call returned null: a MemoryError becomes one naming `name` and the bytes needed,
// anything else propagates as it is.
[[noreturn]] void rethrow_named(const std::string& name, int64_t count, int64_t itemsize,
                                const std::string& what) {
  if (PyErr_ExceptionMatches(PyExc_MemoryError)) {
    PyErr_Clear();
    int64_t bytes = 0;
    const std::string need = mul_ok(count, itemsize, &bytes)
                                 ? std::to_string(bytes) + " bytes (" + human_bytes(double(bytes)) + ")"
                                 : "more than 2**63 bytes";
    raise_memory_error(name + ": cannot allocate " + need + " for " + what);
  }
  throw py::error_already_set();
}

}  // namespace

// Error messages are built with std::string and std::to_string, never iostreams: a process whose
// iostreams are not initialised (seen with a libstdc++ linked in statically elsewhere) crashes in
// `ostream << long`, and that must not turn a ValueError into a segfault.
std::string shape_str(const std::vector<int64_t>& s) {
  std::string o = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) o += ", ";
    o += s[i] < 0 ? std::string("*") : std::to_string(s[i]);
  }
  if (s.size() == 1) o += ",";
  return o + ")";
}

std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

std::string shape_str(const py::array& a) { return shape_str(shape_of(a)); }

void check_allocatable(int64_t count, int64_t itemsize, const std::string& name,
                       const std::string& what) {
  int64_t bytes = 0;
  if (count < 0 || itemsize < 0 || !mul_ok(count, itemsize, &bytes))
    raise_memory_error(name + ": cannot allocate more than 2**63 bytes for " + what);
  const int64_t limit = physical_memory_bytes();
  if (bytes > limit)
    raise_memory_error(name + ": cannot allocate " + std::to_string(bytes) + " bytes (" +
                       human_bytes(double(bytes)) + ") for " + what + ": more than this machine's " +
                       human_bytes(double(limit)) + " of memory");
}

py::array as_array(const py::handle& obj, const std::string& name) {
  if (obj.is_none()) throw py::type_error(name + ": expected an array, got None");
  if (py::isinstance<py::array>(obj)) return py::reinterpret_borrow<py::array>(obj);
  PyObject* r = py::detail::npy_api::get().PyArray_FromAny_(obj.ptr(), nullptr, 0, 0, kEnsureArray,
                                                            nullptr);
  if (!r) {
    if (PyErr_ExceptionMatches(PyExc_MemoryError)) rethrow_named(name, -1, 1, "an array");
    PyErr_Clear();
    throw py::type_error(name + ": expected a numeric array, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  return py::reinterpret_steal<py::array>(r);
}

py::array c_array(const py::array& arr, const py::dtype& dt, const std::string& name) {
  auto& api = py::detail::npy_api::get();
  const int flags = py::detail::array_proxy(arr.ptr())->flags;
  if ((flags & kCContiguous) && (flags & kAligned) &&
      api.PyArray_EquivTypes_(arr.dtype().ptr(), dt.ptr()))
    return arr;
  const std::string what = "a C-contiguous " + std::string(py::str(dt)) + " copy of an array of shape " +
                           shape_str(arr) + " and dtype " + dtype_str(arr);
  check_allocatable(arr.size(), dt.itemsize(), name, what);
  // PyArray_FromAny steals the dtype reference.
  PyObject* r = api.PyArray_FromAny_(arr.ptr(), dt.inc_ref().ptr(), 0, 0,
                                     kCContiguous | kAligned | kForcecast | kEnsureArray, nullptr);
  if (!r) rethrow_named(name, arr.size(), dt.itemsize(), what);
  return py::reinterpret_steal<py::array>(r);
}

bool native_byte_order(const py::array& a) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  constexpr char kNative = '<';
#else
  constexpr char kNative = '>';
#endif
  const char b = a.dtype().byteorder();
  return b == '=' || b == '|' || b == kNative;
}

py::array_t<float> as_f32(const py::handle& obj, const std::string& name, bool allow_int) {
  py::array arr = as_array(obj, name);
  const char kind = arr.dtype().kind();
  const bool ok = kind == 'f' || (allow_int && (kind == 'i' || kind == 'u' || kind == 'b'));
  if (!ok)
    throw py::type_error(name + ": expected a real floating array (float32), got dtype " +
                         dtype_str(arr));
  if (py::isinstance<py::array_t<float>>(arr) &&
      (py::detail::array_proxy(arr.ptr())->flags & kAligned)) {
    // Native float32, aligned: keep the strides if they are whole elements, else copy.
    bool whole = true;
    for (py::ssize_t d = 0; d < arr.ndim(); ++d) whole &= arr.strides(d) % 4 == 0;
    if (whole) return py::reinterpret_borrow<py::array_t<float>>(arr);
  }
  return py::reinterpret_borrow<py::array_t<float>>(c_array(arr, py::dtype::of<float>(), name));
}

py::array_t<float> c_f32(const py::handle& obj, const std::string& name, bool allow_int) {
  py::array_t<float> a = as_f32(obj, name, allow_int);
  return py::reinterpret_borrow<py::array_t<float>>(c_array(a, py::dtype::of<float>(), name));
}

py::array_t<float> vec_f32(const py::handle& obj, const std::string& name, int64_t n) {
  py::array_t<float> v = c_f32(obj, name);
  check_shape(v, name, {n});
  return v;
}

void check_ndim(const py::array& a, const std::string& name, int ndim) {
  if (a.ndim() != ndim)
    throw py::value_error(name + ": expected a " + std::to_string(ndim) + "-D array, got shape " +
                          shape_str(a) + " (" + std::to_string(a.ndim()) + "-D)");
}

void check_shape(const py::array& a, const std::string& name, const std::vector<int64_t>& expected) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(expected.size());
  for (size_t i = 0; ok && i < expected.size(); ++i)
    ok = expected[i] < 0 || a.shape(i) == expected[i];
  if (!ok)
    throw py::value_error(name + ": expected shape " + shape_str(expected) + ", got " + shape_str(a));
}

void check_aligned(const py::array& arr, const std::string& name) {
  if (py::detail::array_proxy(arr.ptr())->flags & kAligned) return;
  char addr[32];
  std::snprintf(addr, sizeof addr, "0x%llx",
                static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(arr.data())));
  throw py::value_error(name + ": expected an aligned array (" + dtype_str(arr) +
                        " data at a multiple of " +
                        std::to_string(arr.dtype().attr("alignment").cast<int>()) +
                        " bytes), got data at " + addr);
}

namespace {

// The checks every array used in place shares (after its dtype's kind and size are known good).
void check_in_place(const py::array& arr, const std::string& name, const char* want,
                    const std::vector<int64_t>& expected, bool writeable) {
  if (!native_byte_order(arr))
    throw py::type_error(name + ": expected native-endian " + want + ", got dtype " +
                         dtype_str(arr) + " (byte-swapped: convert it with .astype(numpy." + want +
                         ") before use)");
  check_shape(arr, name, expected);
  if (!(arr.flags() & py::array::c_style))
    throw py::value_error(name + ": expected a C-contiguous array");
  check_aligned(arr, name);
  if (writeable && !arr.writeable()) throw py::value_error(name + ": array is read-only");
}

}  // namespace

py::array_t<float> exact_f32(const py::handle& obj, const std::string& name,
                             const std::vector<int64_t>& expected, bool writeable) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(name + ": expected a numpy.ndarray of float32, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array arr = py::reinterpret_borrow<py::array>(obj);
  if (!(arr.dtype().kind() == 'f' && arr.itemsize() == 4))
    throw py::type_error(name + ": expected dtype float32, got " + dtype_str(arr));
  check_in_place(arr, name, "float32", expected, writeable);
  return py::reinterpret_borrow<py::array_t<float>>(arr);
}

py::array_t<float> check_out(const py::handle& obj, const std::string& name,
                             const std::vector<int64_t>& expected) {
  return exact_f32(obj, name, expected, /*writeable=*/true);
}

template <class T>
py::array_t<T> exact_int_inplace(const py::handle& obj, const std::string& name, const char* want,
                                 const std::vector<int64_t>& expected) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(name + ": expected a numpy.ndarray of dtype " + want + ", got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array arr = py::reinterpret_borrow<py::array>(obj);
  const char kind = arr.dtype().kind();
  if (!(kind == (std::is_signed<T>::value ? 'i' : 'u') &&
        arr.itemsize() == static_cast<py::ssize_t>(sizeof(T))))
    throw py::type_error(name + ": expected dtype " + want + ", got " + dtype_str(arr));
  if (expected.empty()) check_ndim(arr, name, 1);
  check_in_place(arr, name, want, expected.empty() ? std::vector<int64_t>{-1} : expected, true);
  return py::reinterpret_borrow<py::array_t<T>>(arr);
}

template py::array_t<int64_t> exact_int_inplace<int64_t>(const py::handle&, const std::string&,
                                                         const char*, const std::vector<int64_t>&);

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

void check_no_alias(const py::array& out, const std::string& name,
                    const std::vector<std::pair<py::array, std::string>>& inputs) {
  for (const auto& [in, in_name] : inputs)
    if (in && overlaps(out, in))
      throw py::value_error(name + ": must not share memory with " + in_name +
                            " (it is written while that is read)");
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

void check_range(int64_t v, const std::string& name, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    throw py::value_error(name + ": expected an int in [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "], got " + std::to_string(v));
}

}  // namespace fastnn
