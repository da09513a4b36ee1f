"""``python -m fastnn demo``: same seed and thread count give the same saved bytes; another seed
gives another model. Runs offline on scikit-learn's digits, one epoch (about a second a run)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The demo as the CLI runs it, with the MNIST download cut off (the suite never uses the network):
# it falls back to scikit-learn's 8x8 digits.
OFFLINE_CLI = """
import sys
import fastnn.datasets

def _offline(*args, **kwargs):
    raise OSError("offline (test)")

fastnn.datasets._urlopen = _offline
from fastnn.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def run_cli(tmp_path, *args, offline=True):
    env = dict(os.environ)
    for k in ("FASTNN_DATA", "FASTNN_ISA", "FASTNN_PROGRESS", "OMP_NUM_THREADS"):
        env.pop(k, None)
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # no cached mnist.npz
    env.setdefault("OMP_WAIT_POLICY", "passive")  # a busy machine: threads sleep, not spin
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    cmd = [sys.executable, "-c", OFFLINE_CLI] if offline else [sys.executable, "-m", "fastnn"]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)


def train(tmp_path, name, seed, threads=1):
    out = tmp_path / name
    r = run_cli(tmp_path, "demo", "--no-compress", "--epochs", 1, "--threads", threads,
                "--seed", seed, "--output", out)
    assert r.returncode == 0, r.stderr
    return out.read_bytes(), r.stdout


@pytest.fixture(scope="module")
def seed0_one_thread(tmp_path_factory):
    return train(tmp_path_factory.mktemp("demo"), "seed0.safetensors", 0)


@pytest.mark.parametrize("threads", [1, 2])
def test_demo_same_seed_same_bytes(tmp_path, seed0_one_thread, threads):
    a, out_a = seed0_one_thread if threads == 1 else train(tmp_path, "a.safetensors", 0, threads)
    b, out_b = train(tmp_path, "b.safetensors", 0, threads)
    assert a == b
    acc = [ln for ln in out_a.splitlines() if ln.startswith("test accuracy")]
    assert acc and acc == [ln for ln in out_b.splitlines() if ln.startswith("test accuracy")]


def test_demo_other_seed_other_model(tmp_path, seed0_one_thread):
    b, _ = train(tmp_path, "b.safetensors", 1)
    assert seed0_one_thread[0] != b


def test_demo_writes_its_curves(seed0_one_thread):
    out = seed0_one_thread[1]
    line = [ln for ln in out.splitlines() if ln.startswith("training curves: ")]
    assert len(line) == 1, out
    path = Path(line[0].split(": ", 1)[1])
    assert path.name == "seed0-curves.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_counts_are_pluralised(seed0_one_thread):
    out = seed0_one_thread[1]
    assert "| 1 thread\n" in out
    assert ", 1 epoch\n" in out and "for 1 epoch)" in out
    assert "1 threads" not in out and "1 epochs" not in out


def test_demo_compress_reports_interleaved_ratio(tmp_path):
    # the speed line's form only: no test asserts on time
    out = tmp_path / "m.safetensors"
    r = run_cli(tmp_path, "demo", "--epochs", 1, "--threads", 1, "--output", out)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "m-int8.safetensors").is_file()
    speed = [ln for ln in r.stdout.splitlines() if ln.strip().startswith("inference, ")]
    assert len(speed) == 1  # --threads 1: the one-thread figure only
    assert speed[0].startswith("  inference, one thread: int8 ")
    assert "x float32 (median of 7 interleaved rounds, best " in speed[0]
    assert "pruned to 75% weight sparsity" in r.stdout
    assert "Deep Compression (pruned + 32 shared values" in r.stdout
    c_file = tmp_path / "m.fndc"
    assert c_file.is_file() and c_file.stat().st_size < out.stat().st_size / 4
