"""Fuzz registry, optimizers (bind_optim.cpp): the fused optimizers' OptimTable, the group check
and gradient clipping. Valid calls mirror fastnn/optim/optimizer.py, adam.py and clip.py."""
import numpy as np

from fastnn import _C

from .core import Arg, Call, registrar
from .reg_dense import f32

ENTRIES = []
entry = registrar(ENTRIES)

# Adam with amsgrad (all three state buffers).
ADAM = dict(lr=1e-3, weight_decay=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, amsgrad=True)
# Every field of OptimHyper (ops.h FASTNN_OPTIM_GROUP_FIELDS) and its scalar kind.
HYPER_FIELDS = {**{f: "float" for f in ("lr", "weight_decay", "l1", "max_norm", "momentum",
                                         "dampening", "alpha", "beta1", "beta2", "eps",
                                         "lr_decay")},
                **{f: "bool" for f in ("nesterov", "centered", "amsgrad", "decoupled")}}


def adam():
    return _C.OptimHyper(**ADAM)
SHAPES = ((3, 4), (5,))
TOTAL = 17


def table_args():
    params = [f32(*s, seed=i) for i, s in enumerate(SHAPES)]
    return dict(kind=_C.OptimKind.adam, params=params,
                grads=[f32(*s, seed=5 + i) for i, s in enumerate(SHAPES)],
                masks=[np.ones(s, np.float32) for s in SHAPES], groups=[0, 0], active=[True, True],
                buffers=[np.zeros(TOTAL, np.float32) for _ in range(3)],
                steps=np.zeros(len(SHAPES), np.int64))


def use_table(table):
    """A table the constructor accepted must also step and zero its gradients cleanly."""
    table.step([adam()])
    table.zero_grad()
    return table.total


@entry("OptimTable", Arg("kind", "obj"), Arg("params", "outs"), Arg("grads", "outs"),
       Arg("masks", "arrays"), Arg("groups", "ints", length=2), Arg("active", "ints", length=2,
                                                                  elem="bool"),
       Arg("buffers", "outs", ["buffers", "state buffer"]), Arg("steps", "out"))
def _table():
    return Call(_C.OptimTable, then=use_table, **table_args())


@entry("OptimTable.step", Arg("groups", "any"))
def _table_step():
    return Call(_C.OptimTable(**table_args()).step, groups=[adam()])


@entry("optim_check_group", Arg("kind", "obj"), Arg("hyper", "obj"), Arg("index", "int"))
def _check_group():
    return Call(_C.optim_check_group, kind=_C.OptimKind.adam, hyper=adam(), index=0)


@entry("OptimHyper", *(Arg(f, k) for f, k in HYPER_FIELDS.items()))
def _hyper():
    return Call(_C.OptimHyper, **{**{f: 0.0 if k == "float" else False
                                     for f, k in HYPER_FIELDS.items()}, **ADAM})


# A field assigned a value: the hyper-parameters then go through optim_check_group (the frame).
def _hyper_field(field, kind):
    def build():
        h = adam()
        return Call(lambda value: setattr(h, field, value),
                    then=lambda _: _C.optim_check_group(_C.OptimKind.adam, h, 0),
                    value=getattr(h, field))
    return entry("OptimHyper." + field, Arg("value", kind))(build)


for _f, _k in HYPER_FIELDS.items():
    _hyper_field(_f, _k)


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
