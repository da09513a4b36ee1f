// fastnn._C joins of uint8 tensors in a quantized graph: concat_u8 and add_u8, each input with
// its own (scale, zero point), the result in the output's (frame/quant_join.cpp). Inputs must
// already be uint8. Check, release the GIL, call ops_quant_join.h.
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "common.h"
#include "fastnn/ops_quant_join.h"
#include "quant_common.h"

namespace fastnn {

namespace {

// inputs as owned objects: iterating a sequence such as an array yields temporaries that a
// borrowed py::handle would outlive.
py::array concat(const std::vector<py::object>& inputs, const std::vector<double>& scales,
                 const std::vector<int64_t>& zero_points, double out_scale, int64_t out_zp,
                 bool relu) {
  const size_t k = inputs.size();
  if (k == 0) throw py::value_error("inputs: expected at least one uint8 array, got none");
  if (scales.size() != k || zero_points.size() != k)
    throw py::value_error("scales, zero_points: expected " + std::to_string(k) +
                          " each (one per input), got " + std::to_string(scales.size()) +
                          " and " + std::to_string(zero_points.size()));
  std::vector<U8Array> arrays;
  std::vector<U8Slice> slices(k);
  std::vector<int64_t> shape;
  int64_t rows = 1, width = 0;
  for (size_t i = 0; i < k; ++i) {
    const std::string name = "inputs[" + std::to_string(i) + "]";
    arrays.push_back(u8c(inputs[i], name.c_str()));
    const U8Array& a = arrays.back();
    std::vector<int64_t> s = shape_of(a);
    if (s.empty()) throw py::value_error(name + ": expected at least 1 dimension, got a scalar");
    if (i == 0) {
      shape = s;
      for (size_t d = 0; d + 1 < s.size(); ++d) rows *= s[d];
    } else {
      std::vector<int64_t> want = shape;
      want.back() = s.back();
      if (s != want)
        throw py::value_error(name + ": expected shape " + shape_str(want) +
                              " (all but the last dimension as inputs[0]), got " + shape_str(s));
    }
    slices[i].data = a.data();
    slices[i].cols = s.back();
    slices[i].q = qp(scales[i], zero_points[i]);
    width += s.back();
  }
  shape.back() = width;
  py::array_t<uint8_t> out = new_array<uint8_t>(shape, "output");
  uint8_t* op = out.mutable_data();
  const QParamsU8 oq = qp(out_scale, out_zp);
  {  // the GIL back before the return value (a py::array made from `out`) is built
    py::gil_scoped_release nogil;
    requantize_concat_u8(slices.data(), static_cast<int64_t>(k), rows, op, oq, relu);
  }
  return out;
}

py::array add(const py::handle& a_obj, double sa, int64_t za, const py::handle& b_obj, double sb,
              int64_t zb, double out_scale, int64_t out_zp, bool relu) {
  U8Array a = u8c(a_obj, "a"), b = u8c(b_obj, "b");
  if (shape_of(a) != shape_of(b))
    throw py::value_error("b: expected the shape of a " + shape_str(a) + ", got " + shape_str(b));
  const QParamsU8 qa = qp(sa, za), qb = qp(sb, zb);
  const QParamsU8 oq = qp(out_scale, out_zp);
  py::array_t<uint8_t> out = new_array<uint8_t>(shape_of(a), "output");
  const uint8_t* ap = a.data();
  const uint8_t* bp = b.data();
  uint8_t* op = out.mutable_data();
  const int64_t n = a.size();
  {  // the GIL back before the return value is built
    py::gil_scoped_release nogil;
    add_u8(ap, qa, bp, qb, op, oq, n, relu);
  }
  return out;
}

}  // namespace

void bind_quant_join(py::module_& m) {
  m.def("concat_u8", &concat, py::arg("inputs"), py::arg("scales"), py::arg("zero_points"),
        py::arg("out_scale"), py::arg("out_zero_point"), py::arg("relu") = false,
        "uint8 tensors side by side along their last dimension, each requantized from its "
        "(scale, zero point) to the output's; relu clamps at the output zero point.");
  m.def("add_u8", &add, py::arg("a"), py::arg("a_scale"), py::arg("a_zero_point"), py::arg("b"),
        py::arg("b_scale"), py::arg("b_zero_point"), py::arg("out_scale"),
        py::arg("out_zero_point"), py::arg("relu") = false,
        "a + b of two uint8 tensors of one shape, each with its (scale, zero point), written "
        "with the output's; relu clamps at the output zero point.");
}

}  // namespace fastnn
