"""Resolved geometries: what an op hands a device plugin, computed once from its arguments.

An op (:mod:`cthulhu.ops`) checks its arguments, then asks a builder of this module
for the *geometry* of the call: every size, pad and axis a kernel needs, explicit.
Device plugins read these objects and never derive a length, a padding or an axis
themselves; the Dask device builds its block plans from the same objects
(:func:`range_maps`), so the planner and the kernels agree by construction.

The objects are frozen, hashable and hold ints (and the few names that select a
code path: ``kind``, ``data_format``, ``interpolation``); they can key caches of
compiled kernels or packed weights. Data formats are read only through
:mod:`cthulhu.shapes.layout` (:attr:`~ConvGeometry.channels_first`,
:attr:`~ConvGeometry.channel_axis`, ...).

The builders take *checked* arguments (what the op front-ends produce: tuples of
positive ints, a padding name the kind's rule accepted, explicit ``(lo, hi)``
pairs) and check only what depends on the input shape (a window longer than the
padded input, a stride combined with a dilation on one axis), with the messages of
the one-axis functions of :mod:`cthulhu.shapes.lengths`.

>>> g = conv_geometry("conv", (1, 224, 224, 3), (3, 3), filters=64, strides=(2, 2),
...                   dilation=(1, 1), padding="same", data_format="channels_last")
>>> g.out_shape, g.pads
((1, 112, 112, 64), ((0, 1), (0, 1)))
"""

from dataclasses import dataclass, replace
from math import prod

from ._arith import check_dim
from .axis_maps import _Step, upsampling_step
from .errors import shape_error
from .layout import (
    channel_index,
    from_channels_last,
    is_channels_first,
    join_channels,
    spatial_axes,
    split_channels,
    to_channels_last,
)
from .lengths import (
    _axis_args,
    _check_output_padding,
    _conv_out,
    _conv_pad,
    _conv_transpose_pad,
    _upsample_out,
    dilated_kernel_size,
)

__all__ = [
    "ConvGeometry", "UpsampleGeometry", "MatmulGeometry", "PadGeometry", "PoolGeometry",
    "GlobalPoolGeometry", "CONV_KINDS", "POOL_KINDS", "conv_geometry", "upsample_geometry",
    "matmul_geometry", "pad_geometry", "pool_geometry", "global_pool_geometry", "range_maps",
]

#: The ``kind`` of a :class:`ConvGeometry`.
CONV_KINDS = ("conv", "conv_transpose", "depthwise_conv", "separable_conv")
#: The ``kind`` of a :class:`PoolGeometry`.
POOL_KINDS = ("max", "average")


