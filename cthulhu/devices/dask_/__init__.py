"""The Dask device: layers and whole models over Dask arrays and volumes on disk.

* :class:`DaskPlugin` routes every heavy op called on a Dask array to a lazy,
  block-by-block graph (:mod:`.ops`): each block gets the halo the layer needs,
  zeros only at the volume's true borders, and inside the task the op runs
  again on the block's own array (NumPy or CuPy picks its kernel). Calling a
  layer never computes anything.
* :func:`predict` (``model.predict`` on a Dask array, through the plugin's
  ``"model"`` entry) runs the *whole* model per block: block + total halo in,
  exact block out, no intermediate volume.
* :func:`predict_volume` does the same from a store on disk into a Zarr array:
  resumable, chunk-aligned, on any Dask scheduler or a ``dask.distributed`` cluster.

Importing this package imports neither Dask nor NumPy: the registry lists the
plugin without loading them.
"""

from __future__ import annotations

import importlib.util

from cthulhu.devices.base import Plugin

__all__ = ["DaskPlugin", "predict", "predict_volume", "plan_volume"]


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
        if op == "model":
            return _predict_or_decline
        from cthulhu.devices.dask_ import ops

        return ops.TABLE.get(op)


def predict(model, x, block_shape=None):
    """The whole ``model`` over the Dask array ``x``, lazily, one task per output block.

    Parameters
    ----------
    model : Pile or Lump
        Its layers must form one chain of spatial and position-wise layers.
    x : dask.array.Array
        ``(batch, spatial..., channels)`` (or channels first, as the model).
    block_shape : int, tuple of int or "auto", optional
        Output block size per spatial axis; default: blocks proportional to ``x``'s
        chunks. ``"auto"``: the size ``predict_volume`` picks from the model's halo
        (:func:`~cthulhu.devices.dask_.blocks.auto_block`), worth it when the chunks
        are small next to the halo.

    Returns
    -------
    dask.array.Array
        Nothing is computed until the caller asks.
    """
    from .graph import program_array
    from .program import BlockProgram, Unblockable, model_layers

    layers = model_layers(model)
    program = BlockProgram(layers, tuple(x.shape), folds=getattr(model, "fold_chain", None))
    if any(n == 0 for n in x.shape) and all(n != 0 for n in program.output_shape):
        # Zero padding can make something of nothing; no block of an empty input can be
        # planned, so the layers run one by one (the ops give exact results on empties).
        raise Unblockable(f"model {getattr(model, 'name', '')!r}: the input {tuple(x.shape)} is "
                          "empty but the output is not, so it cannot run block by block")
    out_chunks = None
    if block_shape is not None:
        from .volume import _normalize_block

        out_len = [program.output_shape[a] for a in program.spatial_axes]
        if isinstance(block_shape, str) and block_shape == "auto":
            from .blocks import auto_block

            halo = program.halo
            if halo is not None and any(h is None for h in halo):
                halo = None
            block_shape = auto_block(halo, program.jump, out_len)
        block = _normalize_block(block_shape, program.rank)
        out_chunks = tuple(_even_chunks(n, b) for n, b in zip(out_len, block, strict=True))
    return program_array(x, program, out_chunks)


def _predict_or_decline(model, x):
    """``predict`` for ``model.predict``; declines (layer-by-layer runs) what can't be blocked."""
    from .program import Unblockable

    try:
        return predict(model, x)
    except Unblockable:
        return NotImplemented


def _even_chunks(n, block):
    full, rest = divmod(n, block)
    return (block,) * full + ((rest,) if rest else ())


_FROM_VOLUME = ("predict_volume", "InputChangedError", "OutputInUseError", "StaleLockWarning")


def __getattr__(name):
    if name == "plan_volume":
        from .planview import plan_volume

        return plan_volume
    if name in _FROM_VOLUME:
        from . import volume

        return getattr(volume, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
