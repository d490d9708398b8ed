"""``plot_model``: a picture of a model's layer graph, as SVG (written here) or DOT text.

Each layer is a box with its name, class and (``show_shapes``) input and output
shapes, in rows from the inputs down. An arrow that skips rows (a skip connection,
as in a U-Net or a ResNet) is routed in a lane to the right of the boxes it passes,
so it never hides behind them. Graphviz is not needed; when its ``dot`` program is
installed, ``.png`` and ``.pdf`` files are made from the DOT text with it.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from cthulhu.utils import _svg

_FONT = 12
_LINE = 16       # line height inside a box
_PAD = 8         # padding inside a box
_ROW_GAP = 36    # vertical space between rows of boxes
_COL_GAP = 24    # horizontal space between boxes of one row
_LANE_GAP = 14   # between the lanes of skip connections
_MARGIN = 16


@dataclass
class _Node:
    key: str
    name: str
    cls: str
    shapes: tuple      # (input shape text or None for an input layer, output shape text)
    lines: list = field(default_factory=list)
    rank: int = 0
    last_in_row: bool = True
    row_top: float = 0.0
    row_bottom: float = 0.0
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    parents: list = field(default_factory=list)


@dataclass
class Drawing:
    """What :func:`plot_model` made: ``svg`` and ``dot`` text; shows itself in Jupyter."""

    svg: str
    dot: str

    def _repr_svg_(self):
        return self.svg

    def save(self, path) -> Path:
        """Write ``path``: SVG for ``.svg``, DOT for ``.dot``/``.gv``, else Graphviz's output."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".svg":
            path.write_text(self.svg, encoding="utf-8")
        elif suffix in (".dot", ".gv"):
            path.write_text(self.dot, encoding="utf-8")
        else:
            _graphviz(self.dot, path)
        return path


def _graphviz(dot_text, path):
    exe = shutil.which("dot")
    if exe is None:
        raise ValueError(f"plot_model: to_file={str(path)!r}: {path.suffix or 'this'} files need "
                         "Graphviz's 'dot' program, which is not installed; write '.svg' (no "
                         "Graphviz needed) or '.dot' instead")
    fmt = path.suffix.lower().lstrip(".")
    done = subprocess.run([exe, f"-T{fmt}", "-o", str(path)], input=dot_text, text=True,
                          capture_output=True, timeout=120)
    if done.returncode != 0:
        raise ValueError(f"plot_model: Graphviz could not write {str(path)!r}: "
                         f"{done.stderr.strip()}")


def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(_shape_text(s) for s in shape) + "]"
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _graph(model):
    """``(nodes, edges)``: one node per layer, an edge per tensor passed between layers."""
    from cthulhu.engine.input_layer import InputLayer
    from cthulhu.engine.lump import Lump
    from cthulhu.engine.pile import Pile

    if isinstance(model, Pile):
        return _pile_graph(model, InputLayer)
    if isinstance(model, Lump):
        return _lump_graph(model)
    raise TypeError(f"plot_model: expected a Pile or a Lump, got {type(model).__name__}: "
                    f"{model!r}")


def _pile_graph(model, input_layer_cls):
    shape = model._input_batch_shape
    inputs = [layer for layer in model._stack if isinstance(layer, input_layer_cls)]
    first = inputs[0] if inputs else None
    nodes = [(first.name if first else f"{model.name}_input", "InputLayer", None, shape)]
    for layer in model.layers:
        out = None
        if shape is not None:
            out = tuple(layer.compute_output_shape(shape))
        nodes.append((layer.name, type(layer).__name__, shape, out))
        shape = out
    keys = [f"n{i}" for i in range(len(nodes))]
    drawn = [_Node(k, name, cls, (None if cls == "InputLayer" else _shape_text(i), _shape_text(o)))
             for k, (name, cls, i, o) in zip(keys, nodes, strict=True)]
    edges = [(keys[i], keys[i + 1]) for i in range(len(keys) - 1)]
    return drawn, edges


