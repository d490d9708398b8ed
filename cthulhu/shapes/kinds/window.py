"""Sliding-window kinds: ``conv``, ``depthwise_conv``, ``separable_conv``, ``conv_transpose``.

The whole-layer convolution formulas live here (:func:`conv_shape`,
:func:`conv_transpose_shape`): the public functions of
:mod:`cthulhu.shapes.spatial` call them after checking their arguments, and
chains call them through a spec's prepared ``fast_shape``.
"""

from ..axis_maps import _pad_lo, _Step
from ..checks import check_rank
from ..layout import is_channels_first
from ..lengths import (
    _conv_out,
    _conv_pad,
    _conv_transpose_out,
    _conv_transpose_pad,
    conv_length,
    conv_transpose_length,
    dilated_kernel_size,
)
from ..normalize import as_tuple, check_conv_args, normalize_output_padding, positive_int
from .base import SpatialKind, register, required

__all__ = ["conv_shape", "conv_transpose_shape", "dilated", "ConvKind", "DepthwiseConvKind",
           "SeparableConvKind", "ConvTransposeKind"]


def dilated(kernel_size, dilation_rate):
    """The dilated kernel sizes ``d*(k-1) + 1`` per axis."""
    return tuple(dilated_kernel_size(k, d) for k, d in zip(kernel_size, dilation_rate, strict=True))


def conv_shape(shape, owner, rank, first, dilated, strides, padding, filters, multiplier):
    """The output shape of every direct convolution (and pooling), from checked arguments.

    The one home of the whole-layer convolution formula. ``first``: channels
    first; ``dilated`` holds the dilated kernel sizes; ``filters`` is ``None``
    for a depthwise convolution (channels times ``multiplier``) and for pooling
    (``multiplier`` 1).
    """
    check_rank(shape, rank, first, owner)
    spatial = shape[2:] if first else shape[1:-1]
    out = [_conv_out(n, k, s, padding, owner)
           for n, k, s in zip(spatial, dilated, strides, strict=True)]
    if filters is None:
        channels = shape[1] if first else shape[-1]
        filters = None if channels is None else channels * multiplier
    return (shape[0], filters, *out) if first else (shape[0], *out, filters)


def conv_transpose_shape(shape, owner, rank, first, kernel, dilated, strides, padding,
                         output_padding, filters):
    """The output shape of a transposed convolution from checked arguments."""
    check_rank(shape, rank, first, owner)
    spatial = shape[2:] if first else shape[1:-1]
    pads = output_padding if output_padding is not None else (None,) * rank
    out = [_conv_transpose_out(n, k, K, s, padding, p, owner)
           for n, k, K, s, p in zip(spatial, kernel, dilated, strides, pads, strict=True)]
    return (shape[0], filters, *out) if first else (shape[0], *out, filters)


class ConvKind(SpatialKind):
    """``conv``: ``Cthalpa1D/2D/3D``. The only kind that takes ``'causal'`` (in 1D, as Keras 2)."""

    name = "conv"
    role = "window"
    border = "zeros"
    keys = ("filters", "kernel_size", "strides", "padding", "dilation_rate", "data_format")

    def paddings(self, rank):
        return ("valid", "same", "causal") if rank == 1 else ("valid", "same")

    def _normalize_args(self, out, rank, owner):
        kernel = as_tuple(required(out, "kernel_size", owner), rank, "kernel_size", owner)
        strides = as_tuple(out.get("strides", 1), rank, "strides", owner)
        dilation = as_tuple(out.get("dilation_rate", 1), rank, "dilation_rate", owner)
        check_conv_args(kernel, strides, dilation, owner)
        padding = self.normalize_padding(out.get("padding", "valid"), rank, owner, kernel)
        out.update(kernel_size=kernel, strides=strides, dilation_rate=dilation, padding=padding)
        self._normalize_channels(out, owner)

    def _normalize_channels(self, out, owner):
        out["filters"] = positive_int(required(out, "filters", owner), "filters", owner)

    def _filters(self, spec):
        """``(filters, multiplier)`` for :func:`conv_shape`."""
        return spec["filters"], 1

    def fast(self, spec):
        filters, multiplier = self._filters(spec)
        return (conv_shape, (spec["rank"], is_channels_first(spec["data_format"]),
                             dilated(spec["kernel_size"], spec["dilation_rate"]),
                             spec["strides"], spec["padding"], filters, multiplier))

    def steps(self, spec, axis, n_in, n_out):
        # a down map: [a, b) -> [a*s - lo, (b-1)*s - lo + K)
        s = spec["strides"][axis]
        K = dilated_kernel_size(spec["kernel_size"][axis], spec["dilation_rate"][axis])
        return _Step(False, s, K, _pad_lo(_conv_pad(n_in, K, s, spec["padding"])), n_in, n_out)

    def length_fn(self, spec, axis):
        k, s, d = spec["kernel_size"][axis], spec["strides"][axis], spec["dilation_rate"][axis]
        padding = spec["padding"]
        return lambda n: conv_length(n, k, s, padding, d)


