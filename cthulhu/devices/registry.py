"""Which plugin runs an op: a map from an array's namespace key to a plugin.

Keys are found from the array's type alone (``type(x).__module__``), so no
array library is imported to route a call. Plugins come from three places:

* the ``cthulhu.devices`` entry-point group (built-in and third-party
  packages; the entry-point *name* is the namespace key, so keys are known
  without importing the plugin);
* :data:`BUILTIN`, an in-code copy of cthulhu's own entries, for editable
  checkouts whose installed metadata predates them;
* :meth:`Registry.register`, for plugins made at run time (tests, notebooks).

A plugin module is imported the first time an array of one of its keys
reaches an op. A plugin that fails to import becomes a warning and the op
falls back to the generic Array API code; two different plugins claiming
one key raise ``TypeError``, since silently picking one would make results
depend on installation order.
"""

from __future__ import annotations

import importlib
import logging
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from cthulhu.devices.base import OPS, Plugin, default_to_numpy

GROUP = "cthulhu.devices"
log = logging.getLogger(__name__)

#: cthulhu's own plugins: namespace key -> "module:attribute". Mirrors the
#: entry points in pyproject.toml (kept for editable checkouts).
BUILTIN = {
    "numpy": "cthulhu.devices.numpy_:NumpyPlugin",
    "cupy": "cthulhu.devices.cupy_:CupyPlugin",
    "dask.array": "cthulhu.devices.dask_:DaskPlugin",
}

# Library packages whose array types live in a sub-package named differently
# from the namespace users import.
_KEY_ALIASES = {"dask": "dask.array", "jaxlib": "jax"}


class PluginWarning(UserWarning):
    """A device plugin could not be loaded; the generic implementation runs instead."""


def namespace_key(x) -> str:
    """The registry key of ``x``'s array library, without importing anything.

    ``numpy.ndarray`` -> ``"numpy"``, ``cupy.ndarray`` -> ``"cupy"``, a Dask
    array -> ``"dask.array"``, an ``array_api_strict`` array ->
    ``"array_api_strict"``, a ``torch.Tensor`` -> ``"torch"``.
    """
    module = type(x).__module__ or ""
    top = module.partition(".")[0]
    return _KEY_ALIASES.get(top, top)


@dataclass(frozen=True)
class Explanation:
    """What :func:`explain` found: the key, the op, who runs it, and why."""

    key: str
    op: str
    plugin: str
    reason: str

    def __str__(self) -> str:
        return f"{self.op} on {self.key!r} arrays -> {self.plugin}: {self.reason}"


@dataclass(frozen=True)
class PluginInfo:
    """One row of :func:`plugins`: a plugin, where it comes from, and whether it can run."""

    key: str
    name: str
    target: str
    source: str
    available: bool
    reason: str


def _load_target(target: str):
    module_name, _, attr = target.partition(":")
    obj = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def _instantiate(obj, target: str) -> Plugin:
    plugin = obj() if isinstance(obj, type) else obj
    if not callable(getattr(plugin, "get", None)) or not callable(getattr(plugin, "available", None)):
        raise TypeError(f"{target} is not a cthulhu device plugin (it needs get() and available())")
    return plugin


