"""The :class:`Kind`: everything the shape algebra knows about one family of layers.

A layer is described to ``cthulhu.shapes`` by a *spec*, a plain dict whose
``"kind"`` names its family (``{"kind": "conv", "rank": 2, "filters": 8,
"kernel_size": 3}``). The kind object registered under that name in
:data:`KINDS` owns, for its family:

* the spec's keys and their normalisation (:meth:`Kind.normalize`), including
  the padding rule (:meth:`Kind.paddings`) that layers, ops and shapes share;
* the output shape: validating (:meth:`Kind.output_shape`, for shapes nobody
  checked yet) and fast (:meth:`Kind.fast`, a prepared formula call for the
  layers of a chain after the first);
* the per-axis range map used by halos and block plans (:meth:`Kind.steps`);
* the one-axis length function the inverse questions search (:meth:`Kind.length_fn`);
* how it runs block by block (:meth:`Kind.blockwise`, one of :data:`ROLES`).

Nothing else in ``cthulhu.shapes`` switches on kind names: ``spec``,
``chain``, ``graph`` and ``inverse`` ask the kind, and ``axis_maps`` composes
the range maps the kinds make. A new family
of layers is one new :class:`Kind` registered with :func:`register` (then an
op and a layer module elsewhere); see docs/shapes.md, "Adding a kind".
"""

from ..checks import spatial_shape
from ..errors import ShapeError, ShapeTypeError, shape_error
from ..layout import normalize_data_format, spatial_data_format

__all__ = ["Kind", "SpatialKind", "KINDS", "ROLES", "register", "get_kind", "required",
           "infer_rank"]

#: How a kind runs on one block of a larger array (see :meth:`Kind.blockwise`).
ROLES = {
    "pointwise": "position by position: runs on the block as it is",
    "window": "a sliding window: runs as its 'valid' core on the block's slice with the "
              "plan's border samples added (its own padding, only at the array's true "
              "borders) and the plan's 'keep' part of the output kept",
    "pad": "zero padding: the slice with the plan's zeros added is the result",
    "crop": "cropping: the slice is the result",
    "resample": "up-sampling: runs on the slice, the plan's 'keep' part is kept",
    "merge": "several inputs over the same positions, combined position by position",
    "whole": "needs whole spatial axes: cannot run block by block",
    "opaque": "unknown to the shape algebra: cannot run block by block",
}

#: kind name -> Kind. Filled by :func:`register` (the family modules of this package).
KINDS = {}

# Other names layers and users give the position-wise kind.
_ALIASES = {"identity": "pointwise", "dropout": "pointwise", "activation": "pointwise",
            "masking": "pointwise"}


def register(kind):
    """Add ``kind`` (a :class:`Kind` instance) to :data:`KINDS`; returns it."""
    if not isinstance(kind, Kind) or not isinstance(kind.name, str):
        raise TypeError(f"register() takes a Kind with a name, got {kind!r}")
    if kind.name in KINDS or kind.name in _ALIASES:
        raise ValueError(f"a kind named {kind.name!r} is already registered")
    if kind.role not in ROLES:
        raise ValueError(f"kind {kind.name!r}: role must be one of {sorted(ROLES)}, "
                         f"got {kind.role!r}")
    # Chains ask every layer's role; most kinds have one whatever the layout, which the
    # hot loops then read as an attribute instead of calling blockwise().
    kind.role_depends_on_layout = type(kind).blockwise is not Kind.blockwise
    KINDS[kind.name] = kind
    return kind


def get_kind(name):
    """The registered :class:`Kind` called ``name`` (or one of its aliases).

    >>> get_kind("conv").role, get_kind("activation").name
    ('window', 'pointwise')
    """
    kind = KINDS.get(name)
    if kind is None:
        kind = KINDS.get(_ALIASES.get(name))
        if kind is None:
            raise ShapeError(f"unknown layer kind {name!r}; known kinds: {', '.join(KINDS)}")
    return kind


def required(spec, key, owner):
    """``spec[key]``, or the error a missing required argument raises."""
    if key not in spec:
        raise shape_error(owner, f"missing required argument {key!r}")
    return spec[key]


def infer_rank(spec, owner, keys=("kernel_size", "strides", "size", "dilation_rate")):
    """The spatial rank of a spec: its ``rank``, else the length of a tuple argument."""
    rank = spec.get("rank")
    if rank is None:
        for key in keys:
            value = spec.get(key)
            if isinstance(value, (list, tuple)):
                rank = len(value)
                break
    if rank not in (1, 2, 3):
        raise shape_error(owner, f"rank must be 1, 2 or 3 (give 'rank' in the spec), "
                                 f"got {rank!r}")
    return rank


