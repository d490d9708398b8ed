"""Chains of layers: per-layer output shapes, receptive fields, halos and block plans.

``chain(layers, input_shape)`` runs the shape formulas of this package over a
sequence of layers (layer objects, spec dicts or ``{"class_name", "config"}``
dicts, see :mod:`cthulhu.shapes.spec`) and returns a :class:`Chain`.

The spatial analysis
--------------------
Along each spatial axis, every layer of the leading *spatial part* of the
chain (convolutions of all kinds, up-sampling, zero padding, cropping and the
position-wise layers) maps a range ``[a, b)`` of its output to the range of
its input that range depends on. There are two shapes of map:

* *down* (convolution with stride ``s``, dilated kernel span ``K`` and
  before-padding ``lo``; cropping and zero padding are the case
  ``s = K = 1``, ``lo = -crop`` or ``lo = pad``)::

      [a, b)  ->  [a*s - lo, (b-1)*s - lo + K)

* *up* (transposed convolution seen as the direct convolution of the
  zero-inserted input, padded by ``lo`` before; nearest up-sampling by ``u``
  is the case ``s = K = u``, ``lo = u - 1``)::

      [a, b)  ->  [ceil((a - lo)/s), floor((b - 2 - lo + K)/s) + 1)

Composing these maps from the last layer back to the first gives, per axis:

``jump``
    input samples per output sample (a ``Fraction``: up-sampling makes it < 1).
``receptive_field``
    the most input samples one output sample depends on.
``offset``
    the first input sample output sample 0 depends on (negative: padding).
``output_block_multiple`` / ``block_multiple``
    the output (resp. input) block boundaries at which every intermediate
    boundary falls on a whole sample of every layer. Input blocks whose
    starts and sizes are multiples of ``block_multiple`` map to output blocks
    of ``block_multiple / jump`` samples.
``halo``
    ``(lo, hi)``: for such an aligned input block ``[c0, c1)``, the output
    block ``[c0/jump, c1/jump)`` depends on exactly the input samples
    ``[c0 - lo, c1 + hi)`` (clipped to the array). Negative values mean fewer
    samples than the block; ``depth`` is the halo clipped at 0, as
    ``dask.array.map_overlap`` wants it.

Computing a block exactly
-------------------------
:meth:`Chain.block_plan` turns an output block into, for every layer, the
input range it reads and the explicit padding that reproduces the
whole-array result: the layer's own padding where the block touches the
true border of the array, nothing inside (the halo supplies the data). Any
output range works, aligned or not. This is what the Dask device runs.
"""

from ._arith import is_int
from .axis_maps import (
    AxisInfo,
    BlockPlan,
    LayerBlock,
    _require_known,
    axis_plan,
    plan_block,
    split_axis,
)
from .errors import ShapeError, ShapeTypeError
from .kinds import KINDS, get_kind
from .layout import DEFAULT_DATA_FORMAT, spatial_axes
from .spec import layer_spec, spec_owner

__all__ = ["chain", "Chain", "AxisInfo", "LayerBlock", "BlockPlan", "split_axis"]

# The roles of the layers a chain's spatial analysis covers (see Kind.blockwise).
_SPATIAL_ROLES = frozenset(("pointwise", "window", "pad", "crop", "resample"))


def _as_specs(layers):
    if hasattr(layers, "layers") and not isinstance(layers, (list, tuple, dict)):
        layers = layers.layers
    if isinstance(layers, dict):
        layers = [layers]
    return [spec if isinstance(spec, dict) and spec.get("normalized") else layer_spec(spec)
            for spec in layers]