class _Spatial:
    """Layout facts shared by the geometries of spatial ops (from ``layout``)."""

    __slots__ = ()

    @property
    def channels_first(self) -> bool:
        """Whether the arrays are ``(batch, channels, *spatial)``."""
        return is_channels_first(self.data_format)

    @property
    def channel_axis(self) -> int:
        """The channels axis of the input and output arrays, counted from 0."""
        return channel_index(self.rank + 2, self.data_format)

    @property
    def spatial_axes(self) -> tuple:
        """The spatial axes of the input and output arrays."""
        return spatial_axes(self.rank + 2, self.data_format)

    @property
    def to_channels_last(self) -> tuple:
        """The axis permutation taking the arrays to channels_last order."""
        return to_channels_last(self.rank + 2, self.data_format)

    @property
    def from_channels_last(self) -> tuple:
        """The axis permutation taking a channels_last result to the data format."""
        return from_channels_last(self.rank + 2, self.data_format)

    def replace(self, **changes):
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class ConvGeometry(_Spatial):
    """One convolution, fully resolved (see /work/notes/GEOMETRY.md).

    ``pads`` are explicit ``(lo, hi)`` per spatial axis: for a direct convolution
    the zeros added to the input; for a transposed one the pads of the equivalent
    stride-1 direct convolution over the zero-stuffed input (negative: cropping),
    as :func:`cthulhu.shapes.conv_transpose_padding` gives them. ``out_channels`` is
    ``in_channels * depth_multiplier`` for a depthwise convolution.
    """

    kind: str
    rank: int
    data_format: str
    batch: int
    in_spatial: tuple
    in_channels: int
    out_spatial: tuple
    out_channels: int
    kernel_size: tuple
    strides: tuple
    dilation: tuple
    pads: tuple
    depth_multiplier: int = 1
    output_padding: tuple | None = None

    def __post_init__(self):
        if self.kind not in CONV_KINDS:
            raise ValueError(f"ConvGeometry: kind must be one of {CONV_KINDS}, got {self.kind!r}")
        for name in ("in_spatial", "out_spatial", "kernel_size", "strides", "dilation", "pads"):
            if len(getattr(self, name)) != self.rank:
                raise ValueError(f"ConvGeometry: {name} must have {self.rank} entries, got "
                                 f"{getattr(self, name)!r}")

    @property
    def in_shape(self) -> tuple:
        return join_channels(self.batch, self.in_spatial, self.in_channels, self.data_format)

    @property
    def out_shape(self) -> tuple:
        return join_channels(self.batch, self.out_spatial, self.out_channels, self.data_format)

    @property
    def pads_lo(self) -> tuple:
        return tuple(lo for lo, _ in self.pads)

    @property
    def padded_spatial(self) -> tuple:
        """The input's spatial sizes with ``pads`` added (negative pads crop)."""
        return tuple(n + lo + hi for n, (lo, hi) in zip(self.in_spatial, self.pads,
                                                        strict=True))

    @property
    def transposed(self) -> bool:
        return self.kind == "conv_transpose"

    @property
    def taps(self) -> int:
        """Kernel positions: ``prod(kernel_size)``."""
        return prod(self.kernel_size)

    @property
    def mid_channels(self) -> int:
        """Channels after the depthwise step: ``in_channels * depth_multiplier``."""
        return self.in_channels * self.depth_multiplier

    def depthwise(self):
        """The depthwise step of a separable convolution (itself for a depthwise one)."""
        return replace(self, kind="depthwise_conv", out_channels=self.mid_channels)

    def stuffed(self):
        """A transposed convolution as its equivalent direct one: stride 1 over the input
        with ``s - 1`` zeros inserted between samples, padded by ``pads`` (the kernel
        flipped and its channel axes swapped, which the caller does)."""
        if not self.transposed:
            raise ValueError(f"ConvGeometry.stuffed(): a {self.kind!r} geometry is not "
                             "transposed")
        stuffed = tuple((n - 1) * s + 1 for n, s in zip(self.in_spatial, self.strides,
                                                        strict=True))
        return replace(self, kind="conv", in_spatial=stuffed, strides=(1,) * self.rank,
                       output_padding=None)


@dataclass(frozen=True, slots=True)
class UpsampleGeometry(_Spatial):
    """Up-sampling by the integer factors ``size`` (``nearest`` or ``bilinear``)."""

    rank: int
    data_format: str
    batch: int
    in_spatial: tuple
    channels: int
    size: tuple
    out_spatial: tuple
    interpolation: str = "nearest"

    @property
    def in_shape(self) -> tuple:
        return join_channels(self.batch, self.in_spatial, self.channels, self.data_format)

    @property
    def out_shape(self) -> tuple:
        return join_channels(self.batch, self.out_spatial, self.channels, self.data_format)


@dataclass(frozen=True, slots=True)
class MatmulGeometry:
    """``x @ kernel`` over the last axis of ``x``: ``(*batch_shape, in_features)`` times
    ``(in_features, out_features)``."""

    batch_shape: tuple
    in_features: int
    out_features: int

    @property
    def channel_axis(self) -> int:
        """The axis ``out_features`` runs along (the last)."""
        return len(self.batch_shape)

    @property
    def rows(self) -> int:
        """The rows of the GEMM: ``prod(batch_shape)``."""
        return prod(self.batch_shape)

    @property
    def in_shape(self) -> tuple:
        return (*self.batch_shape, self.in_features)

    @property
    def out_shape(self) -> tuple:
        return (*self.batch_shape, self.out_features)


