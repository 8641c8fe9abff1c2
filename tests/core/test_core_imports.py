"""nnfs.core imports nothing but numpy, scipy and the standard library."""

import ast
import pathlib
import subprocess
import sys

import nnfs.core

CORE = pathlib.Path(nnfs.core.__file__).parent
ALLOWED = {"numpy", "scipy", "nnfs", "__future__"} | set(sys.stdlib_module_names)


def _imports(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


def test_core_imports_only_numpy_scipy_stdlib():
    files = sorted(CORE.glob("*.py"))
    assert len(files) >= 10
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            assert top in ALLOWED, f"{path.name} imports {name}"
            if top == "nnfs":
                assert name.startswith("nnfs.core"), f"{path.name} imports {name}"


def test_importing_core_loads_no_heavy_library():
    code = ("import sys, nnfs.core, nnfs.core.model; "
            "heavy = {'sklearn', 'pandas', 'mlflow', 'hydra', 'omegaconf', 'matplotlib'}; "
            "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
