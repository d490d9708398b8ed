"""Per-layer ops on Dask arrays: each op becomes one layer of block tasks.

Each callable receives the op's resolved geometry (the plugin contract of
:mod:`cthulhu.devices.base`); its range maps (window, transposed window,
up-sampling) and output shape come from :func:`cthulhu.shapes.range_maps` and the
geometry itself, never from a length computed here, and
:func:`cthulhu.shapes.axis_maps.plan_block` plans every block from them. Inside
every task the same :mod:`cthulhu.ops` function runs again on the block with
``padding='valid'``, so the block's own library picks its kernel. Border zeros
are added only at the volume's true borders, so a block's result equals the
whole-array result whatever the chunking. The convolutions take their whole
epilogue (bias, a folded batch norm's scale and shift, the activation) into the
block call, where the block's plugin fuses it: no extra graph layer per part.
``matmul`` leaves its epilogue to the op (lazy array expressions).

Weights that arrive as Dask arrays (``layer.weight_as`` converts to the
input's library) become one-chunk dependencies of every task: nothing is
computed while the graph is built. The tasks come from :func:`.halo.halo_map`,
which the whole-model runner (:mod:`cthulhu.blockwise`) uses too.
"""

from __future__ import annotations

from cthulhu import shapes
from cthulhu.devices.base import ACTIVATIONS, EPILOGUE_PARTS, fuses
from cthulhu.shapes.axis_maps import AxisInfo, plan_block
from cthulhu.shapes.layout import channel_index, spatial_axes

from .halo import halo_map, keep_part, pad_zeros, spatial_widths
from .threads import kernel_threads

__all__ = ["TABLE"]


def _is_dask(a):
    return type(a).__module__.partition(".")[0] == "dask"


class OpCore:
    """Calls one ``cthulhu.ops`` function on a block; Dask weights arrive as task inputs.

    Block tasks re-enter the public op on purpose: the block's own library (NumPy,
    CuPy) picks its kernel, and the op checks the block's geometry as any call's.
    """

    def __init__(self, op, arrays, kwargs, keywords=()):
        self.op, self.kwargs = op, kwargs
        # Dask weights are placeholders filled from the task's inputs, in order.
        self.arrays = [None if _is_dask(a) else a for a in arrays]
        # the last len(keywords) arrays are passed by these names (the epilogue's)
        self.keywords = tuple(keywords)

    def __call__(self, x, *given):
        import array_api_compat as aac

        from cthulhu import ops

        given = list(given)
        arrays = [a if a is not None else given.pop(0) for a in self.arrays]
        # Weights made by layer.weight_as(dask_array) hold NumPy chunks even when the
        # blocks are CuPy arrays: move them to the block's library and device.
        xp = aac.array_namespace(x)
        if any(type(a) is not type(x) for a in arrays):
            arrays = [xp.asarray(a, device=aac.device(x)) for a in arrays]
        named = len(self.keywords)
        positional = arrays[:len(arrays) - named]
        keyword = dict(zip(self.keywords, arrays[len(arrays) - named:], strict=True))
        return getattr(ops, self.op)(x, *positional, **self.kwargs, **keyword)


class OpBlocks:
    """One op over blocks: plans each block (``planner``) and runs it (the task).

    ``steps`` are the op's range maps per spatial axis (``shapes.range_maps``);
    a block reads its ``in_range`` with the plan's border ``zeros`` around it,
    runs the ``valid`` core and keeps the plan's ``keep`` part (the *core form*
    of :class:`cthulhu.shapes.LayerBlock`). Plain data: it pickles.
    """

    def __init__(self, core, steps, in_shape, data_format):
        self.core, self.steps, self.in_shape = core, steps, tuple(in_shape)
        self.axes = spatial_axes(len(in_shape), data_format)

    def plan(self, out_range):
        block = plan_block([self.steps], out_range).layers[0]
        empty = any(stop <= start for start, stop in block.in_range)
        return [None if empty else block.in_range], block

    def __call__(self, regions, block, *extras):
        region = regions[0]
        with kernel_threads():
            if region.array is None:
                x = self._zeros(region.probe, block)
            else:
                widths = spatial_widths(block.zeros, self.axes, region.array.ndim)
                x = pad_zeros(region.array, widths)
            y = self.core(x, *extras)
            return keep_part(y, block.keep, self.axes)

    def _zeros(self, probe, block):
        """The core's input when only zeros lie under the block (its in_range is empty)."""
        import array_api_compat as aac

        shape = list(self.in_shape)
        shape[0] = probe.shape[0]
        for axis, (start, stop), (lo, hi) in zip(self.axes, block.in_range, block.zeros,
                                                 strict=True):
            shape[axis] = stop - start + lo + hi
        xp = aac.array_namespace(probe)
        return xp.zeros(tuple(shape), dtype=probe.dtype, device=aac.device(probe))

    def depths(self):
        """The halo ``(before, after)`` per spatial axis (``None`` where a padding is unknown)."""
        return [AxisInfo(axis, [step]).depth if step is not None else (0, 0)
                for axis, step in zip(self.axes, self.steps, strict=True)]


class PoolBlocks(OpBlocks):
    """Pooling over blocks: each block pooled with the plan's explicit pads.

    Its padding is *excluded* (TensorFlow's), so a border block cannot be zero-padded
    and pooled with ``'valid'`` as a convolution's is: each task pools the block's
    input range with the block plan's ``pads`` (the part of the whole array's padding
    before and after the block: ``cthulhu.ops.pool``'s block contract), so every
    window divides by the same count as in the whole array. Every window holds a real
    sample, so no block reads nothing.
    """

    def __call__(self, regions, block, *extras):
        with kernel_threads():
            return self.core(regions[0].array, padding=block.pads)


