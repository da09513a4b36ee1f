"""Fuzz registry, int8 quantization (bind_quant.cpp) and the int8 GEMM (bind_quant_gemm.cpp).
Valid calls mirror fastnn/quant/stages.py, observers.py, build.py and _gemm.py."""
import numpy as np

from fastnn import _C

from .core import Arg, Call, registrar
from .reg_dense import f32

ENTRIES = []
entry = registrar(ENTRIES)


def u8(*shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def s8(*shape, seed=0):
    return np.random.default_rng(seed).integers(-127, 128, shape).astype(np.int8)


def pair(name):
    return Arg(name, "ints", length=2)


X = Arg("x", "array")


@entry("choose_qparams_u8", Arg("lo", "float"), Arg("hi", "float"))
def _qparams():
    return Call(_C.choose_qparams_u8, lo=-1.5, hi=2.0)


@entry("quantize_u8", X, Arg("scale", "float"), Arg("zero_point", "int"), Arg("nhwc", "bool"),
       Arg("out", "out"))
def _quantize():
    return Call(_C.quantize_u8, x=f32(2, 3, 4, 5), scale=0.02, zero_point=128, nhwc=True,
                out=np.zeros((2, 4, 5, 3), np.uint8))


@entry("dequantize_u8", Arg("q", "array"), Arg("scale", "float"), Arg("zero_point", "int"),
       Arg("nchw", "bool"), Arg("out", "out"))
def _dequantize():
    return Call(_C.dequantize_u8, q=u8(2, 4, 5, 3), scale=0.02, zero_point=128, nchw=True,
                out=np.zeros((2, 3, 4, 5), np.float32))


@entry("minmax_f32", X, Arg("name", "str"))
def _minmax():
    return Call(_C.minmax_f32, x=f32(3, 5), name="x")


@entry("histogram_f32", X, Arg("lo", "float"), Arg("hi", "float"), Arg("hist", "out"),
       Arg("absval", "bool"))
def _histogram():
    return Call(_C.histogram_f32, x=f32(4, 6), lo=0.0, hi=3.0, hist=np.zeros(16, np.int64),
                absval=True)


@entry("entropy_calibration_bins", Arg("hist", "array"), Arg("num_quantized_bins", "int"))
def _entropy():
    hist = np.random.default_rng(0).integers(1, 50, 32).astype(np.int64)
    return Call(_C.entropy_calibration_bins, hist=hist, num_quantized_bins=8)


@entry("quantize_dynamic_u8", X)
def _qdyn():
    return Call(_C.quantize_dynamic_u8, x=f32(3, 7))


@entry("quantize_weights_s8", Arg("weight", "array"), Arg("per_channel", "bool"))
def _qweights():
    return Call(_C.quantize_weights_s8, weight=f32(4, 5), per_channel=True)


POOL = (pair("kernel_size"), pair("stride"), pair("padding"))


@entry("maxpool2d_u8", X, *POOL, Arg("out", "out"))
def _maxpool_u8():
    return Call(_C.maxpool2d_u8, x=u8(2, 6, 6, 3), kernel_size=[3, 3], stride=[2, 2],
                padding=[1, 1], out=np.zeros((2, 3, 3, 3), np.uint8))


@entry("global_avgpool_u8", X, Arg("out", "out"))
def _gap_u8():
    return Call(_C.global_avgpool_u8, x=u8(2, 4, 4, 3), out=np.zeros((2, 3), np.uint8))


@entry("im2col_u8", X, *POOL, pair("dilation"), Arg("pad_value", "int"), Arg("kp", "size"))
def _im2col():
    return Call(_C.im2col_u8, x=u8(2, 5, 5, 3), kernel_size=[3, 3], stride=[1, 2],
                padding=[1, 0], dilation=[1, 1], pad_value=7, kp=256)  # (sizes: reg_conv.py)


def use_packed(p):
    """Packed weights the packer accepted must also unpack and multiply cleanly."""
    p.unpack()
    if p.k <= 64:
        _C.gemm_u8s8(u8(2, p.k), p, 3, "int32")


@entry("pack_weights_s8", Arg("w", "array"))
def _pack():
    return Call(_C.pack_weights_s8, then=use_packed, w=s8(4, 7))


@entry("conv2d_u8", X, Arg("packed", "obj"), *POOL, pair("dilation"), Arg("kp", "int"),
       Arg("za", "int"), Arg("scale_a", "float"), Arg("scale_b", "array"), Arg("bias", "array"),
       Arg("out_dtype", "str"), Arg("scale_out", "float"), Arg("z_out", "int"),
       Arg("relu", "bool"), Arg("out", "out"), Arg("pool", "seqs", length=2))
def _conv_u8():
    # 3x3 kernel over 3 channels: k = 27 padded to kp = 28 (a multiple of 4); output
    # (2, 5, 5, 4) max-pooled 3/2/1 to (2, 3, 3, 4)
    return Call(_C.conv2d_u8, x=u8(2, 5, 5, 3), packed=_C.pack_weights_s8(s8(4, 28)),
                kernel_size=[3, 3], stride=[1, 1], padding=[1, 1], dilation=[1, 1], kp=28, za=5,
                scale_a=0.02, scale_b=np.full(4, 0.01, np.float32), bias=f32(4),
                out_dtype="uint8", scale_out=0.05, z_out=3, relu=True,
                out=np.zeros((2, 3, 3, 4), np.uint8), pool=[[3, 3], [2, 2], [1, 1]])


@entry("gemm_u8s8", Arg("a", "array"), Arg("packed", "obj"), Arg("za", "int"),
       Arg("out_dtype", "str"), Arg("scale_a", "float"), Arg("scale_b", "array"),
       Arg("bias", "array"), Arg("bias_i32", "array"), Arg("scale_out", "float"),
       Arg("z_out", "int"), Arg("relu", "bool"), Arg("out", "out"), Arg("pack_a", "int"))
def _gemm_u8s8():
    return Call(_C.gemm_u8s8, a=u8(3, 7), packed=_C.pack_weights_s8(s8(4, 7)), za=5,
                out_dtype="uint8", scale_a=0.02, scale_b=np.full(4, 0.01, np.float32),
                bias=f32(4), bias_i32=np.arange(4, dtype=np.int32), scale_out=0.05, z_out=3,
                relu=True, out=np.zeros((3, 4), np.uint8), pack_a=1)


# No-argument members of PackedWeightsS8 (and its missing constructor).
def _packed_member(attr):
    def build():
        p = _C.pack_weights_s8(s8(4, 7))
        return Call(getattr(p, attr) if attr == "unpack" else lambda: getattr(p, attr))
    return build


for _attr in ("colsum", "isa", "k", "kgroup", "n", "nbytes", "nr", "shape", "unpack"):
    entry("PackedWeightsS8." + _attr)(_packed_member(_attr))
entry("PackedWeightsS8")(lambda: Call(_C.PackedWeightsS8))


@entry("concat_u8", Arg("inputs", "arrays"), Arg("scales", "floats", ["scales", "inputs"],
                                                length=2, elem="float"),
       Arg("zero_points", "ints", ["zero_points", "inputs"], length=2),
       Arg("out_scale", "float", ["out_scale", "out"]), Arg("out_zero_point", "int"),
       Arg("relu", "bool"))
def _concat_u8():
    return Call(_C.concat_u8, inputs=[u8(2, 3, 3, 4), u8(2, 3, 3, 5, seed=1)],
                scales=[0.02, 0.05], zero_points=[128, 3], out_scale=0.04, out_zero_point=90,
                relu=False)


@entry("add_u8", Arg("a", "array"), Arg("a_scale", "float", ["a_scale", "a"]),
       Arg("a_zero_point", "int"), Arg("b", "array"), Arg("b_scale", "float", ["b_scale", "b"]),
       Arg("b_zero_point", "int"), Arg("out_scale", "float", ["out_scale", "out"]),
       Arg("out_zero_point", "int"), Arg("relu", "bool"))
def _add_u8():
    return Call(_C.add_u8, a=u8(2, 4, 4, 3), a_scale=0.02, a_zero_point=128,
                b=u8(2, 4, 4, 3, seed=1), b_scale=0.05, b_zero_point=3, out_scale=0.06,
                out_zero_point=60, relu=True)


# -- micro-kernel test hook (bind_ukr.cpp) ---------------------------------------------------------
@entry("_ukr_s8_gemm", Arg("a", "array"), Arg("b", "array"), Arg("c", "array"), Arg("m", "int"),
       Arg("n", "int"), Arg("out", "str"), Arg("offset", "array"), Arg("scale", "array"),
       Arg("shift", "array"), Arg("lo", "float"), Arg("hi", "float"), Arg("relu", "bool"))
def _ukr_s8_gemm():
    return Call(_C._ukr_s8_gemm, a=u8(2, 8), b=s8(2, 32, 4, seed=1),
                c=np.zeros((2, 32), np.float32), m=2, n=32, out="f32",
                offset=np.arange(32, dtype=np.int32), scale=np.full(32, 0.01, np.float32),
                shift=f32(32, seed=2), lo=0.0, hi=255.0, relu=True)
