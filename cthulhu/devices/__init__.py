"""The device registry: which plugin runs a heavy op for a given array library.

Importing this package imports no array library. See ``docs/devices.md``.

Examples
--------
>>> import array_api_strict as xp
>>> from cthulhu import devices
>>> devices.explain(xp.ones((1, 4, 2)), "conv").plugin
'generic'
"""

from cthulhu.devices.base import OPS, BlockwiseGeometry, Epilogue, Plugin, fuses
from cthulhu.devices.registry import (
    BUILTIN,
    Explanation,
    PluginInfo,
    PluginWarning,
    Registry,
    namespace_key,
    registry,
)

__all__ = [
    "BUILTIN", "OPS", "BlockwiseGeometry", "Epilogue", "Explanation", "Plugin", "PluginInfo",
    "PluginWarning", "Registry", "explain", "fuses", "lookup", "namespace_key", "plugins",
    "register", "registry", "to_numpy", "unregister",
]


def explain(x, op: str, **cfg) -> Explanation:
    """Which plugin would run ``op`` on ``x`` and why (see :meth:`Registry.explain`)."""
    return registry.explain(x, op, **cfg)


def plugins() -> list[PluginInfo]:
    """Every known plugin and whether it can run here (what ``cthulhu devices`` prints)."""
    return registry.plugins()


def lookup(x, op: str):
    """The plugin implementation of ``op`` for ``x``, or ``None`` (the generic code runs)."""
    return registry.lookup(x, op)


def to_numpy(x):
    """``x`` (an array of any library) as a NumPy array, copied to host memory by its
    device plugin where ``numpy.asarray`` cannot read it (CuPy); a NumPy array is
    returned as it is.

    >>> import numpy as np
    >>> a = np.ones(2)
    >>> to_numpy(a) is a
    True
    """
    if type(x).__module__ == "numpy":
        return x
    return registry.to_numpy(x)


def register(plugin: Plugin, *, replace: bool = False) -> None:
    """Register a plugin object at run time (see :meth:`Registry.register`)."""
    registry.register(plugin, replace=replace)


def unregister(plugin: Plugin) -> None:
    """Remove a plugin registered with :func:`register`."""
    registry.unregister(plugin)
