"""Drawing a :class:`~cthulhu.blockwise.planview.VolumePlan`: panels of the block grid.

Each panel shows two spatial axes of the input, to scale, in input samples: the
volume, the output blocks over it (where each block's samples lie on the input:
``start * jump`` shifted to the centre of what the first sample sees), the
ragged edge blocks in another colour, one middle block filled, and its halo -
the input region that block reads (``GraphProgram.input_range``) - dashed around it.
"""

from __future__ import annotations

import math
from fractions import Fraction

from cthulhu.utils import _svg

from .metadata import _centre

_PANEL = 340        # the longer side of one panel, in pixels
_MARGIN = 70        # room for axis labels left of and above a panel
_MAX_LINES = 48     # grid lines drawn per axis at most (a finer grid: every k-th line)
_COLOURS = {"block": "#dce8f4", "edge": "#f6d7a7", "chosen": "#2f6fb0", "halo": "#c0392b",
            "grid": "#6b7f95"}

__all__ = ["draw"]

_GAP = 40
_HEAD = 84
_LEGEND = 56
_LEGEND_W = 600


def _shift(plan):
    """Per spatial axis: where output sample 0's share of the input starts (input samples)."""
    infos = plan.geometry.program.axis_info
    shifts = []
    for info, jump in zip(infos, plan.jump, strict=True):
        centre = _centre(info)
        shifts.append(0.0 if centre is None else centre - float(jump - 1) / 2)
    return shifts


def _pairs(rank):
    if rank == 1:
        return [(None, 0)]
    if rank == 2:
        return [(0, 1)]
    return [(rank - 2, rank - 1), (rank - 3, rank - 1)]  # (height, width), (depth, width)


def draw(plan) -> str:
    rank = len(plan.block)
    pairs = _pairs(rank)
    shifts = _shift(plan)
    panels, width, height = [], _MARGIN, 0
    for rows, cols in pairs:
        body, w, h = _panel(plan, rows, cols, shifts, width, _HEAD)
        panels.append(body)
        width += w + _GAP + _MARGIN
        height = max(height, h)
    title = "block plan: the volume cut into output blocks, before any compute"
    width = max(width - _MARGIN, _svg.text_width(title, 14) + 24, _LEGEND_W,
                max(_svg.text_width(w, 11) for w in plan.line().split("; ")[:3]) + 24)
    total_h = _HEAD + height + _LEGEND + 24
    head = [_svg.text(12, 22, title, size=14, font_weight="bold")]
    for k, words in enumerate(plan.line().split("; ")[:3]):
        head.append(_svg.text(12, 42 + 15 * k, _cut(words, width - 24, 11), size=11, fill="#333"))
    legend = _legend(12, _HEAD + height + 36)
    return _svg.document(width, total_h, head + panels + legend, title="block plan")


