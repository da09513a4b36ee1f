"""Dispatch and threading: the best ISA is chosen, FASTNN_ISA is honoured, threads settable."""
import os
import subprocess
import sys

import pytest

import fastnn
from fastnn import _C


def _run(code, **env):
    e = dict(os.environ)
    e.pop("FASTNN_ISA", None)
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e,
                          timeout=120)


def test_best_isa_chosen_by_default():
    r = _run("import fastnn; print(fastnn.get_isa()); print(fastnn._C.build_info()['isa_best'])")
    assert r.returncode == 0, r.stderr
    active, best = r.stdout.split()
    assert active == best
    info = _C.build_info()
    order = ["generic", "avx2", "avx512"]
    assert best == max(info["isa_supported"], key=order.index)
    cpu = info["cpu"]
    if "avx512" in info["isa_compiled"] and cpu["avx512f"] and cpu["avx512bw"] and cpu["avx512vl"]:
        assert best == "avx512"


@pytest.mark.parametrize("name", ["generic", "avx2", "avx512"])
def test_fastnn_isa_env_honoured(name):
    r = _run("import fastnn; print(fastnn.get_isa())", FASTNN_ISA=name)
    if name in _C.build_info()["isa_supported"]:
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == name
    else:
        assert r.returncode != 0 and "FASTNN_ISA" in r.stderr


def test_fastnn_isa_unknown_is_clear_error():
    r = _run("import fastnn", FASTNN_ISA="sse9")
    assert r.returncode != 0
    assert "FASTNN_ISA" in r.stderr and "sse9" in r.stderr


def test_set_isa_bad_name():
    with pytest.raises(ValueError, match="FASTNN_ISA"):
        fastnn.set_isa("neon")
    assert fastnn.get_isa() in _C.build_info()["isa_supported"]


def test_threads(threads):
    fastnn.set_num_threads(1)
    assert fastnn.get_num_threads() == 1
    fastnn.set_num_threads(3)
    assert fastnn.get_num_threads() == 3
    with pytest.raises(ValueError, match="n must be >= 1"):
        fastnn.set_num_threads(0)
    with pytest.raises(TypeError):
        fastnn.set_num_threads(1.5)


def test_omp_num_threads_default():
    r = _run("import fastnn; print(fastnn.get_num_threads())", OMP_NUM_THREADS="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


def test_show_config(capsys):
    fastnn.show_config()
    out = capsys.readouterr().out
    for key in ("fastnn", "ISA in use", "ISAs compiled", "threads", "compiler", "OpenMP"):
        assert key in out
    assert fastnn.get_isa() in out


def test_unknown_isa_names_it_and_lists_the_valid_ones():
    # `python -m fastnn config` imports fastnn first: the import error must show the real cause
    e = dict(os.environ, FASTNN_ISA="bogus")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-m", "fastnn", "config"], capture_output=True, text=True,
                       env=e, cwd=root, timeout=120)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert "unknown ISA 'bogus'" in last
    for name in ("generic", "avx2", "avx512"):
        assert f"'{name}'" in last
    assert "missing" not in r.stderr and "pip install" not in r.stderr


def test_missing_extension_says_so_and_how_to_build():
    r = _run("import sys; sys.modules['fastnn._C'] = None; import fastnn")
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert "fastnn._C" in last and "missing" in last and "pip install -e ." in last
