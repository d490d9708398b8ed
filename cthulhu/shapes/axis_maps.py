"""Maps between output and input ranges along one axis: receptive fields, halos, block plans.

The theory is in the docstring of :mod:`cthulhu.shapes.chain` and in
docs/shapes.md §3. This module holds the per-axis machinery that
:class:`~cthulhu.shapes.chain.Chain` uses: one ``_Step`` per layer and axis,
:class:`AxisInfo` (their composition) and the block plans.
"""

from fractions import Fraction
from math import gcd, lcm

from ._arith import is_int
from .lengths import _conv_pad, _conv_transpose_pad, dilated_kernel_size

__all__ = ["AxisInfo", "LayerBlock", "BlockPlan", "split_axis"]


class _Step:
    """One layer along one axis: a down or up map (see the module docstring)."""

    __slots__ = ("up", "s", "K", "lo", "n_in", "n_out")

    def __init__(self, up, s, K, lo, n_in, n_out):
        self.up, self.s, self.K, self.lo, self.n_in, self.n_out = up, s, K, lo, n_in, n_out

    def back(self, a, b):
        """Unclipped input range ``[A, B)`` of the output range ``[a, b)`` (``a < b``)."""
        s, lo = self.s, self.lo
        if self.up:
            return -((lo - a) // s), (b - 2 - lo + self.K) // s + 1
        return a * s - lo, (b - 1) * s - lo + self.K


def _pad_lo(pair):
    lo = pair[0]
    return lo if is_int(lo) else None


def _steps_of(spec, axis, n_in, n_out):
    """The ``_Step`` of one layer along spatial axis ``axis``; ``None`` for an identity."""
    # Specs were checked when normalised: the formula cores take their arguments as they are.
    kind = spec["kind"]
    if kind in ("conv", "depthwise_conv", "separable_conv"):
        s = spec["strides"][axis]
        K = dilated_kernel_size(spec["kernel_size"][axis], spec["dilation_rate"][axis])
        lo = _pad_lo(_conv_pad(n_in, K, s, spec["padding"]))
        return _Step(False, s, K, lo, n_in, n_out)
    if kind == "conv_transpose":
        s = spec["strides"][axis]
        K = dilated_kernel_size(spec["kernel_size"][axis], spec["dilation_rate"][axis])
        op = spec.get("output_padding")
        op = None if op is None else op[axis]
        lo = _pad_lo(_conv_transpose_pad(K, s, spec["padding"], op))
        return _Step(True, s, K, lo, n_in, n_out)
    if kind == "upsampling":
        u = spec["size"][axis]
        return None if u == 1 else _Step(True, u, u, u - 1, n_in, n_out)
    if kind == "cropping":
        return _Step(False, 1, 1, -spec["cropping"][axis][0], n_in, n_out)
    if kind == "zero_padding":
        return _Step(False, 1, 1, spec["padding"][axis][0], n_in, n_out)
    return None


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

        An empty ``out_range`` needs no computation (its result is empty).
    """

    __slots__ = ("spec", "in_range", "out_range", "pads")

    def __init__(self, spec, in_range, out_range, pads):
        self.spec, self.in_range, self.out_range, self.pads = spec, in_range, out_range, pads

    def __repr__(self):
        return (f"LayerBlock({self.spec.get('kind')}, in={self.in_range}, out={self.out_range}, "
                f"pads={self.pads})")


class BlockPlan:
    """How to compute one output block of the spatial part of a chain.

    Attributes
    ----------
    input_range : tuple of (start, stop)
        The slice of the chain's input to read, per spatial axis.
    output_range : tuple of (start, stop)
    layers : list of LayerBlock
        In chain order; feed each layer the previous one's result.
    """

    __slots__ = ("input_range", "output_range", "layers")

    def __init__(self, input_range, output_range, layers):
        self.input_range, self.output_range, self.layers = input_range, output_range, layers


def _block_back(step, spec, a, b):
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
    if stop <= start:
        # no input sample reaches the block (output padding of a transposed convolution)
        start = stop = min(max(A, 0), n)
        return start, stop, (b - a + K - 1, 0)
    lo = start * s - (a - step.lo)
    span = (stop - start - 1) * s + 1
    return start, stop, (lo, (b - a) + K - 1 - span - lo)


def split_axis(length, size, multiple=1):
    """Cut ``range(length)`` into ``(start, stop)`` blocks of about ``size`` samples.

    Every boundary but the last is a multiple of ``multiple`` (``size`` is
    rounded to one, at least ``multiple``).

    >>> split_axis(10, 4, 2)
    [(0, 4), (4, 8), (8, 10)]
    """
    step = max(multiple, (size // multiple) * multiple)
    return [(i, min(i + step, length)) for i in range(0, length, step)]