def _cut(text, width, size):
    limit = int(width / (_svg.CHAR_WIDTH * size))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _panel(plan, rows, cols, shifts, x0, y0):
    """One panel over spatial axes ``rows`` (vertical; ``None``: a strip) and ``cols``."""
    n_cols = plan.spatial_in[cols]
    n_rows = plan.spatial_in[rows] if rows is not None else max(n_cols // 12, 1)
    scale = _PANEL / max(n_cols, n_rows)
    pw, ph = n_cols * scale, max(n_rows * scale, 24.0)
    sy = ph / n_rows
    top = y0 + 36
    parts = [f'<g {_svg.attrs(class_="panel", data_axes=_axes_attr(rows, cols))}>']
    parts.append(_svg.text(x0, y0 + 14, "across: " + _axis_label(plan, cols), size=11))
    if rows is not None:
        parts.append(_svg.text(x0, top + ph + 18, "down: " + _axis_label(plan, rows), size=11))
    if len(plan.block) == 3:
        other = 3 - rows - cols
        parts.append(_svg.text(x0, y0 + 30, f"through the middle block along spatial axis "
                                            f"{other}", size=10, fill="#555"))

    def box(ranges_cols, ranges_rows):
        (c0, c1), (r0, r1) = ranges_cols, ranges_rows
        return dict(x=x0 + c0 * scale, y=top + r0 * sy, width=(c1 - c0) * scale,
                    height=(r1 - r0) * sy)

    parts.append(f'<rect {_svg.attrs(class_="volume", x=float(x0), y=float(top), width=pw, height=ph, fill="#f4f4f4", stroke="#333", stroke_width=1.5)}/>')
    row_index = range(plan.grid[rows]) if rows is not None else [0]
    col_index = range(plan.grid[cols])
    fine = len(row_index) > _MAX_LINES or len(col_index) > _MAX_LINES
    chosen = plan.chosen
    for i in row_index:
        for j in col_index:
            index = list(chosen)
            index[cols] = j
            if rows is not None:
                index[rows] = i
            ranges = plan.core_in_input(plan.block_ranges(tuple(index)))
            core_c = _shifted(ranges[cols], shifts[cols], n_cols)
            core_r = (_shifted(ranges[rows], shifts[rows], n_rows) if rows is not None
                      else (0, n_rows))
            edge = any(index[a] == plan.grid[a] - 1 and plan.edge[a] != plan.block[a]
                       and plan.grid[a] > 1 for a in ((cols,) if rows is None else (rows, cols)))
            if fine and not edge and (i, j) != (_at(chosen, rows), chosen[cols]):
                continue  # too many to draw one by one: the background stands for them
            kind = "block edge" if edge else "block"
            parts.append(f'<rect {_svg.attrs(class_=kind, data_index=",".join(map(str, index)), **box(core_c, core_r), fill=_COLOURS["edge" if edge else "block"], stroke=_COLOURS["grid"], stroke_width=0.6)}/>')
    if fine:
        parts.append(_svg.text(x0, top + ph + 34, f"{len(col_index)} x {len(row_index)} blocks: "
                                                  "too many to outline one by one", size=10,
                               fill="#555"))
    ranges = plan.core_in_input(plan.block_ranges(chosen))
    core_c = _shifted(ranges[cols], shifts[cols], n_cols)
    core_r = _shifted(ranges[rows], shifts[rows], n_rows) if rows is not None else (0, n_rows)
    halo_c = plan.chosen_input[cols]
    halo_r = plan.chosen_input[rows] if rows is not None else (0, n_rows)
    parts.append(f'<rect {_svg.attrs(class_="halo-area", **box(halo_c, halo_r), fill=_COLOURS["halo"], fill_opacity=0.15)}/>')
    parts.append(f'<rect {_svg.attrs(class_="chosen", **box(core_c, core_r), fill=_COLOURS["chosen"], fill_opacity=0.75, stroke=_COLOURS["chosen"], stroke_width=1.0)}/>')
    parts.append(f'<rect {_svg.attrs(class_="halo", **box(halo_c, halo_r), fill="none", stroke=_COLOURS["halo"], stroke_width=2.0, stroke_dasharray="5,3")}/>')
    parts.append("</g>")
    return "\n".join(parts), pw, ph + 36 + 40


def _at(index, axis):
    return 0 if axis is None else index[axis]


def _shifted(span, shift, n):
    lo, hi = span
    return (max(lo + shift, 0.0), min(hi + shift, float(n)))


def _axes_attr(rows, cols):
    return str(cols) if rows is None else f"{rows},{cols}"


def _axis_label(plan, axis):
    n, b, c, e = plan.spatial_in[axis], plan.block[axis], plan.grid[axis], plan.edge[axis]
    jump = plan.jump[axis]
    per = "" if jump == 1 else f" (out {plan.spatial_out[axis]}, jump {_frac(jump)})"
    last = f", last {e}" if c > 1 and e != b else ""
    return f"axis {axis}, {n}{per}: {c} x {b}{last}"


def _frac(value):
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _legend(x, y):
    items = [("block", _COLOURS["block"], None), ("edge block (smaller)", _COLOURS["edge"], None),
             ("one block", _COLOURS["chosen"], None),
             ("its halo: the input it reads", "none", _COLOURS["halo"])]
    parts = ['<g class="legend">']
    for label, fill, stroke in items:
        parts.append(f'<rect {_svg.attrs(x=float(x), y=y - 10.0, width=14.0, height=12.0, fill=fill, stroke=stroke or "#6b7f95", stroke_width=1.5 if stroke else 0.6, stroke_dasharray="4,2" if stroke else None)}/>')
        parts.append(_svg.text(x + 20, y, label, size=11))
        x += 20 + math.ceil(_svg.text_width(label, 11)) + 22
    parts.append("</g>")
    return parts
