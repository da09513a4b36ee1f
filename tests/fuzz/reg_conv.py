"""Fuzz registry, convolution, pooling and batch norm (bind_conv.cpp, bind_pool_bn.cpp) and the
conv leaf test hooks (bind_conv_leaves.cpp). Valid calls mirror fastnn/nn/conv.py, pooling.py,
batchnorm.py and tests/kernels/test_conv_kernels.py."""
import numpy as np

from fastnn import _C

from .core import Arg, Call, registrar
from .reg_dense import f32

ENTRIES = []
entry = registrar(ENTRIES)


def pair(name, *names):
    return Arg(name, "ints", names=(name,) + names if names else None, length=2)


X, W, DY = Arg("x", "array", ["input"]), Arg("w", "array", ["weight"]), \
    Arg("dy", "array", ["grad_output"])
DW, DB = Arg("dw", "out", ["weight.grad"]), Arg("db", "out", ["bias.grad"])


# -- convolution -----------------------------------------------------------------------------------
# Sizes: a padding, stride or dilation near 2**31 (2**31 - 1 is the largest accepted) would make a
# valid call whose output is more than 4 TiB here (48 output channels ...), which the bindings
# refuse before allocating (more than physical memory); a smaller one could be allocated and
# written (a sanitizer build has no address-space guard). Same in reg_quant.py, reg_sparse.py.
@entry("conv2d_forward", X, W, Arg("bias", "array"), pair("stride"), pair("padding"),
       pair("dilation"), Arg("groups", "int"), Arg("algorithm", "str"))
def _conv_fwd():
    return Call(_C.conv2d_forward, x=f32(2, 4, 6, 7), w=f32(48, 2, 3, 3, seed=1),
                bias=f32(48, seed=2), stride=(1, 2), padding=(1, 1), dilation=(1, 1), groups=2,
                algorithm="auto")


@entry("conv2d_check_algorithm", Arg("algorithm", "str"), pair("kernel_size"), pair("stride"),
       pair("dilation"), Arg("groups", "int"), Arg("in_channels", "int"))
def _conv_check_algorithm():
    return Call(_C.conv2d_check_algorithm, algorithm="winograd", kernel_size=(3, 3),
                stride=(1, 1), dilation=(1, 1), groups=1, in_channels=4)


@entry("conv2d_algorithm_for", Arg("algorithm", "str"), Arg("x_shape", "ints", length=4),
       Arg("w_shape", "ints", length=4), pair("stride"), pair("padding"), pair("dilation"),
       Arg("groups", "int"))