class DepthwiseConvKind(ConvKind):
    """``depthwise_conv``: ``DepthwiseCthalpa2D``; channels times ``depth_multiplier``."""

    name = "depthwise_conv"
    keys = ("kernel_size", "strides", "padding", "depth_multiplier", "dilation_rate",
            "data_format")

    def paddings(self, rank):
        return ("valid", "same")

    def _normalize_channels(self, out, owner):
        out["depth_multiplier"] = positive_int(out.get("depth_multiplier", 1),
                                               "depth_multiplier", owner)

    def _filters(self, spec):
        return None, spec["depth_multiplier"]


class SeparableConvKind(ConvKind):
    """``separable_conv``: ``SeparableCthalpa1D/2D`` (a depthwise step, then ``filters`` 1x1)."""

    name = "separable_conv"
    keys = ("filters", "kernel_size", "strides", "padding", "depth_multiplier", "dilation_rate",
            "data_format")

    def paddings(self, rank):
        return ("valid", "same")

    def _normalize_channels(self, out, owner):
        out["depth_multiplier"] = positive_int(out.get("depth_multiplier", 1),
                                               "depth_multiplier", owner)
        super()._normalize_channels(out, owner)


class ConvTransposeKind(ConvKind):
    """``conv_transpose``: ``Cthalpa2DTranspose/3DTranspose`` (Keras 2 ``deconv_length``)."""

    name = "conv_transpose"
    keys = ("filters", "kernel_size", "strides", "padding", "output_padding", "dilation_rate",
            "data_format")
    rank_keys = ("kernel_size", "strides", "output_padding", "dilation_rate")

    def paddings(self, rank):
        return ("valid", "same")

    def _normalize_channels(self, out, owner):
        out["output_padding"] = normalize_output_padding(out.get("output_padding"),
                                                         out["strides"], owner)
        super()._normalize_channels(out, owner)

    def fast(self, spec):
        return (conv_transpose_shape, (spec["rank"], is_channels_first(spec["data_format"]),
                                       spec["kernel_size"],
                                       dilated(spec["kernel_size"], spec["dilation_rate"]),
                                       spec["strides"], spec["padding"],
                                       spec["output_padding"], spec["filters"]))

    def steps(self, spec, axis, n_in, n_out):
        # an up map (the direct convolution of the zero-inserted input, padded by lo)
        s = spec["strides"][axis]
        K = dilated_kernel_size(spec["kernel_size"][axis], spec["dilation_rate"][axis])
        op = spec.get("output_padding")
        lo = _pad_lo(_conv_transpose_pad(K, s, spec["padding"], None if op is None else op[axis]))
        return _Step(True, s, K, lo, n_in, n_out)

    def length_fn(self, spec, axis):
        k, s, d = spec["kernel_size"][axis], spec["strides"][axis], spec["dilation_rate"][axis]
        padding, op = spec["padding"], spec.get("output_padding")
        op = None if op is None else op[axis]
        return lambda n: conv_transpose_length(n, k, s, padding, op, d)


CONV = register(ConvKind())
DEPTHWISE_CONV = register(DepthwiseConvKind())
SEPARABLE_CONV = register(SeparableConvKind())
CONV_TRANSPOSE = register(ConvTransposeKind())
