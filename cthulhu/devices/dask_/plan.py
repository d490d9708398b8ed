"""Block planning: which input region each output block needs, layer by layer.

A chain of spatial layers is run on a block by treating every layer, along
every spatial axis, as a *core* (the layer computed with ``valid`` padding, or
nothing at all for crop/pad) plus what happens at the volume's true borders
(zeros for ``same``/``causal`` convolutions and zero-padding, the end of the
axis for cropping, edge clamping for bilinear up-sampling). For an output range
``[a, b)`` of a layer, :meth:`AxisMap.need` gives the input range ``[p, q)`` the
core must see - possibly reaching outside ``[0, n)``, where the whole-array
computation sees zeros - and the offset of ``[a, b)`` in the core's output.

Walking the chain backwards from an output block gives, for every layer, the
exact region of its input to compute and the zeros to add at true borders only.
The block's result then equals the whole-array result to the last bit the
arithmetic allows, for any block position and size: seams need no alignment.

The padding amounts come from :mod:`cthulhu.shapes` (``conv_padding``,
``conv_transpose_padding``); nothing here recomputes an output length.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from cthulhu import shapes

__all__ = ["AxisMap", "Region", "plan_regions", "output_grid"]


@dataclass(frozen=True)
class AxisMap:
    """How one layer maps index ranges along one spatial axis.

    kind : str
        ``"window"`` (convolution: dilated kernel ``size``, ``stride``, border zeros
        ``pad``), ``"transpose"`` (transposed convolution: ``pad`` is the padding of
        the equivalent direct convolution, ``full`` the same for the ``valid``
        core), ``"upsample"`` (nearest, factor ``stride``), ``"bilinear"`` (factor
        ``stride``, clamps at the true borders), ``"shift"`` (output ``o`` is input
        ``o + pad[0]``: cropping with ``pad=(lo, hi)``, zero-padding with
        ``pad=(-lo, -hi)``), ``"point"`` (position-wise).
    """

    kind: str
    size: int = 1
    stride: int = 1
    pad: tuple = (0, 0)
    full: tuple = (0, 0)

    def need(self, a: int, b: int):
        """Input range ``(p, q)`` (unclipped) the core needs for output ``[a, b)``, and
        the offset of output ``a`` in the core's output when the core starts at ``p``."""
        kind, k, s, (lo, _hi) = self.kind, self.size, self.stride, self.pad
        if kind == "window":
            p = a * s - lo
            return p, (b - 1) * s - lo + k, 0
        if kind == "transpose":
            # Target index o is index o + c of the full (valid, no output_padding) output.
            c = self.full[0] - lo
            q = (b + c - 1) // s + 1
            # The core's output starts at full index p*s, which must not pass a + c:
            # with stride > kernel the first contributing sample can lie beyond it
            # (those outputs see only zeros); start one sample earlier then.
            p = min(shapes.ceildiv(a + c - k + 1, s), (a + c) // s)
            return p, q, a + c - p * s
        if kind == "upsample":
            p = a // s
            return p, shapes.ceildiv(b, s), a - p * s
        if kind == "bilinear":
            # Half-pixel centres: output o samples input (o + 0.5)/s - 0.5, between
            # floor and floor + 1; one extra sample either side covers both.
            p = a // s - 1
            return p, shapes.ceildiv(b, s) + 1, a - p * s
        if kind == "shift":
            return a + lo, b + lo, 0
        if kind == "point":
            return a, b, 0
        raise ValueError(f"unknown axis map kind {kind!r}")

    @property
    def clamps(self) -> bool:
        """True when the core handles the true border itself (no zeros added)."""
        return self.kind == "bilinear"


@dataclass(frozen=True)
class Region:
    """What one layer does for one block.

    Read ``src`` (per axis ``(start, stop)``, inside the axis) of the layer's
    input, add ``zeros`` ``(lo, hi)`` per axis, run the core and keep ``keep`` of
    its output. ``src`` is ``None`` when the block sees only border zeros of this
    layer's input: the input is then zeros of ``zeros[i][0]`` samples per axis,
    and no earlier layer runs for this block.
    """

    src: tuple | None
    zeros: tuple
    keep: tuple


def plan_regions(maps, lengths, out_range):
    """Regions of every layer for one output block.

    Parameters
    ----------
    maps : list of tuple of AxisMap
        Per layer, one map per spatial axis.
    lengths : list of tuple of int
        Per layer, its input length per spatial axis.
    out_range : tuple of (int, int)
        The block's output range per spatial axis.

    Returns
    -------
    list of Region or None, one per layer, first layer first; ``None`` for the
    layers that need not run for this block (see :class:`Region`).
    """
    regions = []
    wanted = tuple(out_range)
    for layer_maps, layer_lengths in zip(reversed(maps), reversed(lengths), strict=True):
        needs = [amap.need(a, b) for amap, (a, b) in zip(layer_maps, wanted, strict=True)]
        keep = tuple((off, off + (b - a)) for (_, _, off), (a, b) in zip(needs, wanted, strict=True))
        if any(q <= 0 or p >= n for (p, q, _), n in zip(needs, layer_lengths, strict=True)):
            # Only border zeros of this layer's input reach the block (e.g. inside a
            # zero-padding margin): start from zeros, skip the earlier layers.
            zeros = tuple((q - p, 0) for p, q, _ in needs)
            regions.append(Region(None, zeros, keep))
            regions.extend([None] * (len(maps) - len(regions)))
            break
        src, zeros, kept = [], [], []
        for amap, n, (p, q, _off), (k0, k1) in zip(layer_maps, layer_lengths, needs, keep,
                                                   strict=True):
            p_in, q_in = max(p, 0), min(q, n)
            if amap.clamps:
                # The core clamps at the true border itself: feed it the clipped range
                # and move the kept window by what was cut at the start.
                shift = (p_in - p) * amap.stride
                k0, k1 = k0 - shift, k1 - shift
                zeros.append((0, 0))
            else:
                zeros.append((p_in - p, q - q_in))
            src.append((p_in, q_in))
            kept.append((k0, k1))
        regions.append(Region(tuple(src), tuple(zeros), tuple(kept)))
        wanted = tuple(src)
    regions.reverse()
    return regions


def output_grid(shape, block):
    """Every output block of a volume ``shape`` cut in ``block`` sizes (edges smaller).

    Yields ``(index, ranges)`` with ``index`` the block's grid position and ``ranges``
    its ``(start, stop)`` per axis, in C order.
    """
    counts = [shapes.ceildiv(n, b) for n, b in zip(shape, block, strict=True)]
    for index in itertools.product(*(range(c) for c in counts)):
        ranges = tuple((i * b, min((i + 1) * b, n))
                       for i, b, n in zip(index, block, shape, strict=True))
        yield index, ranges
