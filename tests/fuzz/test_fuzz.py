"""Hostile arguments for every public name of fastnn._C (issue 11).

Each name has a registry entry (registry.py, reg_*.py): a valid call and its arguments. The tests:

- coverage: every public name and class member of _C has an entry (a new binding without one
  fails here), the no-argument names are exactly the listed ones, every valid call is valid;
- a deterministic sweep of every single mutation of every entry (hostile.py names them);
- a hypothesis property: one or two arguments replaced at once.

A case must return normally or raise ValueError / TypeError / MemoryError / OverflowError, with a
message naming the replaced array (judge.py says exactly what is accepted). A crash kills the run:
that is the point of running this under ASan/UBSan too.

FASTNN_FUZZ_EXAMPLES (default 25) sets hypothesis' examples per name; the sweep's size is fixed.
"""
import inspect
import os
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import hostile as H
from .core import split_path
from .judge import run_case, runnable
from .registry import FUZZED, NO_ARGS, REGISTRY, public_names

EXAMPLES = int(os.environ.get("FASTNN_FUZZ_EXAMPLES", "25"))


def test_every_public_name_has_a_fuzz_entry():
    names = public_names()
    missing = sorted(names - REGISTRY.keys())
    assert not missing, (f"no fuzz entry for {missing}: add a valid call and its arguments to "
                         "tests/fuzz/reg_<area>.py (or to NO_ARGS in registry.py)")
    stale = sorted(REGISTRY.keys() - names)
    assert not stale, f"fuzz entries for names _C no longer has: {stale}"


def test_no_argument_names_are_the_listed_ones():
    assert {n for n, e in REGISTRY.items() if not e.args} == NO_ARGS


@pytest.mark.parametrize("name", FUZZED)
def test_valid_call_is_valid(name):
    """The fuzzer starts from a call that works: every array argument holds an ndarray and the
    call returns normally."""
    entry = REGISTRY[name]
    call = entry.build()
    for a in entry.args:
        v = call.kwargs[a.name]
        if a.kind in H.ARRAY_KINDS:
            assert isinstance(v, np.ndarray), f"{name}: valid {a.name} is not an ndarray"
        elif a.kind in H.LIST_KINDS:
            assert v and all(isinstance(e, np.ndarray) for e in v), f"{name}: {a.name}"
    call()


@pytest.mark.parametrize("name", sorted(NO_ARGS))
def test_no_argument_call(name):
    """Called as is: a value (a class without a constructor: TypeError); a function or method
    given a stray argument: TypeError."""
    call = REGISTRY[name].build()
    if inspect.isclass(call.fn):
        with pytest.raises(TypeError):
            call()
    else:
        call()
    if isinstance(call.fn, types.BuiltinFunctionType) or inspect.isclass(call.fn):
        with pytest.raises(TypeError):
            call.fn(1)


@pytest.mark.parametrize("name", FUZZED)
def test_every_single_mutation(name):
    entry = REGISTRY[name]
    for path, op in entry.space():
        if runnable(op):
            run_case(entry, [(path, op)])


def mutations(entry):
    space = [m for m in entry.space() if runnable(m[1])]
    # two different arguments (a list and one of its elements count as one)
    return st.lists(st.sampled_from(space), min_size=1, max_size=2,
                    unique_by=lambda m: split_path(m[0])[0])


@pytest.mark.parametrize("name", FUZZED)
def test_hostile_arguments(name):
    entry = REGISTRY[name]

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(muts=mutations(entry))
    def property_(muts):
        run_case(entry, muts)

    property_()
