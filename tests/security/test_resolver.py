"""The resolver's allow-list: what a name in a file may become in safe mode, and nothing else."""

import inspect
import math
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import activations, constraints, initializers, regularizers
from cthulhu.names import custom_object_scope
from cthulhu.names.functions import deserialize_function, serialize_function
from cthulhu.names.resolver import (
    register_function,
    registered_functions,
    resolve,
    safe_mode_scope,
)

# The public lookups of cthulhu's own modules: a name they accept is on the allow-list.
_OWN = {"cthulhu.activations": activations, "cthulhu.initializers": initializers,
        "cthulhu.regularizers": regularizers, "cthulhu.constraints": constraints}
_DANGEROUS = ["builtins", "os", "sys", "subprocess", "shutil", "numpy", "numpy.lib.format",
              "importlib", "pickle", "marshal", "ctypes", "cthulhu", "cthulhu.saving",
              "cthulhu.saving.cthulhu_file", "cthulhu.names.resolver", "cthulhu.names.functions", *_OWN]


def _accepted_by_public_lookup(module_name, name):
    if module_name not in _OWN:
        return False
    try:
        _OWN[module_name].deserialize(name)
    except (ValueError, TypeError):
        return False
    return True


def _expected_allowed(module_name, name):
    registered = registered_functions()
    return (_accepted_by_public_lookup(module_name, name) or name in registered
            or f"{module_name}.{name}" in registered)


# Snapshots: Hypothesis replays draws, so what it draws from must not change under it.
_MODULES = sorted(name for name, module in list(sys.modules.items()) if module is not None)
_NAMES: dict = {}


def _names(target):
    key = id(target)
    if key not in _NAMES:
        _NAMES[key] = (target, sorted(dir(target)))  # keeps target alive: ids stay unique
    return _NAMES[key][1]


@st.composite
def module_attribute_paths(draw):
    """(module name, attribute path) pairs drawn from what this process has imported."""
    module_name = draw(st.one_of(st.sampled_from(_DANGEROUS), st.sampled_from(_MODULES)))
    target = sys.modules.get(module_name) or __import__(module_name)
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        names = _names(target)
        if not names:
            break
        parts.append(draw(st.sampled_from(names)))
        try:  # static lookup: a module's __getattr__ could import or warn
            target = inspect.getattr_static(target, parts[-1])
        except AttributeError:
            break
    return module_name, ".".join(parts) or "x"


@settings(max_examples=400)
@given(module_attribute_paths())
def test_no_attribute_path_outside_the_allow_list_resolves(pair):
    module_name, name = pair
    before = set(sys.modules)
    try:
        found = resolve(name, module_name, safe_mode=True)
    except ValueError as exc:
        found = exc
    assert set(sys.modules) <= before  # safe mode imports nothing
    if isinstance(found, ValueError):
        assert "allow-list" in str(found)
        assert not _expected_allowed(module_name, name), (module_name, name)
    else:
        assert _expected_allowed(module_name, name), (module_name, name, found)


@pytest.mark.parametrize(("module_name", "name"), [
    ("builtins", "exec"), ("builtins", "eval"), ("builtins", "open"), ("builtins", "__import__"),
    ("numpy", "ndarray.tofile"), ("numpy", "ndarray.dump"), ("numpy", "save"), ("os", "system"),
    ("os", "environ.update"), ("cthulhu.activations", "_xp"), ("cthulhu.activations", "get"),
    ("cthulhu.saving.cthulhu_file", "save_model"), ("cthulhu.activations", "relu.__globals__"),
    (None, "exec"), (None, "builtins.exec"),
])
def test_known_dangerous_names_refused(module_name, name):
    with pytest.raises(ValueError, match="allow-list"):
        resolve(name, module_name)


def test_safe_mode_is_the_default_and_scoped():
    with pytest.raises(ValueError, match="allow-list"):
        resolve("sqrt", "math")
    with safe_mode_scope(False):
        assert resolve("sqrt", "math") is math.sqrt
        with safe_mode_scope(True):
            with pytest.raises(ValueError):
                resolve("sqrt", "math")
    with pytest.raises(ValueError):
        resolve("sqrt", "math")


def test_opt_in_by_custom_objects_scope_and_registration():
    def mine(x):
        return x

    assert resolve("mine", "anywhere", custom_objects={"mine": mine}) is mine
    assert resolve("mine", "anywhere", custom_objects={"anywhere.mine": mine}) is mine
    with custom_object_scope({"mine": mine}):
        assert resolve("mine", "some.module") is mine
    register_function(mine, name="tests.security.mine")
    assert resolve("tests.security.mine") is mine
    assert resolve("mine", "tests.security") is mine


@pytest.mark.parametrize("fn", [
    *[getattr(activations, n) for n in ("relu", "softmax", "gelu", "swish", "linear")],
    regularizers.l1_l2, regularizers.l2, regularizers.L1L2, initializers.GlorotUniform,
    initializers.he_normal, constraints.MaxNorm, constraints.max_norm,
])
def test_cthulhu_own_functions_round_trip_in_safe_mode(fn):
    assert deserialize_function(serialize_function(fn)) is fn


def test_unsafe_mode_keeps_the_old_lookup():
    # safe_mode=False: any importable module and attribute path (this runs code from the file).
    import os.path

    assert resolve("path.join", "os", safe_mode=False) is os.path.join
    with pytest.raises(ValueError, match="cannot find"):
        resolve("no_such_function", "os", safe_mode=False)
