"""Per-call saved state, grad mode and the tape of define-by-run modules.

What a layer keeps between ``forward`` and ``backward`` (its input, its output, a pooling
argmax...) does not live on the layer: each call gets a ``Record`` and the layer's saved
attributes -- the names in its class's ``_per_call`` -- read and write that record. So a layer
called twice (a shared encoder, a layer reused in a graph) keeps both calls apart, a forward in
another thread never disturbs a training step, and the memory of a call is freed as soon as its
backward has run.

Where a record lives:
  * a call through ``Module.__call__`` pushes a new record on this thread's stack while the
    forward runs; afterwards (in grad mode) it becomes a child of the caller's record and the
    module's latest call for this thread;
  * ``backward`` (every ``backward`` a Module subclass defines is wrapped) takes the caller's
    latest unconsumed child record of that module (so backwards that run in the reverse order of
    the forwards find their own calls), else the module's latest call; it is consumed when
    the backward returns (a second backward after one forward is an error, not gradients added
    twice), and kept when the backward raises (nothing lost);
  * under ``no_grad()`` / ``inference_mode()`` nothing is kept at all.

A module that defines ``forward`` only (define-by-run) gets its backward from its record's
children: every sub-layer call and functional op (``fastnn.add``, ``fastnn.cat``...) made inside
its forward, matched by the identity of the arrays passed between them.
"""
import contextlib
import threading
import weakref

import numpy as np

__all__ = ["no_grad", "enable_grad", "is_grad_enabled", "inference_mode"]


class _State(threading.local):
    def __init__(self):
        self.grad = True
        self.inference = False
        self.stack = []
        self.produced = []  # the outputs of the latest top-level calls, for LossValue.backward


_tls = _State()
_KEEP_PRODUCED = 4


def _note_outputs(module, out):
    many = isinstance(out, tuple)
    refs = []
    for o in (out if many else (out,)):
        try:
            refs.append(weakref.ref(o))
        except TypeError:
            refs.append(None)
    lst = _tls.produced
    lst.append((module, refs, many))
    del lst[:-_KEEP_PRODUCED]


def producer_of(arr):
    """(module, output index, number of outputs, several?) of the latest top-level call on this
    thread that returned ``arr``, or None."""
    for module, refs, many in reversed(_tls.produced):
        for k, r in enumerate(refs):
            if r is not None and r() is arr:
                return module, k, len(refs), many
    return None


@contextlib.contextmanager
def no_grad():
    """Inside the block, calls keep nothing for backward (inference; thread-local, nestable)."""
    before = _tls.grad
    _tls.grad = False
    try:
        yield
    finally:
        _tls.grad = before


@contextlib.contextmanager
def enable_grad():
    before = _tls.grad
    _tls.grad = True
    try:
        yield
    finally:
        _tls.grad = before


def is_grad_enabled():
    return _tls.grad


@contextlib.contextmanager
def inference_mode():
    """This thread sees every module in eval mode (BatchNorm uses its running statistics,
    Dropout is the identity) and keeps nothing for backward -- without changing any module's
    ``training`` flag, so a model can predict in one thread while ``fit`` trains it in another.
    ``fastnn.predict`` and ``fastnn.evaluate`` run under it."""
    before = (_tls.grad, _tls.inference)
    _tls.grad, _tls.inference = False, True
    try:
        yield
    finally:
        _tls.grad, _tls.inference = before


def inference_active():
    return _tls.inference


class Record:
    """One call of one module: its saved attributes, the calls made inside it (children) and, for
    the tape of a define-by-run parent, the arrays it took and gave."""

    __slots__ = ("module", "vals", "children", "args", "out", "done", "skip_input")

    def __init__(self, module):
        self.module = module
        self.vals = {}
        self.children = []
        self.args = self.out = None
        self.done = False
        # Set for the backward of this call when its caller wants no input gradients
        # (``backward(..., input_grad=False)``, or a graph executor for a layer fed by data).
        self.skip_input = False

    def take_child(self, module):
        """The latest unconsumed child record of ``module``, or None."""
        for rec in reversed(self.children):
            if rec.module is module and not rec.done:
                return rec
        return None

    def free(self):
        self.done = True
        self.vals = None
        self.children = None
        self.args = self.out = None


def _pending(module):
    d = module.__dict__.get("_pending_calls")
    return None if d is None else d.get(threading.get_ident())


def _set_pending(module, rec, tid=None):
    """Make ``rec`` the module's latest call on this thread (``tid``: its id, when the caller
    already has it), or forget it (None)."""
    d = module.__dict__.get("_pending_calls")
    if d is None:
        d = {}
        object.__setattr__(module, "_pending_calls", d)
    tid = threading.get_ident() if tid is None else tid
    if rec is None:
        d.pop(tid, None)
    else:
        d[tid] = rec


