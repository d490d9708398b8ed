"""Upward services: what the engine calls but a higher floor owns, found without importing it.

``model.save(path)`` needs :mod:`cthulhu.saving`, and ``model.predict(x)`` on a
chunked array may hand the whole model to a runner (the Dask one lives on the
``cthulhu.blockwise`` floor). Both live above the engine, which never imports
them (``pyproject.toml``'s import contract checks it). They are found the way
device plugins are (``cthulhu.devices.registry``):

* a table here names each service's *default* as ``"module:attribute"``, an
  entry-point-like string imported with :mod:`importlib` on first use only;
* the upper package fills the table when it is imported
  (``cthulhu.saving`` calls :func:`provide`), which replaces the default;
* tests and applications may :func:`provide` their own.

Runners are a table of their own (namespace key -> runner, apart from the op
plugins, like xarray's separate entry-point groups): :func:`runner_for`
returns the runner registered for an array's library (:func:`register_runner`;
``cthulhu.blockwise`` registers its Dask runner when imported), else the one
named by :data:`RUNNER_DEFAULTS`, else the one an installed package names in
the ``cthulhu.runners`` entry-point group (the entry point's name is the
namespace key), else ``None``.

Examples
--------
>>> from cthulhu.engine import services
>>> services.DEFAULTS["save_model"]
'cthulhu.saving:save_model'
>>> services.service("save_model").__module__
'cthulhu.saving.files'
"""

from __future__ import annotations

import importlib
import threading

#: Service name -> ``"module:attribute"`` loaded on first use unless a package provided it.
DEFAULTS = {
    "save_model": "cthulhu.saving:save_model",
    "load_weights": "cthulhu.saving:load_weights",
}

#: Namespace key -> ``"module:attribute"`` of cthulhu's own whole-model runners. Mirrors
#: the ``cthulhu.runners`` entry points of pyproject.toml (kept for editable checkouts).
RUNNER_DEFAULTS: dict[str, str] = {
    "dask.array": "cthulhu.blockwise:run_model",
}

#: The entry-point group where other packages name runners (name: the namespace key).
RUNNER_GROUP = "cthulhu.runners"

_PROVIDED: dict[str, object] = {}
_RUNNERS: dict[str, object] = {}
_LOCK = threading.Lock()


def _load(target: str):
    module_name, _, attr = target.partition(":")
    obj = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def provide(name: str, implementation) -> None:
    """Install ``implementation`` as service ``name`` (an upper package does this on import)."""
    if not callable(implementation):
        raise TypeError(f"service {name!r}: expected a callable, got {implementation!r}")
    with _LOCK:
        _PROVIDED[name] = implementation


def withdraw(name: str) -> None:
    """Forget what was provided for ``name`` (the default loads again on next use)."""
    with _LOCK:
        _PROVIDED.pop(name, None)


def service(name: str):
    """The implementation of service ``name``: the provided one, else its default, imported now."""
    found = _PROVIDED.get(name)
    if found is not None:
        return found
    if name not in DEFAULTS:
        raise ValueError(f"unknown engine service {name!r}; known: {sorted(DEFAULTS)}")
    _load(DEFAULTS[name].partition(":")[0])  # importing the package provides it
    found = _PROVIDED.get(name)
    if found is None:
        found = _load(DEFAULTS[name])
        provide(name, found)
    return found


def register_runner(key: str, runner) -> None:
    """Run whole models on arrays of namespace ``key`` with ``runner(model, x)``.

    A runner returns the prediction, or ``NotImplemented`` to decline (the
    model then runs layer by layer).
    """
    if not callable(runner):
        raise TypeError(f"runner for {key!r}: expected a callable, got {runner!r}")
    with _LOCK:
        _RUNNERS[key] = runner
        _NONE.discard(key)


def unregister_runner(key: str) -> None:
    with _LOCK:
        _RUNNERS.pop(key, None)


def _entry_point_runner(key: str):
    """The ``"module:attribute"`` an installed package gives for ``key``, or ``None``."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=RUNNER_GROUP):
        if ep.name == key:
            return ep.value
    return None


#: Keys already looked up without finding a runner (the per-call fast path of predict).
_NONE: set = set()


def runner_for(x):
    """The whole-model runner for ``x``'s array library, or ``None`` (run layer by layer)."""
    from cthulhu import devices

    key = devices.namespace_key(x)
    runner = _RUNNERS.get(key)
    if runner is not None or key in _NONE:
        return runner
    target = RUNNER_DEFAULTS.get(key) or _entry_point_runner(key)
    if target is None:
        with _LOCK:
            _NONE.add(key)
        return None
    runner = _RUNNERS.get(key)  # importing the package may have registered it
    if runner is None:
        _load(target.partition(":")[0])
        runner = _RUNNERS.get(key) or _load(target)
        register_runner(key, runner)
    return runner
