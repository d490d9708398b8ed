"""Whole models block by block: fused Dask arrays and volumes on disk, out of core.

The floor above the engine (``docs/internals.md``): it reads models only through
the engine's public graph (``model.graph(expand=True)``), the layers' shape specs
and kinds (:mod:`cthulhu.shapes`) and ``layer.call_with_pads``, and it maps its
block tasks over Dask arrays with the Dask device's
:func:`~cthulhu.devices.dask_.halo.halo_map` (a downward import).

* :func:`predict` - ``model.predict(dask_array)`` - runs the whole model per block,
  skip connections included: block + halo in, exact block out, no intermediate
  volume. The engine finds it as the runner of Dask arrays
  (``cthulhu.engine.services.runner_for``; this package registers :func:`run_model`
  when imported, and ``RUNNER_DEFAULTS`` / the ``cthulhu.runners`` entry points
  name it before that).
* :func:`predict_volume` does the same from a store on disk into a Zarr array:
  resumable, chunk-aligned, locked, durable, on any Dask scheduler or a
  ``dask.distributed`` cluster; :func:`plan_volume` draws its block plan first.

Importing this package imports neither Dask nor NumPy.
"""

from __future__ import annotations

from cthulhu.engine import services

__all__ = ["predict", "predict_volume", "plan_volume", "run_model", "GraphProgram",
           "Unblockable", "InputChangedError", "OutputInUseError", "StaleLockWarning",
           "RunSummary", "VolumePlan", "auto_block"]

def run_model(model, x):
    """The whole-model runner of Dask arrays (see :func:`cthulhu.blockwise.runner.run_model`)."""
    from .runner import run_model as run

    return run(model, x)


def __getattr__(name):
    # explicit imports (the import contract sees them), each on first use
    if name in ("predict",):
        from . import runner as module
    elif name in ("GraphProgram", "Unblockable"):
        from . import program as module
    elif name in ("predict_volume",):
        from . import volume as module
    elif name in ("InputChangedError", "RunSummary"):
        from . import running as module
    elif name in ("OutputInUseError", "StaleLockWarning"):
        from . import lock as module
    elif name in ("plan_volume", "VolumePlan"):
        from . import planview as module
    elif name in ("auto_block",):
        from . import blocks as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(module, name)


def __dir__():
    return sorted({*globals(), *__all__})


services.register_runner("dask.array", run_model)