def _lump_graph(model):
    keys = {id(layer): f"n{i}" for i, layer in enumerate(model.layers)}
    drawn, edges = [], []
    for layer in model.layers:
        nodes = model._model_nodes(layer)
        ins = [[t.shape for t in n.inputs] if n.input_is_list or len(n.inputs) > 1
               else n.inputs[0].shape for n in nodes if n.inputs]
        outs = [[t.shape for t in n.outputs] if len(n.outputs) > 1 else n.outputs[0].shape
                for n in nodes]
        in_text = "multiple" if len({_shape_text(s) for s in ins}) > 1 else (
            _shape_text(ins[0]) if ins else "-")
        out_text = "multiple" if len({_shape_text(s) for s in outs}) > 1 else (
            _shape_text(outs[0]) if outs else "?")
        if not ins:
            in_text = None  # an input layer: its output is its input
        drawn.append(_Node(keys[id(layer)], layer.name, type(layer).__name__, (in_text, out_text)))
        for n in nodes:
            for t in n.inputs:
                edge = (keys[id(t.layer)], keys[id(layer)])
                if edge not in edges:
                    edges.append(edge)
    return drawn, edges


def _box_lines(node, show_shapes, show_layer_names):
    title = f"{node.name} ({node.cls})" if show_layer_names else node.cls
    lines = [title]
    if show_shapes:
        in_text, out_text = node.shapes
        if in_text is not None:
            lines.append(f"in:  {in_text}")
        lines.append(f"out: {out_text}")
    return lines


def _layout(nodes, edges, show_shapes, show_layer_names):
    """Rows by longest path from the inputs; each row ordered by its parents' positions."""
    by_key = {n.key: n for n in nodes}
    for a, b in edges:
        by_key[b].parents.append(by_key[a])
    for node in nodes:  # nodes come in topological order
        node.rank = max((p.rank + 1 for p in node.parents), default=0)
        node.lines = _box_lines(node, show_shapes, show_layer_names)
        node.w = max(_svg.text_width(t, _FONT) for t in node.lines) + 2 * _PAD
        node.h = len(node.lines) * _LINE + 2 * _PAD - 4
    rows = {}
    for node in nodes:
        rows.setdefault(node.rank, []).append(node)
    width = max(sum(n.w for n in row) + _COL_GAP * (len(row) - 1) for row in rows.values())
    y = _MARGIN
    for rank in sorted(rows):
        row = rows[rank]
        if rank:
            order = {id(n): i for i, n in enumerate(row)}
            row.sort(key=lambda n: (sum(p.x + p.w / 2 for p in n.parents) / len(n.parents)
                                    if n.parents else 0, order[id(n)]))
        x = _MARGIN + (width - (sum(n.w for n in row) + _COL_GAP * (len(row) - 1))) / 2
        height = max(n.h for n in row)
        for node in row:
            node.x, node.y = x, y + (height - node.h) / 2
            node.row_top, node.row_bottom = y, y + height
            node.last_in_row = node is row[-1]
            x += node.w + _COL_GAP
        y += height + _ROW_GAP
    return width + 2 * _MARGIN, y - _ROW_GAP + _MARGIN


def _lanes(skips, nodes):
    """A lane (an x position right of every box it passes) for each skip edge; edges whose
    row spans do not overlap share a lane, longer spans go further out."""
    lanes, assigned = [], {}
    for a, b in sorted(skips, key=lambda e: (e[1].rank - e[0].rank, e[0].rank)):
        lo, hi = a.rank, b.rank
        for i, taken in enumerate(lanes):
            if all(hi <= t_lo or lo >= t_hi for t_lo, t_hi in taken):
                taken.append((lo, hi))
                assigned[(a.key, b.key)] = i
                break
        else:
            lanes.append([(lo, hi)])
            assigned[(a.key, b.key)] = len(lanes) - 1
    right = {}
    for (ka, kb), i in assigned.items():
        rank_a = next(n.rank for n in nodes if n.key == ka)
        rank_b = next(n.rank for n in nodes if n.key == kb)
        passed = [n for n in nodes if rank_a <= n.rank <= rank_b]
        right[(ka, kb)] = (max(n.x + n.w for n in passed), i)
    return right


