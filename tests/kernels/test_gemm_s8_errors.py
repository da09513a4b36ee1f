"""int8 GEMM: bad input is a TypeError/ValueError naming the argument (never a cast, a crash or a
silent wrong answer), and the dispatch reports and honours the VNNI choice."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn import _C
from fastnn.quant import gemm_u8s8, pack_weights


@pytest.fixture
def packed():
    return pack_weights(np.ones((5, 8), np.int8))


def u8(*shape):
    return np.ones(shape, np.uint8)


@pytest.mark.parametrize("w", [np.ones((5, 8), np.float32), np.ones((5, 8), np.uint8),
                               np.ones((5, 8), np.int16), [[1, 2], [3, 4]], None])
def test_pack_wrong_dtype(w):
    with pytest.raises(TypeError, match="w: expected .*int8"):
        pack_weights(w)


@pytest.mark.parametrize("shape", [(8,), (2, 3, 4)])
def test_pack_wrong_ndim(shape):
    with pytest.raises(ValueError, match=r"w: expected a 2-D array, got shape"):
        pack_weights(np.ones(shape, np.int8))


def test_pack_k_too_large():
    with pytest.raises(ValueError, match="w: k = 65537 exceeds 65536"):
        pack_weights(np.zeros((1, 65537), np.int8))


@pytest.mark.parametrize("a", [np.ones((3, 8), np.float32), np.ones((3, 8), np.int8),
                               np.ones((3, 8), np.int32), np.ones((3, 8)), [[1] * 8] * 3])
def test_a_wrong_dtype_never_cast(packed, a):
    with pytest.raises(TypeError, match="a: expected .*uint8"):
        gemm_u8s8(a, packed, scale_b=1.0)


def test_a_shape(packed):
    with pytest.raises(ValueError, match=r"a: expected shape \(m, 8\) .*\(5, 8\), got \(3, 7\)"):
        gemm_u8s8(u8(3, 7), packed, scale_b=1.0)
    with pytest.raises(ValueError, match="a: expected a 2-D array, got shape"):
        gemm_u8s8(u8(8), packed, scale_b=1.0)


def test_packed_wrong_type():
    with pytest.raises(TypeError, match="packed: expected PackedWeightsS8"):
        gemm_u8s8(u8(3, 8), np.ones((5, 8), np.int8), scale_b=1.0)


@pytest.mark.parametrize("kw,match", [
    (dict(za=256), "za: .*0, 255.*256"), (dict(za=-1), "za: "),
    (dict(z_out=300, out_dtype="uint8"), "z_out: .*300"),
    (dict(scale_a=0.0), "scale_a: must be finite and > 0"),
    (dict(scale_a=float("nan")), "scale_a"), (dict(scale_a=float("inf")), "scale_a"),
    (dict(scale_b=np.ones(4)), r"scale_b: expected shape \(5,\), got \(4,\)"),
    (dict(scale_b=np.ones((1, 5))), "scale_b: expected shape"),
    (dict(scale_b=-1.0), "scale_b: must be finite and >= 0"),
    (dict(scale_b=np.array([1, 1, np.nan, 1, 1])), r"scale_b\[2\]"),
    (dict(bias=np.ones(6)), r"bias: expected shape \(5,\), got \(6,\)"),
    (dict(bias=np.array([0, np.inf, 0, 0, 0])), r"bias: must be finite.*bias\[1\]"),
    (dict(out_dtype="uint8", scale_out=0.0), "scale_out: must be finite and > 0"),
    (dict(out_dtype="uint8", scale_b=3e38, scale_out=1e-30), "overflows float32"),
    (dict(out_dtype="float16"), "out_dtype: expected one of"),
    (dict(bias_i32=np.ones(4, np.int32)), r"bias_i32: expected shape \(5,\), got \(4,\)"),
    (dict(bias_i32=np.full(5, 2**31 - 1, np.int32)), "bias_i32: .*exceeds.*overflow"),
])
def test_bad_epilogue_args(packed, kw, match):
    kw = dict(dict(scale_b=1.0), **kw)
    with pytest.raises(ValueError, match=match):
        gemm_u8s8(u8(3, 8), packed, **kw)


@pytest.mark.parametrize("kw,match", [
    (dict(za=1.5), "za: expected an int"), (dict(za=True), "za: expected an int"),
    (dict(z_out=2.0), "z_out: expected an int"), (dict(scale_a="x"), "scale_a: expected a real"),
    (dict(bias_i32=np.ones(5, np.int64)), "bias_i32: expected dtype int32"),
    (dict(bias_i32=np.ones(5, np.float32)), "bias_i32: expected dtype int32"),
    (dict(scale_b=np.array(["a"] * 5)), "scale_b"),
    (dict(out_dtype=object()), "out_dtype"),
])
def test_bad_arg_types(packed, kw, match):
    kw = dict(dict(scale_b=1.0), **kw)
    with pytest.raises(TypeError, match=match):
        gemm_u8s8(u8(3, 8), packed, **kw)


def test_int32_output_rejects_unused_args(packed):
    with pytest.raises(ValueError, match="scale_b/bias: not used for int32 output"):
        gemm_u8s8(u8(3, 8), packed, out_dtype="int32", scale_b=1.0)
    with pytest.raises(ValueError, match="relu: not available for int32"):
        gemm_u8s8(u8(3, 8), packed, out_dtype="int32", relu=True)
    with pytest.raises(ValueError, match="scale_b: required for out_dtype='uint8'"):
        gemm_u8s8(u8(3, 8), packed, out_dtype="uint8")


def test_out_errors(packed):
    a = u8(3, 8)
    with pytest.raises(TypeError, match="out: expected dtype float32 for out_dtype='float32', got int32"):
        gemm_u8s8(a, packed, scale_b=1.0, out=np.zeros((3, 5), np.int32))
    with pytest.raises(TypeError, match="out: expected dtype uint8"):
        gemm_u8s8(a, packed, scale_b=1.0, out_dtype="uint8", out=np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match=r"out: expected shape \(3, 5\), got \(5, 3\)"):
        gemm_u8s8(a, packed, scale_b=1.0, out=np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match="out: expected a C-contiguous"):
        gemm_u8s8(a, packed, scale_b=1.0, out=np.zeros((5, 3), np.float32).T)
    ro = np.zeros((3, 5), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out: array is read-only"):
        gemm_u8s8(a, packed, scale_b=1.0, out=ro)
    with pytest.raises(TypeError, match="out: expected a numpy.ndarray"):
        gemm_u8s8(a, packed, scale_b=1.0, out=[[0] * 5] * 3)
    buf = np.zeros((3, 8), np.uint8)   # out aliasing a
    p3 = pack_weights(np.ones((8, 8), np.int8))
    with pytest.raises(ValueError, match="out: must not share memory with a"):
        gemm_u8s8(buf, p3, scale_b=1.0, out_dtype="uint8", out=buf)


def test_pack_a_never_when_impossible(packed):
    with pytest.raises(ValueError, match="a: cannot be read in place"):
        _C.gemm_u8s8(np.ones((3, 16), np.uint8)[:, ::2], packed, 0, "int32", pack_a=0)
    p = pack_weights(np.ones((5, 7), np.int8))
    with pytest.raises(ValueError, match="k % 4"):
        _C.gemm_u8s8(np.ones((3, 7), np.uint8), p, 0, "int32", pack_a=0)


def test_failed_call_leaves_out_unchanged(packed):
    out = np.full((3, 5), 42.0, np.float32)
    with pytest.raises(ValueError):
        gemm_u8s8(u8(3, 8), packed, scale_b=np.array([1, 1, 1, 1, np.nan]), out=out)
    assert (out == 42.0).all()


# ---- dispatch --------------------------------------------------------------------------------------

def _run(code, **env):
    e = dict(os.environ)
    e.pop("FASTNN_ISA", None)
    e.pop("FASTNN_NO_VNNI", None)
    e.pop("FASTNN_NO_AMX", None)
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e,
                          timeout=120)


def test_vnni_kernel_chosen_when_supported():
    info = _C.s8_gemm_info()
    cpu = _C.build_info()["cpu"]
    if fastnn.get_isa() == "avx512" and cpu["avx512vnni"]:
        assert info["vnni"] and "vnni" in info["kernel"] and info["mr"] == 14
    else:
        assert not info["vnni"] and "vnni" not in info["kernel"]
    assert (info["nr"], info["kgroup"]) == (32, 4)


def test_kernel_follows_isa(isa):
    info = _C.s8_gemm_info()
    assert info["isa"] == isa
    assert info["kernel"].startswith({"generic": "generic", "avx2": "avx2", "avx512": "avx"}[isa])


def test_no_vnni_falls_back_to_avx2_kernel():
    # An AVX-512 CPU without VNNI (simulated) keeps the exact AVX2 int8 kernel under the avx512 table.
    if "avx512" not in _C.build_info()["isa_supported"]:
        pytest.skip("no AVX-512 here")
    code = ("import numpy as np, fastnn; from fastnn import _C; from fastnn.quant import *\n"
            "i = _C.s8_gemm_info(); print(fastnn.get_isa(), i['vnni'], i['kernel'].split()[0])\n"
            "a = np.full((5, 67), 255, np.uint8); w = np.full((33, 67), 127, np.int8)\n"
            "print((gemm_u8s8(a, pack_weights(w), out_dtype='int32') == 255 * 127 * 67).all())\n"
            "import io, contextlib; s = io.StringIO()\n"
            "with contextlib.redirect_stdout(s): fastnn.show_config()\n"
            "print('VNNI: no' in s.getvalue())")
    r = _run(code, FASTNN_NO_VNNI="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["avx512", "False", "avx2", "True", "True"]


def test_amx_usable_matches_cpu_and_build():
    info, b = _C.s8_gemm_info(), _C.build_info()
    cpu = b["cpu"]
    if not (b["amx_compiled"] and cpu["amx_tile"] and cpu["amx_int8"]):
        assert not info["amx_usable"]
    elif sys.platform.startswith("linux"):  # Linux grants tile data on request (5.16 and later)
        assert info["amx_usable"]
    assert info["amx_mode"] in ("off", "auto", "on")
    assert info["amx"] == (info["isa"] == "avx512" and info["amx_usable"]
                           and info["amx_mode"] != "off")


def test_amx_mode_switch(rng):
    prev = _C.s8_gemm_info()["amx_mode"]
    try:
        with pytest.raises(ValueError, match="mode: expected 'off', 'auto' or 'on', got 'yes'"):
            _C.s8_gemm_set_amx("yes")
        assert _C.s8_gemm_info()["amx_mode"] == prev  # a refused call changes nothing
        assert _C.s8_gemm_set_amx("off") == prev
        assert _C.s8_gemm_set_amx("auto") == "off"
        if _C.s8_gemm_info()["amx_usable"]:
            assert _C.s8_gemm_set_amx("on") == "auto"
            assert _C.s8_gemm_info()["amx_mode"] == "on"
        else:  # 'on' promises the tiles: refused where there are none, mode unchanged
            with pytest.raises(ValueError, match="AMX int8 tiles are not usable here"):
                _C.s8_gemm_set_amx("on")
            assert _C.s8_gemm_info()["amx_mode"] == "auto"
    finally:
        _C.s8_gemm_set_amx(prev)


def test_no_amx_env_turns_the_tiles_off():
    code = ("import numpy as np, fastnn; from fastnn import _C; from fastnn.quant import *\n"
            "i = _C.s8_gemm_info(); print(i['amx_mode'], i['amx'])\n"
            "a = np.full((40, 130), 255, np.uint8); w = np.full((33, 130), -128, np.int8)\n"
            "print((gemm_u8s8(a, pack_weights(w), out_dtype='int32') == -255 * 128 * 130).all())\n"
            "import io, contextlib; s = io.StringIO()\n"
            "with contextlib.redirect_stdout(s): fastnn.show_config()\n"
            "print('AMX tiles: no' in s.getvalue() or 'AMX tiles: off' in s.getvalue())")
    r = _run(code, FASTNN_NO_AMX="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["off", "False", "True", "True"]


def test_amx_threads_and_panel_chunks_exact(rng, threads):
    # Few row tiles and many panels: the tasks split the panels; every thread loads its own
    # tile configuration. Exact against int64 and against the VNNI path.
    if not _C.s8_gemm_info()["amx_usable"]:
        pytest.skip("no AMX int8 tiles on this CPU/OS/build (Sapphire Rapids and later)")
    prev = _C.s8_gemm_info()["amx_mode"]
    a = rng.integers(0, 256, (37, 700), dtype=np.uint8)
    w = rng.integers(-128, 128, (300, 700), dtype=np.int8)
    p = pack_weights(w)
    want = (a.astype(np.int64) - 5) @ w.T.astype(np.int64)
    wide = np.zeros((37, 1400), np.uint8)
    wide[:, ::2] = a  # a column stride of 2 bytes: packed element by element
    try:
        for nt in (1, 2, 3):
            fastnn.set_num_threads(nt)
            _C.s8_gemm_set_amx("on")
            np.testing.assert_array_equal(gemm_u8s8(a, p, za=5, out_dtype="int32"), want)
            np.testing.assert_array_equal(gemm_u8s8(wide[:, ::2], p, za=5, out_dtype="int32"),
                                          want)
    finally:
        _C.s8_gemm_set_amx(prev)


def test_packed_weights_survive_isa_switch(rng):
    from tests.conftest import SUPPORTED_ISAS
    w = rng.integers(-128, 128, (40, 21), dtype=np.int8)
    a = rng.integers(0, 256, (9, 21), dtype=np.uint8)
    p = pack_weights(w)
    want = a.astype(np.int64) @ w.T.astype(np.int64)
    before = fastnn.get_isa()
    try:
        for name in SUPPORTED_ISAS:
            fastnn.set_isa(name)
            np.testing.assert_array_equal(gemm_u8s8(a, p, out_dtype="int32"), want, err_msg=name)
    finally:
        fastnn.set_isa(before)
    assert p.isa == before


def test_show_config_reports_int8_kernel(capsys):
    fastnn.show_config()
    text = capsys.readouterr().out
    info = _C.s8_gemm_info()
    assert "int8 GEMM" in text and info["kernel"] in text
    assert ("VNNI: yes" if info["vnni"] else "VNNI: no") in text
    assert ("AMX tiles: no" if not info["amx_usable"] else "AMX tiles: ") in text
    assert fastnn._config.config()["int8_gemm"]["kernel"] == info["kernel"]
