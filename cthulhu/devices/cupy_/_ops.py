"""The CuPy implementations of the heavy ops: argument preparation and launches.

Each function follows the plugin contract of :mod:`cthulhu.devices.base`: it gets the
arguments already checked and normalised by :mod:`cthulhu.ops`, and returns a CuPy array
of ``x``'s dtype, or ``NotImplemented`` to let the generic Array API code run (an
unsupported dtype, sizes past the kernels' 32-bit indexing, bilinear outside 2D).
Padding amounts and output sizes come from :mod:`cthulhu.shapes` through
``cthulhu.ops._args``; the launch geometry from :mod:`._launch`.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from cthulhu import shapes
from cthulhu.devices.base import fuses
from cthulhu.devices.cupy_ import _launch, _loader
from cthulhu.ops import _args

_DTYPES = {np.dtype(np.float16): "float16", np.dtype(np.float32): "float32",
           np.dtype(np.float64): "float64"}


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


@functools.cache
def _sm_count(device_id: int) -> int:
    """Multiprocessors of a GPU (the tile choice keeps them all busy)."""
    try:
        return int(_cupy().cuda.Device(device_id).attributes["MultiProcessorCount"])
    except Exception:  # an unknown device attribute must not stop the op
        return 108


def _dtype_name(x) -> str | None:
    return _DTYPES.get(np.dtype(x.dtype))


def _split(x, data_format):
    """``(batch, spatial, channels)`` of an input in either data format."""
    if data_format == "channels_last":
        return x.shape[0], tuple(x.shape[1:-1]), x.shape[-1]
    return x.shape[0], tuple(x.shape[2:]), x.shape[1]


def _join(batch, spatial, channels, data_format):
    if data_format == "channels_last":
        return (batch, *spatial, channels)
    return (batch, channels, *spatial)


def _operands(cp, x, kernel, bias):
    """C-contiguous input, kernel and bias in ``x``'s dtype (the kernels index them flat).
    Without a bias the kernel array stands in for the pointer; ``use_bias`` is 0 then."""
    x = cp.ascontiguousarray(x)
    kernel = cp.ascontiguousarray(kernel, dtype=x.dtype)
    b = kernel if bias is None else cp.ascontiguousarray(bias, dtype=x.dtype)
    return x, kernel, b


def _run(file: str, launch: _launch.Launch, arrays) -> None:
    fn = _loader.kernel(file, launch.name)
    fn(launch.grid, launch.block, (*arrays, *(np.int32(a) for a in launch.args)))


@fuses("bias", "activation")
@_on_device_of
def conv(x, kernel, *, strides, padding, dilation, data_format, bias=None, activation=None):
    """Direct convolution through ``conv_nd.cu`` (implicit GEMM)."""
    return _conv(x, kernel, strides, padding, None, dilation, data_format, bias, activation,
                 transposed=False)


@fuses("bias", "activation")
@_on_device_of
def conv_transpose(x, kernel, *, strides, padding, output_padding, dilation, data_format,
                   bias=None, activation=None):
    """Transposed convolution through ``conv_nd.cu`` (implicit GEMM, zeros never stored)."""
    return _conv(x, kernel, strides, padding, output_padding, dilation, data_format, bias,
                 activation, transposed=True)


def _conv(x, kernel, strides, padding, output_padding, dilation, data_format, bias,
          activation, *, transposed):
    dtype = _dtype_name(x)
    if dtype is None:
        return NotImplemented
    cp = _cupy()
    batch, spatial, _ = _split(x, data_format)
    ksize = tuple(kernel.shape[:-2])
    if transposed:
        op = "ops.conv_transpose"
        filters, channels = kernel.shape[-2:]
        pads = _args.transpose_pads(spatial, ksize, strides, dilation, padding,
                                    output_padding, op)
        out_spatial = _args.transpose_out_sizes(spatial, ksize, strides, dilation, pads, op)
    else:
        op = "ops.conv"
        channels, filters = kernel.shape[-2:]
        pads = _args.conv_pads(spatial, ksize, strides, dilation, padding, op)
        out_spatial = _args.conv_out_sizes(spatial, ksize, strides, dilation, pads, op)
    out_shape = _join(batch, out_spatial, filters, data_format)
    if 0 in out_shape:
        return cp.empty(out_shape, dtype=x.dtype)
    try:
        launch = _launch.conv_launch(
            transposed=transposed, layout=data_format, dtype=dtype, batch=batch,
            channels=channels, filters=filters, in_spatial=spatial, out_spatial=out_spatial,
            kernel=ksize, strides=strides, dilation=dilation, pads_lo=[p[0] for p in pads],
            use_bias=bias is not None, activation=activation,
            sm_count=_sm_count(cp.cuda.Device().id))
    except (OverflowError, _launch.Unsupported):
        return NotImplemented
    y = cp.empty(out_shape, dtype=x.dtype)
    x, kernel, b = _operands(cp, x, kernel, bias)
    _run("conv_nd.cu", launch, (x, kernel, b, y))
    return y


def _depthwise(x, kernel, strides, padding, dilation, data_format, bias, activation):
    cp = _cupy()
    dtype = _dtype_name(x)
    op = "ops.depthwise_conv"
    batch, spatial, channels = _split(x, data_format)
    ksize = tuple(kernel.shape[:-2])
    multiplier = kernel.shape[-1]
    pads = _args.conv_pads(spatial, ksize, strides, dilation, padding, op)
    out_spatial = _args.conv_out_sizes(spatial, ksize, strides, dilation, pads, op)
    out_shape = _join(batch, out_spatial, channels * multiplier, data_format)
    if 0 in out_shape:
        return cp.empty(out_shape, dtype=x.dtype)
    launch = _launch.depthwise_launch(
        layout=data_format, dtype=dtype, batch=batch, channels=channels, multiplier=multiplier,
        in_spatial=spatial, out_spatial=out_spatial, kernel=ksize, strides=strides,
        dilation=dilation, pads_lo=[p[0] for p in pads], use_bias=bias is not None,
        activation=activation)
    y = cp.empty(out_shape, dtype=x.dtype)
    x, kernel, b = _operands(cp, x, kernel, bias)
    _run("depthwise.cu", launch, (x, kernel, b, y))
    return y


@fuses("bias", "activation")
@_on_device_of
def depthwise_conv(x, kernel, *, strides, padding, dilation, data_format, bias=None,
                   activation=None):
    """Depthwise convolution through ``depthwise.cu`` (one thread per output)."""
    if _dtype_name(x) is None:
        return NotImplemented
    try:
        return _depthwise(x, kernel, strides, padding, dilation, data_format, bias, activation)
    except OverflowError:
        return NotImplemented


@fuses("bias", "activation")
@_on_device_of
def separable_conv(x, depthwise_kernel, pointwise_kernel, *, strides, padding, dilation,
                   data_format, bias=None, activation=None):
    """Depthwise kernel, then the pointwise GEMM: cuBLAS for ``channels_last`` (a plain
    ``(positions, C*M) @ (C*M, F)``), the 1x1 implicit-GEMM kernel for ``channels_first``
    (no transposes); bias and activation fused in either case."""
    if _dtype_name(x) is None:
        return NotImplemented
    try:
        z = _depthwise(x, depthwise_kernel, strides, padding, dilation, data_format, None, None)
    except OverflowError:
        return NotImplemented
    if data_format == "channels_first":
        rank = pointwise_kernel.ndim - 2
        return _conv(z, pointwise_kernel, (1,) * rank, "valid", None, (1,) * rank, data_format,
                     bias, activation, transposed=False)
    cm, filters = pointwise_kernel.shape[-2:]
    return matmul(z, pointwise_kernel.reshape(cm, filters), bias=bias, activation=activation)


@fuses("bias", "activation")
@_on_device_of
def matmul(x, kernel, *, bias=None, activation=None):
    """``x @ kernel`` by cuBLAS (float16 accumulates in float32 there too), then the
    bias and activation in place."""
    cp = _cupy()
    if _dtype_name(x) is None:
        return NotImplemented
    y = cp.matmul(x, kernel)
    if bias is not None:
        y += bias
    if activation == "relu":
        cp.maximum(y, 0, out=y)
    return y


@_on_device_of
def upsample(x, *, size, interpolation, data_format):
    """Nearest (rank 1-3) and bilinear (rank 2) up-sampling through ``upsample.cu``."""
    cp = _cupy()
    dtype = _dtype_name(x)
    if dtype is None or (interpolation == "bilinear" and len(size) != 2):
        return NotImplemented
    if interpolation not in ("nearest", "bilinear"):
        return NotImplemented
    batch, spatial, channels = _split(x, data_format)
    out_spatial = tuple(shapes.upsample_length(n, f, owner="ops.upsample")
                        for n, f in zip(spatial, size, strict=True))
    out_shape = _join(batch, out_spatial, channels, data_format)
    if 0 in out_shape:
        return cp.empty(out_shape, dtype=x.dtype)
    try:
        launch = _launch.upsample_launch(interpolation=interpolation, layout=data_format,
                                         dtype=dtype, batch=batch, channels=channels,
                                         in_spatial=spatial, out_spatial=out_spatial,
                                         size=size)
    except OverflowError:
        return NotImplemented
    y = cp.empty(out_shape, dtype=x.dtype)
    _run("upsample.cu", launch, (cp.ascontiguousarray(x), y))
    return y
