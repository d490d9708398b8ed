"""The Dask device: the heavy ops over Dask arrays, lazily, block by block.

:class:`DaskPlugin` routes every heavy op called on a Dask array to a lazy,
block-by-block graph (:mod:`.ops`): each block gets the halo the layer needs,
zeros only at the volume's true borders, and inside the task the op runs again
on the block's own array (NumPy or CuPy picks its kernel). Calling a layer never
computes anything. :mod:`.halo` maps a block function with a halo over Dask
arrays; the whole-model runner of :mod:`cthulhu.blockwise` (``model.predict``
on a Dask array, ``predict_volume``) uses it too.

Whole models are not this package's: they run on the ``cthulhu.blockwise``
floor above the engine. The names documented here before they moved
(:data:`MOVED`: ``predict``, ``predict_volume``, ``plan_volume`` and the run's
errors) still resolve, on first use, through that table of
``"module:attribute"`` strings - the mechanism that finds device plugins
(:data:`cthulhu.devices.registry.BUILTIN`) - never through an import from this
floor.

Importing this package imports neither Dask nor NumPy: the registry lists the
plugin without loading them.
"""

from __future__ import annotations

import importlib.util

from cthulhu.devices.base import Plugin

__all__ = ["DaskPlugin", "MOVED"]

#: Names that lived here and moved to ``cthulhu.blockwise`` -> ``"module:attribute"``,
#: resolved on first use (docs/internals.md, "Upward services").
MOVED = {name: f"cthulhu.blockwise:{name}" for name in (
    "predict", "predict_volume", "plan_volume", "InputChangedError", "OutputInUseError",
    "StaleLockWarning")}


class DaskPlugin(Plugin):
    """Serves ``dask.array.Array`` inputs (a router: the kernels are the blocks' own)."""

    name = "dask"
    keys = ("dask.array",)

    def available(self) -> tuple[bool, str]:
        if importlib.util.find_spec("dask") is None:
            from cthulhu._extras import install_hint

            return False, f"dask is not installed ({install_hint('dask')})"
        import dask

        return True, f"dask {dask.__version__}"

    def get(self, op: str):
        from cthulhu.devices.dask_ import ops

        return ops.TABLE.get(op)


def __getattr__(name):
    target = MOVED.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from cthulhu.devices.registry import _load_target

    return _load_target(target)
