"""Seeding: fastnn.manual_seed(s) makes everything that draws random numbers reproducible
(initialisation, dropout masks, shuffling, augmentation) for the same thread count.

Python-side draws use one numpy Generator; C++ kernels get a 64-bit seed per call from
next_seed() and use a counter-based generator (the same numbers whatever the thread count).

Until manual_seed is called the generator is seeded from the OS, like numpy's default_rng(), so
call it before building a model: constructing layers draws their initial weights. fit(seed=...)
reseeds for training only; it cannot reach back to weights drawn earlier."""
import numpy as np

_state = {"gen": np.random.default_rng(), "seed": None}


def manual_seed(seed):
    """Seed fastnn's random number generators."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"manual_seed: seed must be >= 0, got {seed}")
    _state["gen"] = np.random.default_rng(int(seed))
    _state["seed"] = int(seed)


def generator():
    """The numpy Generator fastnn draws from (init, shuffling)."""
    return _state["gen"]


def next_seed():
    """A fresh 64-bit seed for a C++ kernel's counter-based generator."""
    return int(_state["gen"].integers(0, 2**63 - 1, dtype=np.int64))