def _skip_path(a, b, lane):
    """Out of ``a``, down a lane right of the rows between, into ``b``. The rightmost box of
    a row is left and entered from its side; another box from below or above, through the
    gap between the rows, so that the arrow never crosses a neighbour's box."""
    edge_right, i = lane
    x = edge_right + _LANE_GAP * (i + 1)
    if a.last_in_row:
        points = [(a.x + a.w, a.y + a.h / 2)]
    else:
        gap = a.row_bottom + 8 + 4 * (i % 4)
        points = [(a.x + a.w * 0.75, a.y + a.h), (a.x + a.w * 0.75, gap), (x, gap)]
    if b.last_in_row:
        points += [(x, points[-1][1]), (x, b.y + b.h / 2), (b.x + b.w + 2, b.y + b.h / 2)]
    else:
        gap = b.row_top - 8 - 4 * (i % 4)
        points += [(x, points[-1][1]), (x, gap), (b.x + b.w * 0.75, gap),
                   (b.x + b.w * 0.75, b.y - 2)]
    kept = [points[0]] + [q for p, q in zip(points, points[1:], strict=False) if q != p]
    return "M" + " L".join(f"{px:.1f},{py:.1f}" for px, py in kept)


def _edge_svg(a, b, skip, lane):
    label = f"{a.name} -> {b.name}"
    if skip:
        d = _skip_path(a, b, lane)
        colour = "#c0392b"
    else:
        x0, y0 = a.x + a.w / 2, a.y + a.h
        x1, y1 = b.x + b.w / 2, b.y - 2
        mid = (y0 + y1) / 2
        d = f"M{x0:.1f},{y0:.1f} C{x0:.1f},{mid:.1f} {x1:.1f},{mid:.1f} {x1:.1f},{y1:.1f}"
        colour = "#34495e"
    marker = "url(#arrow-skip)" if skip else "url(#arrow)"
    return (f'<g {_svg.attrs(class_="edge skip" if skip else "edge", data_from=a.name, data_to=b.name)}>'
            f"<title>{_svg.escape(label)}</title>"
            f'<path {_svg.attrs(d=d, fill="none", stroke=colour, stroke_width=1.5, marker_end=marker)}/>'
            "</g>")


def _node_svg(node):
    parts = [f'<g {_svg.attrs(class_="node", id="layer-" + node.name, data_class=node.cls)}>',
             f"<title>{_svg.escape(node.name)}</title>",
             f'<rect {_svg.attrs(x=node.x, y=node.y, width=node.w, height=node.h, rx=5.0, fill="#eef3f8" if node.cls != "InputLayer" else "#e8f6ea", stroke="#34495e")}/>']
    for i, line in enumerate(node.lines):
        weight = "bold" if i == 0 else None
        parts.append(_svg.text(node.x + _PAD, node.y + _PAD + (i + 1) * _LINE - 4, line,
                               size=_FONT, font_weight=weight))
    parts.append("</g>")
    return "\n".join(parts)


def _arrow_defs():
    def marker(name, colour):
        return (f'<marker id="{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
                f'fill="{colour}"/></marker>')
    return f"<defs>{marker('arrow', '#34495e')}{marker('arrow-skip', '#c0392b')}</defs>"


