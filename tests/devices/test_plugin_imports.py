"""The op plugins stand on ``cthulhu.shapes`` and ``cthulhu.devices.base`` only.

What crosses into a plugin is a geometry and an epilogue; a plugin has no reason to
reach up into ``cthulhu.ops`` (its argument helpers re-derived pads the op had already
computed) or into the layers. Checked on every import statement of the plugin modules,
function-level ones included. The only exception: the Dask router's block tasks
re-enter the public ops on purpose, inside functions.
"""

import ast
from pathlib import Path

import pytest

import cthulhu.devices

DEVICES = Path(cthulhu.devices.__file__).resolve().parent
# the op kernels and routers: every module of cthulhu.devices (whole models run on the
# cthulhu.blockwise floor above the engine)
PLUGIN_MODULES = sorted(DEVICES.rglob("*.py"))
ALLOWED = ("cthulhu.shapes", "cthulhu.devices", "cthulhu.config", "cthulhu._extras")
REENTRY = {DEVICES / "dask_" / "ops.py": "cthulhu.ops"}


def _module_name(path):
    parts = path.relative_to(DEVICES.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """``(module name, at module level?)`` of every import of ``path``, relative resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            names = [f"{target}.{a.name}" for a in node.names] if target == "cthulhu" else [target]
            for target in names:
                yield target, id(node) in top_level


def _within(target, prefix):
    return target == prefix or target.startswith(prefix + ".")


@pytest.mark.parametrize("path", PLUGIN_MODULES, ids=lambda p: str(p.relative_to(DEVICES)))
def test_plugin_module_imports_only_shapes_and_devices(path):
    bad = []
    for target, module_level in _imports(path):
        if not _within(target, "cthulhu"):
            continue
        if any(_within(target, allowed) for allowed in ALLOWED):
            continue
        if path in REENTRY and _within(target, REENTRY[path]) and not module_level:
            continue
        bad.append(target)
    assert bad == [], f"{path.relative_to(DEVICES)} imports {bad}"


def test_no_devices_module_imports_the_ops_argument_helpers():
    users = {str(path.relative_to(DEVICES)) for path in DEVICES.rglob("*.py")
             for target, _ in _imports(path) if _within(target, "cthulhu.ops")}
    assert users == {"dask_/ops.py"}


def test_the_scan_sees_function_level_and_relative_imports():
    path = DEVICES / "dask_" / "ops.py"
    found = dict(_imports(path))
    assert found["cthulhu.ops"] is False          # inside the block task
    assert "cthulhu.devices.dask_.halo" in found  # "from .halo import ..."
