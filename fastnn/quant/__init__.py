"""int8 quantization. So far: the u8 x s8 GEMM core (weights packed once, fused requantisation)."""
from fastnn.quant._gemm import PackedWeightsS8, gemm_u8s8, pack_weights

__all__ = ["PackedWeightsS8", "pack_weights", "gemm_u8s8"]