def _to_svg(model, nodes, edges, show_shapes, show_layer_names):
    width, height = _layout(nodes, edges, show_shapes, show_layer_names)
    by_key = {n.key: n for n in nodes}
    pairs = [(by_key[a], by_key[b]) for a, b in edges]
    skips = [(a, b) for a, b in pairs if b.rank - a.rank > 1]
    lanes = _lanes(skips, nodes)
    if lanes:
        width = max(width, max(r + _LANE_GAP * (i + 1) for r, i in lanes.values()) + _MARGIN)
    body = [_arrow_defs()]
    body += [_edge_svg(a, b, (a.key, b.key) in lanes, lanes.get((a.key, b.key)))
             for a, b in pairs]
    body += [_node_svg(n) for n in nodes]
    return _svg.document(width, height, body, title=f"model {model.name}")


def _dot_quote(text) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _to_dot(model, nodes, edges, show_shapes, show_layer_names, rankdir):
    lines = [f"digraph {_dot_quote(model.name)} {{",
             f"  rankdir={rankdir};",
             '  node [shape=box, style="rounded,filled", fillcolor="#eef3f8", '
             'fontname="monospace", fontsize=11];']
    for node in nodes:
        label = "\\n".join(node.lines).replace('"', '\\"')
        lines.append(f'  {node.key} [label="{label}", tooltip={_dot_quote(node.name)}];')
    ranks = {n.key: n.rank for n in nodes}
    for a, b in edges:
        skip = ranks[b] - ranks[a] > 1
        lines.append(f"  {a} -> {b}" + (' [color="#c0392b"];' if skip else ";"))
    lines.append("}")
    return "\n".join(lines) + "\n"


def model_to_dot(model, show_shapes=True, show_layer_names=True, rankdir="TB") -> str:
    """The model's layer graph as Graphviz DOT text (Keras returns a pydot graph instead)."""
    drawing = _draw(model, show_shapes, show_layer_names, rankdir)
    return drawing.dot


def _draw(model, show_shapes, show_layer_names, rankdir):
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"plot_model: rankdir must be 'TB' or 'LR', got {rankdir!r}")
    nodes, edges = _graph(model)
    svg = _to_svg(model, nodes, edges, show_shapes, show_layer_names)  # lays the nodes out
    dot = _to_dot(model, nodes, edges, show_shapes, show_layer_names, rankdir)
    return Drawing(svg=svg, dot=dot)


def plot_model(model, to_file="model.svg", show_shapes=True, show_layer_names=True,
               rankdir="TB"):
    """Draw ``model``'s layer graph and write it to ``to_file``.

    Parameters
    ----------
    model : Pile or Lump
    to_file : str or path or None
        ``.svg``: the picture (no Graphviz needed); ``.dot``/``.gv``: Graphviz DOT
        text; ``.png``, ``.pdf``, ...: made by Graphviz's ``dot`` program, which
        must be installed. ``None`` writes nothing.
    show_shapes : bool
        Put each layer's input and output shapes in its box (default ``True``;
        Keras's default is ``False``).
    show_layer_names : bool
        Put each layer's name before its class.
    rankdir : {'TB', 'LR'}
        Direction of the DOT graph (the SVG is always drawn from the top down).

    Returns
    -------
    Drawing
        With the ``svg`` and ``dot`` text; Jupyter shows it as the picture.

    Examples
    --------
    >>> from cthulhu.layers import Input, Cthalpa2D, LuKthu
    >>> from cthulhu.models import Lump
    >>> x = Input(shape=(32, 32, 8), name="image")
    >>> y = Cthalpa2D(8, 3, padding="same", name="conv_a")(x)
    >>> y = Cthalpa2D(8, 3, padding="same", name="conv_b")(y)
    >>> add = LuKthu(lambda t: t[0] + t[1], output_shape=lambda s: s[0], name="skip_add")
    >>> model = Lump(x, add([x, y]), name="residual")
    >>> drawing = plot_model(model, to_file=None)
    >>> drawing.svg.count('class="edge skip"')
    1
    >>> print(drawing.dot.splitlines()[0])
    digraph "residual" {
    """
    drawing = _draw(model, show_shapes, show_layer_names, rankdir)
    if to_file is not None:
        drawing.save(to_file)
    return drawing