class Registry:
    """Namespace key -> plugin, loaded lazily.

    Parameters
    ----------
    entry_points : callable, optional
        Returns ``(name, value)`` pairs of the ``cthulhu.devices`` group;
        defaults to :mod:`importlib.metadata`. Tests pass their own.
    builtin : dict, optional
        The in-code fallback table (default :data:`BUILTIN`).
    """

    def __init__(self, entry_points: Callable | None = None, builtin: dict | None = None):
        self._entry_points = entry_points or _installed_entry_points
        self._builtin = dict(BUILTIN if builtin is None else builtin)
        self._lock = threading.RLock()
        self._candidates: dict[str, list[tuple[str, str]]] | None = None
        self._registered: dict[str, Plugin] = {}
        # key -> (plugin or None, reason); filled on first use of the key
        self._resolved: dict[str, tuple[Plugin | None, str]] = {}
        # (array type, op) -> implementation or None: the per-call fast path
        self._impls: dict = {}

    # -- discovery -------------------------------------------------------
    def candidates(self) -> dict[str, list[tuple[str, str]]]:
        """``key -> [(target, source), ...]`` from entry points and the built-in table."""
        with self._lock:
            if self._candidates is None:
                found: dict[str, list[tuple[str, str]]] = {}
                for name, value in self._entry_points():
                    targets = found.setdefault(name, [])
                    if value not in [t for t, _ in targets]:
                        targets.append((value, "entry point"))
                for name, value in self._builtin.items():
                    targets = found.setdefault(name, [])
                    if value not in [t for t, _ in targets]:
                        targets.append((value, "built-in"))
                self._candidates = found
            return self._candidates

    def keys(self) -> list[str]:
        """Every namespace key some plugin claims (nothing is imported)."""
        return sorted(set(self.candidates()) | set(self._registered))

    # -- registration ----------------------------------------------------
    def register(self, plugin: Plugin, *, replace: bool = False) -> None:
        """Serve ``plugin.keys`` with ``plugin``.

        Raises ``TypeError`` when another plugin already serves one of the
        keys, unless ``replace=True``.
        """
        _instantiate(plugin, repr(plugin))
        with self._lock:
            if not replace:
                for key in plugin.keys:
                    other = self._registered.get(key)
                    if other is None and key in self.candidates():
                        other = self.candidates()[key][0][0]
                    if other is not None and other is not plugin:
                        raise TypeError(f"two device plugins for namespace {key!r}: {other!r} "
                                        f"and {plugin!r}; pass replace=True to override")
            for key in plugin.keys:
                self._registered[key] = plugin
                self._resolved.pop(key, None)
            self._impls.clear()

    def unregister(self, plugin: Plugin) -> None:
        """Undo :meth:`register` (the discovered plugin, if any, serves the keys again)."""
        with self._lock:
            for key in [k for k, p in self._registered.items() if p is plugin]:
                del self._registered[key]
                self._resolved.pop(key, None)
            self._impls.clear()

    # -- resolution ------------------------------------------------------
    def plugin_for(self, key: str) -> tuple[Plugin | None, str]:
        """``(plugin, reason)`` for a namespace key; ``plugin`` is ``None`` when none can run."""
        with self._lock:
            if key not in self._resolved:
                self._resolved[key] = self._resolve(key)
                plugin, reason = self._resolved[key]
                # once per key: 'cthulhu -v ...' shows what runs the arrays of each library
                log.info("%r arrays: %s", key, reason if plugin is not None
                         else f"{reason}; the generic Array API code runs")
            return self._resolved[key]

    def _resolve(self, key: str) -> tuple[Plugin | None, str]:
        if key in self._registered:
            plugin = self._registered[key]
            source = "registered at run time"
        else:
            targets = self.candidates().get(key, [])
            if not targets:
                return None, f"no plugin serves namespace {key!r}"
            if len(targets) > 1:
                listing = ", ".join(f"{t} ({s})" for t, s in targets)
                raise TypeError(f"two device plugins for namespace {key!r}: {listing}; "
                                "uninstall one of them")
            target, source = targets[0]
            try:
                plugin = _instantiate(_load_target(target), target)
            except Exception as exc:  # any import-time failure of a plugin must not break ops
                reason = f"plugin {target} failed to load ({type(exc).__name__}: {exc})"
                warnings.warn(f"cthulhu.devices: {reason}; using the generic implementation",
                              PluginWarning, stacklevel=4)
                return None, reason
        try:
            ok, why = plugin.available()
        except Exception as exc:
            ok, why = False, f"available() raised {type(exc).__name__}: {exc}"
        if not ok:
            return None, f"plugin {plugin.name!r} is unavailable: {why}"
        return plugin, f"plugin {plugin.name!r} ({source}; {why})"

    def lookup(self, x, op: str) -> Callable | None:
        """The implementation of ``op`` for ``x``'s namespace, or ``None`` (use the generic code).

        Cached per array type and op: a batch-1 dense layer pays a dict lookup.
        """
        cache_key = (type(x), op)
        try:
            return self._impls[cache_key]
        except KeyError:
            pass
        plugin, _ = self.plugin_for(namespace_key(x))
        impl = None if plugin is None else plugin.get(op)
        self._impls[cache_key] = impl
        return impl

    def to_numpy(self, x):
        """A host copy of ``x`` as a NumPy array, by the plugin of ``x``'s namespace
        (:meth:`Plugin.to_numpy`; ``numpy.asarray`` where no plugin serves it)."""
        plugin, _ = self.plugin_for(namespace_key(x))
        convert = getattr(plugin, "to_numpy", None)
        return default_to_numpy(x) if convert is None else convert(x)

    def explain(self, x, op: str, **cfg) -> Explanation:
        """Which plugin would run ``op`` on ``x``, and why.

        ``cfg`` (the op's keyword arguments) is accepted so that call sites can
        pass what they will pass to the op; the choice of plugin does not depend
        on it, but a plugin's callable may still decline a particular call.
        """
        if op not in OPS:
            raise ValueError(f"explain(): unknown op {op!r}; expected one of {OPS}")
        key = namespace_key(x)
        plugin, reason = self.plugin_for(key)
        if plugin is None:
            return Explanation(key, op, "generic", f"{reason}; the generic Array API code runs")
        if plugin.get(op) is None:
            return Explanation(key, op, "generic", f"{reason} does not provide {op!r}; "
                               "the generic Array API code runs")
        return Explanation(key, op, plugin.name, f"{reason} provides {op!r} (it may still "
                           "decline a particular call, then the generic code runs)")

    def plugins(self) -> list[PluginInfo]:
        """Every known plugin with its availability; loads plugin modules but never warns."""
        rows = []
        with self._lock:
            keys = self.keys()
        for key in keys:
            if key in self._registered:
                plugin = self._registered[key]
                rows.append(_info(key, plugin, repr(plugin), "registered"))
                continue
            for target, source in self.candidates()[key]:
                try:
                    plugin = _instantiate(_load_target(target), target)
                except Exception as exc:
                    rows.append(PluginInfo(key, target.rpartition(":")[0].rpartition(".")[2],
                                           target, source, False,
                                           f"failed to load: {type(exc).__name__}: {exc}"))
                    continue
                rows.append(_info(key, plugin, target, source))
        rows.append(PluginInfo("*", "generic", "cthulhu.ops.generic", "built-in", True,
                               "pure Array API code; runs for any namespace without a plugin"))
        return rows


def _info(key, plugin, target, source) -> PluginInfo:
    try:
        ok, why = plugin.available()
    except Exception as exc:
        ok, why = False, f"available() raised {type(exc).__name__}: {exc}"
    return PluginInfo(key, plugin.name, target, source, bool(ok), why)


def _installed_entry_points():
    from importlib.metadata import entry_points

    return [(ep.name, ep.value) for ep in entry_points(group=GROUP)]


#: The registry the ops use.
registry = Registry()
