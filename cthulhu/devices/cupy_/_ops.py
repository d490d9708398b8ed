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
from cthulhu.devices.cupy_ import _conv, _launch, _loader, _memory
from cthulhu.devices.cupy_._geometry import ConvGeometry, Epilogue
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


@functools.cache
def _smem_per_sm(device_id: int) -> int:
    """Shared memory per multiprocessor (how many igemm blocks fit at once)."""
    try:
        attrs = _cupy().cuda.Device(device_id).attributes
        return int(attrs["MaxSharedMemoryPerMultiprocessor"])
    except Exception:  # an unknown device attribute must not stop the op
        return 164 * 1024


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
    return _conv_call(x, kernel, strides, padding, None, dilation, data_format, bias, activation,
                 transposed=False)


@fuses("bias", "activation")
@_on_device_of
def conv_transpose(x, kernel, *, strides, padding, output_padding, dilation, data_format,
                   bias=None, activation=None):
    """Transposed convolution through ``conv_nd.cu`` (implicit GEMM, zeros never stored)."""
    return _conv_call(x, kernel, strides, padding, output_padding, dilation, data_format, bias,
                 activation, transposed=True)


def _conv_call(x, kernel, strides, padding, output_padding, dilation, data_format, bias,
          activation, *, transposed):
    """Adapter: the keyword arguments of today's plugin contract -> a ConvGeometry."""
    if _dtype_name(x) is None:
        return NotImplemented
    batch, spatial, channels = _split(x, data_format)
    ksize = tuple(kernel.shape[:-2])
    if transposed:
        op = "ops.conv_transpose"
        filters = kernel.shape[-2]
        pads = _args.transpose_pads(spatial, ksize, strides, dilation, padding,
                                    output_padding, op)
        out_spatial = _args.transpose_out_sizes(spatial, ksize, strides, dilation, pads, op)
    else:
        op = "ops.conv"
        filters = kernel.shape[-1]
        pads = _args.conv_pads(spatial, ksize, strides, dilation, padding, op)
        out_spatial = _args.conv_out_sizes(spatial, ksize, strides, dilation, pads, op)
    geometry = ConvGeometry(
        kind="conv_transpose" if transposed else "conv", rank=len(spatial),
        data_format=data_format, batch=batch, in_spatial=tuple(spatial), in_channels=channels,
        out_spatial=tuple(out_spatial), out_channels=filters, kernel_size=ksize,
        strides=tuple(strides), dilation=tuple(dilation), pads=tuple(map(tuple, pads)),
        output_padding=output_padding)
    return convolve(x, kernel, geometry, Epilogue(bias=bias, activation=activation))


