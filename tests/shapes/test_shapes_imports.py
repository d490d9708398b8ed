"""``cthulhu.shapes`` is the ground floor: it imports nothing from cthulhu outside itself.

Checked twice: statically, on every import statement of every module of the
package (function-level imports included, and ``import_module`` calls), and
at run time, on what ``import cthulhu.shapes`` loads. Nor does it import NumPy.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import cthulhu.shapes

PACKAGE = Path(cthulhu.shapes.__file__).resolve().parent
MODULES = sorted(PACKAGE.rglob("*.py"))


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path):
    """``(line, module name)`` of every import in the file, relative ones resolved."""
    return _imports_of(path.read_text(encoding="utf-8"), _module_name(path),
                       path.name == "__init__.py")


def _imports_of(source, name, is_package=False):
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            yield node.lineno, target
            if node.module is None or node.level:
                # "from . import kinds": each name may be a submodule
                for alias in node.names:
                    yield node.lineno, f"{target}.{alias.name}"
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in ("import_module", "__import__") and node.args:
                yield node.lineno, _dynamic_target(node.args[0], name)


def _dynamic_target(arg, module):
    """The module an ``import_module`` argument names, as far as it can be told."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if (isinstance(arg, ast.JoinedStr) and arg.values
            and isinstance(arg.values[0], ast.FormattedValue)
            and isinstance(arg.values[0].value, ast.Name)
            and arg.values[0].value.id == "__name__"):
        return f"{module}.<submodule>"      # f"{__name__}.<name>": inside the package
    return "<dynamic>"                       # anything else is refused


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_shapes_module_imports_only_shapes_and_the_standard_library(path):
    bad = []
    for line, target in _imported(path):
        top = target.split(".")[0]
        if top == "cthulhu" and not (target == "cthulhu.shapes"
                                     or target.startswith("cthulhu.shapes.")):
            bad.append((line, target))
        elif top in ("numpy", "<dynamic>") or target == "<dynamic>":
            bad.append((line, target))
    assert bad == [], f"{path.name} imports {bad}"


def test_the_scan_sees_relative_function_level_and_string_imports():
    source = ("def f():\n    from .. import config\n    from ..ops import _args\n"
              "    import importlib\n    importlib.import_module('cthulhu.layers')\n"
              "    importlib.import_module(name)\n")
    targets = [target for _, target in _imports_of(source, "cthulhu.shapes.normalize")]
    assert "cthulhu.config" in targets and "cthulhu.ops._args" in targets
    assert "cthulhu.layers" in targets and "<dynamic>" in targets
    inside = [target for _, target in _imports_of("from .base import Kind\n",
                                                   "cthulhu.shapes.kinds", is_package=True)]
    assert inside == ["cthulhu.shapes.kinds.base", "cthulhu.shapes.kinds.base.Kind"]


def test_import_shapes_loads_no_other_cthulhu_module():
    code = "import sys, cthulhu.shapes; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    loaded = set(out.stdout.split())
    outside = {m for m in loaded if m.startswith("cthulhu") and m != "cthulhu"
               and not m.startswith("cthulhu.shapes")}
    assert outside == set() and "numpy" not in loaded
