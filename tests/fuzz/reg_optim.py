"""Fuzz registry, optimizers (bind_optim.cpp): the fused optimizers' OptimTable, the group check
and gradient clipping. Valid calls mirror fastnn/optim/optimizer.py, adam.py and clip.py."""
import numpy as np

from fastnn import _C

from .core import Arg, Call, registrar
from .reg_dense import f32

ENTRIES = []
entry = registrar(ENTRIES)

# Adam with amsgrad (all three state buffers): lr, weight_decay, l1, max_norm, momentum,
# dampening, alpha, beta1, beta2, eps, lr_decay, nesterov, centered, amsgrad, decoupled.
ADAM = (1e-3, 1e-2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.9, 0.999, 1e-8, 0.0, 0.0, 0.0, 1.0, 0.0)
SHAPES = ((3, 4), (5,))
TOTAL = 17


def table_args():
    params = [f32(*s, seed=i) for i, s in enumerate(SHAPES)]
    return dict(kind="adam", params=params, grads=[f32(*s, seed=5 + i) for i, s in enumerate(SHAPES)],
                masks=[np.ones(s, np.float32) for s in SHAPES], groups=[0, 0], active=[True, True],
                buffers=[np.zeros(TOTAL, np.float32) for _ in range(3)],
                steps=np.zeros(len(SHAPES), np.int64))


def use_table(table):
    """A table the constructor accepted must also step and zero its gradients cleanly."""
    table.step([ADAM])
    table.zero_grad()
    return table.total


@entry("OptimTable", Arg("kind", "str"), Arg("params", "outs"), Arg("grads", "outs"),
       Arg("masks", "arrays"), Arg("groups", "ints", length=2), Arg("active", "ints", length=2,
                                                                  elem="bool"),
       Arg("buffers", "outs", ["buffers", "state buffer"]), Arg("steps", "out"))
def _table():
    return Call(_C.OptimTable, then=use_table, **table_args())


@entry("OptimTable.step", Arg("groups", "seqs", length=15, elem="float"))
def _table_step():
    return Call(_C.OptimTable(**table_args()).step, groups=[ADAM])


@entry("optim_check_group", Arg("kind", "str"), Arg("hyper", "floats", length=15),
       Arg("index", "int"))
def _check_group():
    return Call(_C.optim_check_group, kind="adam", hyper=ADAM, index=0)


def grads():
    return [f32(3, 4), f32(5, seed=1), f32(2, 2, 2, seed=2)]


@entry("clip_grad_norm", Arg("grads", "outs"), Arg("max_norm", "float"),
       Arg("norm_type", "float"), Arg("error_if_nonfinite", "bool"))
def _clip_norm():
    return Call(_C.clip_grad_norm, grads=grads(), max_norm=0.5, norm_type=2.0,
                error_if_nonfinite=True)


@entry("grad_norm", Arg("grads", "outs"), Arg("norm_type", "float"))
def _grad_norm():
    return Call(_C.grad_norm, grads=grads(), norm_type=float("inf"))


@entry("clip_grad_value", Arg("grads", "outs"), Arg("clip_value", "float"))
def _clip_value():
    return Call(_C.clip_grad_value, grads=grads(), clip_value=0.25)


# No-argument members: a table's total and zero_grad.
def _table_member(attr):
    def build():
        table = _C.OptimTable(**table_args())
        return Call(getattr(table, attr) if attr == "zero_grad" else lambda: table.total)
    return build


for _attr in ("total", "zero_grad"):
    entry("OptimTable." + _attr)(_table_member(_attr))
