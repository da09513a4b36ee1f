"""Fuzz registry, binary layers (bind_binary.cpp). Valid calls mirror fastnn/nn/binary.py."""
import numpy as np

from fastnn import _C

from .core import Arg, Call, registrar
from .reg_conv import pair
from .reg_dense import f32

ENTRIES = []
entry = registrar(ENTRIES)


def packed(rows, K, seed=0):
    return _C.binary_pack(np.random.default_rng(seed).standard_normal((rows, K)).astype(np.float32))


for _name in ("binary_kernel", "binary_vpopcntdq", "binary_plane_kernel"):
    entry(_name)(lambda _name=_name: Call(getattr(_C, _name)))


@entry("binary_pack", Arg("x", "array"))
def _pack():
    return Call(_C.binary_pack, x=f32(3, 70))


@entry("binary_gemm", Arg("a", "array"), Arg("b", "array"), Arg("K", "int"), Arg("alpha", "array"),
       Arg("bias", "array"))
def _gemm():
    return Call(_C.binary_gemm, a=packed(2, 70), b=packed(3, 70, 1), K=70, alpha=f32(3),
                bias=f32(3))


@entry("binary_gemm_f32", Arg("x", "array"), Arg("b", "array"), Arg("alpha", "array"),
       Arg("bias", "array"))
def _gemm_f32():
    return Call(_C.binary_gemm_f32, x=f32(2, 70), b=packed(3, 70, 1), alpha=f32(3), bias=f32(3))


def _planes(rows, K, seed=2):
    w = np.random.default_rng(seed).standard_normal((rows, K)).astype(np.float32)
    pos = _C.binary_pack(np.where(w > 0.5, -1.0, 1.0).astype(np.float32))
    neg = _C.binary_pack(np.where(w < -0.5, -1.0, 1.0).astype(np.float32))
    return pos, neg


@entry("ternary_gemm_f32", Arg("x", "array"), Arg("pos", "array"), Arg("neg", "array"),
       Arg("alpha", "array"), Arg("bias", "array"))
def _ternary():
    pos, neg = _planes(3, 70)
    return Call(_C.ternary_gemm_f32, x=f32(2, 70), pos=pos, neg=neg, alpha=f32(3), bias=f32(3))


@entry("binary_im2col", Arg("x", "array"), pair("kernel_size"), pair("stride"), pair("padding"),
       pair("dilation"), Arg("pad_bit", "bool"))
def _im2col():
    return Call(_C.binary_im2col, x=f32(2, 3, 5, 4), kernel_size=[3, 3], stride=[1, 1],
                padding=[1, 1], dilation=[1, 1], pad_bit=True)
