"""ONNX in and out: ``fastnn.onnx.load`` (an ONNX file, bytes or ModelProto -> a trainable
``nn.Model``) and ``fastnn.onnx.export`` (a Sequential or nn.Model -> an ONNX file). Needs the
``onnx`` package: ``pip install fastnn[onnx]``. See docs/onnx.md."""

__all__ = ["load", "export", "SUPPORTED_OPS"]


def load(model):
    """An ONNX model (a path, the file's bytes, or an ``onnx.ModelProto``) as an ``nn.Model``."""
    from fastnn.onnx._import import load as _load
    return _load(model)


def export(model, path, input_shape=None, opset=17, dynamic_batch=True, weight_type="int8"):
    """Write ``model`` to ``path`` as ONNX; returns the ModelProto. A Sequential or nn.Model is
    written in float32; a ``QuantizedModel`` (or a graph model with quantized segments) in QDQ
    form: QuantizeLinear/DequantizeLinear around Conv/Gemm, per-channel weights of
    ``weight_type`` ("int8"; "uint8" with zero point 128 holds the same values and suits
    onnxruntime's kernels on CPUs without VNNI, whose u8s8 path saturates), int32 biases."""
    from fastnn.onnx._export import export as _export
    return _export(model, path, input_shape=input_shape, opset=opset,
                   dynamic_batch=dynamic_batch, weight_type=weight_type)


def __getattr__(name):
    if name == "SUPPORTED_OPS":
        from fastnn.onnx._import import SUPPORTED_OPS
        return SUPPORTED_OPS
    raise AttributeError(f"module 'fastnn.onnx' has no attribute {name!r}")


def _onnx():
    try:
        import onnx
    except ImportError as e:
        raise ImportError("fastnn.onnx needs the onnx package: pip install fastnn[onnx] "
                          f"({e})") from None
    return onnx
