"""The CuPy implementations of the heavy ops: the plugin callables and their launches.

Each function follows the plugin contract of :mod:`cthulhu.devices.base`: it gets the
arrays checked and cast by :mod:`cthulhu.ops`, the call's resolved geometry (every
pad, size and axis from :mod:`cthulhu.shapes`) and the epilogue parts it declared with
``fuses``, and returns a CuPy array of ``x``'s dtype, or ``NotImplemented`` to let the
generic Array API code run (an unsupported dtype, sizes past the kernels' 32-bit
indexing). The launch geometry comes from :mod:`._launch`.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from cthulhu.devices.base import ACTIVATIONS, EPILOGUE_PARTS, Epilogue, fuses
from cthulhu.devices.cupy_ import _conv, _launch, _memory
from cthulhu.shapes import ConvGeometry

_DTYPES = {np.dtype(np.float16): "float16", np.dtype(np.float32): "float32",
           np.dtype(np.float64): "float64"}

#: The CuPy kernels apply every epilogue part and activation: the convolution kernels
#: (igemm.cu, conv_nd.cu, depthwise.cu) in their epilogue, a cuBLAS matmul in
#: ``eltwise.cu`` right after it.
_FUSES_ALL = fuses(*EPILOGUE_PARTS, activations=ACTIVATIONS[1:])


# the layout of a matmul's (rows, features) result for the epilogue kernel
_ROWS = "channels_last"


def _cupy():
    import cupy

    return cupy


def _on_device_of(func):
    """Run ``func`` with ``x``'s GPU current, so kernels launch (and outputs are
    allocated) where the input lives, whatever device the caller made current."""

    @functools.wraps(func)
    def wrapper(x, *args, **kwargs):
        device = getattr(x, "device", None)
        context = device if hasattr(device, "__enter__") else contextlib.nullcontext()
        with context:
            return func(x, *args, **kwargs)

    return wrapper


def _dtype_name(x) -> str | None:
    return _DTYPES.get(np.dtype(x.dtype))


def _operands(cp, x, kernel, epilogue, channels, y):
    """``(x, kernel, bias, scale, shift)``: C-contiguous, in ``x``'s dtype (the kernels
    index them flat); the epilogue's arrays of ``channels`` entries, ``y`` standing in
    for an absent one (its flag is off: never read)."""
    x = cp.ascontiguousarray(x)
    kernel = cp.ascontiguousarray(kernel, dtype=x.dtype)
    return (x, kernel, *_conv.epilogue_arrays(cp, epilogue, x.dtype, channels, y))


def _epilogue_keywords(epilogue) -> dict:
    """The epilogue keywords of the conv_nd.cu and depthwise.cu launches (all of it)."""
    return {"flags": _conv.epilogue_flags(epilogue), "activation": epilogue.activation,
            "alpha": epilogue.alpha}


@_FUSES_ALL
@_on_device_of
def conv(x, kernel, *, geometry, epilogue):
    """Direct convolution: igemm.cu or conv_nd.cu (implicit GEMM)."""
    return convolve(x, kernel, geometry, epilogue)


@_FUSES_ALL
@_on_device_of
def conv_transpose(x, kernel, *, geometry, epilogue):
    """Transposed convolution: igemm.cu or conv_nd.cu (implicit GEMM, zeros never stored)."""
    return convolve(x, kernel, geometry, epilogue)


def convolve(x, kernel, geometry, epilogue, precision=None):
    """A (transposed) convolution of resolved ``geometry`` with the fused ``epilogue``.

    igemm.cu when the computation (:func:`._conv.compute_for`) and the shape allow, else
    conv_nd.cu in the input's own precision; either applies the whole epilogue (a folded
    batch norm and the activation included) in the same launch. Returns
    ``NotImplemented`` past the kernels' index range.
    """
    cp = _cupy()
    dtype = _dtype_name(x)
    if dtype is None:
        return NotImplemented
    out_shape = geometry.out_shape
    if 0 in out_shape:
        return cp.empty(out_shape, dtype=x.dtype)
    compute = _conv.compute_for(dtype, precision)
    if _conv.igemm_fits(geometry, compute):
        try:
            return _conv.conv_igemm(x, kernel, geometry, epilogue, compute)
        except OverflowError:
            pass  # conv_nd.cu below decides (it declines past 32-bit sizes too)
    try:
        launch = _launch.conv_launch(
            transposed=geometry.transposed, layout=geometry.data_format, dtype=dtype,
            batch=geometry.batch, channels=geometry.in_channels,
            filters=geometry.out_channels, in_spatial=geometry.in_spatial,
            out_spatial=geometry.out_spatial, kernel=geometry.kernel_size,
            strides=geometry.strides, dilation=geometry.dilation, pads_lo=geometry.pads_lo,
            sm_count=_conv._sm_count(cp.cuda.Device().id), **_epilogue_keywords(epilogue))
    except (OverflowError, _launch.Unsupported):
        return NotImplemented
    y = cp.empty(out_shape, dtype=x.dtype)
    arrays = _operands(cp, x, kernel, epilogue, geometry.out_channels, y)
    _conv.run("conv_nd.cu", launch, (*arrays, y))
    return y


def _depthwise(x, kernel, g, epilogue):
    """Depthwise convolution of geometry ``g`` with the whole ``epilogue`` fused, in one
    depthwise.cu launch."""
    cp = _cupy()
    dtype = _dtype_name(x)
    out_shape = g.depthwise().out_shape
    if 0 in out_shape:
        return cp.empty(out_shape, dtype=x.dtype)
    y = cp.empty(out_shape, dtype=x.dtype)
    arrays = _operands(cp, x, kernel, epilogue, g.mid_channels, y)
    if not g.channels_first and g.depth_multiplier == 1:
        # every pointer, the epilogue's included, must be aligned to the vector
        vec = _memory.vector_width(g.in_channels, *map(_conv.address, (*arrays, y)),
                                   dtype=dtype)
        launch = _memory.depthwise_launch(
            dtype=dtype, batch=g.batch, channels=g.in_channels, in_spatial=g.in_spatial,
            out_spatial=g.out_spatial, kernel=g.kernel_size, strides=g.strides,
            dilation=g.dilation, pads_lo=g.pads_lo, vec=vec, **_epilogue_keywords(epilogue))
    else:
        launch = _launch.depthwise_launch(
            layout=g.data_format, dtype=dtype, batch=g.batch, channels=g.in_channels,
            multiplier=g.depth_multiplier, in_spatial=g.in_spatial, out_spatial=g.out_spatial,
            kernel=g.kernel_size, strides=g.strides, dilation=g.dilation, pads_lo=g.pads_lo,
            **_epilogue_keywords(epilogue))
    _conv.run("depthwise.cu", launch, (*arrays, y))
    return y


@_FUSES_ALL
@_on_device_of
def depthwise_conv(x, kernel, *, geometry, epilogue):
    """Depthwise convolution through ``depthwise.cu`` (one thread per output)."""
    if _dtype_name(x) is None:
        return NotImplemented
    try:
        return _depthwise(x, kernel, geometry, epilogue)
    except OverflowError:
        return NotImplemented


@_FUSES_ALL
@_on_device_of
def separable_conv(x, depthwise_kernel, pointwise_kernel, *, geometry, epilogue):
    """Depthwise kernel, then the pointwise GEMM: cuBLAS for ``channels_last`` (a plain
    ``(positions, C*M) @ (C*M, F)``) unless the float32 precision allows tensor cores,
    else a 1x1 convolution (igemm.cu or conv_nd.cu, no transposes); the epilogue fused in
    either case."""
    if _dtype_name(x) is None:
        return NotImplemented
    g = geometry
    try:
        z = _depthwise(x, depthwise_kernel, g, Epilogue())
    except OverflowError:
        return NotImplemented
    rank, cm, filters = g.rank, g.mid_channels, g.out_channels
    if not g.channels_first and _conv.compute_for(_dtype_name(x)) not in ("tf32", "bf16"):
        rows = z.shape[:-1]
        return _matmul(z, pointwise_kernel.reshape(cm, filters), rows, epilogue)
    ones = (1,) * rank
    pointwise = ConvGeometry(
        kind="conv", rank=rank, data_format=g.data_format, batch=g.batch,
        in_spatial=g.out_spatial, in_channels=cm, out_spatial=g.out_spatial,
        out_channels=filters, kernel_size=ones, strides=ones, dilation=ones,
        pads=((0, 0),) * rank)
    return convolve(z, pointwise_kernel, pointwise, epilogue)


@_FUSES_ALL
@_on_device_of
def matmul(x, kernel, *, geometry, epilogue):
    """``x @ kernel``: cuBLAS in strict float32 and float16 (accumulating in float32),
    igemm.cu on tensor cores when the float32 precision setting allows tf32/bfloat16;
    the epilogue applied in place (cuBLAS) or fused (igemm.cu)."""
    if _dtype_name(x) is None:
        return NotImplemented
    return _matmul(x, kernel, geometry.batch_shape, epilogue)


def _matmul(x, kernel, batch_shape, epilogue):
    cp = _cupy()
    compute = _conv.compute_for(_dtype_name(x))
    k, filters = kernel.shape
    rows = 1
    for n in batch_shape:
        rows *= n
    if compute in ("tf32", "bf16") and rows:
        gemm = ConvGeometry(
            kind="conv", rank=1, data_format="channels_last", batch=rows, in_spatial=(1,),
            in_channels=k, out_spatial=(1,), out_channels=filters, kernel_size=(1,),
            strides=(1,), dilation=(1,), pads=((0, 0),))
        if _conv.igemm_fits(gemm, compute):
            y = _conv.conv_igemm(x.reshape(rows, 1, k), kernel.reshape(1, k, filters), gemm,
                                 epilogue, compute)
            return y.reshape(*batch_shape, filters)
    y = cp.matmul(x, kernel)
    return _conv.apply_epilogue(y, epilogue, _ROWS)


@_on_device_of
def upsample(x, *, geometry, epilogue):
    """Nearest and linear ('bilinear': half-pixel interpolation on every axis, trilinear
    in 3D) up-sampling of rank 1-3 through ``upsample.cu``: channels_last by the
    vectorised kernels, channels_first by the per-element ones."""
    cp = _cupy()
    g = geometry
    dtype = _dtype_name(x)
    if dtype is None or g.interpolation not in ("nearest", "bilinear"):
        return NotImplemented
    out_shape = g.out_shape
    if 0 in out_shape:
        return cp.empty(out_shape, dtype=x.dtype)
    x = cp.ascontiguousarray(x)
    y = cp.empty(out_shape, dtype=x.dtype)
    try:
        if not g.channels_first:
            vec = _memory.vector_width(g.channels, _conv.address(x), _conv.address(y),
                                       dtype=dtype)
            launch = _memory.upsample_launch(interpolation=g.interpolation, dtype=dtype,
                                             batch=g.batch, channels=g.channels,
                                             in_spatial=g.in_spatial, size=g.size, vec=vec)
        else:
            launch = _launch.upsample_launch(interpolation=g.interpolation,
                                             layout=g.data_format, dtype=dtype, batch=g.batch,
                                             channels=g.channels, in_spatial=g.in_spatial,
                                             out_spatial=g.out_spatial, size=g.size)
    except OverflowError:
        return NotImplemented
    _conv.run("upsample.cu", launch, (x, y))
    return y


@_on_device_of
def pool(x, *, geometry, epilogue):
    """Max or average pooling through ``pool.cu`` (rank 1-3, both layouts; the padding
    excluded, as the geometry's explicit pads say)."""
    cp = _cupy()
    g = geometry
    dtype = _dtype_name(x)
    if dtype is None:
        return NotImplemented
    x = cp.ascontiguousarray(x)
    y = cp.empty(g.out_shape, dtype=x.dtype)
    try:
        launch = _launch.pool_launch(layout=g.data_format, dtype=dtype, kind=g.kind,
                                     batch=g.batch, channels=g.channels,
                                     in_spatial=g.in_spatial, out_spatial=g.out_spatial,
                                     pool_size=g.pool_size, strides=g.strides,
                                     pads_lo=g.pads_lo)
    except OverflowError:
        return NotImplemented
    _conv.run("pool.cu", launch, (x, y))
    return y


@_on_device_of
def global_pool(x, *, geometry, epilogue):
    """Max or average over every spatial position through ``pool.cu``: ``x`` read as
    ``(N, P, C)`` (channels_last) or ``(N*C, P, 1)`` (channels_first)."""
    cp = _cupy()
    g = geometry
    dtype = _dtype_name(x)
    if dtype is None:
        return NotImplemented
    x = cp.ascontiguousarray(x)
    if g.channels_first:
        outer, inner = g.batch * g.channels, 1
    else:
        outer, inner = g.batch, g.channels
    if _launch.global_pool_too_few_blocks(outer=outer, positions=g.positions, inner=inner):
        return NotImplemented       # CuPy's own reduction splits the positions over the GPU
    y = cp.empty((g.batch, g.channels), dtype=x.dtype)
    try:
        launch = _launch.global_pool_launch(layout=g.data_format, dtype=dtype, kind=g.kind,
                                            outer=outer, positions=g.positions, inner=inner)
    except OverflowError:
        return NotImplemented
    _conv.run("pool.cu", launch, (x, y))
    return y.reshape(g.out_shape)