def _conv_algorithm_for():
    return Call(_C.conv2d_algorithm_for, algorithm="winograd_f2", x_shape=(2, 4, 6, 7),
                w_shape=(8, 4, 3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1)


@entry("conv2d_backward", X, DY, W, pair("stride"), pair("padding"), pair("dilation"),
       Arg("groups", "int"), Arg("need_dx", "bool"), DW, DB, Arg("algorithm", "str"))
def _conv_bwd():
    # stride (1, 2), padding 1, kernel 3: output (6, 4)
    return Call(_C.conv2d_backward, x=f32(2, 4, 6, 7), dy=f32(2, 6, 6, 4, seed=1),
                w=f32(6, 2, 3, 3, seed=2), stride=(1, 2), padding=(1, 1), dilation=(1, 1),
                groups=2, need_dx=True, dw=np.zeros((6, 2, 3, 3), np.float32),
                db=np.zeros(6, np.float32), algorithm="direct")


@entry("conv_transpose2d_forward", X, W, Arg("bias", "array"), pair("stride"), pair("padding"),
       pair("output_padding"), pair("dilation"), Arg("groups", "int"))
def _convt_fwd():
    return Call(_C.conv_transpose2d_forward, x=f32(3, 4, 5, 5), w=f32(4, 12, 3, 3, seed=1),
                bias=f32(12, seed=2), stride=(2, 2), padding=(1, 1), output_padding=(1, 1),
                dilation=(1, 1), groups=1)


@entry("conv_transpose2d_backward", X, DY, W, pair("stride"), pair("padding"),
       pair("output_padding"), pair("dilation"), Arg("groups", "int"), Arg("need_dx", "bool"),
       DW, DB)
def _convt_bwd():
    # (5 - 1) * 2 - 2 + 2 + 1 + 1 = 10
    return Call(_C.conv_transpose2d_backward, x=f32(2, 4, 5, 5), dy=f32(2, 3, 10, 10, seed=1),
                w=f32(4, 3, 3, 3, seed=2), stride=(2, 2), padding=(1, 1), output_padding=(1, 1),
                dilation=(1, 1), groups=1, need_dx=True, dw=np.zeros((4, 3, 3, 3), np.float32),
                db=np.zeros(3, np.float32))


# -- pooling ---------------------------------------------------------------------------------------
SHAPE = Arg("input_shape", "ints", length=4, elem="size")
POOL = (pair("kernel", "kernel_size"), pair("stride"), pair("padding"))
GEOM = dict(kernel=(3, 3), stride=(2, 2), padding=(1, 1))  # 6 x 6 -> 3 x 3


MAXOPT = (pair("dilation"), Arg("ceil_mode", "bool"))
AVGOPT = (Arg("ceil_mode", "bool"), Arg("count_include_pad", "bool"))
# max: 7 x 7, kernel 3 dilated 2, stride 2, padding 1 -> 3 x 3; avg: 6 x 6 with ceil_mode -> 4 x 4
MGEOM = dict(GEOM, dilation=(2, 2), ceil_mode=True)
AGEOM = dict(GEOM, ceil_mode=True, count_include_pad=False)


@entry("maxpool2d_forward", X, *POOL, *MAXOPT)
def _maxpool_fwd():
    return Call(_C.maxpool2d_forward, x=f32(2, 3, 7, 7), **MGEOM)


@entry("maxpool2d_backward", DY, Arg("argmax", "array"), SHAPE, *POOL, *MAXOPT)
def _maxpool_bwd():
    _, argmax = _C.maxpool2d_forward(f32(2, 3, 7, 7), **MGEOM)
    return Call(_C.maxpool2d_backward, dy=f32(2, 3, 3, 3, seed=1), argmax=argmax,
                input_shape=(2, 3, 7, 7), **MGEOM)


@entry("avgpool2d_forward", X, *POOL, *AVGOPT)
def _avgpool_fwd():
    return Call(_C.avgpool2d_forward, x=f32(2, 3, 6, 6), **AGEOM)


@entry("avgpool2d_backward", DY, SHAPE, *POOL, *AVGOPT)
def _avgpool_bwd():
    return Call(_C.avgpool2d_backward, dy=f32(2, 3, 4, 4), input_shape=(2, 3, 6, 6), **AGEOM)


PADS = Arg("pads", "ints", length=4, elem="size")


@entry("pad2d_forward", X, PADS, Arg("mode", "int"), Arg("value", "float"))
def _pad_fwd():
    return Call(_C.pad2d_forward, x=f32(2, 3, 5, 4), pads=(1, 2, 0, 3), mode=1, value=0.0)


@entry("pad2d_backward", DY, SHAPE, PADS, Arg("mode", "int"))
def _pad_bwd():
    return Call(_C.pad2d_backward, dy=f32(2, 3, 8, 7), input_shape=(2, 3, 5, 4), pads=(1, 2, 0, 3),
                mode=2)


@entry("global_avgpool_forward", X)
def _gap_fwd():
    return Call(_C.global_avgpool_forward, x=f32(2, 3, 4, 5))


@entry("global_avgpool_backward", DY, SHAPE)
def _gap_bwd():
    return Call(_C.global_avgpool_backward, dy=f32(2, 3), input_shape=(2, 3, 4, 5))


# -- batch norm ------------------------------------------------------------------------------------
@entry("batchnorm_forward", X, Arg("weight", "array"), Arg("bias", "array"),
       Arg("running_mean", "out"), Arg("running_var", "out"), Arg("training", "bool"),
       Arg("momentum", "float"), Arg("eps", "float"), Arg("act", "int"), Arg("act_param", "float"))
def _bn_fwd():  # with a fused leaky ReLU (training)
    return Call(_C.batchnorm_forward, x=f32(4, 3, 2, 2), weight=f32(3, seed=1),
                bias=f32(3, seed=2), running_mean=np.zeros(3, np.float32),
                running_var=np.ones(3, np.float32), training=True, momentum=0.1, eps=1e-5,
                act=int(_C.Unary.leaky_relu), act_param=0.1)


@entry("batchnorm_backward", DY, X, Arg("weight", "array"), Arg("save_mean", "array"),
       Arg("save_invstd", "array"), Arg("training", "bool"), Arg("need_dx", "bool"),
       Arg("dweight", "out", ["weight.grad"]), Arg("dbias", "out", ["bias.grad"]))
def _bn_bwd():
    x, w = f32(4, 3, 2, 2), f32(3, seed=1)
    _, mean, invstd = _C.batchnorm_forward(x, w, None, None, None, True, 0.1, 1e-5)
    return Call(_C.batchnorm_backward, dy=f32(4, 3, 2, 2, seed=2), x=x, weight=w,
                save_mean=mean, save_invstd=invstd, training=True, need_dx=True,
                dweight=np.zeros(3, np.float32), dbias=np.zeros(3, np.float32))


@entry("lrn_forward", X, Arg("size", "int"), Arg("before", "int"), Arg("alpha", "float"),
       Arg("beta", "float"), Arg("k", "float"))
def _lrn_fwd():
    return Call(_C.lrn_forward, x=f32(2, 5, 3, 2), size=3, before=1, alpha=1e-2, beta=0.75, k=1.0)


@entry("lrn_backward", DY, X, Arg("scale", "array"), Arg("size", "int"), Arg("before", "int"),
       Arg("alpha", "float"), Arg("beta", "float"), Arg("k", "float"))
def _lrn_bwd():
    x = f32(2, 5, 3, 2)
    _, scale = _C.lrn_forward(x, 4, 2, 1e-2, 0.75, 1.0)
    return Call(_C.lrn_backward, dy=f32(2, 5, 3, 2, seed=2), x=x, scale=scale, size=4, before=2,
                alpha=1e-2, beta=0.75, k=1.0)


# -- resize, depth <-> space (bind_resize.cpp) --------------------------------------------------
SCALES = Arg("scales", "floats", length=2)


@entry("resize2d_forward", X, Arg("size", "ints", length=2, elem="size"), Arg("mode", "str"),
       Arg("align_corners", "bool"), SCALES)
def _resize_fwd():
    return Call(_C.resize2d_forward, x=f32(2, 3, 5, 4), size=(7, 3), mode="bilinear",
                align_corners=False, scales=(1.5, 0.0))


@entry("resize2d_backward", DY, SHAPE, Arg("mode", "str"), Arg("align_corners", "bool"), SCALES)
def _resize_bwd():
    return Call(_C.resize2d_backward, dy=f32(2, 3, 7, 3), input_shape=(2, 3, 5, 4),
                mode="nearest", align_corners=False, scales=(0.0, 0.0))


@entry("depth_to_space", X, Arg("block", "int"), Arg("mode", "str"))
def _d2s():
    return Call(_C.depth_to_space, x=f32(2, 8, 3, 2), block=2, mode="DCR")


@entry("space_to_depth", X, Arg("block", "int"), Arg("mode", "str"))
def _s2d():
    return Call(_C.space_to_depth, x=f32(2, 2, 6, 4), block=2, mode="CRD")


# -- conv leaves (test hooks) ----------------------------------------------------------------------
@entry("_leaf_transpose_rows", Arg("src", "array"), Arg("ld", "size"), Arg("width", "int"),
       Arg("add", "array"))
def _leaf_transpose():
    return Call(_C._leaf_transpose_rows, src=f32(3, 5), ld=6, width=4, add=f32(5, seed=1))


@entry("_leaf_copy_rows_padded", Arg("src", "array"), Arg("lead", "int"), Arg("n_dst", "int"),
       Arg("dld", "size"))
def _leaf_copy():
    return Call(_C._leaf_copy_rows_padded, src=f32(3, 5), lead=1, n_dst=8, dld=9)


@entry("_leaf_winograd_input", Arg("m", "int"), Arg("patches", "array"))
def _leaf_winograd_input():
    return Call(_C._leaf_winograd_input, m=4, patches=f32(_C.gemm_tile()[1], 6, 8))


@entry("_leaf_winograd_output", Arg("m", "int"), Arg("s", "array"), Arg("bias", "float"))
def _leaf_winograd_output():
    return Call(_C._leaf_winograd_output, m=2, s=f32(16, _C.gemm_tile()[1]), bias=0.5)


@entry("_leaf_conv_ukr", Arg("a_base", "array"), Arg("a_off", "array"), Arg("a_step", "int"),
       Arg("b", "array"), Arg("c", "out"), Arg("m", "int"), Arg("n", "int"),
       Arg("accumulate", "bool"))
def _leaf_conv_ukr():
    mr, nr = _C._conv_tile()
    k, step = 3, 2
    return Call(_C._leaf_conv_ukr, a_base=f32(40 + mr * step), a_off=np.array([0, 7, 39]),
                a_step=step, b=f32(k, nr, seed=1), c=f32(mr, nr + 3, seed=2), m=mr, n=nr - 1,
                accumulate=True)


@entry("_leaf_conv_wgrad_ukr", Arg("a", "array"), Arg("rows", "int"), Arg("row_len", "int"),
       Arg("a_stride", "int"), Arg("a_step", "int"), Arg("b", "array"), Arg("c", "out"),
       Arg("n", "int"), Arg("accumulate", "bool"))
def _leaf_conv_wgrad_ukr():
    mr, nr = _C._conv_tile()
    rows, row_len, stride, step = 3, 4, 9, 2
    return Call(_C._leaf_conv_wgrad_ukr, a=f32(mr, rows * stride), rows=rows, row_len=row_len,
                a_stride=stride, a_step=step, b=f32(rows * row_len, nr, seed=1),
                c=f32(mr, nr, seed=2), n=nr, accumulate=True)


# -- layer norm, embedding, reductions (bind_norm.cpp) ---------------------------------------------
@entry("layernorm_forward", X, Arg("weight", "array"), Arg("bias", "array"),
       Arg("normalized_ndim", "int"), Arg("eps", "float"))
def _ln_fwd():
    return Call(_C.layernorm_forward, x=f32(2, 3, 5), weight=f32(15, seed=1), bias=f32(15, seed=2),
                normalized_ndim=2, eps=1e-5)


@entry("layernorm_backward", DY, X, Arg("mean", "array"), Arg("rstd", "array"),
       Arg("weight", "array"), Arg("normalized_ndim", "int"), Arg("need_dx", "bool"),
       Arg("dweight", "out"), Arg("dbias", "out"))
def _ln_bwd():
    x, w = f32(2, 3, 5), f32(5, seed=1)
    _, mean, rstd = _C.layernorm_forward(x, w, None, 1, 1e-5)
    return Call(_C.layernorm_backward, dy=f32(2, 3, 5, seed=2), x=x, mean=mean, rstd=rstd,
                weight=w, normalized_ndim=1, need_dx=True, dweight=np.zeros(5, np.float32),
                dbias=np.zeros(5, np.float32))


@entry("embedding_forward", Arg("input", "array"), Arg("weight", "array"))
def _emb_fwd():
    return Call(_C.embedding_forward, input=np.array([[0, 3], [2, 3]]), weight=f32(4, 6))


@entry("embedding_backward", Arg("dy", "array", ["grad_output"]), Arg("input", "array"),
       Arg("dweight", "out"), Arg("padding_idx", "int"), Arg("scale_grad_by_freq", "bool"))
def _emb_bwd():
    return Call(_C.embedding_backward, dy=f32(2, 2, 6), input=np.array([[0, 3], [2, 3]]),
                dweight=np.zeros((4, 6), np.float32), padding_idx=2, scale_grad_by_freq=True)


@entry("embedding_renorm", Arg("input", "array"), Arg("weight", "out"), Arg("max_norm", "float"),
       Arg("norm_type", "float"))
def _emb_renorm():
    return Call(_C.embedding_renorm, input=np.array([[0, 3], [2, 3]]), weight=f32(4, 6),
                max_norm=0.5, norm_type=2.0)


@entry("reduce_forward", X, Arg("start", "int"), Arg("stop", "int"), Arg("op", "str"))
def _reduce_fwd():
    return Call(_C.reduce_forward, x=f32(2, 3, 4, 5), start=1, stop=3, op="max")


@entry("reduce_backward", DY, X, Arg("y", "array", ["output"]), Arg("start", "int"),
       Arg("stop", "int"), Arg("op", "str"))
def _reduce_bwd():
    x = f32(2, 3, 4, 5)
    return Call(_C.reduce_backward, dy=f32(2, 5, seed=1), x=x,
                y=_C.reduce_forward(x, 1, 3, "max"), start=1, stop=3, op="max")


@entry("window_out_size", Arg("size", "ints", ["input size"], length=2), pair("kernel_size"),
       pair("stride"), pair("padding"), pair("dilation"), Arg("ceil_mode", "bool"))
def _window_out_size():
    return Call(_C.window_out_size, size=(6, 7), kernel_size=(3, 2), stride=(2, 1),
                padding=(1, 0), dilation=(1, 2), ceil_mode=True)
