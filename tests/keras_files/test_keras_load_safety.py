"""Loading a Keras file into a model never runs anything the file names, and a file cannot
make cthulhu allocate more than it holds.

The files are real Keras 3 fixtures with a hostile edit to their ``config.json`` (the
weights untouched): what a forged file could say. ``test_keras_safety.py`` covers the
reader (zip and HDF5 bombs, links, corrupt files); these cover the model built from it.
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import pytest

from cthulhu.models import load_model, model_from_json
from tests.support.keras_fixture_index import FIXTURES

pytest.importorskip("h5py")

DENSE = FIXTURES / "keras3" / "family_dense.keras"
EVIL = "cthulhu_test_evil_module"  # a module that must never be imported


def _forged(tmp_path, edit, source=DENSE):
    """A copy of ``source`` whose config.json went through ``edit(config)``."""
    out = tmp_path / f"forged_{source.name}"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            zout.writestr(info, data)
    return out


def _dense(config, index=1):
    return config["config"]["layers"][index]["config"]


@pytest.fixture
def no_imports(monkeypatch):
    """Records every module imported while loading; the evil one must not be."""
    imported = []
    real = builtins.__import__
    real_module = importlib.import_module

    def spy(name, *args, **kwargs):
        imported.append(name)
        return real(name, *args, **kwargs)

    def spy_module(name, *args, **kwargs):
        imported.append(name)
        return real_module(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", spy)
    monkeypatch.setattr(importlib, "import_module", spy_module)
    yield imported
    assert EVIL not in sys.modules


def _refused(path, *needles):
    with pytest.raises(ValueError) as info:
        load_model(path, isolate=False)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def test_activation_named_by_module_is_not_imported(tmp_path, no_imports):
    def edit(config):
        _dense(config)["activation"] = {"module": EVIL, "class_name": "function",
                                        "config": "system", "registered_name": "system"}

    _refused(_forged(tmp_path, edit), "dense_a", "custom_objects")
    assert EVIL not in no_imports


def test_os_system_as_activation_is_never_called(tmp_path, monkeypatch):
    called = []
    monkeypatch.setattr(os, "system", lambda *a: called.append(a))

    def edit(config):
        _dense(config)["activation"] = {"module": "os", "class_name": "function",
                                        "config": "system", "registered_name": None}

    _refused(_forged(tmp_path, edit), "dense_a")
    assert called == []


@pytest.mark.parametrize("key", ["kernel_initializer", "kernel_regularizer",
                                 "kernel_constraint"])
def test_custom_objects_in_arguments_are_refused(tmp_path, key, no_imports):
    def edit(config):
        _dense(config)[key] = {"module": EVIL, "class_name": "Payload", "config": {},
                               "registered_name": "evil>Payload"}

    _refused(_forged(tmp_path, edit), "dense_a", key, "custom_objects")
    assert EVIL not in no_imports


def test_layer_class_from_a_foreign_module_is_refused(tmp_path, no_imports):
    def edit(config):
        layer = config["config"]["layers"][1]
        layer.update({"module": EVIL, "class_name": "Payload", "registered_name": "Payload"})

    _refused(_forged(tmp_path, edit), "Payload")
    assert EVIL not in no_imports


def test_keras_class_with_a_foreign_module_is_not_imported(tmp_path, no_imports):
    """A Keras class name whose ``module`` points elsewhere: the class comes from the
    catalog or nowhere; the module named is never imported."""
    def edit(config):
        config["config"]["layers"][1]["module"] = EVIL

    try:
        load_model(_forged(tmp_path, edit), isolate=False)
    except ValueError as exc:
        assert "\n" not in str(exc)
    assert EVIL not in no_imports


def test_custom_class_only_from_custom_objects_never_from_registry_by_module(tmp_path):
    """A name the file gives resolves to a class only when the caller passed it."""
    def edit(config):
        config["config"]["layers"][1]["class_name"] = "Daoloth_but_custom"

    _refused(_forged(tmp_path, edit), "Daoloth_but_custom")


def test_model_from_json_runs_nothing(no_imports):
    text = json.dumps({"class_name": "Sequential", "keras_version": "2.15.0", "config": {
        "name": "m", "layers": [
            {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3],
                                                    "name": "x"}},
            {"class_name": "Lambda", "config": {
                "name": "boom", "function": [
                    "4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMEAAAAfABTACkBTqkAKQHaAXhyAQAAAHIBAAAA"
                    "+gg8c3RkaW4++gg8bGFtYmRhPgEAAADzAAAAAA==", None, None],
                "function_type": "lambda", "module": EVIL, "arguments": {}}}]}})
    with pytest.raises(ValueError) as info:
        model_from_json(text)
    assert "\n" not in str(info.value) and "boom" in str(info.value)
    assert EVIL not in no_imports


# ---------------------------------------------------------------------------
# Memory: a config that declares more than the file holds
# ---------------------------------------------------------------------------

def test_a_config_declaring_huge_weights_is_refused_before_allocating(tmp_path):
    """A Dense of 2**30 units over the file's few bytes of weights: refused while the
    model is built, and the process never holds more than a few MiB more (measured in a
    child process, with the allocation limit of the OS as the backstop)."""
    def edit(config):
        _dense(config)["units"] = 2 ** 30

    forged = _forged(tmp_path, edit)
    code = textwrap.dedent(f"""
        import resource, sys
        from cthulhu.models import load_model
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2 ** 30, 3 * 2 ** 30))
        try:
            load_model({str(forged)!r}, isolate=False)
        except ValueError as exc:
            print("REFUSED", str(exc).replace("\\n", " "))
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print("GREW_KIB", after - before)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env={**os.environ})
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stderr[-2000:]
    refused = next(line for line in lines if line.startswith("REFUSED"))
    assert "dense_a" in refused and "more than the weights the file holds" in refused
    grew = int(next(line for line in lines if line.startswith("GREW_KIB")).split()[1])
    assert grew < 64 * 1024, f"the refused load grew the process by {grew} KiB"


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    """A config changed under its weights (units 5 -> 4): one line naming the layer and
    both shapes, never a model with the weights cut or padded."""
    def edit(config):
        _dense(config)["units"] = 4

    message = _refused(_forged(tmp_path, edit), "dense_a")
    assert "(4, 4)" in message or "(4,)" in message


def test_the_unedited_copy_loads(tmp_path):
    """The forging itself is harmless: the same copy without an edit loads."""
    model = load_model(_forged(tmp_path, lambda config: None), isolate=False)
    assert model.count_params() == load_model(DENSE, isolate=False).count_params()
