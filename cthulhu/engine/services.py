"""Upward services: what the engine calls but a higher floor owns, found without importing it.

``model.save(path)`` needs :mod:`cthulhu.saving`, and ``model.predict(x)`` on a
chunked array may hand the whole model to a runner (today the Dask device's
``"model"`` entry; next the ``cthulhu.blockwise`` floor). Both live above the
engine, which never imports them (``pyproject.toml``'s import contract checks
it). They are found the way device plugins are (``cthulhu.devices.registry``):

* a table here names each service's *default* as ``"module:attribute"``, an
  entry-point-like string imported with :mod:`importlib` on first use only;
* the upper package fills the table when it is imported
  (``cthulhu.saving`` calls :func:`provide`), which replaces the default;
* tests and applications may :func:`provide` their own.

Runners are a table of their own (namespace key -> runner, apart from the op
plugins, like xarray's separate entry-point groups): :func:`runner_for`
returns the runner registered for an array's library, else the device
registry's ``"model"`` entry for it (today's path, until the blockwise floor
registers its runner), else ``None``.

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

#: Namespace key -> ``"module:attribute"`` of a whole-model runner. Empty: the device
#: registry's ``"model"`` entry runs (the blockwise floor will name its runner here).
RUNNER_DEFAULTS: dict[str, str] = {}

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


def unregister_runner(key: str) -> None:
    with _LOCK:
        _RUNNERS.pop(key, None)


def runner_for(x):
    """The whole-model runner for ``x``'s array library, or ``None`` (run layer by layer)."""
    from cthulhu import devices

    key = devices.namespace_key(x)
    runner = _RUNNERS.get(key)
    if runner is None and key in RUNNER_DEFAULTS:
        runner = _load(RUNNER_DEFAULTS[key])
        register_runner(key, runner)
    if runner is not None:
        return runner
    return devices.lookup(x, "model")
