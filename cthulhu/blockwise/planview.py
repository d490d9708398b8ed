"""The block plan of a run, as text and as a picture, before anything is computed.

:func:`plan_volume` opens the input (its shape only: nothing is read or
computed, a lazy Dask input stays lazy), fits the model and chooses the blocks
exactly as :func:`predict_volume` would, and returns a :class:`VolumePlan`. The
plan draws itself (SVG; a notebook shows it): the volume cut into the output
blocks, the ragged edge blocks smaller than the rest, and one block with its
halo - the input region that block reads. Every number comes from the shape
algebra's block plans (``GraphProgram.input_range``), nothing is recomputed here.
"""

from __future__ import annotations

import os
from fractions import Fraction

from cthulhu.utils import _svg

__all__ = ["plan_volume", "VolumePlan"]

def plan_volume(model, source, block_shape=None, dtype="float32", target=None):
    """The block plan :func:`predict_volume` would follow, computing nothing.

    Parameters
    ----------
    model, source, block_shape, dtype
        As for :func:`~cthulhu.blockwise.predict_volume`.
    target : str or os.PathLike, optional
        The output: an unfinished output there lends its recorded block (a resume).

    Returns
    -------
    VolumePlan
        ``plan.line()`` says it in one line, ``plan.svg()`` draws it,
        ``plan.save("plan.svg")`` writes the drawing; in a notebook the plan
        shows itself.
    """
    from .planning import geometry

    return VolumePlan(geometry(model, source, block_shape, dtype, target=target))


class VolumePlan:
    """The shapes of a run: the block grid, its edge blocks, one block's halo."""

    def __init__(self, geo):
        from cthulhu import shapes

        from .blocks import halo_share

        self.geometry = geo
        self.input_shape = tuple(geo.source.shape)
        self.output_shape = tuple(geo.out_stored)
        self.block = tuple(geo.block)
        self.spatial_out = tuple(geo.spatial_out)
        self.spatial_in = tuple(geo.program.spatial(geo.program.input_shape))
        self.halo = geo.halo
        self.jump = tuple(Fraction(j) for j in geo.jump)
        self.grid = tuple(shapes.ceildiv(n, b) for n, b in zip(self.spatial_out, self.block,
                                                                 strict=True))
        self.batch = geo.out_full[0]
        self.blocks = self.batch
        for count in self.grid:
            self.blocks *= count
        self.edge = tuple(n - (c - 1) * b for n, b, c in zip(self.spatial_out, self.block,
                                                             self.grid, strict=True))
        self.halo_share = (None if self.halo is None else
                           halo_share(self.block, self.halo, self.jump, self.spatial_out))
        self.chosen = tuple(c // 2 for c in self.grid)  # a middle block, away from the edges
        ranges = self.block_ranges(self.chosen)
        self.chosen_input = tuple(geo.program.input_range(ranges))

    def block_ranges(self, index):
        """Output ``(start, stop)`` per spatial axis of the block at grid position ``index``."""
        return tuple((i * b, min((i + 1) * b, n))
                     for i, b, n in zip(index, self.block, self.spatial_out, strict=True))

    def core_in_input(self, ranges):
        """Where an output block's samples sit on the input's axes (``start * jump`` ...)."""
        return tuple((float(a * j), float(b * j)) for (a, b), j in zip(ranges, self.jump,
                                                                        strict=True))

    def line(self) -> str:
        grid = " x ".join(str(c) for c in self.grid)
        ragged = [f"axis {i}: {e}" for i, (e, b, c) in
                  enumerate(zip(self.edge, self.block, self.grid, strict=True))
                  if c > 1 and e != b]
        edge = f"; last blocks smaller ({', '.join(ragged)})" if ragged else ""
        batch = f" x {self.batch} batch items" if self.batch > 1 else ""
        halo = ("halo unknown" if self.halo is None else
                f"halo {_halo_text(self.halo)} input samples, halo share "
                f"{self.halo_share:.0%}")
        return (f"input {self.input_shape} -> output {self.output_shape}: {self.blocks} blocks of "
                f"{self.block} ({grid}{batch}){edge}; {halo}")

    def __repr__(self):
        return f"VolumePlan({self.line()})"

    def svg(self) -> str:
        """The picture (SVG text): one panel per pair of spatial axes (up to two panels)."""
        from .planpanels import draw

        return draw(self)

    def save(self, path):
        """Write :meth:`svg` to ``path``."""
        with open(os.fspath(path), "w", encoding="utf-8") as handle:
            handle.write(self.svg())
        return path

    def _repr_svg_(self):
        return self.svg()

    def _repr_html_(self):
        return f"<div>{self.svg()}<pre>{_svg.escape(self.line())}</pre></div>"


def _halo_text(halo):
    parts = [f"{lo}/{hi}" if lo != hi else str(lo) for lo, hi in halo]
    return "(" + ", ".join(parts) + ")"
