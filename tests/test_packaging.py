"""Packaging checks that keep the README's commands true on a fresh machine.

- Every third-party module imported anywhere in tests/ is installed by the README's test command
  (the `test` extra or a run-time dependency). PyTorch is the one exception: tests reach it only
  through the `torch` fixture of conftest.py, which skips without it (fails under
  FASTNN_REQUIRE_TORCH=1) and is installed by the `bench` extra for the reference stage of .ci/run.
- Every third-party module bench/ imports is in the `bench` extra.
- fastnn itself imports only its run-time dependencies at module level; everything else is lazy.
- No test hides a missing dependency behind `pytest.importorskip`.
"""
import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]

# import name -> distribution name, where they differ
DIST_OF = {"sklearn": "scikit-learn", "yaml": "pyyaml", "PIL": "pillow", "cv2": "opencv-python",
           "mpi4py": "mpi4py", "onnxruntime": "onnxruntime"}


def _norm(dist):
    return re.sub(r"[-_.]+", "-", dist).lower()


def _requirement_name(req):
    return _norm(re.match(r"\s*([A-Za-z0-9_.\-]+)", req).group(1))


def _pyproject():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the test extra installs tomli there
        import tomli as tomllib
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _declared(*extras):
    project = _pyproject()["project"]
    names = {_requirement_name(r) for r in project["dependencies"]}
    for e in extras:
        names |= {_requirement_name(r) for r in project["optional-dependencies"][e]}
    return names


def _stdlib():
    if hasattr(sys, "stdlib_module_names"):
        return set(sys.stdlib_module_names)
    import sysconfig  # Python 3.9: whatever lives in the standard library folder
    lib = Path(sysconfig.get_paths()["stdlib"])
    return {p.stem for p in lib.iterdir()} | set(sys.builtin_module_names)


def _imports(path):
    """(top-level module, line, at_module_level) of every import in a file, lazy ones included."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name.split(".")[0], node.lineno, id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module.split(".")[0], node.lineno, id(node) in top_level))
    return out


def _third_party(folder, local=()):
    """{distribution: [file:line]} of the third-party imports under folder."""
    std = _stdlib()
    local = set(local) | {"fastnn", "tests", "conftest"} | {p.stem for p in folder.rglob("*.py")}
    found = {}
    for path in sorted(folder.rglob("*.py")):
        for mod, line, _ in _imports(path):
            if mod in std or mod in local:
                continue
            found.setdefault(_norm(DIST_OF.get(mod, mod)), []).append(
                f"{os.path.relpath(path, ROOT)}:{line}")
    return found


def test_third_party_helpers_see_imports(tmp_path):
    # The scanner itself: a lazy import inside a function is found, stdlib and local ones are not.
    (tmp_path / "helper_mod.py").write_text("import os\n")
    (tmp_path / "t.py").write_text(textwrap.dedent("""
        import json, helper_mod
        def f():
            from sklearn.datasets import load_digits
            import torch.nn
    """))
    found = _third_party(tmp_path)
    assert set(found) == {"scikit-learn", "torch"}


def test_tests_import_only_declared_modules():
    declared = _declared("test")
    found = _third_party(ROOT / "tests")
    missing = {d: where for d, where in found.items() if d not in declared and d != "torch"}
    assert not missing, (
        "tests import modules that the README's test command does not install; add them to the "
        f"`test` extra in pyproject.toml: {missing}")


def test_torch_only_through_the_fixture():
    # `import torch` in a test would bypass the marker and FASTNN_REQUIRE_TORCH (the fixture in
    # conftest.py imports it by name).
    for path in sorted((ROOT / "tests").rglob("*.py")):
        bad = [line for mod, line, _ in _imports(path) if mod == "torch"]
        assert not bad, f"{path.relative_to(ROOT)}:{bad}: take the `torch` fixture instead"


def test_no_importorskip():
    # A skip on a missing dependency hides a missing feature; declare the dependency instead.
    for path in sorted((ROOT / "tests").rglob("*.py")):
        calls = [n.lineno for n in ast.walk(ast.parse(path.read_text()))
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr == "importorskip"]
        assert not calls, f"{path.relative_to(ROOT)}:{calls} uses pytest.importorskip"


def test_bench_imports_declared():
    declared = _declared("bench")
    found = _third_party(ROOT / "bench")
    missing = {d: where for d, where in found.items() if d not in declared}
    assert not missing, f"bench/ imports modules missing from the `bench` extra: {missing}"


def test_bench_extra_is_a_superset_of_test():
    assert _declared("test") <= _declared("bench")


def test_package_imports_only_runtime_deps_at_module_level():
    declared = _declared()
    std = _stdlib()
    bad = []
    for path in sorted((ROOT / "fastnn").rglob("*.py")):
        for mod, line, top in _imports(path):
            if top and mod not in std and mod != "fastnn" and _norm(mod) not in declared:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {mod}")
    assert not bad, f"optional modules must be imported lazily (inside the function): {bad}"


def test_require_torch_turns_the_skip_into_a_failure(tmp_path):
    # With torch made unimportable, a torch test skips by default and fails under the switch.
    (tmp_path / "torch.py").write_text("raise ImportError('torch blocked for this test')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "torch",
           "tests/nn/test_pool.py"]
    plain = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert plain.returncode == 0 and "1 skipped" in plain.stdout, plain.stdout[-2000:]
    env["FASTNN_REQUIRE_TORCH"] = "1"
    strict = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert strict.returncode == 1 and "1 error" in strict.stdout, strict.stdout[-2000:]
    assert "FASTNN_REQUIRE_TORCH=1" in strict.stdout


def test_readme_test_command_matches_ci():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    cmd = 'pip install -e ".[test]" && python -m pytest'
    assert cmd in readme
    assert cmd in ci
