"""Smoke test of an installed fastnn (a wheel), run from outside the source tree: import, print the
configuration, train a small MLP for a few epochs (loss must fall, accuracy must rise), save and
load it. Used by bench/wheel_check.sh and cibuildwheel's test-command."""
import os
import sys
import tempfile

import numpy as np

import fastnn
from fastnn import nn, optim

here = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__))) == os.path.dirname(here):
    sys.exit(f"fastnn was imported from the source tree ({fastnn.__file__}), not the installed wheel")
print("fastnn from", fastnn.__file__)
fastnn.show_config()

rng = np.random.default_rng(0)
centers = rng.standard_normal((3, 8)).astype(np.float32) * 3
y = rng.integers(0, 3, 600)
x = (centers[y] + rng.standard_normal((600, 8))).astype(np.float32)
fastnn.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 3))
loss_fn = nn.CrossEntropyLoss()
before = fastnn.evaluate(model, loss_fn, x, y)
fastnn.fit(model, loss_fn, optim.Adam(model.parameters(), lr=1e-2), x, y, batch_size=32, epochs=3,
           verbose=0, seed=0)
after = fastnn.evaluate(model, loss_fn, x, y)
print(f"before: {before}\nafter:  {after}")
if not (after["loss"] < before["loss"] and after["accuracy"] > 0.9):
    sys.exit("training did not learn the three blobs")
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "m.safetensors")
    fastnn.save(model, path)
    again = fastnn.load(path)
    np.testing.assert_array_equal(fastnn.predict(again, x), fastnn.predict(model, x))
print("wheel smoke test: OK")
