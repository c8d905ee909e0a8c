"""The consensus library is pure: no Django (or other project) imports, only NumPy/SciPy."""

import ast
from pathlib import Path

import deliberation.consensus as pkg

ROOT = Path(pkg.__file__).parent
ALLOWED_THIRD_PARTY = {"numpy", "scipy"}


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_no_django_or_heavy_imports():
    import sys

    modules = [p for p in ROOT.glob("*.py")]
    assert len(modules) >= 10
    for path in modules:
        for name in _imports(path):
            top = name.split(".")[0]
            assert top in ALLOWED_THIRD_PARTY or top in sys.stdlib_module_names, (path.name, name)


def test_package_init_imports_nothing():
    tree = ast.parse((ROOT / "__init__.py").read_text())
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr)  # the docstring only
