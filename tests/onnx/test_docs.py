"""docs/onnx.md's Python blocks, in order, in one namespace (in a temporary folder)."""
import re
from pathlib import Path


def test_onnx_doc_examples_run(torch, onnx, ort, tmp_path, monkeypatch):
    text = (Path(__file__).resolve().parents[2] / "docs" / "onnx.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)
    ns = {}
    for code in blocks:
        exec(compile(code, "docs/onnx.md", "exec"), ns)
    assert (tmp_path / "model.onnx").exists()
    assert (tmp_path / "model_int8.onnx").exists() and (tmp_path / "model_int8_u8w.onnx").exists()
