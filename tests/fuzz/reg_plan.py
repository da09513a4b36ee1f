"""Fuzz registry, the compiled inference plan (bind_plan.cpp): the constructor and every method,
each valid call made on a fresh plan whose slots fit it (mirroring fastnn/nn/_plan.py)."""
import numpy as np

from fastnn import _C

from .core import Arg, Call, registrar
from .reg_dense import f32

ENTRIES = []
entry = registrar(ENTRIES)

RELU = (_C.Unary.relu, 0.0, 0.0)


def plan(*sizes):
    """A plan over slots of the given sizes: slot 0 the input, the last slot the output."""
    return _C.InferencePlan(list(sizes), [0], [len(sizes) - 1])


def run_one(p, size=None):
    """What a plan accepted must also run: two samples through it (when the op was added)."""
    def then(_):
        if p.n_ops:
            p.run([f32(2, size)])
    return then


@entry("InferencePlan", Arg("slot_sizes", "obj"), Arg("inputs", "obj"), Arg("outputs", "obj"))
def _ctor():
    return Call(_C.InferencePlan, slot_sizes=[4, 6], inputs=[0], outputs=[1])


@entry("InferencePlan.conv2d", Arg("inp", "int"), Arg("out", "int"), Arg("weight", "array"),
       Arg("bias", "array"), Arg("chw", "ints", length=3, elem="size"),
       Arg("stride", "ints", length=2), Arg("padding", "ints", length=2),
       Arg("dilation", "ints", length=2), Arg("groups", "int"), Arg("algorithm", "str"),
       Arg("bn", "obj"), Arg("act", "obj"))
def _conv2d():
    p = plan(2 * 5 * 5, 3 * 5 * 5)
    return Call(p.conv2d, then=run_one(p, 50), inp=0, out=1, weight=f32(3, 2, 3, 3),
                bias=f32(3, seed=1), chw=(2, 5, 5), stride=(1, 1), padding=(1, 1),
                dilation=(1, 1), groups=1, algorithm="auto",
                bn=(f32(3, seed=2), None, f32(3, seed=3), np.ones(3, np.float32), 1e-5), act=RELU)


@entry("InferencePlan.linear", Arg("inp", "int"), Arg("out", "int"), Arg("weight", "array"),
       Arg("bias", "array"), Arg("bn", "obj"), Arg("act", "obj"))
def _linear():
    p = plan(4, 3)
    return Call(p.linear, then=run_one(p, 4), inp=0, out=1, weight=f32(3, 4), bias=f32(3, seed=1),
                bn=None, act=(_C.Unary.leaky_relu, 0.1, 0.0))


@entry("InferencePlan.pool2d", Arg("inp", "int"), Arg("out", "int"), Arg("is_max", "bool"),
       Arg("chw", "ints", length=3, elem="size"), Arg("kernel", "ints", length=2),
       Arg("stride", "ints", length=2), Arg("padding", "ints", length=2),
       Arg("dilation", "ints", length=2), Arg("ceil_mode", "bool"),
       Arg("count_include_pad", "bool"), Arg("act", "obj"))
def _pool2d():
    p = plan(2 * 6 * 6, 2 * 3 * 3)
    return Call(p.pool2d, then=run_one(p, 72), inp=0, out=1, is_max=True, chw=(2, 6, 6),
                kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), ceil_mode=False,
                count_include_pad=True, act=None)


@entry("InferencePlan.global_avgpool", Arg("inp", "int"), Arg("out", "int"),
       Arg("channels", "size"), Arg("inner", "size"), Arg("act", "obj"))
def _gap():
    p = plan(12, 3)
    return Call(p.global_avgpool, then=run_one(p, 12), inp=0, out=1, channels=3, inner=4,
                act=RELU)


@entry("InferencePlan.unary", Arg("inp", "int"), Arg("out", "int"), Arg("act", "obj"))
def _unary():
    p = plan(5, 5)
    return Call(p.unary, then=run_one(p, 5), inp=0, out=1, act=(_C.Unary.hardtanh, -1.0, 1.0))


@entry("InferencePlan.batchnorm", Arg("inp", "int"), Arg("out", "int"), Arg("channels", "size"),
       Arg("inner", "size"), Arg("bn", "obj"), Arg("act", "obj"))
def _bn():
    p = plan(6, 6)
    return Call(p.batchnorm, then=run_one(p, 6), inp=0, out=1, channels=3, inner=2,
                bn=(None, f32(3), f32(3, seed=1), np.ones(3, np.float32), 1e-5), act=None)


@entry("InferencePlan.add", Arg("a", "int"), Arg("b", "int"), Arg("out", "int"),
       Arg("act", "obj"))
def _add():
    p = plan(4, 4, 4)
    p.unary(0, 1, RELU)
    return Call(p.add, then=run_one(p, 4), a=0, b=1, out=2, act=RELU)


@entry("InferencePlan.concat", Arg("inputs", "obj"), Arg("out", "int"), Arg("act", "obj"))
def _concat():
    p = plan(4, 4, 8)
    p.unary(0, 1, RELU)
    return Call(p.concat, then=run_one(p, 4), inputs=[0, 1], out=2, act=None)


@entry("InferencePlan.softmax", Arg("inp", "int"), Arg("out", "int"), Arg("dim", "size"),
       Arg("inner", "size"), Arg("log", "bool"))
def _softmax():
    p = plan(6, 6)
    return Call(p.softmax, then=run_one(p, 6), inp=0, out=1, dim=3, inner=2, log=True)


@entry("InferencePlan.chunk_for", Arg("n", "size"))
def _chunk_for():
    p = plan(4, 4)
    p.unary(0, 1, RELU)
    return Call(p.chunk_for, n=64)


@entry("InferencePlan.run", Arg("inputs", "arrays", ["inputs", "input 0"]))
def _run():
    p = plan(4, 3)
    p.linear(0, 1, f32(3, 4), None)
    return Call(p.run, inputs=[f32(5, 4)])


def _n_ops():
    p = plan(4, 4)
    return Call(lambda: p.n_ops)


entry("InferencePlan.n_ops")(_n_ops)


@entry("InferencePlan.set_profiling", Arg("on", "bool"))
def _set_profiling():
    p = plan(4, 4)
    p.unary(0, 1, RELU)
    return Call(p.set_profiling, then=run_one(p, 4), on=True)


def _op_seconds():
    p = plan(4, 4)
    p.unary(0, 1, RELU)
    return Call(p.op_seconds)


entry("InferencePlan.op_seconds")(_op_seconds)


@entry("InferencePlan.set_chunk_bytes", Arg("bytes", "size"))
def _set_chunk_bytes():
    p = plan(4, 4)
    p.unary(0, 1, RELU)
    return Call(p.set_chunk_bytes, then=run_one(p, 4), bytes=64)
