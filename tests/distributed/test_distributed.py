"""fastnn.distributed: mpiexec -n 2 (OMP_NUM_THREADS=1) against one process with the global batch.

Skipped only where mpi4py / mpiexec are absent; FASTNN_REQUIRE_MPI=1 (CI's mpi stage) makes that
a failure."""
import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn import distributed as dist

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "dist_worker.py")


def _mpiexec():
    exe = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep
                       + os.environ.get("PATH", ""))
    if importlib.util.find_spec("mpi4py") is None:  # the `mpi` extra, installed by CI's stage
        exe = None
    if exe is None:
        if os.environ.get("FASTNN_REQUIRE_MPI") == "1":
            pytest.fail("FASTNN_REQUIRE_MPI=1 but mpi4py/mpiexec are missing")
        pytest.skip("mpi4py and mpiexec not installed (pip install fastnn[mpi])")
    return exe


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "HYDRA_"))}
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(HERE)) + os.pathsep \
        + env.get("PYTHONPATH", "")
    return env


def _run(args, n=None, timeout=120):
    """The finished job. A job that does not end within ``timeout`` (a rank left waiting in a
    collective) fails the test: that bound is a hang guard, not a speed measurement."""
    cmd = ([_mpiexec(), "-n", str(n)] if n else []) + [sys.executable, WORKER] + args
    try:
        return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(args)} on {n or 1} rank(s) hung past {timeout} s")


def _weights(path):
    with np.load(path) as z:
        n = sum(k.startswith("arr_") for k in z.files)
        return [z[f"arr_{i}"] for i in range(n)], float(z["val_loss"]), float(z["loss"])


@pytest.mark.parametrize("mode", ["train", "train_overlap", "shared_overlap"])
def test_two_ranks_equal_one_process_with_global_batch(tmp_path, mode):
    """Synchronous buckets; buckets overlapped with the backward; and overlapped with a layer
    called twice (its bucket started too early: the step is redone synchronously)."""
    d2, d1 = tmp_path / "two", tmp_path / "one"
    d2.mkdir(), d1.mkdir()
    p = _run([mode, str(d2), "8"], n=2)
    assert p.returncode == 0, p.stderr
    p1 = _run([mode.replace("_overlap", ""), str(d1), "16"])  # world size 1, batch 16 = 2 x 8
    assert p1.returncode == 0, p1.stderr
    (w0, v0, l0), (w1, v1, l1) = _weights(d2 / "rank0.npz"), _weights(d2 / "rank1.npz")
    ref, vref, lref = _weights(d1 / "rank0.npz")
    assert len(w0) == (6 if mode.startswith("shared") else 4)
    with np.load(d2 / "rank0.npz") as z:
        early, redone = int(z["early"]), int(z["redone"])
    steps = 2 * -(-183 // 16)  # 2 epochs of the 183 training samples (validation_split 0.1)
    if mode == "train":
        assert early == 0 and redone == 0
    elif mode == "train_overlap":  # both buckets start inside the backward, none in synchronize
        assert early == 2 * steps and redone == 0
    else:  # every step started the shared layer's bucket after its first backward call
        assert early > 0 and redone == steps
    for a, b, r in zip(w0, w1, ref):
        np.testing.assert_array_equal(a, b)  # identical on both ranks
        np.testing.assert_allclose(a, r, rtol=0, atol=1e-5)
    assert v0 == v1 and l0 == l1  # reduced logs agree
    assert abs(v0 - vref) < 1e-5 and abs(l0 - lref) < 1e-5
    # the checkpoint is written by rank 0 only: one file per epoch
    assert sorted(os.listdir(d2)) == ["ckpt-1.safetensors", "ckpt-2.safetensors",
                                      "rank0.npz", "rank1.npz"]


@pytest.mark.parametrize("who, epochs", [(0, 1), (1, 2)])
def test_stop_training_is_rank_0s_decision(tmp_path, who, epochs):
    p = _run([f"stop{who}", str(tmp_path)], n=2, timeout=60)
    assert p.returncode == 0, p.stderr
    for r in (0, 1):
        with np.load(tmp_path / f"rank{r}.npz") as z:
            assert int(z["epochs"]) == epochs


def test_failing_rank_aborts_the_job(tmp_path):
    p = _run(["fail", str(tmp_path)], n=2, timeout=60)  # ends (no rank left waiting)
    assert p.returncode != 0
    assert "rank 1 of 2 failed" in p.stderr and "rank 1 fails on purpose" in p.stderr


def test_mismatched_models_detected(tmp_path):
    p = _run(["mismatch", str(tmp_path)], n=2, timeout=60)
    assert p.returncode != 0
    assert "broadcast_parameters: the model differs across ranks" in p.stderr
    assert "rank 1" in p.stderr and "(19, 13)" in p.stderr


def test_world_size_one_without_mpiexec():
    assert dist.init() == 1 and dist.rank() == 0 and dist.world_size() == 1 and dist.is_main()
    dist.barrier()
    m = fastnn.nn.Linear(3, 2)
    before = m.weight.data.copy()
    assert dist.broadcast_parameters(m) is m
    np.testing.assert_array_equal(m.weight.data, before)
    np.testing.assert_array_equal(dist.allreduce_sum([1.0, 2.0]), [1.0, 2.0])


def test_distributed_optimizer_wraps_and_checks():
    m = fastnn.nn.Linear(3, 2)
    opt = fastnn.optim.SGD(m.parameters(), lr=0.5)
    d = dist.DistributedOptimizer(opt, bucket_mb=1)
    before = m.weight.data.copy()
    m.weight.grad[...] = 1.0
    d.step()
    np.testing.assert_allclose(m.weight.data, before - 0.5)  # world size 1: the plain step
    assert d.lr == 0.5
    d.lr = 0.25
    assert opt.lr == 0.25 and d.state_dict() is not None and "DistributedOptimizer" in repr(d)
    with pytest.raises(TypeError, match="optimizer: expected a fastnn.optim optimizer"):
        dist.DistributedOptimizer(object())
    with pytest.raises(ValueError, match="bucket_mb: expected a number > 0, got 0"):
        dist.DistributedOptimizer(opt, bucket_mb=0)
    with pytest.raises(TypeError, match="overlap: expected True or False, got 1"):
        dist.DistributedOptimizer(opt, overlap=1)
    o = dist.DistributedOptimizer(opt, overlap=True)  # world size 1: nothing armed, plain step
    o.zero_grad()
    from fastnn.nn import _calls
    assert not _calls.backward_hooks and "overlap=True" in repr(o)


def test_fit_distributed_single_process_equals_plain_fit():
    from tests.distributed.dist_worker import data, model
    x, y = data()
    ws = []
    for distributed in (False, True):
        m = model()
        fastnn.fit(m, fastnn.nn.CrossEntropyLoss(), fastnn.optim.Adam(m.parameters()), x, y,
                   batch_size=16, epochs=1, seed=0, verbose=0, distributed=distributed)
        ws.append([p.data.copy() for p in m.parameters()])
    for a, b in zip(*ws):
        np.testing.assert_array_equal(a, b)


def test_demo_distributed_two_ranks(tmp_path):
    env = _env()
    env["FASTNN_DATA"] = str(tmp_path / "absent")  # small digits data: a quick run
    cmd = [_mpiexec(), "-n", "2", sys.executable, "-m", "fastnn", "demo", "--distributed",
           "--epochs", "1", "--batch-size", "32"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "2 rank(s) x 1 thread(s)" in p.stdout
    assert "rank 0:" in p.stdout and "rank 1:" in p.stdout and "global:" in p.stdout