class PoolCore:
    """``cthulhu.ops.pool`` on a block, with the padding the block's plan gives."""

    def __init__(self, geometry):
        g = geometry
        self.kwargs = {"strides": g.strides, "data_format": g.data_format, "kind": g.kind}
        self.pool_size = g.pool_size

    def __call__(self, x, *, padding):
        from cthulhu import ops

        return ops.pool(x, self.pool_size, padding=padding, **self.kwargs)


def _run(x, op, arrays, kwargs, geometry, epilogue=None, blocks=None):
    """The op as one layer of block tasks: its range maps and output shape come from
    ``geometry`` (the op's own, so the plan and the blocks' kernels agree); the block
    call applies ``epilogue`` (its arrays join the task's inputs). ``blocks``: an op's
    own block runner (pooling's), in place of the ``valid`` core."""
    keywords = ()
    if epilogue is not None and not epilogue.empty:
        parts = [p for p in ("bias", "scale", "shift") if getattr(epilogue, p) is not None]
        arrays = [*arrays, *(getattr(epilogue, p) for p in parts)]
        keywords = tuple(parts)
        kwargs = {**kwargs, "activation": epilogue.activation, "alpha": epilogue.alpha}
    if blocks is None:
        blocks = OpBlocks(OpCore(op, arrays, kwargs, keywords), shapes.range_maps(geometry),
                          x.shape, geometry.data_format)
    fmt = geometry.data_format
    out, = halo_map([x], [geometry.out_shape], blocks.plan, blocks,
                    spatial_axes=blocks.axes, channel_axis=channel_index(x.ndim, fmt),
                    depths=[blocks.depths()], extras=[a for a in arrays if _is_dask(a)],
                    name=f"cthulhu-{op}")
    return out


def _valid(g):
    """The block call: the same op with no padding (the plan adds the border zeros)."""
    return {"strides": g.strides, "padding": "valid", "dilation": g.dilation,
            "data_format": g.data_format}


#: The block call takes the whole epilogue (the block's own plugin fuses what it can).
_IN_BLOCKS = fuses(*EPILOGUE_PARTS, activations=ACTIVATIONS[1:])


@_IN_BLOCKS
def conv(x, kernel, *, geometry, epilogue):
    return _run(x, "conv", [kernel], _valid(geometry), geometry, epilogue)


@_IN_BLOCKS
def depthwise_conv(x, kernel, *, geometry, epilogue):
    return _run(x, "depthwise_conv", [kernel], _valid(geometry), geometry, epilogue)


@_IN_BLOCKS
def separable_conv(x, depthwise_kernel, pointwise_kernel, *, geometry, epilogue):
    return _run(x, "separable_conv", [depthwise_kernel, pointwise_kernel], _valid(geometry),
                geometry, epilogue)


@_IN_BLOCKS
def conv_transpose(x, kernel, *, geometry, epilogue):
    # a transposed block keeps its part of the block's full ('valid') output
    return _run(x, "conv_transpose", [kernel], {**_valid(geometry), "output_padding": None},
                geometry, epilogue)


def upsample(x, *, geometry, epilogue):
    kwargs = {"size": geometry.size, "interpolation": geometry.interpolation,
              "data_format": geometry.data_format}
    return _run(x, "upsample", [], kwargs, geometry)


def pool(x, *, geometry, epilogue):
    blocks = PoolBlocks(PoolCore(geometry), shapes.range_maps(geometry), x.shape,
                        geometry.data_format)
    return _run(x, "pool", [], {}, geometry, blocks=blocks)


def matmul(x, kernel, *, geometry, epilogue):
    """``x @ kernel`` over the last axis: blockwise, the contracted axis joined per task."""
    import dask.array as da
    from dask.array.utils import meta_from_array

    letters = "abcdefghijklmnopqrstuvw"[: x.ndim - 1]
    if _is_dask(kernel):
        kernel = kernel.rechunk(kernel.shape)
    else:
        kernel = da.from_array(kernel, chunks=kernel.shape)
    meta = meta_from_array(x, ndim=x.ndim, dtype=x.dtype)
    return da.blockwise(_matmul_block, letters + "y", x, letters + "z", kernel, "zy",
                        concatenate=True, dtype=x.dtype, meta=meta)


def _matmul_block(block, kernel):
    from cthulhu import ops

    return ops.matmul(block, kernel)


def blockwise(x, fn, *, geometry, epilogue):
    """``fn`` once per chunk: one graph layer, whatever ``fn`` does inside (``ops.blockwise``)."""
    from dask.array.utils import meta_from_array

    dtype, new_axis, whole_axis = geometry
    if whole_axis is not None and len(x.chunks[whole_axis]) > 1:
        x = x.rechunk({whole_axis: -1})
    if new_axis is None:
        meta = meta_from_array(x, ndim=x.ndim, dtype=dtype)
        return x.map_blocks(fn, dtype=dtype, meta=meta)
    meta = meta_from_array(x, ndim=x.ndim + 1, dtype=dtype)
    return x.map_blocks(fn, new_axis=x.ndim, chunks=(*x.chunks, (new_axis,)), dtype=dtype,
                        meta=meta)


TABLE = {
    "blockwise": blockwise,
    "conv": conv,
    "conv_transpose": conv_transpose,
    "depthwise_conv": depthwise_conv,
    "separable_conv": separable_conv,
    "upsample": upsample,
    "pool": pool,
    "matmul": matmul,
}
