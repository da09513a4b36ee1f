"""The fuzz registry's building blocks: an argument spec (Arg), a registry entry (Entry: how to
build one valid call and which arguments it has), the mutation space of an entry and the code that
applies a mutation to a built call."""
import re

import numpy as np

from . import hostile as H


class Arg:
    """One argument of a call: its keyword `name`, its `kind` (see hostile.py) and the names its
    error messages may use for it (`names`, default (name,)). `length`: the length of an ints /
    floats sequence; `elem`: the scalar kind of its elements (int or size)."""

    def __init__(self, name, kind, names=None, length=None, elem="int"):
        self.name, self.kind, self.length, self.elem = name, kind, length, elem
        self.names = tuple(names) if names else (name,)

    @property
    def is_array(self):
        return self.kind in H.ARRAY_KINDS or self.kind in H.LIST_KINDS


class Call:
    """A callable and the keyword arguments of one valid call of it. `then(result)`, if given,
    runs after a normal return: it uses what the call built (an OptimTable's step, a
    SparseMatrix's products), so an argument accepted by a constructor but bad for later use is
    found too. Its exceptions are judged as the call's."""

    def __init__(self, fn, then=None, **kwargs):
        self.fn, self.then, self.kwargs = fn, then, kwargs

    def __call__(self):
        result = self.fn(**self.kwargs)
        if self.then is not None:
            self.then(result)
        return result


class Entry:
    """A registry entry: `build()` returns a fresh valid Call (new arrays every time: calls update
    some in place); `args`: the Arg of every argument the fuzzer may replace (() for names that
    take no argument: build_info, properties, ...)."""

    def __init__(self, name, build, args):
        self.name, self.build, self.args = name, build, tuple(args)
        self._space = None

    def arg(self, path):
        return next(a for a in self.args if a.name == split_path(path)[0])

    def array_paths(self, call):
        """Paths of every array in a valid call (arguments, and elements of list arguments)."""
        paths = []
        for a in self.args:
            if a.kind in H.ARRAY_KINDS:
                paths.append(a.name)
            elif a.kind in H.LIST_KINDS:
                paths += [f"{a.name}[{i}]" for i, v in enumerate(call.kwargs[a.name])
                          if isinstance(v, np.ndarray)]
        return paths

    def space(self):
        """Every (path, op) single mutation of this entry, in a fixed order."""
        if self._space is None:
            call = self.build()
            arrays = self.array_paths(call)
            space = []
            for a in self.args:
                v = call.kwargs[a.name]
                if a.kind in H.ARRAY_KINDS:
                    others = [p for p in arrays if p != a.name]
                    space += [(a.name, op) for op in H.array_ops(v, a.kind, others)]
                elif a.kind in H.LIST_KINDS:
                    space += [(a.name, op) for op in H.LIST_OPS + H.GENERIC]
                    kind = "out" if a.kind == "outs" else "array"
                    elems = [i for i, e in enumerate(v) if isinstance(e, np.ndarray)]
                    for i in sorted({elems[0], elems[-1]}) if elems else ():
                        path = f"{a.name}[{i}]"
                        others = [p for p in arrays if p != path]
                        space += [(path, op) for op in H.array_ops(v[i], kind, others)]
                elif a.kind in ("ints", "floats"):
                    elem = H.FLOATS if a.kind == "floats" else _SCALAR_OPS[a.elem]
                    space += [(a.name, op) for op in H.seq_ops(a.length, elem)]
                elif a.kind == "seqs":  # a list of fixed-length sequences: each inner one too
                    space += [(a.name, op) for op in H.LIST_OPS + H.GENERIC]
                    for i in range(len(v)):
                        space += [(a.name, f"inner{i}:{op}")
                                  for op in H.seq_ops(a.length, _SCALAR_OPS[a.elem])]
                else:
                    space += [(a.name, op) for op in _SCALAR_OPS[a.kind]]
            self._space = space
        return self._space


def registrar(entries):
    """The `@entry(name, *args)` decorator of a registry module: it appends an Entry to
    `entries` whose builder is the decorated function."""
    def entry(name, *args):
        def register(build):
            entries.append(Entry(name, build, args))
            return build
        return register
    return entry


_SCALAR_OPS = {"int": H.INTS, "size": H.SIZES, "float": H.FLOATS, "bool": H.BOOLS,
               "str": H.STRS, "obj": H.OBJS, "any": H.GENERIC}

_PATH = re.compile(r"^(\w+)(?:\[(\d+)\])?$")


def split_path(path):
    name, idx = _PATH.match(path).groups()
    return name, None if idx is None else int(idx)


def get(call, path):
    name, idx = split_path(path)
    v = call.kwargs[name]
    return v if idx is None else v[idx]


def put(call, path, value):
    name, idx = split_path(path)
    if idx is None:
        call.kwargs[name] = value
    else:
        lst = list(call.kwargs[name])
        lst[idx] = value
        call.kwargs[name] = lst


def other_object(value):
    """An opaque _C object of the other class than `value`'s (a wrong-type object argument)."""
    from fastnn import _C
    if isinstance(value, _C.SparseMatrix):
        return _C.pack_weights_s8(np.ones((2, 3), np.int8))
    return _C.SparseMatrix.from_dense(np.eye(3, dtype=np.float32))


def apply(entry, call, path, op):
    """Replace the argument at `path` of the built `call` as `op` says (in place)."""
    arg = entry.arg(path)
    cur = get(call, path)
    elem = split_path(path)[1] is not None
    if arg.kind in H.ARRAY_KINDS or (arg.kind in H.LIST_KINDS and elem):
        if op.startswith("alias:"):
            other = op[len("alias:"):]
            try:
                src = get(call, other)
            except (TypeError, IndexError, KeyError):  # the other one was replaced: no alias
                src = None
            if isinstance(src, np.ndarray):
                out, src = H.alias(cur, src)
                put(call, other, src)
                put(call, path, out)
        else:
            put(call, path, H.mutate_array(cur, op))
    elif arg.kind in H.LIST_KINDS:
        put(call, path, H.mutate_list(cur, op) if op in H.LIST_OPS else H.scalar_value(op))
    elif arg.kind in ("ints", "floats"):
        put(call, path, H.mutate_seq(cur, op))
    elif arg.kind == "seqs" and op.startswith("inner"):
        i, _, inner = op[len("inner"):].partition(":")
        seqs = list(cur)
        seqs[int(i)] = H.mutate_seq(seqs[int(i)], inner)
        put(call, path, seqs)
    elif arg.kind == "seqs":
        put(call, path, H.mutate_list(cur, op) if op in H.LIST_OPS else H.scalar_value(op))
    elif op == "other_obj":
        put(call, path, other_object(cur))
    else:
        put(call, path, H.scalar_value(op))