def convolve(x, kernel, geometry, epilogue, precision=None):
    """A (transposed) convolution of resolved ``geometry`` with the fused ``epilogue``.

    The entry point the floor-plan redesign calls (GEOMETRY.md): igemm.cu when the
    computation (:func:`._conv.compute_for`) and the shape allow, else conv_nd.cu in the
    input's own precision. Returns ``NotImplemented`` past the kernels' index range.
    """
    cp = _cupy()
    dtype = _dtype_name(x)
    if dtype is None:
        return NotImplemented
    transposed = geometry.kind == "conv_transpose"
    out_shape = _join(geometry.batch, geometry.out_spatial, geometry.out_channels,
                      geometry.data_format)
    if 0 in out_shape:
        return cp.empty(out_shape, dtype=x.dtype)
    compute = _conv.compute_for(dtype, precision)
    if _conv.igemm_fits(geometry, compute):
        try:
            return _conv.conv_igemm(x, kernel, geometry, epilogue, compute)
        except OverflowError:
            pass  # conv_nd.cu below decides (it declines past 32-bit sizes too)
    # conv_nd.cu fuses the bias and a relu; scale, shift and other activations follow.
    plain = epilogue.scale is None and epilogue.shift is None
    fuse_act = epilogue.act if plain and epilogue.act in (None, "relu") else None
    try:
        launch = _launch.conv_launch(
            transposed=transposed, layout=geometry.data_format, dtype=dtype,
            batch=geometry.batch, channels=geometry.in_channels,
            filters=geometry.out_channels, in_spatial=geometry.in_spatial,
            out_spatial=geometry.out_spatial, kernel=geometry.kernel_size,
            strides=geometry.strides, dilation=geometry.dilation, pads_lo=geometry.pads_lo,
            use_bias=epilogue.bias is not None, activation=fuse_act,
            sm_count=_sm_count(cp.cuda.Device().id))
    except (OverflowError, _launch.Unsupported):
        return NotImplemented
    y = cp.empty(out_shape, dtype=x.dtype)
    x, kernel, b = _operands(cp, x, kernel, epilogue.bias)
    _run("conv_nd.cu", launch, (x, kernel, b, y))
    rest = Epilogue(scale=epilogue.scale, shift=epilogue.shift,
                    activation=None if fuse_act else epilogue.act, alpha=epilogue.alpha)
    return _conv.apply_epilogue(y, rest, geometry.data_format)


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
    if data_format == "channels_last" and multiplier == 1:
        y = cp.empty(out_shape, dtype=x.dtype)
        x, kernel, b = _operands(cp, x, kernel, bias)
        vec = _memory.vector_width(channels, *map(_conv.address, (x, kernel, b, y)), dtype=dtype)
        launch = _memory.depthwise_launch(
            dtype=dtype, batch=batch, channels=channels, in_spatial=spatial,
            out_spatial=out_spatial, kernel=ksize, strides=strides, dilation=dilation,
            pads_lo=[p[0] for p in pads], use_bias=bias is not None, activation=activation,
            vec=vec)
        _run("depthwise.cu", launch, (x, kernel, b, y))
        return y
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
    ``(positions, C*M) @ (C*M, F)``) unless the float32 precision allows tensor cores,
    else a 1x1 convolution (igemm.cu or conv_nd.cu, no transposes); bias and activation
    fused in either case."""
    if _dtype_name(x) is None:
        return NotImplemented
    try:
        z = _depthwise(x, depthwise_kernel, strides, padding, dilation, data_format, None, None)
    except OverflowError:
        return NotImplemented
    rank = pointwise_kernel.ndim - 2
    if data_format == "channels_last" and _conv.compute_for(_dtype_name(x)) not in ("tf32",
                                                                                   "bf16"):
        cm, filters = pointwise_kernel.shape[-2:]
        return matmul(z, pointwise_kernel.reshape(cm, filters), bias=bias, activation=activation)
    batch, spatial, cm = _split(z, data_format)
    geometry = ConvGeometry(
        kind="conv", rank=rank, data_format=data_format, batch=batch, in_spatial=spatial,
        in_channels=cm, out_spatial=spatial, out_channels=pointwise_kernel.shape[-1],
        kernel_size=(1,) * rank, strides=(1,) * rank, dilation=(1,) * rank,
        pads=((0, 0),) * rank)
    return convolve(z, pointwise_kernel, geometry, Epilogue(bias=bias, activation=activation))


@fuses("bias", "activation")
@_on_device_of
def matmul(x, kernel, *, bias=None, activation=None):
    """``x @ kernel``: cuBLAS in strict float32 and float16 (accumulating in float32),
    igemm.cu on tensor cores when the float32 precision setting allows tf32/bfloat16;
    bias and activation applied in place (cuBLAS) or fused (igemm.cu)."""
    cp = _cupy()
    dtype = _dtype_name(x)
    if dtype is None:
        return NotImplemented
    compute = _conv.compute_for(dtype)
    k, filters = kernel.shape[-2], kernel.shape[-1]
    if compute in ("tf32", "bf16") and kernel.ndim == 2 and x.ndim >= 2 and x.size:
        rows = x.size // k
        geometry = ConvGeometry(
            kind="conv", rank=1, data_format="channels_last", batch=rows, in_spatial=(1,),
            in_channels=k, out_spatial=(1,), out_channels=filters, kernel_size=(1,),
            strides=(1,), dilation=(1,), pads=((0, 0),))
        if _conv.igemm_fits(geometry, compute):
            y = _conv.conv_igemm(x.reshape(rows, 1, k), kernel.reshape(1, k, filters),
                                 geometry, Epilogue(bias=bias, activation=activation), compute)
            return y.reshape(*x.shape[:-1], filters)
    y = cp.matmul(x, kernel)
    if bias is not None:
        y += bias
    if activation == "relu":
        cp.maximum(y, 0, out=y)
    return y


@_on_device_of
def upsample(x, *, size, interpolation, data_format):
    """Nearest (rank 1-3) and bilinear up-sampling through ``upsample.cu``: channels_last
    by the vectorised kernels (bilinear of rank 3 is trilinear), channels_first by the
    per-element ones (bilinear rank 2 only)."""
    cp = _cupy()
    dtype = _dtype_name(x)
    if dtype is None or interpolation not in ("nearest", "bilinear"):
        return NotImplemented
    cl = data_format == "channels_last"
    if interpolation == "bilinear" and not cl and len(size) != 2:
        return NotImplemented
    batch, spatial, channels = _split(x, data_format)
    out_spatial = tuple(shapes.upsample_length(n, f, owner="ops.upsample")
                        for n, f in zip(spatial, size, strict=True))
    out_shape = _join(batch, out_spatial, channels, data_format)
    if 0 in out_shape:
        return cp.empty(out_shape, dtype=x.dtype)
    x = cp.ascontiguousarray(x)
    y = cp.empty(out_shape, dtype=x.dtype)
    try:
        if cl:
            vec = _memory.vector_width(channels, _conv.address(x), _conv.address(y),
                                       dtype=dtype)
            launch = _memory.upsample_launch(interpolation=interpolation, dtype=dtype,
                                             batch=batch, channels=channels,
                                             in_spatial=spatial, size=size, vec=vec)
        else:
            launch = _launch.upsample_launch(interpolation=interpolation, layout=data_format,
                                             dtype=dtype, batch=batch, channels=channels,
                                             in_spatial=spatial, out_spatial=out_spatial,
                                             size=size)
    except OverflowError:
        return NotImplemented
    _run("upsample.cu", launch, (x, y))
    return y
