"""Fixtures for the ONNX tests: `onnx` and `ort` (onnxruntime), imported by name like the `torch`
fixture. They skip when the package is missing and fail under FASTNN_REQUIRE_TORCH=1 (the
reference stage of .ci/run installs the `bench` extra, which carries onnx and onnxruntime); tests
that take them are marked `torch` so that stage runs them."""
import importlib
import os

import numpy as np
import pytest

from tests.conftest import REQUIRE_TORCH

ZOO_DIR = ("backend", "test", "data")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if {"onnx", "ort"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.torch)


def _module(name, extra):
    try:
        return importlib.import_module(name)
    except ImportError as e:
        if REQUIRE_TORCH:
            pytest.fail(f"FASTNN_REQUIRE_TORCH=1 but {name} cannot be imported ({e}); install "
                        f"the bench extra: pip install -e '.[bench]'", pytrace=False)
        pytest.skip(f"{name} is not installed (pip install -e '.[{extra}]')")


@pytest.fixture(scope="session")
def onnx():
    return _module("onnx", "onnx")


@pytest.fixture(scope="session")
def ort():
    return _module("onnxruntime", "bench")


@pytest.fixture
def ort_run(ort):
    """run(model_bytes_or_path, *inputs) -> onnxruntime's outputs (no spinning threads)."""
    def run(model, *xs):
        model = _lowest_ir(model)
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.intra_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        feed = {i.name: np.asarray(x) for i, x in zip(sess.get_inputs(), xs)}
        return sess.run(None, feed)
    return run


def _lowest_ir(model):
    """A test-built model (onnx.helper.make_model) carries the newest IR version the onnx package
    knows, which an older onnxruntime refuses ("Unsupported model IR version: 14, max supported
    IR version: 13") although the file needs no newer IR than its opsets do: lower it to that."""
    if not isinstance(model, (bytes, bytearray)):
        return model
    onnx = importlib.import_module("onnx")
    m = onnx.load_from_string(bytes(model))
    need = onnx.helper.find_min_ir_version_for(list(m.opset_import), ignore_unknown=True)
    if m.ir_version <= need:
        return model
    m.ir_version = need
    return m.SerializeToString()


def data_dir(onnx, *parts):
    return os.path.join(os.path.dirname(onnx.__file__), *ZOO_DIR, *parts)
