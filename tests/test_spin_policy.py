"""fastnn bounds libgomp's spin-waiting unless the user chose a policy (fastnn/_threads.py,
issue 19 point 3). Checked through libgomp itself: OMP_DISPLAY_ENV=VERBOSE makes it print the
GOMP_SPINCOUNT it uses when it initialises (never a timing)."""
import os
import subprocess
import sys

import pytest

from fastnn import _threads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE = ("import os, fastnn; print(fastnn._threads.spin_policy()); "
        "print('leaked' if 'GOMP_SPINCOUNT' in os.environ else 'clean')")


def _run(**env):
    e = {k: v for k, v in os.environ.items()
         if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "FASTNN_SPIN_POLICY")}
    e.update(env, OMP_DISPLAY_ENV="VERBOSE", PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", CODE], env=e, capture_output=True, text=True,
                       cwd=ROOT, check=True)
    spin = [ln.split("=")[1].strip().strip("'") for ln in r.stderr.splitlines()
            if ln.strip().startswith("GOMP_SPINCOUNT")]
    return r.stdout.split("\n")[:2], spin


def test_choose():
    assert _threads.choose({}) == (str(_threads.SPINCOUNT),
                                   f"fastnn: GOMP_SPINCOUNT={_threads.SPINCOUNT}")
    assert _threads.choose({"OMP_WAIT_POLICY": "active"})[0] is None
    assert _threads.choose({"GOMP_SPINCOUNT": "infinite"}) == \
        (None, "user's GOMP_SPINCOUNT=infinite")
    assert _threads.choose({"FASTNN_SPIN_POLICY": "OFF"})[0] is None


def test_fastnn_bounds_the_spin_and_restores_the_environment():
    (policy, leak), spin = _run()
    if not spin:
        pytest.skip("this OpenMP runtime is not libgomp (no GOMP_SPINCOUNT displayed)")
    assert spin == [str(_threads.SPINCOUNT)]
    assert policy == f"fastnn: GOMP_SPINCOUNT={_threads.SPINCOUNT}"
    assert leak == "clean"


@pytest.mark.parametrize("env", [{"GOMP_SPINCOUNT": "1234"}, {"FASTNN_SPIN_POLICY": "off"}])
def test_the_users_choice_is_left_alone(env):
    (policy, leak), spin = _run(**env)
    if not spin:
        pytest.skip("this OpenMP runtime is not libgomp (no GOMP_SPINCOUNT displayed)")
    if "GOMP_SPINCOUNT" in env:
        assert spin == ["1234"] and policy == "user's GOMP_SPINCOUNT=1234"
        assert leak == "leaked"  # the user's own variable stays
    else:
        assert spin != [str(_threads.SPINCOUNT)] and policy.startswith("libgomp default")
        assert leak == "clean"