@dataclass(frozen=True, slots=True)
class PadGeometry(_Spatial):
    """Zero padding by ``(lo, hi)`` per spatial axis; a negative amount crops. An axis
    cropped past its length is empty (``out_spatial`` never negative)."""

    rank: int
    data_format: str
    batch: int
    in_spatial: tuple
    channels: int
    pads: tuple
    out_spatial: tuple

    @property
    def in_shape(self) -> tuple:
        return join_channels(self.batch, self.in_spatial, self.channels, self.data_format)

    @property
    def out_shape(self) -> tuple:
        return join_channels(self.batch, self.out_spatial, self.channels, self.data_format)


@dataclass(frozen=True, slots=True)
class PoolGeometry(_Spatial):
    """Max or average pooling over windows (``cthulhu.ops.pool``).

    A window kind whose padding is *excluded*: ``pads`` (explicit ``(lo, hi)`` per
    axis; TensorFlow's ``'same'`` padding is the one of a convolution with
    ``k = pool_size``) add no samples to a window, so a maximum never sees them and
    an average divides by the number of real samples under the window. Every window
    holds at least one real sample (``0 <= lo, hi < pool_size``, checked by
    :func:`pool_geometry`). ``border`` says so (``"excluded"``, the only value), as
    ``cthulhu.shapes.get_kind("pooling").border`` does for plans.
    """

    kind: str
    rank: int
    data_format: str
    batch: int
    in_spatial: tuple
    channels: int
    out_spatial: tuple
    pool_size: tuple
    strides: tuple
    pads: tuple
    border: str = "excluded"

    def __post_init__(self):
        if self.kind not in POOL_KINDS:
            raise ValueError(f"PoolGeometry: kind must be one of {POOL_KINDS}, got {self.kind!r}")

    @property
    def in_shape(self) -> tuple:
        return join_channels(self.batch, self.in_spatial, self.channels, self.data_format)

    @property
    def out_shape(self) -> tuple:
        return join_channels(self.batch, self.out_spatial, self.channels, self.data_format)

    @property
    def pads_lo(self) -> tuple:
        return tuple(lo for lo, _ in self.pads)


@dataclass(frozen=True, slots=True)
class GlobalPoolGeometry(_Spatial):
    """Max or average over every spatial position (``cthulhu.ops.global_pool``): the
    result is ``(batch, channels)``, or with ``keepdims`` the input's layout with
    every spatial size 1."""

    kind: str
    rank: int
    data_format: str
    batch: int
    in_spatial: tuple
    channels: int
    keepdims: bool = False

    def __post_init__(self):
        if self.kind not in POOL_KINDS:
            raise ValueError(f"GlobalPoolGeometry: kind must be one of {POOL_KINDS}, got "
                             f"{self.kind!r}")

    @property
    def positions(self) -> int:
        """The number of spatial positions each result reduces: ``prod(in_spatial)``."""
        return prod(self.in_spatial)

    @property
    def in_shape(self) -> tuple:
        return join_channels(self.batch, self.in_spatial, self.channels, self.data_format)

    @property
    def out_shape(self) -> tuple:
        if self.keepdims:
            return join_channels(self.batch, (1,) * self.rank, self.channels, self.data_format)
        return (self.batch, self.channels)

    @property
    def channel_axis(self) -> int:
        """The channels axis of the result (``1`` without ``keepdims``)."""
        if self.keepdims:
            return channel_index(self.rank + 2, self.data_format)
        return 1


