"""Fuzz suite fixtures: an address-space guard and the outcome report.

Guard: the registry's cases stay within ~100 MB, but a hostile size can make a binding accept a
valid multi-gigabyte request (a padding of 2**31 makes a huge output). In a normal build the address
space of the process is capped while the fuzz tests run (1 GiB over what it uses when they start),
so such a request is a MemoryError instead of a machine-wide out-of-memory. A sanitizer build maps
terabytes of shadow memory and is left alone (the bindings refuse requests above physical memory
before allocating).

Report: with FASTNN_FUZZ_REPORT=path, the outcome counts of this run (cases, returned normally,
each exception type, unclear messages) are written there as JSON at the end; nothing is printed.
"""
import json
import os
import resource

import numpy as np
import pytest

from fastnn import _C

from .judge import SANITIZED, STATS, UNCLEAR

GUARD_BYTES = 1 << 30


def _vm_size():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return None


@pytest.fixture(autouse=True, scope="module")
def address_space_guard():
    vm = None if SANITIZED else _vm_size()
    if vm is None:
        yield
        return
    # Start the OpenMP threads first: their stacks are reserved address space too.
    _C.matmul(np.ones((64, 64), np.float32), np.ones((64, 64), np.float32))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _vm_size() + GUARD_BYTES
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def pytest_sessionfinish(session):
    path = os.environ.get("FASTNN_FUZZ_REPORT")
    if path and STATS:
        with open(path, "w") as f:
            json.dump({"counts": dict(STATS), "unclear": UNCLEAR}, f, indent=1)
