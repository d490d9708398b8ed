"""Per-layer ops on Dask arrays: each op becomes a one-stage block program.

The op's range maps (window, transposed window, up-sampling) are made by
:mod:`cthulhu.shapes.axis_maps` from the op's arguments;
inside every task the same :mod:`cthulhu.ops` function runs again on the
block with ``padding='valid'``, so the block's own library picks its kernel.
Border zeros are added only at the volume's true borders, so a block's result
equals the whole-array result whatever the chunking.

Weights that arrive as Dask arrays (``layer.weight_as`` converts to the
input's library) become one-chunk dependencies of every task: nothing is
computed while the graph is built.
"""

from __future__ import annotations

from cthulhu import shapes
from cthulhu.ops import _args
from cthulhu.shapes.axis_maps import conv_step, conv_transpose_step, upsampling_step

from .graph import program_array
from .program import BlockProgram, Stage

__all__ = ["TABLE"]


def _is_dask(a):
    return type(a).__module__.partition(".")[0] == "dask"


class OpCore:
    """Calls one ``cthulhu.ops`` function on a block; Dask weights arrive as task inputs."""

    def __init__(self, op, arrays, kwargs):
        self.op, self.kwargs = op, kwargs
        # Dask weights are placeholders filled from the task's inputs, in order.
        self.arrays = [None if _is_dask(a) else a for a in arrays]

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
        return getattr(ops, self.op)(x, *arrays, **self.kwargs)


def _spatial_axes(x, fmt):
    return shapes.spatial_axes(x.ndim, fmt)


def _run(x, op, arrays, kwargs, steps, out_spatial, out_channels, fmt):
    shape = list(x.shape)
    for axis, n in zip(_spatial_axes(x, fmt), out_spatial, strict=True):
        shape[axis] = n
    shape[shapes.channel_index(len(shape), fmt)] = out_channels
    stage = Stage(OpCore(op, arrays, kwargs), tuple(steps), op)
    program = BlockProgram.from_stages([stage], [tuple(x.shape), tuple(shape)], fmt)
    return program_array(x, program, extras=[a for a in arrays if _is_dask(a)])


def _per_axis(padding, rank):
    return (padding,) * rank if isinstance(padding, str) else tuple(padding)


def _window_maps(x, kernel_size, strides, padding, dilation, fmt, op):
    spatial = _args.spatial_shape(x, fmt)
    steps = [conv_step(n, k, s, p, d, owner=op)
             for n, k, s, p, d in zip(spatial, kernel_size, strides,
                                      _per_axis(padding, len(spatial)), dilation, strict=True)]
    out = _args.conv_out_sizes(spatial, kernel_size, strides, dilation, padding, op)
    return steps, out


def conv(x, kernel, *, strides, padding, dilation, data_format, bias=None, activation=None):
    rank = kernel.ndim - 2
    maps, out = _window_maps(x, tuple(kernel.shape[:rank]), strides, padding, dilation,
                             data_format, "ops.conv")
    kwargs = {"strides": strides, "padding": "valid", "dilation": dilation,
              "data_format": data_format}
    return _run(x, "conv", [kernel], kwargs, maps, out, kernel.shape[-1], data_format)


def depthwise_conv(x, kernel, *, strides, padding, dilation, data_format, bias=None,
                   activation=None):
    rank = kernel.ndim - 2
    maps, out = _window_maps(x, tuple(kernel.shape[:rank]), strides, padding, dilation,
                             data_format, "ops.depthwise_conv")
    kwargs = {"strides": strides, "padding": "valid", "dilation": dilation,
              "data_format": data_format}
    channels = kernel.shape[-2] * kernel.shape[-1]
    return _run(x, "depthwise_conv", [kernel], kwargs, maps, out, channels, data_format)


def separable_conv(x, depthwise_kernel, pointwise_kernel, *, strides, padding, dilation,
                   data_format, bias=None, activation=None):
    rank = depthwise_kernel.ndim - 2
    maps, out = _window_maps(x, tuple(depthwise_kernel.shape[:rank]), strides, padding,
                             dilation, data_format, "ops.separable_conv")
    kwargs = {"strides": strides, "padding": "valid", "dilation": dilation,
              "data_format": data_format}
    return _run(x, "separable_conv", [depthwise_kernel, pointwise_kernel], kwargs, maps, out,
                pointwise_kernel.shape[-1], data_format)


def conv_transpose(x, kernel, *, strides, padding, output_padding, dilation, data_format,
                   bias=None, activation=None):
    op = "ops.conv_transpose"
    rank = kernel.ndim - 2
    ks = tuple(kernel.shape[:rank])
    spatial = _args.spatial_shape(x, data_format)
    pads = _args.transpose_pads(spatial, ks, strides, dilation, padding, output_padding, op)
    maps = [conv_transpose_step(n, k, s, p, None, d, owner=op)
            for n, k, s, d, p in zip(spatial, ks, strides, dilation, pads, strict=True)]
    out = _args.transpose_out_sizes(spatial, ks, strides, dilation, pads, op)
    kwargs = {"strides": strides, "padding": "valid", "output_padding": None,
              "dilation": dilation, "data_format": data_format}
    return _run(x, "conv_transpose", [kernel], kwargs, maps, out, kernel.shape[-2], data_format)


def upsample(x, *, size, interpolation, data_format):
    from cthulhu import shapes

    spatial = _args.spatial_shape(x, data_format)
    maps = [upsampling_step(n, f, interpolation) for n, f in zip(spatial, size, strict=True)]
    out = tuple(shapes.upsample_length(n, f) for n, f in zip(spatial, size, strict=True))
    kwargs = {"size": size, "interpolation": interpolation, "data_format": data_format}
    channels = _args.channels(x, data_format)
    return _run(x, "upsample", [], kwargs, maps, out, channels, data_format)


def matmul(x, kernel, bias=None, activation=None):
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


def blockwise(fn, x, *, dtype=None, new_axis=None, whole_axis=None):
    """``fn`` once per chunk: one graph layer, whatever ``fn`` does inside (``ops.blockwise``)."""
    from dask.array.utils import meta_from_array

    dtype = x.dtype if dtype is None else dtype
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
    "matmul": matmul,
}
