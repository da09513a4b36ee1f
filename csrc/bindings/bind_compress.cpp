// Weight-sharing entry points (fastnn.compress): kmeans1d, cluster_assign, cluster_step. Check,
// release the GIL, call frame/kmeans.cpp.
#include <pybind11/stl.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "common.h"

namespace fastnn {

int64_t kmeans1d(const float* x, int64_t n, double* c, int64_t k, int64_t max_iter);
void cluster_assign(const float* w, const float* mask, int64_t n, const float* c, int64_t k,
                    int32_t* idx);
void cluster_step(float* w, const int32_t* idx, int64_t n, float* c, int64_t k, bool mean);

namespace {

constexpr int64_t kMaxClusters = 65536;

void check_finite(const float* p, int64_t n, const std::string& name) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i]))
      throw py::value_error(name + ": expected finite values, got " + std::to_string(p[i]) +
                            " at flat index " + std::to_string(i));
}

void check_centroid_count(int64_t k, const std::string& name) {
  if (k < 1 || k > kMaxClusters)
    throw py::value_error(name + ": expected 1 to " + std::to_string(kMaxClusters) +
                          " centroids, got " + std::to_string(k));
}

std::tuple<py::array_t<double>, int64_t> kmeans1d_py(const py::handle& v_obj,
                                                     const py::handle& init_obj,
                                                     int64_t max_iter) {
  py::array_t<float> v = c_f32(v_obj, "values");
  py::array init = as_array(init_obj, "init");
  const char kind = init.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u')
    throw py::type_error("init: expected a real array, got dtype " +
                         std::string(py::str(init.dtype())));
  py::array_t<double> c = py::array_t<double>(c_array<double>(init, "init").attr("copy")());
  check_ndim(c, "init", 1);
  const int64_t k = c.shape(0);
  check_centroid_count(k, "init");
  for (int64_t j = 0; j < k; ++j)
    if (!std::isfinite(c.data()[j]))
      throw py::value_error("init: expected finite centroids, got " + std::to_string(c.data()[j]));
  check_range(max_iter, "max_iter", 0, 1 << 20);
  const int64_t n = v.size();
  check_finite(v.data(), n, "values");
  const float* vp = v.data();
  double* cp = c.mutable_data();
  int64_t it;
  {
    py::gil_scoped_release nogil;
    it = kmeans1d(vp, n, cp, k, max_iter);
  }
  return {c, it};
}

py::array_t<float> sorted_centroids(const py::handle& obj, const std::string& name) {
  py::array_t<float> c = c_f32(obj, name);
  check_ndim(c, name, 1);
  const int64_t k = c.shape(0);
  check_centroid_count(k, name);
  check_finite(c.data(), k, name);
  for (int64_t j = 1; j < k; ++j)
    if (!(c.data()[j - 1] <= c.data()[j]))
      throw py::value_error(name + ": expected centroids sorted ascending, got " +
                            std::to_string(c.data()[j - 1]) + " before " +
                            std::to_string(c.data()[j]));
  return c;
}

py::array_t<int32_t> cluster_assign_py(const py::handle& w_obj, const py::handle& c_obj,
                                       const py::handle& mask_obj) {
  py::array_t<float> w = c_f32(w_obj, "weight");
  const std::vector<int64_t> shape = shape_of(w);
  py::array_t<float> c = sorted_centroids(c_obj, "centroids");
  py::array_t<float> m;
  const bool has_mask = !mask_obj.is_none();
  if (has_mask) {
    m = c_f32(mask_obj, "mask");
    check_shape(m, "mask", shape);
  }
  py::array_t<int32_t> idx = new_array<int32_t>(shape, "index");
  const float* wp = w.data();
  const float* mp = has_mask ? m.data() : nullptr;
  const float* cp = c.data();
  int32_t* ip = idx.mutable_data();
  const int64_t n = w.size(), k = c.shape(0);
  {
    py::gil_scoped_release nogil;
    cluster_assign(wp, mp, n, cp, k, ip);
  }
  return idx;
}

py::array_t<int32_t> index_array(const py::handle& obj, const std::vector<int64_t>& shape,
                                 int64_t k) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error("index: expected a numpy.ndarray of dtype int32, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (!(a.dtype().kind() == 'i' && a.itemsize() == 4) || !native_byte_order(a))
    throw py::type_error("index: expected dtype int32 (native byte order), got " +
                         std::string(py::str(a.dtype())));
  check_shape(a, "index", shape);
  py::array_t<int32_t> idx = c_array<int32_t>(a, "index");
  const int32_t* p = idx.data();
  for (int64_t i = 0, n = idx.size(); i < n; ++i)
    if (p[i] < -1 || p[i] >= k)
      throw py::value_error("index: expected values in [-1, " + std::to_string(k) + "), got " +
                            std::to_string(p[i]) + " at flat index " + std::to_string(i));
  return idx;
}

void cluster_step_py(const py::handle& w_obj, const py::handle& idx_obj, const py::handle& c_obj,
                     bool mean) {
  if (!py::isinstance<py::array>(w_obj))
    throw py::type_error("data: expected a numpy.ndarray of float32");
  const std::vector<int64_t> shape = shape_of(py::reinterpret_borrow<py::array>(w_obj));
  py::array_t<float> w = check_out(w_obj, "data", shape);
  py::array_t<float> c = check_out(c_obj, "centroids", {-1});
  check_ndim(c, "centroids", 1);
  const int64_t k = c.shape(0);
  check_centroid_count(k, "centroids");
  py::array_t<int32_t> idx = index_array(idx_obj, shape, k);
  check_no_alias(c, "centroids", {{w, "data"}, {idx, "index"}});
  check_no_alias(w, "data", {{idx, "index"}});
  float* wp = w.mutable_data();
  float* cp = c.mutable_data();
  const int32_t* ip = idx.data();
  const int64_t n = w.size();
  py::gil_scoped_release nogil;
  cluster_step(wp, ip, n, cp, k, mean);
}

}  // namespace

void bind_compress(py::module_& m) {
  m.def("kmeans1d", &kmeans1d_py, py::arg("values"), py::arg("init"), py::arg("max_iter") = 100,
        "Exact 1-D Lloyd k-means of the values (any shape, finite) from the initial centroids "
        "(1-D, 1..65536) -> (centroids float64 sorted, iterations run). Empty clusters keep "
        "their centroid; ties go to the lower centroid.");
  m.def("cluster_assign", &cluster_assign_py, py::arg("weight"), py::arg("centroids"),
        py::arg("mask") = py::none(),
        "Index (int32, weight's shape) of the nearest of the sorted centroids for each weight "
        "(ties: lower index); -1 where mask == 0.");
  m.def("cluster_step", &cluster_step_py, py::arg("data"), py::arg("index"),
        py::arg("centroids"), py::arg("mean") = false,
        "In place, after an optimizer update: centroids[j] += sum (or mean) over members of "
        "data - centroids[index], then data = centroids[index] (0 where index == -1).");
}

}  // namespace fastnn