def conv_geometry(kind, input_shape, kernel_size, *, strides, dilation, padding, data_format,
                  filters=None, depth_multiplier=1, output_padding=None, owner=None):
    """The :class:`ConvGeometry` of one convolution of an input of ``input_shape``.

    Parameters
    ----------
    kind : {"conv", "conv_transpose", "depthwise_conv", "separable_conv"}
    input_shape : tuple of int
        ``(batch, *spatial, channels)`` or ``(batch, channels, *spatial)``.
    kernel_size, strides, dilation : tuple of int
        Checked by the caller (positive ints, one per spatial axis).
    padding : str or tuple of (int, int)
        A name the kind's padding rule accepted (``shapes.get_kind(kind)``), or
        explicit pairs (for ``conv_transpose``: those of the equivalent direct
        convolution over the zero-stuffed input; ``output_padding`` is then unused).
    data_format : {"channels_last", "channels_first"}
    filters : int, optional
        Output channels; ``None`` for a depthwise convolution (``channels * depth_multiplier``).
    depth_multiplier : int
    output_padding : tuple of int or None
        ``conv_transpose`` only (``0 <= p < stride``, checked here).
    owner : layer or str, optional
        Named in error messages.

    Raises
    ------
    ShapeError
        A window longer than the padded input, a stride and a dilation above 1 on one
        axis (allowed for a transposed convolution with explicit pads), an
        ``output_padding`` not below its stride.
    """
    batch, spatial, channels = split_channels(tuple(input_shape), data_format)
    transposed = kind == "conv_transpose"
    explicit = padding.__class__ is not str
    # a transposed convolution with explicit pads is one stride-1 direct convolution
    spans = [_axis_args(k, 1 if transposed and explicit else s, d, owner)
             for k, s, d in zip(kernel_size, strides, dilation, strict=True)]
    if explicit:
        pads = tuple((lo, hi) for lo, hi in padding)
    elif transposed:
        outp = output_padding or (None,) * len(spatial)
        pads = []
        for n, K, s, p in zip(spatial, spans, strides, outp, strict=True):
            p = _check_output_padding(p, s, owner)
            check_dim(n, "input length", owner)
            pads.append(_conv_transpose_pad(K, s, padding, p))
        pads = tuple(pads)
    else:
        spatial = tuple(check_dim(n, "input length", owner) for n in spatial)
        pads = tuple(_conv_pad(n, K, s, padding, owner)
                     for n, K, s in zip(spatial, spans, strides, strict=True))
    if transposed:
        out = tuple(_conv_out(check_dim((n - 1) * s + 1, "input length", owner), K, 1, pair,
                              owner)
                    for n, K, s, pair in zip(spatial, spans, strides, pads, strict=True))
    else:
        if explicit:
            spatial = tuple(check_dim(n, "input length", owner) for n in spatial)
        per_axis = pads if explicit else (padding,) * len(spatial)
        out = tuple(_conv_out(n, K, s, p, owner)
                    for n, K, s, p in zip(spatial, spans, strides, per_axis, strict=True))
    filters = channels * depth_multiplier if filters is None else filters
    return ConvGeometry(
        kind=kind, rank=len(spatial), data_format=data_format, batch=batch,
        in_spatial=spatial, in_channels=channels, out_spatial=out, out_channels=filters,
        kernel_size=tuple(kernel_size), strides=tuple(strides), dilation=tuple(dilation),
        pads=pads, depth_multiplier=depth_multiplier,
        output_padding=None if output_padding is None else tuple(output_padding))


def upsample_geometry(input_shape, size, *, data_format, interpolation="nearest"):
    """The :class:`UpsampleGeometry` of up-sampling ``input_shape`` by ``size`` (checked
    positive ints, one per spatial axis)."""
    batch, spatial, channels = split_channels(tuple(input_shape), data_format)
    out = tuple(_upsample_out(n, f) for n, f in zip(spatial, size, strict=True))
    return UpsampleGeometry(rank=len(spatial), data_format=data_format, batch=batch,
                            in_spatial=spatial, channels=channels, size=tuple(size),
                            out_spatial=out, interpolation=interpolation)


def matmul_geometry(input_shape, kernel_shape):
    """The :class:`MatmulGeometry` of ``x @ kernel`` (shapes checked by the caller)."""
    return MatmulGeometry(tuple(input_shape[:-1]), input_shape[-1], kernel_shape[-1])


def pad_geometry(input_shape, pads, *, data_format):
    """The :class:`PadGeometry` of padding ``input_shape`` by ``pads`` (int pairs)."""
    batch, spatial, channels = split_channels(tuple(input_shape), data_format)
    pads = tuple((lo, hi) for lo, hi in pads)
    out = tuple(max(n + lo + hi, 0) for n, (lo, hi) in zip(spatial, pads, strict=True))
    return PadGeometry(rank=len(spatial), data_format=data_format, batch=batch,
                       in_spatial=spatial, channels=channels, pads=pads, out_spatial=out)