def chain(layers, input_shape=None, *, default_data_format=DEFAULT_DATA_FORMAT):
    """Run the shape algebra over a sequence of layers.

    Parameters
    ----------
    layers : sequence, or a model with ``.layers``
        Layer objects, spec dicts or ``{"class_name": ..., "config": ...}`` dicts.
        A model's layers are taken in order, so it must be a single path (a
        ``Pile``, or a ``Lump`` without branches).
    input_shape : tuple of sizes
        Batch axis included; sizes are ints, ``None`` or symbols. When omitted,
        ``layers.input_shape`` (a model's) is used.
    default_data_format : str
        The layout of the spatial analysis when no layer has one (a chain of
        activations): ``cthulhu shape`` passes the user's ``image_data_format``.

    Returns
    -------
    Chain

    Examples
    --------
    >>> c = chain([{"kind": "conv", "rank": 1, "filters": 4, "kernel_size": 3,
    ...             "data_format": "channels_last"},
    ...            {"kind": "upsampling", "rank": 1, "size": 2}], (None, 10, 1))
    >>> c.output_shape, c.receptive_field, c.jump, c.halo
    ((None, 16, 4), (3,), (Fraction(1, 2),), ((0, 2),))
    """
    if input_shape is None:
        input_shape = getattr(layers, "input_shape", None)
        if input_shape is None:
            raise ShapeError("chain() needs an input_shape (batch axis included)")
    if isinstance(input_shape, str) or not hasattr(input_shape, "__iter__"):
        raise ShapeTypeError(f"input_shape must be a tuple of sizes, got {input_shape!r}")
    specs = _as_specs(layers)
    shapes = []
    shape = tuple(input_shape)
    # The first layer (and any after an opaque one) takes the validating path, which checks
    # the sizes it is given; every other layer gets a shape made of checked sizes by the
    # formulas of this package and calls the fast form its spec prepared when normalised.
    trusted = False
    for spec in specs:
        fast = spec.get("fast_shape") if trusted else None
        if fast is not None:
            shape = fast[0](shape, spec, *fast[1])
        else:
            kind = KINDS.get(spec["kind"]) or get_kind(spec["kind"])
            if kind.inputs != 1:
                raise ShapeError(f"{spec_owner(spec)}: a {kind.name} layer takes several "
                                 "inputs; use shapes.graph() for graphs of layers")
            shape = kind.output_shape(spec, shape, spec)
            trusted = shape.__class__ is tuple and kind.role != "opaque"
        shapes.append(shape)
    return Chain(specs, tuple(input_shape), shapes, default_data_format)


