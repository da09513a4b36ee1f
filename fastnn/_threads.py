"""libgomp's wait policy for fastnn's OpenMP threads, chosen before the runtime starts.

libgomp's default (with no OMP_WAIT_POLICY / GOMP_SPINCOUNT set) makes an idle team thread spin
for 300,000 iterations (milliseconds) before it sleeps. Next to another library's threads, or any
other busy process, the spinning threads of one library hold the cores the other one needs:
measured on 2 cores (bench/compare.py mix), a fastnn product right after a numpy (OpenBLAS)
product took 12x its time alone, and numpy after fastnn 14x. fastnn therefore bounds the spin
(GOMP_SPINCOUNT=SPINCOUNT) unless the user chose a policy: setting OMP_WAIT_POLICY or
GOMP_SPINCOUNT, or FASTNN_SPIN_POLICY=off (libgomp's default), leaves libgomp alone.

libgomp reads its environment once, when it is loaded: the value is set just before fastnn's
extension loads libgomp and the environment is restored right after, so child processes and
libraries loaded later see the user's environment unchanged. If libgomp is already loaded
(another extension brought it in first) the setting cannot apply; ``spin_policy()`` says so.
"""
import os

# Measured (this 2-core Xeon, GOMP_SPINCOUNT set by hand, single runs, noisy): under one competing
# busy process (bench/compare.py mix) the MNIST CNN's training step at 2 threads against 1 was
# 0.67-0.68 with 10000, 0.86 with 3000, 0.89-0.93 with 1000; on a quiet machine the same step
# (batch 128, 2 threads) took 21.9-24.9 ms with 10000, 22.9-24.2 with 3000 and 24.7-27.1 with
# 1000 (threads that slept must be woken at the next region). 3000 keeps the quiet speed and
# most of the gain under load.
SPINCOUNT = 3000

_state = {"policy": "libgomp default"}


def _libgomp_loaded():
    try:
        with open("/proc/self/maps") as f:
            return "/libgomp.so" in f.read()  # the system libgomp fastnn links (not a
            # wheel's vendored, renamed copy such as libgomp-<hash>.so)
    except OSError:  # not Linux: no way to tell; assume not
        return False


def choose(env):
    """The GOMP_SPINCOUNT fastnn sets for the environment ``env`` (None: leave it alone) and a
    description of the policy in force."""
    if env.get("FASTNN_SPIN_POLICY", "").strip().lower() == "off":
        return None, "libgomp default (FASTNN_SPIN_POLICY=off)"
    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        if name in env:
            return None, f"user's {name}={env[name]}"
    return str(SPINCOUNT), f"fastnn: GOMP_SPINCOUNT={SPINCOUNT}"


class before_runtime_loads:
    """``with before_runtime_loads(): from fastnn import _C``: the bounded spin while libgomp
    initialises, the user's environment back afterwards."""

    def __enter__(self):
        value, self.policy = choose(os.environ)
        self.set = value is not None and not _libgomp_loaded()
        if value is not None and not self.set:
            self.policy = "libgomp default (libgomp was loaded before fastnn)"
        if self.set:
            os.environ["GOMP_SPINCOUNT"] = value
        _state["policy"] = self.policy
        return self

    def __exit__(self, *exc):
        if self.set:
            os.environ.pop("GOMP_SPINCOUNT", None)
        return False


def spin_policy():
    """The libgomp wait policy in force for fastnn's threads, as a sentence."""
    return _state["policy"]