def find(module):
    """The record a saved attribute of ``module`` reads now: the innermost one of this thread's
    stack that belongs to it, else its pending one."""
    for rec in reversed(_tls.stack):
        if rec.module is module:
            return rec
    return _pending(module)


class Saved:
    """Data descriptor of one per-call saved attribute (installed for each name in a class's
    ``_per_call``): reads give None when this call has not set it."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        rec = find(obj)
        return None if rec is None or rec.vals is None else rec.vals.get(self.name)

    def __set__(self, obj, value):
        rec = find(obj)
        if rec is None or rec.vals is None:
            if value is None or not _tls.grad:
                return
            rec = Record(obj)  # a direct layer.forward() call: pending until its backward
            _set_pending(obj, rec)
        rec.vals[self.name] = value


def wants_tape(module):
    """A define-by-run module: its backward is derived from the calls its forward made."""
    return type(module)._tape


def run_forward(module, fn, args, kwargs):
    """``fn(*args, **kwargs)`` (the module's forward) inside a new record of ``module``."""
    if not _tls.grad:  # nothing is kept: no record (forwards never read back what they save)
        return fn(*args, **kwargs)
    st = _tls.stack
    rec = Record(module)
    tape = wants_tape(module)
    if tape:  # its forward sees traced arrays: ``a + b`` and ``a * b`` become recorded calls
        args = tuple(_traced(a) for a in args)
    st.append(rec)
    try:
        out = fn(*args, **kwargs)
    finally:
        st.pop()
    if st and wants_tape(st[-1].module):
        out = _traced(out)
    attach(rec, args, out)
    if tape and not st:  # the caller gets plain arrays
        out = _plain(out)
        _note_outputs(module, out)
    return out


class _Traced(np.ndarray):
    """An array passed between the recorded calls of a define-by-run forward: ``+`` and ``*``
    of two such arrays are recorded (nn.Add / nn.Multiply); any other numpy operation gives a
    plain array, which backward then refuses as untracked; in-place operations are refused at
    once (they would change a recorded output behind the tape's back)."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out")
        if out is not None and any(isinstance(o, _Traced) for o in out):
            raise ValueError(f"in-place {ufunc.__name__} on the output of a recorded call inside a "
                             "define-by-run forward: the tape would miss it; write h = h + g "
                             "(or fastnn.add(h, g)) instead of h += g")
        if (method == "__call__" and not kwargs and len(inputs) == 2 and ufunc in _UFUNCS
                and all(isinstance(a, _Traced) for a in inputs) and _tls.grad and _tls.stack
                and wants_tape(_tls.stack[-1].module)):
            from fastnn.nn import merge
            return getattr(merge, _UFUNCS[ufunc])()(*inputs)
        inputs = tuple(a.view(np.ndarray) if isinstance(a, _Traced) else a for a in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)


_UFUNCS = {np.add: "Add", np.multiply: "Multiply"}


def _traced(v):
    if isinstance(v, tuple):
        return tuple(_traced(x) for x in v)
    if isinstance(v, np.ndarray) and not isinstance(v, _Traced):
        return v.view(_Traced)
    return v


def _plain(v):
    if isinstance(v, tuple):
        return tuple(_plain(x) for x in v)
    return v.view(np.ndarray) if isinstance(v, _Traced) else v


def attach(rec, args, out):
    """File a finished call: as a child of the caller's record, or pending for its backward."""
    st = _tls.stack
    if wants_tape(rec.module) or (st and wants_tape(st[-1].module)):
        rec.args, rec.out = args, out
    if st:
        st[-1].children.append(rec)
    else:
        _note_outputs(rec.module, out)
    _set_pending(rec.module, rec)  # the module's latest call: a direct backward() answers it


def run_fused(first, second, x):
    """``first.forward_fused(x, second)`` with a record for each of the two layers; None (and
    nothing kept) when ``first`` does not absorb ``second``."""
    if not _tls.grad:
        return first.forward_fused(x, second)
    st = _tls.stack
    ra, rb = Record(first), Record(second)
    st.append(ra)
    st.append(rb)
    try:
        y = first.forward_fused(x, second)
    finally:
        del st[-2:]
    if y is not None:
        attach(ra, (x,), y)
        attach(rb, (y,), y)
    return y


def _label(module):
    label = getattr(type(module), "_label", None)
    if isinstance(label, property):
        return module._label
    return repr(module) if not module._modules else type(module).__name__


# Callables ``hook(module)`` run after each module's backward has completed (one call answered).
# fastnn.distributed's overlapped allreduce uses it to start a bucket as soon as its gradients
# are final. Empty (one list test per backward) unless a DistributedOptimizer(overlap=True) is
# between zero_grad() and step().
backward_hooks = []


def _after_backward(module):
    for hook in backward_hooks:
        hook(module)


def run_backward(module, fn, grads, input_grad=True):
    """Run ``fn(module, *grads)`` (a backward) inside the record of the call it answers; with
    ``input_grad`` False the record says its input gradients are not wanted."""
    st = _tls.stack
    if st and st[-1].module is module:  # the record is already in place (super(), an executor)
        if not input_grad:
            st[-1].skip_input = True
        return fn(module, *grads)
    rec = st[-1].take_child(module) if st and st[-1].children else None
    if rec is None:
        rec = _pending(module)
        if rec is None or rec.done:
            raise ValueError(f"{_label(module)}: backward() called before forward() (or a second "
                             "time after one forward: run forward again; a second backward would "
                             "add the parameter gradients twice)")
    rec.done = True
    rec.skip_input = not input_grad
    st.append(rec)
    try:
        out = fn(module, *grads)
    except BaseException:
        rec.done = False  # nothing lost: the call can be back-propagated again
        raise
    finally:
        st.pop()
    rec.free()
    if backward_hooks:
        _after_backward(module)
    return out


def input_grad_skipped():
    """Whether the backward running now may skip its input gradients (its caller passed
    ``input_grad=False``, or it is a first layer of a graph whose input gradients nobody wants).
    Per record: backward calls a custom backward makes on other modules compute theirs."""
    st = _tls.stack
    return bool(st) and st[-1].skip_input


def run_recorded(rec, grads, input_grad=True):
    """Back-propagate one already-resolved record (graph executors): push it, run the module's
    backward (its input gradients skipped where ``input_grad`` is False), free it."""
    if rec.done:  # the layer's own backward() was called on this call already
        raise ValueError(f"{_label(rec.module)}: backward() called a second time after one "
                         "forward (its backward was already run directly): run forward again")
    st = _tls.stack
    rec.done = True
    rec.skip_input = not input_grad
    st.append(rec)
    try:
        out = rec.module.backward(*grads)
    except BaseException:
        rec.done = False
        raise
    finally:
        st.pop()
    rec.free()
    if backward_hooks:
        _after_backward(rec.module)
    return out


def tape_backward(module, grads):
    """The backward of a define-by-run module: its record's children in reverse, gradients routed
    by the identity of the arrays that passed between the calls and summed at fan-out."""
    rec = find(module)
    outs = rec.out if isinstance(rec.out, tuple) else (rec.out,)
    if len(grads) != len(outs):
        raise ValueError(f"{_label(module)}.backward: expected {len(outs)} gradient(s) (one per "
                         f"output), got {len(grads)}")
    acc = {}
    keep = {}  # id -> array: ids stay valid while the arrays are alive

    def add(arr, g):
        if g is None:
            return
        k = id(arr)
        keep[k] = arr
        acc[k] = g if k not in acc else acc[k] + g

    for o, g in zip(outs, grads):
        add(o, g)
    produced = {id(a) for a in outs}
    for child in rec.children:
        for a in (child.out if isinstance(child.out, tuple) else (child.out,)):
            produced.add(id(a))
    inputs = {id(a) for a in rec.args}
    for child in reversed(rec.children):
        couts = child.out if isinstance(child.out, tuple) else (child.out,)
        gs = [acc.pop(id(o), None) for o in couts]
        if all(g is None for g in gs):
            child.free()
            continue
        if len(couts) > 1:
            gs = [np.zeros_like(o) if g is None else g for o, g in zip(couts, gs)]
        args, module_of_child = child.args, child.module
        gin = run_recorded(child, gs)
        gin = gin if isinstance(gin, tuple) else (gin,)
        for a, g in zip(args, gin):
            if id(a) not in produced and id(a) not in inputs:
                raise ValueError(
                    f"{_label(module)}.backward: an input of {_label(module_of_child)} inside "
                    f"{_label(module)}.forward was computed outside fastnn's recorded calls (e.g. "
                    "by a numpy operation), so no gradient can flow through it: use fastnn layers "
                    "and functional ops (fastnn.add, fastnn.mul, fastnn.cat, fastnn.flatten, "
                    "fastnn.relu...) between layers, or define backward() yourself")
            add(a, g)
    res = tuple(acc.get(id(a)) for a in rec.args)
    res = tuple(_zeros_like(a) if g is None else g for a, g in zip(rec.args, res))
    return res[0] if len(res) == 1 else res


def _zeros_like(a):
    return np.zeros(np.shape(a), np.float32)
