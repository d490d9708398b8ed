"""Maps between output and input ranges along one axis: receptive fields, halos, block plans.

The theory is in the docstring of :mod:`cthulhu.shapes.chain` and in
docs/shapes.md §3. This module holds the per-axis machinery that
:class:`~cthulhu.shapes.chain.Chain` uses: one ``_Step`` per layer and axis,
:class:`AxisInfo` (their composition) and the block plans.
"""

from fractions import Fraction
from math import gcd, lcm

from ._arith import ceildiv, is_int
from .errors import ShapeError, owner_label
from .lengths import (
    _conv_transpose_pad,
    conv_padding,
    conv_transpose_padding,
    dilated_kernel_size,
)

__all__ = ["LINEAR_INTERPOLATIONS", "AxisInfo", "LayerBlock", "BlockPlan", "split_axis",
           "conv_step", "conv_transpose_step", "upsampling_step", "step_block", "axis_plan",
           "plan_block"]


#: The interpolations that blend neighbouring samples (TensorFlow 2's half-pixel rule on
#: every axis: ``bilinear`` in 2D, ``trilinear`` in 3D); ``nearest`` repeats them.
LINEAR_INTERPOLATIONS = ("bilinear", "trilinear")


class _Step:
    """One layer along one axis: a down or up map (see the module docstring).

    ``clamp`` marks linear up-sampling (``bilinear``, ``trilinear``: the same rule on
    every axis): an up map by ``s`` whose output interpolates between two neighbouring
    inputs and clamps at the array's ends instead of reading zeros there.
    """

    __slots__ = ("up", "s", "K", "lo", "n_in", "n_out", "clamp")

    def __init__(self, up, s, K, lo, n_in, n_out, clamp=False):
        self.up, self.s, self.K, self.lo, self.n_in, self.n_out = up, s, K, lo, n_in, n_out
        self.clamp = clamp

    def __repr__(self):
        kind = "bilinear" if self.clamp else ("up" if self.up else "down")
        return f"_Step({kind}, s={self.s}, K={self.K}, lo={self.lo}, n_in={self.n_in})"

    def __getstate__(self):
        # plain tuples pickle small (the Dask device ships block programs to workers)
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state):
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)

    def back(self, a, b):
        """Unclipped input range ``[A, B)`` of the output range ``[a, b)`` (``a < b``)."""
        s, lo = self.s, self.lo
        if self.clamp:
            # Half-pixel centres (TensorFlow 2 'bilinear'): output o interpolates the two
            # inputs around (o + 0.5)/s - 0.5, both inside [o//s - 1, ceil((o + 1)/s)]. This
            # range is at most a sample wider than the exact one, which leaves room for the
            # floating-point rounding of that position.
            return a // s - 1, ceildiv(b, s) + 1
        if self.up:
            return -((lo - a) // s), (b - 2 - lo + self.K) // s + 1
        return a * s - lo, (b - 1) * s - lo + self.K


def conv_step(n, kernel, stride=1, padding="valid", dilation=1, *, owner=None):
    """The range map of a direct convolution along one axis (for :func:`plan_block`).

    ``padding`` is a name or an explicit ``(lo, hi)`` pair (negative crops), as
    :func:`~cthulhu.shapes.conv_padding` takes it. Cropping is ``kernel=1`` with
    ``padding=(-crop_lo, -crop_hi)``, zero padding ``kernel=1`` with ``(lo, hi)``.
    """
    K = dilated_kernel_size(kernel, dilation)
    lo = _pad_lo(conv_padding(n, kernel, stride, padding, dilation, owner=owner))
    return _Step(False, stride, K, lo, n, None)


def conv_transpose_step(n, kernel, stride=1, padding="valid", output_padding=None, dilation=1,
                        *, owner=None):
    """The range map of a transposed convolution along one axis (for :func:`plan_block`).

    ``padding`` is a name, or the explicit ``(lo, hi)`` padding of the
    equivalent direct convolution of the zero-inserted input (the meaning of
    :func:`~cthulhu.shapes.conv_transpose_padding`).
    """
    K = dilated_kernel_size(kernel, dilation)
    if isinstance(padding, str):
        pair = conv_transpose_padding(kernel, stride, padding, output_padding, dilation, n=n,
                                      owner=owner)
    else:
        pair = tuple(padding)
    return _Step(True, stride, K, _pad_lo(pair), n, None)


def upsampling_step(n, size, interpolation="nearest"):
    """The range map of up-sampling by ``size`` along one axis; ``None`` for ``size == 1``.

    Nearest up-sampling is the transposed convolution with ``s = K = size`` and
    ``lo = size - 1``; linear interpolation (:data:`LINEAR_INTERPOLATIONS`) clamps at the
    ends (see ``_Step``).
    """
    if size == 1:
        return None
    return _Step(True, size, size, size - 1, n, None,
                 clamp=interpolation in LINEAR_INTERPOLATIONS)


def _pad_lo(pair):
    lo = pair[0]
    return lo if is_int(lo) else None


class AxisInfo:
    """What one spatial axis of a chain needs: see the :mod:`chain` module docstring.

    Attributes
    ----------
    axis : int
        Index of the axis in the input shape (batch axis is 0).
    receptive_field : int
    jump : Fraction
    offset : int or None
        ``None`` when a padding depends on a size that is not a known int.
    halo : (int, int) or None
    depth : (int, int) or None
        ``halo`` clipped at 0.
    block_multiple, output_block_multiple : int
    """

    __slots__ = ("axis", "receptive_field", "jump", "offset", "halo", "depth",
                 "block_multiple", "output_block_multiple")

    def __init__(self, axis, steps):
        self.axis = axis
        # jump from each layer's input to the chain's output, as num/den in lowest terms
        num = den = m_out = 1
        for step in reversed(steps):
            if step.up:
                den *= step.s
            else:
                num *= step.s
            g = gcd(num, den)
            if g > 1:
                num //= g
                den //= g
            if m_out % den:
                m_out = lcm(m_out, den)
        self.jump = Fraction(num, den)
        self.output_block_multiple = m_out
        self.block_multiple = m_out * num // den
        known = all(step.lo is not None for step in steps)
        if known:
            lo, hi = _compose(steps, 0, m_out)
            self.halo = (-lo, hi - self.block_multiple)
            self.depth = (max(0, -lo), max(0, hi - self.block_multiple))
            self.offset = _compose(steps, 0, 1)[0]
        else:
            self.halo = self.depth = self.offset = None
            # The receptive field does not depend on the paddings (they only shift ranges).
            steps = [_Step(s.up, s.s, s.K, 0, s.n_in, s.n_out) for s in steps]
        self.receptive_field = _receptive_field(steps, min(m_out, 4096))

    def __repr__(self):
        return (f"AxisInfo(axis={self.axis}, receptive_field={self.receptive_field}, "
                f"jump={self.jump}, offset={self.offset}, halo={self.halo}, "
                f"block_multiple={self.block_multiple})")


def _prefix_multiples(steps):
    """``M_j`` for every layer ``j``: the output block multiple of the layers ``0..j``.

    Shifting layer ``j``'s output by a multiple of ``M_j`` shifts the input range
    of every earlier layer by whole samples, so its maps commute with that
    shift. ``M`` grows by the factor of an up map (a shift ``t`` of its output
    is ``t / u`` at its input, which must be a multiple of the previous
    ``M``) and shrinks by a stride (``t * s`` must be a multiple of it):
    ``u * M`` and ``M / gcd(M, s)``.
    """
    out, m = [], 1
    for step in steps:
        m = m * step.s if step.up else m // gcd(m, step.s)
        out.append(m)
    return out


def _receptive_field(steps, period):
    """The widest input range of one output sample ``[i, i+1)``, ``i`` over one period.

    The ranges are walked back through the layers together, as a set. Before
    layer ``j`` maps them, each is shifted by a multiple of ``M_j``
    (:func:`_prefix_multiples`) to start in ``[0, M_j)``, which keeps every
    width, and equal ones merge: where ``M_j == 1`` (behind the last
    up-sampling that strides do not undo) only the distinct widths remain.
    """
    ranges = {(i, i + 1) for i in range(period)}
    for step, m in zip(reversed(steps), reversed(_prefix_multiples(steps)), strict=True):
        back = step.back
        if m == 1:
            ranges = {back(0, b - a) for a, b in ranges}
        else:
            ranges = {back(a % m, a % m + b - a) for a, b in ranges}
    return max((b - a for a, b in ranges), default=1)


def _compose(steps, a, b):
    for step in reversed(steps):
        a, b = step.back(a, b)
    return a, b


class LayerBlock:
    """One layer's part of a :class:`BlockPlan` (all tuples have one entry per spatial axis).

    Attributes
    ----------
    spec : dict
        The layer's spec.
    in_range, out_range : tuple of (start, stop)
        The input samples the layer reads and the output samples it makes,
        in whole-array coordinates of its input and output.
    pads : tuple of (lo, hi)
        How to compute ``out_range`` from the ``in_range`` slice exactly:

        * convolutions (all kinds), zero padding, cropping and position-wise
          layers: add ``lo``/``hi`` zeros around the slice, then run the layer
          with ``'valid'`` padding (cropping and zero padding then do nothing
          more: the ranges already are the result);
        * transposed convolutions: ``(lo, hi)`` is the explicit padding of
          the equivalent direct convolution of the zero-inserted slice (the
          meaning of :func:`conv_transpose_padding`; negative = crop);
        * up-sampling by ``u``: repeat the slice, then drop ``u - 1 - lo``
          samples at the start and ``u - 1 - hi`` at the end.

        * bilinear up-sampling: interpolate the slice (clamping at its ends),
          then drop as for nearest up-sampling.

        An empty ``out_range`` needs no computation (its result is empty).
    zeros, keep : tuple of (lo, hi) and tuple of (start, stop)
        The same block in *core form*, for running the layer itself (a copy
        with ``'valid'`` padding and no ``output_padding``, same weights): add
        ``zeros`` zero samples around the ``in_range`` slice, run the core, and
        keep ``keep`` of its output (``keep`` spans ``out_range``'s length).
        For the down maps ``zeros`` is ``pads`` and ``keep`` all of the output;
        for transposed convolutions the zeros are whole input samples (they
        add nothing but the bias and widen the core's output where the
        explicit padding asks for more than a ``valid`` core makes); for
        up-sampling ``zeros`` is ``(0, 0)``. Cropping and zero padding have no
        core (after the zeros the slice already is the result).
    """

    __slots__ = ("spec", "in_range", "out_range", "pads", "zeros", "keep")

    def __init__(self, spec, in_range, out_range, pads, zeros=None, keep=None):
        self.spec, self.in_range, self.out_range, self.pads = spec, in_range, out_range, pads
        self.zeros, self.keep = zeros, keep

    def __repr__(self):
        kind = self.spec.get("kind") if self.spec else None
        return (f"LayerBlock({kind}, in={self.in_range}, out={self.out_range}, "
                f"pads={self.pads}, zeros={self.zeros}, keep={self.keep})")


class BlockPlan:
    """How to compute one output block of the spatial part of a chain.

    Attributes
    ----------
    input_range : tuple of (start, stop)
        The slice of the chain's input to read, per spatial axis.
    output_range : tuple of (start, stop)
    layers : list of LayerBlock
        In chain order; feed each layer the previous one's result.
    from_zeros : int or None
        ``None`` when the block reads ``input_range``. Otherwise the index of
        the last layer whose ``in_range`` is empty on some axis: only zeros
        (its own padding, or inputs no sample reaches) lie under the block
        there, so the layers before it need not run, and it starts from a
        zero array of ``len(in_range) + zeros`` samples per axis (core form).
    """

    __slots__ = ("input_range", "output_range", "layers", "from_zeros")

    def __init__(self, input_range, output_range, layers, from_zeros=None):
        self.input_range, self.output_range, self.layers = input_range, output_range, layers
        self.from_zeros = from_zeros

    def __repr__(self):
        return (f"BlockPlan(input_range={self.input_range}, output_range={self.output_range}, "
                f"{len(self.layers)} layers, from_zeros={self.from_zeros})")


def _block_back(step, a, b):
    """Clipped input range and pads of one layer for the output range ``[a, b)``."""
    n = step.n_in
    if b <= a:
        start = min(max(step.back(a, a + 1)[0], 0), n)
        return start, start, (0, 0)
    A, B = step.back(a, b)
    start, stop = max(A, 0), min(B, n)
    if not step.up:
        if stop <= start:
            # the whole block lies in this layer's zero padding: an empty slice, all padding
            start = stop = 0 if B <= 0 else n
            return start, stop, ((B - A, 0) if start == 0 else (0, B - A))
        return start, stop, (start - A, B - stop)
    s, K = step.s, step.K
    if step.clamp:
        # the slice is clipped to the array: interpolation clamps there as it does whole
        drop = a - start * s
        return start, stop, (s - 1 - drop, s - 1 - (stop * s - b))
    if stop <= start:
        # no input sample reaches the block (output padding of a transposed convolution)
        start = stop = min(max(A, 0), n)
        return start, stop, (b - a + K - 1, 0)
    lo = start * s - (a - step.lo)
    span = (stop - start - 1) * s + 1
    return start, stop, (lo, (b - a) + K - 1 - span - lo)


def _core_form(step, a, b, start, stop, pads):
    """``(zeros, keep)`` of one layer's block: see :class:`LayerBlock`."""
    if b <= a:
        return (0, 0), (0, 0)
    if not step.up:
        return pads, (0, b - a)
    s = step.s
    if step.clamp:
        drop = a - start * s
        return (0, 0), (drop, drop + b - a)
    # The core ('valid', no output padding) is the direct convolution of the zero-inserted
    # slice padded by (flo, fhi); z zero input samples before it add z*s to flo.
    flo, fhi = _conv_transpose_pad(step.K, s, "valid", None)
    if stop <= start:
        # only zeros: enough zero samples for the core to make b - a outputs
        count = max(1, 1 + ceildiv(b - a - 1 - fhi, s))
        return (count, 0), (0, b - a)
    plo, phi = pads
    zlo, zhi = max(0, ceildiv(plo - flo, s)), max(0, ceildiv(phi - fhi, s))
    first = flo + zlo * s - plo
    return (zlo, zhi), (first, first + b - a)


def step_block(step, a, b):
    """``(in_range, out_range, pads, zeros, keep)`` of one layer's output ``[a, b)`` on one axis.

    ``step`` is the layer's range map along the axis (``None``: positions
    kept); see :class:`LayerBlock` for the meaning of the parts. Chains
    (:func:`axis_plan`) and graphs (:mod:`cthulhu.shapes.graph`) are made of these.
    """
    if step is None:
        return (a, b), (a, b), (0, 0), (0, 0), (0, max(b - a, 0))
    start, stop, pads = _block_back(step, a, b)
    zeros, keep = _core_form(step, a, b, start, stop, pads)
    return (start, stop), (a, b), pads, zeros, keep


def axis_plan(steps, a, b):
    """Per layer ``(in_range, out_range, pads, zeros, keep)`` for the output ``[a, b)``.

    ``steps`` are one axis's range maps in chain order (``None`` for a
    layer that keeps positions, e.g. an activation); their input lengths
    must be known ints. See :class:`LayerBlock` for the meaning of the parts.
    """
    plan = []
    for step in reversed(steps):
        part = step_block(step, a, b)
        plan.append(part)
        a, b = part[0]
    plan.reverse()
    return plan


def _require_known(step, spec):
    if step is not None and not (is_int(step.n_in) and (step.clamp or step.lo is not None)):
        label = owner_label(spec) if spec is not None else "a layer"
        raise ShapeError(f"{label}: the block plan needs known int sizes, got an input length "
                         f"of {step.n_in}")


def plan_block(layer_steps, out_range, specs=None):
    """How to compute the output block ``out_range`` of a chain of range maps.

    Parameters
    ----------
    layer_steps : sequence of tuple
        Per layer, one range map per spatial axis (``None`` where the layer
        keeps positions): :meth:`Chain.layer_steps`, or maps made with
        :func:`conv_step`, :func:`conv_transpose_step`, :func:`upsampling_step`.
    out_range : sequence of (int, int)
        The block's ``(start, stop)`` per spatial axis, in output coordinates.
    specs : sequence of dict, optional
        The layers' specs, kept in the :class:`LayerBlock` s and named in errors.

    Returns
    -------
    BlockPlan
    """
    out_range = tuple(tuple(r) for r in out_range)
    count = len(layer_steps)
    specs = list(specs) if specs is not None else [None] * count
    for spec, steps in zip(specs, layer_steps, strict=True):
        for step in steps:
            _require_known(step, spec)
    per_axis = [axis_plan([steps[j] for steps in layer_steps], a, b)
                for j, (a, b) in enumerate(out_range)]
    layers, from_zeros = [], None
    for i in range(count):
        parts = [p[i] for p in per_axis]
        in_range = tuple(part[0] for part in parts)
        if any(stop <= start for start, stop in in_range):
            from_zeros = i
        layers.append(LayerBlock(specs[i], in_range, tuple(part[1] for part in parts),
                                 tuple(part[2] for part in parts),
                                 tuple(part[3] for part in parts),
                                 tuple(part[4] for part in parts)))
    in_range = layers[0].in_range if count else out_range
    return BlockPlan(in_range, out_range, layers, from_zeros)


def split_axis(length, size, multiple=1):
    """Cut ``range(length)`` into ``(start, stop)`` blocks of about ``size`` samples.

    Every boundary but the last is a multiple of ``multiple`` (``size`` is
    rounded to one, at least ``multiple``).

    >>> split_axis(10, 4, 2)
    [(0, 4), (4, 8), (8, 10)]
    """
    step = max(multiple, (size // multiple) * multiple)
    return [(i, min(i + step, length)) for i in range(0, length, step)]
