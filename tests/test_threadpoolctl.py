"""threadpoolctl sees fastnn's OpenMP pool and its limits reach fastnn's kernels, as scikit-learn
users expect (threadpool_info / threadpool_limits)."""
import os
import subprocess
import sys
import threading

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import fastnn
from fastnn import _C


def _openmp_entries():
    return [e for e in threadpool_info() if e["internal_api"] == "openmp"]


def test_info_lists_the_openmp_pool(threads):
    # Other OpenMP runtimes may be loaded too (scikit-learn's vendored libgomp, with its own
    # OMP_NUM_THREADS default): fastnn's is the one whose count follows fastnn.set_num_threads.
    assert _openmp_entries(), threadpool_info()
    fastnn.set_num_threads(2)
    two = {e["filepath"]: e["num_threads"] for e in _openmp_entries()}
    fastnn.set_num_threads(1)
    one = {e["filepath"]: e["num_threads"] for e in _openmp_entries()}
    assert [p for p in two if two[p] == 2 and one.get(p) == 1], (two, one)


def test_limits_reach_fastnn(threads, rng):
    fastnn.set_num_threads(2)
    a = rng.standard_normal((300, 257)).astype(np.float32)
    b = rng.standard_normal((257, 301)).astype(np.float32)
    with threadpool_limits(limits=1, user_api="openmp"):
        assert fastnn.get_num_threads() == 1
        limited = fastnn.ops.matmul(a, b)
    assert fastnn.get_num_threads() == 2  # restored on exit
    fastnn.set_num_threads(1)
    np.testing.assert_array_equal(limited, fastnn.ops.matmul(a, b))


def test_own_setting_inside_a_limit_and_other_threads(threads):
    fastnn.set_num_threads(2)
    with threadpool_limits(limits=1, user_api="openmp"):
        fastnn.set_num_threads(3)  # an explicit fastnn setting made inside the context holds there
        assert fastnn.get_num_threads() == 3
    fastnn.set_num_threads(2)
    # The process-wide value holds in another Python thread (whose OpenMP ICV is the default).
    seen = []
    t = threading.Thread(target=lambda: seen.append(_C.get_num_threads()))
    t.start()
    t.join()
    assert seen == [2]


def test_limit_equal_to_the_process_default():
    # OMP_NUM_THREADS=1 (common in CI), fastnn raised to 2, then limited to 1 again: still a limit.
    code = ("import fastnn; from threadpoolctl import threadpool_limits\n"
            "fastnn.set_num_threads(2)\n"
            "with threadpool_limits(1, user_api='openmp'):\n"
            "    print(fastnn.get_num_threads())\n"
            "print(fastnn.get_num_threads())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.stdout.split() == ["1", "2"]
