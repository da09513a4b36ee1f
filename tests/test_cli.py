"""The command line: bad arguments end in one line naming the argument and exit status 2 (never a
traceback); --version; the console script's name in its usage line."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn.__main__ import main
from tests.test_demo import ROOT, run_cli


def _one_line_error(r):
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def test_missing_data_file_is_one_line_and_exit_2(tmp_path):
    r = run_cli(tmp_path, "demo", "--data", "/nonexistent/mnist.npz", offline=False)
    assert r.returncode == 2
    line = _one_line_error(r)
    assert line.startswith("python -m fastnn demo: error: --data /nonexistent/mnist.npz")
    assert "Keras-layout mnist.npz" in line


def _garbage(tmp_path):
    p = tmp_path / "mnist.npz"
    p.write_bytes(b"not a zip file at all")
    return p


def _wrong_arrays(tmp_path):
    p = tmp_path / "mnist.npz"
    np.savez(p, images=np.zeros((2, 28, 28), np.uint8))
    return p


def _empty_folder(tmp_path):
    p = tmp_path / "data"
    p.mkdir()
    return p


@pytest.mark.parametrize("make", [_garbage, _wrong_arrays, _empty_folder])
def test_data_that_does_not_load_is_one_line_and_exit_2(tmp_path, capsys, make):
    path = make(tmp_path)
    assert main(["demo", "--data", str(path), "--output", str(tmp_path / "m.safetensors")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("python -m fastnn demo: error: --data: ")
    assert str(path) in err[0] and "Keras-layout mnist.npz" in err[0]
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize("option, value, expected", [
    ("--epochs", "0", "expected a positive integer, got 0"),
    ("--epochs", "-3", "expected a positive integer, got -3"),
    ("--epochs", "two", "expected an integer, got 'two'"),
    ("--threads", "0", "expected an integer from 1 to 1024, got 0"),
    ("--threads", "100000", "expected an integer from 1 to 1024, got 100000"),
    ("--batch-size", "0", "expected a positive integer, got 0"),
    ("--seed", "-1", "expected an integer >= 0, got -1"),
])
def test_out_of_range_numbers_are_argparse_errors(capsys, option, value, expected):
    with pytest.raises(SystemExit) as e:
        main(["demo", option, value])
    assert e.value.code == 2
    assert f"error: argument {option}: {expected}" in capsys.readouterr().err


def test_output_in_a_missing_folder_fails_before_training(tmp_path, capsys):
    out = tmp_path / "no" / "such" / "m.safetensors"
    assert main(["demo", "--output", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing was trained
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"python -m fastnn demo: error: --output {out}")
    assert main(["demo", "--output", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_int8_path_never_overwrites_the_float_model(tmp_path):
    from fastnn.__main__ import _output_paths
    assert _output_paths(str(tmp_path / "m.safetensors")) == (
        str(tmp_path / "m.safetensors"), str(tmp_path / "m-int8.safetensors"))
    out, q_out = _output_paths(str(tmp_path / "model"))
    assert out == str(tmp_path / "model") and q_out == str(tmp_path / "model-int8.safetensors")


def test_python_m_version(tmp_path):
    r = run_cli(tmp_path, "--version", offline=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"fastnn {fastnn.__version__}"


# What pip writes for [project.scripts] fastnn = "fastnn.__main__:main".
CONSOLE_SCRIPT = """import re
import sys
from fastnn.__main__ import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


def _console_script(tmp_path, *args):
    script = tmp_path / "bin" / "fastnn"
    script.parent.mkdir(exist_ok=True)
    script.write_text(CONSOLE_SCRIPT)
    env = dict(os.environ)
    env.pop("FASTNN_ISA", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)


def test_console_script_version_and_name(tmp_path):
    r = _console_script(tmp_path, "--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"fastnn {fastnn.__version__}"
    r = _console_script(tmp_path, "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: fastnn ")
    r = _console_script(tmp_path, "demo", "--epochs", "0")
    assert r.returncode == 2
    assert "fastnn demo: error: argument --epochs" in r.stderr
    assert "__main__" not in r.stderr and "python -m" not in r.stderr


def test_pyproject_declares_the_console_script():
    # read as text (tomllib is Python 3.11+): the [project.scripts] table, up to the next table
    text = (ROOT / "pyproject.toml").read_text()
    table = text.split("[project.scripts]\n", 1)[1].split("\n[", 1)[0]
    entries = [ln.strip() for ln in table.splitlines() if ln.strip() and not ln.startswith("#")]
    assert entries == ['fastnn = "fastnn.__main__:main"']


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage:" in capsys.readouterr().out


@pytest.mark.parametrize("busy", [False, True])
def test_inference_speed_headline_is_one_thread_cpu_time(monkeypatch, capsys, threads, busy):
    # the demo's speed lines, with the measurement faked: which clock and thread count each
    # figure uses, and that a busy machine gets no multi-thread figure
    import time
    from fastnn import __main__ as cli
    from fastnn._timing import SpeedRatio
    calls = []

    def fake_compare(base, other, *, rounds, min_time, clock=time.perf_counter):
        calls.append((fastnn.get_num_threads(), clock))
        return SpeedRatio(4.0, 5.0, 3.0, rounds, 0.4, 0.1)
    monkeypatch.setattr(cli._timing, "compare_speed", fake_compare)
    monkeypatch.setattr(cli._timing, "load_note", lambda threads: "busy" if busy else None)
    fastnn.set_num_threads(2)
    cli._inference_speed(None, None, np.zeros((8, 1, 8, 8), np.float32))
    assert fastnn.get_num_threads() == 2
    out = capsys.readouterr().out.splitlines()
    assert calls[0] == (1, time.thread_time)
    assert out[0].startswith("  inference, one thread: int8 4.0x float32 (median of 7 "
                             "interleaved rounds, best 5.0x; 80 vs 20 samples per CPU-second")
    if busy:
        assert len(calls) == 1 and "2 threads: not measured" in out[1]
    else:
        assert calls[1] == (2, time.perf_counter)
        assert out[1].startswith("  inference, 2 threads: int8 4.0x float32 (median of 7 "
                                 "interleaved rounds, range 3.0x-5.0x")
