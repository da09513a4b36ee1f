"""Fuzz registry, dense layers: GEMM (bind_gemm.cpp), Linear (bind_linear.cpp), activations,
softmax and dropout (bind_elementwise.cpp), losses (bind_loss.cpp). Valid calls mirror the callers
in fastnn/ops.py, fastnn/nn/linear.py, activation.py, dropout.py and loss.py."""
import numpy as np

from fastnn import _C

from .core import Arg, Call, registrar


def f32(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


ENTRIES = []
entry = registrar(ENTRIES)


# -- GEMM ------------------------------------------------------------------------------------------
@entry("matmul", Arg("a", "array"), Arg("b", "array"), Arg("trans_a", "bool"),
       Arg("trans_b", "bool"), Arg("bias", "array"), Arg("act", "obj"), Arg("act_param", "float"),
       Arg("alpha", "float"), Arg("out", "out"), Arg("beta", "float"))
def _matmul():
    return Call(_C.matmul, a=f32(3, 5), b=f32(5, 4, seed=1), trans_a=False, trans_b=False,
                bias=f32(4, seed=2), act=_C.Unary.leaky_relu, act_param=0.1, alpha=1.0,
                out=np.zeros((3, 4), np.float32), beta=1.0)


@entry("matmul_reference", Arg("a", "array"), Arg("b", "array"))
def _matmul_reference():
    return Call(_C.matmul_reference, a=f32(3, 5), b=f32(5, 4, seed=1))


# -- Linear ----------------------------------------------------------------------------------------
LAYER = "Linear(5, 4)"


@entry("linear_forward", Arg("x", "array", ["input"]), Arg("weight", "array"),
       Arg("bias", "array"), Arg("act", "obj"), Arg("act_param", "float"), Arg("layer", "str"))
def _linear_forward():
    return Call(_C.linear_forward, x=f32(3, 5), weight=f32(4, 5, seed=1), bias=f32(4, seed=2),
                act=_C.Unary.leaky_relu, act_param=0.01, layer=LAYER)


@entry("linear_backward", Arg("grad_out", "array"), Arg("x", "array", ["input"]),
       Arg("weight", "array"), Arg("weight_grad", "out", ["weight.grad"]),
       Arg("bias_grad", "out", ["bias.grad"]), Arg("need_input_grad", "bool"),
       Arg("layer", "str"))
def _linear_backward():
    return Call(_C.linear_backward, grad_out=f32(3, 4), x=f32(3, 5, seed=1),
                weight=f32(4, 5, seed=2), weight_grad=np.zeros((4, 5), np.float32),
                bias_grad=np.zeros(4, np.float32), need_input_grad=True, layer=LAYER)


@entry("colsum_accumulate", Arg("x", "array"), Arg("out", "out"))
def _colsum():
    return Call(_C.colsum_accumulate, x=f32(3, 5), out=np.zeros(5, np.float32))


# -- activations, softmax, dropout -----------------------------------------------------------------
@entry("add", Arg("a", "array"), Arg("b", "array"), Arg("out", "out"), Arg("relu", "bool"),
       Arg("layer", "str"))
def _add():  # the Add layer's forward and the graph executor's gradient sums
    return Call(_C.add, a=f32(2, 3, 4), b=f32(2, 3, 4, seed=1), out=np.zeros((2, 3, 4), np.float32),
                relu=True, layer="Add")


@entry("unary_forward", Arg("x", "array", ["input"]), Arg("code", "obj"), Arg("param", "float"),
       Arg("layer", "str"), Arg("stats", "out"), Arg("param2", "float"))
def _unary_forward():  # a two-constant activation (param2: hardtanh, hardsigmoid, softplus)
    return Call(_C.unary_forward, x=f32(2, 3, 4), code=_C.Unary.softplus, param=2.0,
                layer="Softplus(beta=2.0)",
                stats=np.zeros(3 + 3), param2=20.0)


@entry("act_stats", Arg("values", "array"), Arg("stats", "out"), Arg("layer", "str"))
def _act_stats():
    return Call(_C.act_stats, values=f32(2, 3, 4), stats=np.zeros(3 + 3), layer="ReLU()")


@entry("unary_backward", Arg("x", "array", ["input"]), Arg("y", "array", ["output"]),
       Arg("grad_out", "array"), Arg("code", "obj"), Arg("param", "float"), Arg("layer", "str"),
       Arg("stats", "out"), Arg("param2", "float"))
def _unary_backward():
    x = f32(2, 3, 4)
    return Call(_C.unary_backward, x=x, y=_C.unary_forward(x, _C.Unary.gelu),
                grad_out=f32(2, 3, 4, seed=1), code=_C.Unary.gelu, param=0.0, layer="GELU()",
                stats=np.zeros(3 + 3), param2=0.0)


@entry("vmath", Arg("x", "array"), Arg("function", "str"))
def _vmath():
    return Call(_C.vmath, x=f32(2, 3, 4), function="phi_tail")


@entry("unary_backward_needs_input", Arg("code", "obj"), Arg("param", "float"))
def _unary_needs():
    return Call(_C.unary_backward_needs_input, code=_C.Unary.elu, param=1.0)


@entry("softmax_forward", Arg("x", "array", ["input"]), Arg("dim", "int"), Arg("layer", "str"))
def _softmax_forward():
    return Call(_C.softmax_forward, x=f32(2, 3, 4), dim=1, layer="Softmax(dim=1)")


@entry("softmax_backward", Arg("y", "array", ["output", "input"]), Arg("grad_out", "array"),
       Arg("dim", "int"), Arg("layer", "str"))
def _softmax_backward():
    y = _C.softmax_forward(f32(2, 3, 4), -1)
    return Call(_C.softmax_backward, y=y, grad_out=f32(2, 3, 4, seed=1), dim=-1,
                layer="Softmax(dim=-1)")


@entry("log_softmax_forward", Arg("x", "array", ["input"]), Arg("dim", "int"),
       Arg("layer", "str"))
def _log_softmax_forward():
    return Call(_C.log_softmax_forward, x=f32(2, 3, 4), dim=1, layer="LogSoftmax(dim=1)")


@entry("log_softmax_backward", Arg("y", "array", ["output", "input"]), Arg("grad_out", "array"),
       Arg("dim", "int"), Arg("layer", "str"))
def _log_softmax_backward():
    y = _C.log_softmax_forward(f32(2, 3, 4), -1)
    return Call(_C.log_softmax_backward, y=y, grad_out=f32(2, 3, 4, seed=1), dim=-1,
                layer="LogSoftmax(dim=-1)")


@entry("prelu_forward", Arg("x", "array", ["input"]), Arg("weight", "array"), Arg("layer", "str"))
def _prelu_forward():
    return Call(_C.prelu_forward, x=f32(2, 3, 4), weight=f32(3, seed=1),
                layer="PReLU(num_parameters=3)")


@entry("prelu_backward", Arg("x", "array", ["input"]), Arg("weight", "array"),
       Arg("grad_out", "array"), Arg("weight_grad", "out", ["weight.grad"]), Arg("layer", "str"))
def _prelu_backward():
    return Call(_C.prelu_backward, x=f32(2, 3, 4), weight=f32(3, seed=1),
                grad_out=f32(2, 3, 4, seed=2), weight_grad=np.zeros(3, np.float32),
                layer="PReLU(num_parameters=3)")


@entry("dropout_forward", Arg("x", "array", ["input"]), Arg("p", "float"), Arg("seed", "int"),
       Arg("layer", "str"))
def _dropout_forward():
    return Call(_C.dropout_forward, x=f32(3, 7), p=0.25, seed=1234, layer="Dropout(p=0.25)")


@entry("dropout_backward", Arg("grad_out", "array"), Arg("p", "float"), Arg("seed", "int"),
       Arg("layer", "str"))
def _dropout_backward():
    return Call(_C.dropout_backward, grad_out=f32(3, 7), p=0.25, seed=1234,
                layer="Dropout(p=0.25)")


@entry("dropout_mask", Arg("n", "size"), Arg("p", "float"), Arg("seed", "int"))
def _dropout_mask():
    return Call(_C.dropout_mask, n=17, p=0.5, seed=7)


# -- losses ----------------------------------------------------------------------------------------
@entry("cross_entropy_forward", Arg("input", "array"), Arg("target", "array"),
       Arg("weight", "array"), Arg("label_smoothing", "float"), Arg("reduction", "str"),
       Arg("layer", "str"))
def _ce_forward():
    return Call(_C.cross_entropy_forward, input=f32(4, 5), target=np.array([0, 4, 2, 1]),
                weight=np.abs(f32(5, seed=1)), label_smoothing=0.1, reduction="mean",
                layer="CrossEntropyLoss()")


@entry("cross_entropy_backward", Arg("input", "array"), Arg("target", "array"),
       Arg("weight", "array"), Arg("label_smoothing", "float"), Arg("reduction", "str"),
       Arg("lse", "array"), Arg("grad", "array"), Arg("layer", "str"))
def _ce_backward():
    x, t, w = f32(4, 5), np.array([0, 4, 2, 1]), np.abs(f32(5, seed=1))
    _, lse = _C.cross_entropy_forward(x, t, w, 0.1, "none")
    return Call(_C.cross_entropy_backward, input=x, target=t, weight=w, label_smoothing=0.1,
                reduction="none", lse=lse, grad=f32(4, seed=2), layer="CrossEntropyLoss()")


_PW = (Arg("kind", "obj"), Arg("input", "array"), Arg("target", "array"), Arg("weight", "array"),
       Arg("pos_weight", "array"), Arg("delta", "float"), Arg("reduction", "str"))


@entry("pointwise_loss_forward", *_PW, Arg("layer", "str"))
def _pw_forward():
    return Call(_C.pointwise_loss_forward, kind=_C.PointwiseLossKind.bce_logits, input=f32(3, 4),
                target=(f32(3, 4, seed=1) > 0).astype(np.float32), weight=np.abs(f32(3, 4, seed=2)),
                pos_weight=np.abs(f32(4, seed=3)), delta=1.0, reduction="mean",
                layer="BCEWithLogitsLoss()")


@entry("pointwise_loss_backward", *_PW, Arg("grad", "array"), Arg("layer", "str"))
def _pw_backward():
    return Call(_C.pointwise_loss_backward, kind=_C.PointwiseLossKind.bce_logits, input=f32(3, 4),
                target=(f32(3, 4, seed=1) > 0).astype(np.float32), weight=np.abs(f32(3, 4, seed=2)),
                pos_weight=np.abs(f32(1, seed=3)), delta=0.5, reduction="none",
                grad=f32(3, 4, seed=4), layer="BCEWithLogitsLoss()")


# -- the enums of fastnn._C (enum_list.h): the constructor from an int, and name / value / label.
# Their constants (Unary.relu, ...) are values, not calls (registry.public_names skips them).
def _enum_entries(cls):
    entry(cls.__name__, Arg("value", "int"))(lambda: Call(cls, value=1))
    for attr in ("name", "value", "label"):
        member = next(iter(cls.__members__.values()))
        entry(f"{cls.__name__}.{attr}")(lambda a=attr, m=member: Call(lambda: getattr(m, a)))


for _enum in (_C.Unary, _C.PointwiseLossKind, _C.OptimKind):
    _enum_entries(_enum)


# -- micro-kernel test hooks (bind_ukr.cpp) --------------------------------------------------------
@entry("_ukr_f32_gemm", Arg("a", "array"), Arg("b", "array"), Arg("c", "array"), Arg("m", "int"),
       Arg("n", "int"), Arg("alpha", "float"), Arg("accumulate", "bool"), Arg("tile", "str"))
def _ukr_f32_gemm():
    mr, nr = _C._ukr_tiles()["f32_main"]
    return Call(_C._ukr_f32_gemm, a=f32(3, mr), b=f32(3, nr, seed=1), c=f32(mr, nr + 2, seed=2),
                m=mr, n=nr, alpha=1.0, accumulate=True, tile="main")
