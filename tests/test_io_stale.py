"""A save killed mid-write (SIGKILL) leaves its temporary file; the next save to the same path
removes it, and leaves a live writer's temporary and other paths' files alone."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import fastnn
from fastnn import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _temporaries(folder, name):
    return sorted(f for f in os.listdir(folder) if f.startswith(f".{name}.") and f.endswith(".tmp"))


def test_sigkill_during_save_then_next_save_cleans_up(tmp_path):
    target = tmp_path / "m.safetensors"
    fastnn.save(nn.Sequential(nn.Linear(3, 2)), target)
    old = target.read_bytes()
    # The child writes its temporary file, then blocks in fsync until it is killed.
    child = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {ROOT!r})
        import fastnn
        from fastnn import nn
        os.fsync = lambda fd: (print("writing", flush=True), time.sleep(600))
        fastnn.save(nn.Sequential(nn.Linear(300, 200)), {str(target)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        stale = _temporaries(tmp_path, target.name)
        assert len(stale) == 1 and f".{proc.pid}." in stale[0]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert target.read_bytes() == old  # the old file is intact
    assert len(_temporaries(tmp_path, target.name)) == 1  # ...and the killed writer's file stays

    # A live writer's temporary (this test's parent process) and another path's are kept.
    live = tmp_path / f".{target.name}.{os.getppid()}.0123abcd.tmp"
    live.write_bytes(b"in progress")
    other = tmp_path / f".other.safetensors.{proc.pid}.0123abcd.tmp"
    other.write_bytes(b"x")
    fastnn.save(nn.Sequential(nn.Linear(3, 2)), target)
    assert _temporaries(tmp_path, target.name) == [live.name]
    assert other.exists()
    fastnn.load(target)


def test_stale_temporary_of_a_dead_pid_is_removed(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(proc.stdout)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # wait until the pid is really gone (reaped)
        try:
            os.kill(dead, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    stale = tmp_path / f".m.safetensors.{dead}.deadbeef.tmp"
    stale.write_bytes(b"partial")
    not_ours = tmp_path / f".m.safetensors.{dead}.tmp"  # not fastnn's naming: kept
    not_ours.write_bytes(b"x")
    fastnn.save(nn.Sequential(nn.Linear(3, 2)), tmp_path / "m.safetensors")
    assert not stale.exists() and not_ours.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/<pid>/stat")
def test_killed_writer_not_yet_reaped_counts_as_gone(tmp_path):
    # A parent that killed its saving child and saves again before reaping it: the child is a
    # zombie (os.kill(pid, 0) still succeeds), but it writes nothing more -- its file goes.
    target = tmp_path / "m.safetensors"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        stale = tmp_path / f".{target.name}.{proc.pid}.0123abcd.tmp"
        stale.write_bytes(b"partial")
        fastnn.save(nn.Sequential(nn.Linear(3, 2)), target)
        assert stale.exists()  # alive: kept
        proc.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait for the zombie state, without reaping it
            with open(f"/proc/{proc.pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    break
            time.sleep(0.01)
        fastnn.save(nn.Sequential(nn.Linear(3, 2)), target)
        assert not stale.exists()
    finally:
        proc.kill()
        proc.wait()


def test_two_processes_saving_to_one_path(tmp_path):
    # Two live writers of the same path: neither removes the other's temporary; the file ends
    # as one complete save or the other.
    target = tmp_path / "m.safetensors"
    child = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {ROOT!r})
        import fastnn
        from fastnn import nn
        fastnn.manual_seed(int(sys.argv[1]))
        for _ in range(20):
            fastnn.save(nn.Sequential(nn.Linear(200, 100)), {str(target)!r})
    """)
    procs = [subprocess.Popen([sys.executable, "-c", child, str(seed)]) for seed in (1, 2)]
    assert [p.wait() for p in procs] == [0, 0]
    assert _temporaries(tmp_path, target.name) == []
    fastnn.load(target)