def pool_geometry(kind, input_shape, pool_size, *, strides, padding, data_format, owner=None):
    """The :class:`PoolGeometry` of pooling: ``strides`` (checked ints, Keras 2's ``None``
    already replaced by ``pool_size``) and ``padding`` a name the ``pooling`` kind
    accepts, or explicit ``(lo, hi)`` pairs whose samples are excluded from the windows
    (``0 <= lo, hi < pool_size`` on each axis, so that every window holds a real sample).

    >>> pool_geometry("max", (1, 9, 9, 4), (2, 2), strides=(2, 2), padding="same",
    ...               data_format="channels_last").out_spatial
    (5, 5)
    >>> pool_geometry("average", (1, 4, 3), (3,), strides=(1,), padding=((2, 0),),
    ...               data_format="channels_last").out_spatial
    (4,)
    """
    batch, spatial, channels = split_channels(tuple(input_shape), data_format)
    spatial = tuple(check_dim(n, "input length", owner) for n in spatial)
    if padding.__class__ is str:
        pads = tuple(_conv_pad(n, k, s, padding, owner)
                     for n, k, s in zip(spatial, pool_size, strides, strict=True))
        # the named rule's lengths ('same' of an empty axis is empty, as for the layers)
        out = tuple(_conv_out(n, k, s, padding, owner)
                    for n, k, s in zip(spatial, pool_size, strides, strict=True))
    else:
        pads = tuple((lo, hi) for lo, hi in padding)
        for k, (lo, hi) in zip(pool_size, pads, strict=True):
            if not (0 <= lo < k and 0 <= hi < k):
                raise shape_error(owner, f"explicit pooling pads must be in [0, pool_size) so "
                                         f"that every window holds an input sample, got "
                                         f"{padding!r} for pool_size {tuple(pool_size)!r}")
        out = tuple(_conv_out(n, k, s, pair, owner)
                    for n, k, s, pair in zip(spatial, pool_size, strides, pads, strict=True))
    return PoolGeometry(kind=kind, rank=len(spatial), data_format=data_format, batch=batch,
                        in_spatial=spatial, channels=channels, out_spatial=out,
                        pool_size=tuple(pool_size), strides=tuple(strides), pads=pads)


def global_pool_geometry(kind, input_shape, *, data_format, keepdims=False):
    """The :class:`GlobalPoolGeometry` of global pooling of ``input_shape``.

    >>> global_pool_geometry("average", (2, 3, 8, 8), data_format="channels_first").out_shape
    (2, 3)
    """
    batch, spatial, channels = split_channels(tuple(input_shape), data_format)
    return GlobalPoolGeometry(kind=kind, rank=len(spatial), data_format=data_format,
                              batch=batch, in_spatial=tuple(spatial), channels=channels,
                              keepdims=bool(keepdims))


def range_maps(geometry):
    """Per spatial axis, the range map of the op (``None``: positions kept), for block
    plans (:func:`cthulhu.shapes.axis_maps.plan_block`).

    A direct convolution or pooling maps an output range ``[a, b)`` to the input range
    ``[a*s - lo, (b-1)*s - lo + K)``; a transposed convolution is the up map of the
    zero-stuffed input padded by ``lo``; up-sampling as ``upsampling_step``.
    """
    if isinstance(geometry, UpsampleGeometry):
        return tuple(upsampling_step(n, f, geometry.interpolation)
                     for n, f in zip(geometry.in_spatial, geometry.size, strict=True))
    if isinstance(geometry, PoolGeometry):
        return tuple(_Step(False, s, k, lo, n, None) for n, k, s, (lo, _) in
                     zip(geometry.in_spatial, geometry.pool_size, geometry.strides,
                         geometry.pads, strict=True))
    if not isinstance(geometry, ConvGeometry):
        raise TypeError(f"range_maps(): no range map for {type(geometry).__name__}")
    return tuple(_Step(geometry.transposed, s, dilated_kernel_size(k, d), lo, n, None)
                 for n, k, s, d, (lo, _) in zip(geometry.in_spatial, geometry.kernel_size,
                                                geometry.strides, geometry.dilation,
                                                geometry.pads, strict=True))