class Chain:
    """The result of :func:`chain`: shapes of every layer and the spatial analysis.

    Attributes
    ----------
    specs : list of dict
        The normalised spec of each layer.
    input_shape : tuple
    output_shapes : list of tuple
        The output shape of each layer, computed by the functions of this package.
    output_shape : tuple
        The last layer's output shape.

    Notes
    -----
    The spatial analysis (computed on first use) covers the leading layers
    that keep the spatial layout: ``spatial_layers`` of them, ``stop_reason``
    says why it stopped early (``None`` if it did not). ``axes`` holds one
    :class:`AxisInfo` per spatial axis; ``receptive_field``, ``jump``,
    ``offset``, ``halo``, ``depth``, ``block_multiple`` and
    ``output_block_multiple`` are tuples over the spatial axes.
    """

    def __init__(self, specs, input_shape, output_shapes,
                 default_data_format=DEFAULT_DATA_FORMAT):
        self.specs = specs
        self.input_shape = input_shape
        self.output_shapes = output_shapes
        self._spatial = None
        self._axes = None
        self._step_lists = {}
        self._default_format = default_data_format

    def __len__(self):
        return len(self.specs)

    def __repr__(self):
        return f"Chain({len(self.specs)} layers, {self.input_shape} -> {self.output_shape})"

    @property
    def output_shape(self):
        return self.output_shapes[-1] if self.output_shapes else self.input_shape

    def shape_before(self, i):
        """The input shape of layer ``i``."""
        return self.output_shapes[i - 1] if i else self.input_shape

    # --------------------------------------------------------- spatial part
    def _analyse(self):
        if self._spatial is not None:
            return self._spatial
        rank = fmt = None
        count, reason = len(self.specs), None
        kinds = self._kinds = []
        lookup, append = KINDS.get, kinds.append
        for i, spec in enumerate(self.specs):
            name = spec["kind"]
            kind = lookup(name) or get_kind(name)
            append(kind)
            if kind.role_depends_on_layout:
                before = self.shape_before(i)
                role = kind.blockwise(spec, fmt, len(before) if before.__class__ is tuple
                                      else None)
            else:
                role = kind.role
            if role not in _SPATIAL_ROLES:
                # a kind whose role depends on the layout works along a spatial axis here
                what = ("needs whole spatial axes" if kind.spatial or kind.role_depends_on_layout
                        else "is not spatial")
                count, reason = i, f"{spec_owner(spec)} ({kind.name}) {what}"
                break
            if not kind.spatial:
                continue          # positions kept whatever the layout (activations, ...)
            if rank is None:
                rank, fmt = spec["rank"], spec["data_format"]
                if len(self.input_shape) != rank + 2:
                    count, reason = i, f"{spec_owner(spec)} expects rank {rank + 2}"
                    break
            elif spec["rank"] != rank or spec["data_format"] != fmt:
                count, reason = i, f"{spec_owner(spec)} changes the spatial layout"
                break
        if rank is None:
            rank, fmt = max(len(self.input_shape) - 2, 0), self._default_format
        self._spatial = (rank, fmt, spatial_axes(rank + 2, fmt), count, reason)
        return self._spatial

    @property
    def data_format(self):
        return self._analyse()[1]

    @property
    def spatial_axes(self):
        """Indices of the spatial axes in the input shape."""
        return self._analyse()[2]

    @property
    def spatial_layers(self):
        return self._analyse()[3]

    @property
    def stop_reason(self):
        return self._analyse()[4]

    def _steps(self, j, upto=None):
        """``[(layer index, _Step or None)]`` along spatial axis ``j`` (0-based)."""
        count = self.spatial_layers if upto is None else min(upto, self.spatial_layers)
        steps = self._step_lists.get(j)
        if steps is None:
            # made once per axis for all spatial layers: block plans ask again and again
            idx = self.spatial_axes[j]
            steps, n_in = [], self.input_shape[idx]
            kinds = self._kinds[:self.spatial_layers]
            for i, (spec, kind) in enumerate(zip(self.specs[:self.spatial_layers], kinds,
                                                 strict=True)):
                n_out = self.output_shapes[i][idx]
                # position-wise kinds keep every position: no range map to make
                step = None if kind.role == "pointwise" else kind.steps(spec, j, n_in, n_out)
                steps.append((i, step))
                n_in = n_out
            self._step_lists[j] = steps
        return steps if count == len(steps) else steps[:count]

    def axis_info(self, upto=None):
        """One :class:`AxisInfo` per spatial axis, for the first ``upto`` layers (all: None)."""
        if upto is None and self._axes is not None:
            return self._axes
        infos = tuple(AxisInfo(idx, [s for _, s in self._steps(j, upto) if s is not None])
                      for j, idx in enumerate(self.spatial_axes))
        if upto is None:
            self._axes = infos
        return infos

    @property
    def axes(self):
        return self.axis_info()

    receptive_field = property(lambda self: tuple(a.receptive_field for a in self.axes))
    jump = property(lambda self: tuple(a.jump for a in self.axes))
    offset = property(lambda self: tuple(a.offset for a in self.axes))
    halo = property(lambda self: tuple(a.halo for a in self.axes))
    depth = property(lambda self: tuple(a.depth for a in self.axes))
    block_multiple = property(lambda self: tuple(a.block_multiple for a in self.axes))
    output_block_multiple = property(
        lambda self: tuple(a.output_block_multiple for a in self.axes))

    @property
    def spatial_output_shape(self):
        """The output shape of the spatial part (the input shape if it is empty)."""
        count = self.spatial_layers
        return self.output_shapes[count - 1] if count else self.input_shape

    # ------------------------------------------------------------- blocks
    def block_plan(self, out_start, out_stop):
        """How to compute the output block ``[out_start, out_stop)`` of the spatial part.

        Parameters
        ----------
        out_start, out_stop : sequence of int
            One entry per spatial axis, in output coordinates of the last
            spatial layer (``spatial_output_shape``).

        Returns
        -------
        BlockPlan
            Whose ``input_range`` is the slice of the input to read and whose
            ``layers`` say what each layer computes (see :class:`LayerBlock`).

        Raises
        ------
        ShapeError
            A size along the way is not a known int, or the range is not
            inside the output.
        """
        rank = len(self.spatial_axes)
        out_start, out_stop = tuple(out_start), tuple(out_stop)
        if len(out_start) != rank or len(out_stop) != rank:
            raise ShapeError(f"block_plan needs one start and one stop per spatial axis "
                             f"({rank}), got {out_start!r} and {out_stop!r}")
        for j in range(rank):
            self._check_block(j, out_start[j], out_stop[j])
        return plan_block(self.layer_steps(), tuple(zip(out_start, out_stop, strict=True)),
                          self.specs[:self.spatial_layers])

    def layer_steps(self):
        """Per spatial layer, its range map along each spatial axis (``None``: positions kept).

        What :func:`~cthulhu.shapes.axis_maps.plan_block` takes; the Dask device
        keeps these to plan each block without the chain.
        """
        per_axis = [[step for _, step in self._steps(j)] for j in range(len(self.spatial_axes))]
        return [tuple(steps[i] for steps in per_axis) for i in range(self.spatial_layers)]

    def _axis_plan(self, j, a, b):
        """``[(in_range, out_range, pads, zeros, keep)]`` per layer along axis ``j``."""
        for i, step in self._steps(j):
            _require_known(step, self.specs[i])
        return axis_plan([step for _, step in self._steps(j)], a, b)

    def input_range(self, out_start, out_stop, axis=None):
        """The input samples an output block needs (clipped to the array).

        With ``axis`` (a spatial axis number, 0-based) the arguments are ints
        and the result one ``(start, stop)``; without, they are sequences over
        the spatial axes and so is the result.
        """
        if axis is None:
            return self.block_plan(out_start, out_stop).input_range
        rank = len(self.spatial_axes)
        if not (is_int(axis) and 0 <= axis < rank):
            raise ShapeError(f"axis must be a spatial axis number in 0..{rank - 1}, got {axis!r}")
        self._check_block(axis, out_start, out_stop)
        if not self.spatial_layers:
            return (out_start, out_stop)
        return self._axis_plan(axis, out_start, out_stop)[0][0]

    def _check_block(self, j, a, b):
        idx = self.spatial_axes[j]
        n = self.spatial_output_shape[idx]
        if not (is_int(n) and is_int(a) and is_int(b)):
            raise ShapeError(f"block plans need known int sizes; axis {idx} has size {n} and "
                             f"the block is [{a}, {b})")
        if not 0 <= a <= b <= n:
            raise ShapeError(f"output block [{a}, {b}) is not inside axis {idx} of length {n}")

    def output_blocks(self, block_shape):
        """Split the spatial output into aligned blocks of about ``block_shape`` samples.

        Returns a list of ``(out_start, out_stop)`` tuples (one entry per
        spatial axis each), ready for :meth:`block_plan`. Boundaries fall on
        multiples of ``output_block_multiple``, so that interior blocks read
        exactly ``halo`` samples around their aligned input core.
        """
        final = self.spatial_output_shape
        splits = []
        for j, idx in enumerate(self.spatial_axes):
            n = final[idx]
            if not is_int(n):
                raise ShapeError(f"output_blocks needs known int sizes; axis {idx} is {n}")
            splits.append(split_axis(n, block_shape[j], self.axes[j].output_block_multiple))
        blocks = [((), ())]
        for parts in splits:
            blocks = [(s + (a,), e + (b,)) for s, e in blocks for a, b in parts]
        return blocks