class Kind:
    """One family of layers, as the shape algebra sees it (see the module docstring).

    Attributes
    ----------
    name : str
        The spec's ``"kind"``.
    keys : tuple of str
        The spec keys the kind reads (besides ``kind``, ``rank``, ``name``,
        ``class_name``); ``spec_from_config`` copies these from a layer config.
    spatial : bool
        Whether the spec has a ``rank`` and a ``data_format`` (the layer sees
        ``(batch, *spatial, channels)`` in one layout).
    role : str
        How the kind runs block by block (a key of :data:`ROLES`);
        :meth:`blockwise` may refine it from the spec and the layout.
    inputs : int or None
        How many inputs a layer of this kind takes; ``None``: two or more.
    border : str or None
        For a ``"window"`` kind, what the border samples a block plan adds
        stand for: ``"zeros"`` (a convolution's zero padding: add zeros) or
        ``"excluded"`` (pooling's padding takes no part in a window: pad with
        the reduction's neutral value, or run the op with explicit padding).
    """

    name = None
    keys = ()
    spatial = False
    role = "whole"
    inputs = 1
    border = None

    def __repr__(self):
        return f"<Kind {self.name!r} ({self.role})>"

    # ------------------------------------------------------------------ specs
    def normalize(self, spec, owner=None):
        """A copy of ``spec`` with every argument checked and in canonical form."""
        out = dict(spec)
        out["kind"] = self.name
        self._normalize(out, owner)
        return out

    def _normalize(self, out, owner):
        """Check and canonicalise the arguments in ``out`` (a copy of the spec) in place."""

    def fast(self, spec):
        """``(function, arguments)``: ``function(shape, owner, *arguments)`` is the output
        shape of an already checked ``shape``; ``None`` when the kind has no fast path."""
        return None

    def output_shape(self, spec, shape, owner=None):
        """The output shape for ``shape`` (checked here: sizes, rank, layout).

        A kind with several inputs (``inputs`` is not 1) takes a list of shapes.
        """
        raise NotImplementedError

    # ----------------------------------------------------------- padding rule
    def paddings(self, rank):
        """The padding names this kind accepts at spatial rank ``rank`` (``()``: no padding)."""
        return ()

    def normalize_padding(self, value, rank, owner=None, kernel_size=None, pairs=False):
        """``value`` as a lower-case padding name this kind accepts at ``rank``.

        The one padding rule of cthulhu: the layers, the ops front-ends and the
        shape functions all call this. ``kernel_size`` only enriches the message;
        ``pairs`` says the caller also accepts explicit ``(lo, hi)`` pairs (an op).
        """
        allowed = self.paddings(rank)
        name = value.lower() if isinstance(value, str) else None
        if name in allowed:
            return name
        if name == "causal" and "causal" in self.paddings(1):
            where = (f"with a {rank}D kernel_size {tuple(kernel_size)!r}"
                     if kernel_size is not None else f"at rank {rank}")
            raise shape_error(owner, f"padding 'causal' is only for 1D convolutions, got it "
                                     f"{where}")
        choices = ", ".join(repr(a) for a in allowed)
        extra = " or explicit (lo, hi) pairs" if pairs else ""
        cls = ShapeError if isinstance(value, str) else ShapeTypeError
        raise shape_error(owner, f"padding must be one of {choices}{extra}, got {value!r}", cls)

    # ------------------------------------------------------------- block-wise
    def blockwise(self, spec, data_format=None, ndim=None, input_shapes=None):
        """How a layer of this kind runs on a block: a key of :data:`ROLES`.

        ``data_format`` is the layout of the arrays around the layer and
        ``ndim`` their number of axes (a kind without a layout of its own,
        such as ``dense``, ``along_axis`` or ``concatenate``, may depend on
        them); ``input_shapes``, given for kinds with several inputs, their
        shapes (a merge that broadcasts an input along a spatial axis cannot
        read the same positions of every input).
        """
        return self.role

    def steps(self, spec, axis, n_in, n_out):
        """The range map along spatial ``axis`` (an ``axis_maps._Step``); ``None``: identity."""
        return None

    def length_fn(self, spec, axis):
        """``n -> output length`` along spatial ``axis``; ``None``: the length is kept."""
        return None


class SpatialKind(Kind):
    """A kind whose spec has a ``rank`` and a ``data_format`` (see :class:`Kind`).

    ``one_d_channels_last``: Keras' 1D version has no ``data_format`` and always
    works channels_last (cropping, padding, up-sampling, spatial dropout).
    ``rank_keys``: the tuple arguments the rank may be read from.
    """

    spatial = True
    one_d_channels_last = False
    rank_keys = ("kernel_size", "strides", "size", "dilation_rate")

    def _normalize(self, out, owner):
        rank = out["rank"] = infer_rank(out, owner, self.rank_keys)
        if self.one_d_channels_last:
            out["data_format"] = spatial_data_format(rank, out.get("data_format"), owner)
        else:
            out["data_format"] = normalize_data_format(out.get("data_format"), owner)
        self._normalize_args(out, rank, owner)

    def _normalize_args(self, out, rank, owner):
        """Check the kind's own arguments (rank and data format are done)."""

    def output_shape(self, spec, shape, owner=None):
        shape = spatial_shape(shape, spec["rank"], spec["data_format"], owner)
        function, args = spec.get("fast_shape") or self.fast(spec)
        return function(shape, owner, *args)
