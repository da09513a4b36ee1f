"""The malloc policy fastnn applies at import (module.cpp): on glibc, fixed mmap / trim thresholds
so that a training loop's per-batch arrays are served from retained heap instead of fresh pages
(a page fault per 4 KiB otherwise); FASTNN_MALLOC_TUNE=0 leaves the C library's defaults."""
import os
import subprocess
import sys

import pytest

from fastnn import _C

# A batch's worth of arrays (8, 4, 8 and 2 MiB, written through), freed, five times over;
# prints the page faults of the last four rounds and the pages they wrote.
_LOOP = """
import resource, numpy as np, fastnn
def batch():
    arrays = [np.ones(n << 18, np.float32) for n in (8, 4, 8, 2)]
    return sum(a.nbytes for a in arrays) // 4096
batch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
pages = sum(batch() for _ in range(4))
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, pages,
      fastnn._C.build_info()["malloc"])
"""


def _run(code, **env):
    e = dict(os.environ)
    e.pop("FASTNN_MALLOC_TUNE", None)
    e.update(env)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _tuned_here():
    return sys.platform.startswith("linux") and not _C.build_info()["sanitize"] and \
        os.environ.get("FASTNN_MALLOC_TUNE") != "0"


def test_policy_reported():
    text = _C.build_info()["malloc"]
    if os.environ.get("FASTNN_MALLOC_TUNE") == "0":
        assert text.startswith("glibc defaults (FASTNN_MALLOC_TUNE=0)")
    elif _C.build_info()["sanitize"]:
        assert "sanitizer" in text
    elif sys.platform.startswith("linux"):
        assert text.startswith("glibc: blocks up to 32 MiB"), text


def test_env_leaves_the_defaults():
    out = _run("import fastnn; print(fastnn._C.build_info()['malloc'])", FASTNN_MALLOC_TUNE="0")
    assert out.strip() == "glibc defaults (FASTNN_MALLOC_TUNE=0)"


def test_repeated_batches_reuse_the_heap():
    if not _tuned_here():
        pytest.skip("the policy applies to glibc builds without a sanitizer (Linux)")
    faults, pages, policy = _run(_LOOP).split(maxsplit=2)
    assert policy.startswith("glibc: blocks"), policy
    # Retained heap: the four later rounds write 22,528 pages and fault on (almost) none of them.
    assert int(faults) < int(pages) // 20, (faults, pages)
