"""int8 quantization (docs/quantization.md).

- ``fold_batchnorm(model)``: BatchNorm folded into the Conv2d / Linear before it.
- ``quantize(model, calibration_data, method=..., per_channel=...)``: static post-training
  quantization -> :class:`QuantizedModel` (uint8 activations, int8 per-channel weights, int32
  accumulation, requantisation + bias + ReLU fused into the int8 GEMM epilogue).
- ``quantize_dynamic(model)``: Linear layers with per-batch activation scales.
- ``report(model, qmodel, x, y)``: per-layer error, accuracy, sizes and speed, float vs int8.
- The int8 GEMM core: ``pack_weights``, ``gemm_u8s8`` (docs/int8_gemm.md).
"""
from fastnn.quant._gemm import PackedWeightsS8, gemm_u8s8, pack_weights
from fastnn.quant.build import QuantizationWarning, quantize, quantize_dynamic
from fastnn.quant.fold import fold_batchnorm
from fastnn.quant.model import QuantizedModel
from fastnn.quant.observers import (EntropyObserver, MinMaxObserver, PercentileObserver,
                                    choose_qparams)
from fastnn.quant.report import report

__all__ = ["PackedWeightsS8", "pack_weights", "gemm_u8s8", "fold_batchnorm", "quantize",
           "quantize_dynamic", "QuantizedModel", "QuantizationWarning", "report",
           "MinMaxObserver", "PercentileObserver", "EntropyObserver", "choose_qparams"]
