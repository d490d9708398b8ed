"""``cthulhu shape``: output shapes, receptive field and halo of a layer chain or graph.

Examples::

    cthulhu shape "Cthalpa2D(64, 3, strides=2, padding='same')" --input "(None, 224, 224, 3)"
    cthulhu shape 'Cthalpa3D(8, 3) | UbboSathla3D(2) | Cropping3D(1)' --input 'b, d, h, w, 1'
    cthulhu shape 'Cthalpa3D(8, 3) | UbboSathla3D(2)' --input 'b, d, h, w, 1' --bind d=32 h=64 w=64
    cthulhu shape "a = Cthalpa3D(4, 3, padding='same')(x); d = Cthalpa3D(8, 2, strides=2)(a);
                   out = Concatenate()([a, UbboSathla3D(2)(d)])" --input 'b, d, h, w, 1'

Layer calls are parsed with ``ast`` (literal arguments only; nothing is
evaluated) and shapes come from ``cthulhu.shapes``: this command never
imports NumPy.
"""

from fractions import Fraction

from cthulhu.cli import CliError

DESCRIPTION = """\
Print the output shape of a layer or, for several layers written with '|', a
table of each layer's output shape, receptive field and jump, then the halo a
block needs on each side and the block sizes that tile exactly. Sizes may be
symbols ('b, d, h, w, 1'): the shapes come out as formulas. Nothing is run and
no array library is needed.

A graph with skip connections is written as a Lump is built, one statement per
node separated by ';' or new lines: 'a = Cthalpa2D(8, 3)(x); s = Add()([x, a])'.
A name read before it is assigned is a model input; its shape is --input (one
input) or --input NAME=SHAPE (repeated, one per input). The halo is the union
over every path from the first input to the first output."""

EPILOG = """\
examples:
  cthulhu shape "Cthalpa2D(64, 3, strides=2, padding='same')" --input "(None, 224, 224, 3)"
  cthulhu shape "Cthalpa3D(8, 3) | UbboSathla3D(2) | Cropping3D(1)" --input "b, d, h, w, 1"
  cthulhu shape "Cthalpa3D(8, 3) | UbboSathla3D(2)" --input "b, d, h, w, 1" --bind d=32 h=64 w=64
  cthulhu shape "Cthalpa2D(8, 3, strides=2) | Cthalpa2D(8, 3)" -i "b, h, w, 1" --svg rf.svg
  cthulhu shape "a = Cthalpa2D(8, 3, padding='same')(x); d = Cthalpa2D(8, 2, strides=2)(a);
                 out = Concatenate()([a, UbboSathla2D(2)(d)])" -i "b, h, w, 1"

Layer arguments must be literals (numbers, strings, tuples): nothing is evaluated.
Keras names (Conv2D, Dense, ...) are accepted too."""


def add_parser(subparsers):
    import argparse

    parser = subparsers.add_parser(
        "shape", help="print the output shapes, receptive field and halo of layers",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("layers", metavar="LAYERS",
                        help="a layer call such as \"Cthalpa2D(64, 3, strides=2)\", "
                             "several separated by '|', or a graph: 'a = Layer(...)(x); "
                             "b = Add()([x, a])'")
    parser.add_argument("--input", "-i", required=True, dest="input_shape", metavar="SHAPE",
                        action="append",
                        help="the input shape, batch axis included: '(None, 224, 224, 3)', "
                             "or with symbolic sizes 'b, d, h, w, 1'; for a graph with "
                             "several inputs NAME=SHAPE, once per input")
    parser.add_argument("--bind", nargs="+", default=[], metavar="NAME=INT",
                        help="give the symbolic sizes values, e.g. --bind d=32 h=64 w=64")
    parser.add_argument("--table", action="store_true",
                        help="print the table even for a single layer")
    parser.add_argument("--svg", metavar="FILE",
                        help="also draw each layer's receptive field and jump along one "
                             "spatial axis into an SVG picture")
    parser.add_argument("--axis", type=int, default=0, metavar="K",
                        help="the spatial axis the picture shows (0 = the first; default 0)")
    return parser


def _bindings(items):
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise CliError(f"--bind expects NAME=INT, got {item!r}")
        try:
            out[name.strip()] = int(value)
        except ValueError:
            raise CliError(f"--bind expects NAME=INT, got {item!r}") from None
    return out


def _parse_layers(texts):
    """The specs of the layer calls; ``data_format=None`` is the user's configured default."""
    from cthulhu.shapes.parse import parse_layer

    return [parse_layer(text, default_data_format=_default_format()) for text in texts]


def _default_format():
    """The user's ``image_data_format`` (``cthulhu.shapes`` reads no configuration)."""
    from cthulhu import config

    return config.image_data_format()


def _input_shapes(items, names):
    """``{input name: shape}`` from the ``--input`` values for a graph reading ``names``."""
    from cthulhu.shapes.parse import parse_shape

    if len(items) == 1 and len(names) == 1 and "=" not in items[0]:
        return {names[0]: parse_shape(items[0])}
    shapes_ = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise CliError(f"--input: the graph reads {len(names)} inputs "
                           f"({', '.join(names)}): give each as NAME=SHAPE, got {item!r}")
        if name not in names:
            raise CliError(f"--input: the graph reads no input {name!r} (its inputs: "
                           f"{', '.join(names)})")
        if name in shapes_:
            raise CliError(f"--input: {name!r} is given twice")
        shapes_[name] = parse_shape(text)
    missing = [n for n in names if n not in shapes_]
    if missing:
        raise CliError(f"--input: no shape for the graph's input {', '.join(map(repr, missing))}"
                       " (NAME=SHAPE)")
    return shapes_


def run(args) -> int:
    from cthulhu import shapes
    from cthulhu.shapes.parse import is_graph, parse_shape, split_chain

    bindings = _bindings(args.bind)
    items = args.input_shape if isinstance(args.input_shape, list) else [args.input_shape]
    if is_graph(args.layers):
        return _run_graph(args, items, bindings)
    if len(items) != 1:
        raise CliError(f"--input: a chain has one input, got {len(items)} (several inputs "
                       "need a graph: 'a = Layer(...)(x); ...')")
    texts = split_chain(args.layers)
    specs = _parse_layers(texts)
    input_shape = parse_shape(items[0])
    if bindings:
        input_shape = shapes.subs(input_shape, **bindings)
    result = shapes.chain(specs, input_shape, default_data_format=_default_format())
    if getattr(args, "svg", None):
        _write_svg(result, texts, args.svg, args.axis)
    if len(specs) == 1 and not args.table:
        print(shapes.format_shape(result.output_shape))
        return 0
    print(render(result, texts))
    return 0


def _run_graph(args, items, bindings):
    from cthulhu import shapes
    from cthulhu.shapes.parse import parse_graph

    if getattr(args, "svg", None):
        raise CliError("--svg draws chains only; leave it out for a graph")
    parsed = parse_graph(args.layers, default_data_format=_default_format())
    inputs = _input_shapes(items, parsed.inputs)
    if bindings:
        inputs = {name: shapes.subs(shape, **bindings) for name, shape in inputs.items()}
    inputs = {name: inputs[name] for name in parsed.inputs}
    g = shapes.graph(parsed.nodes, inputs, parsed.outputs,
                     default_data_format=_default_format())
    print(render_graph(g, parsed.labels))
    return 0


def render_graph(g, labels=None):
    """The table ``cthulhu shape`` prints for a :class:`~cthulhu.shapes.Graph`: per node
    its layer, inputs, output shape, and receptive field and jump from the first input;
    then the first output's spatial analysis from the first input."""
    from cthulhu import shapes
    from cthulhu.shapes.symbolic import format_shape

    labels = labels or {}
    first = next(iter(g.inputs))
    rows = [("node", "layer", "inputs", "output shape", "receptive field", "jump")]
    for name, shape in g.inputs.items():
        rows.append((name, "input", "", format_shape(shape), "", ""))
    for node_id in g.order:
        spec = g.specs[node_id]
        try:
            infos = g.axis_info(node_id, first)
            rf = _per_axis(a.receptive_field for a in infos)
            jump = _per_axis((a.jump for a in infos), _fmt_fraction)
        except shapes.ShapeError:
            rf = jump = "-"
        rows.append((str(node_id), labels.get(node_id, spec.get("class_name", spec["kind"])),
                     ", ".join(map(str, g.node_inputs[node_id])),
                     format_shape(g.shapes[node_id]), rf, jump))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.append("")
    output = g.outputs[0]
    lines.append(f"outputs:               {', '.join(map(str, g.outputs))}")
    try:
        axes = g.axis_info(output, first)
    except shapes.ShapeError as exc:
        lines.append(f"spatial analysis of {output} from {first}: none ({exc})")
        axes = None
    if axes is not None:
        if len(g.inputs) > 1 or len(g.outputs) > 1:
            lines.append(f"spatial analysis:      from {first} to {output}")
        lines.extend(_axis_lines(axes, g.data_format))
    lines.extend(_condition_lines(g.shapes.values()))
    return "\n".join(lines)


def _write_svg(result, texts, path, axis):
    from pathlib import Path

    from cthulhu.utils.receptive_field import receptive_field_svg

    try:
        svg = receptive_field_svg(result, labels=texts, axis=axis)
    except ValueError as exc:
        raise CliError(f"--svg: {exc}") from None
    Path(path).write_text(svg, encoding="utf-8")


def _fmt_fraction(value):
    if isinstance(value, Fraction) and value.denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    return str(int(value))


def _per_axis(values, fmt=str):
    items = [fmt(v) for v in values]
    return " x ".join(items) if items else "-"


def _conditions(shapes_):
    """The strongest recorded condition per expression, over the given shapes."""
    from cthulhu.shapes.symbolic import Sym

    strongest = {}
    for shape in shapes_:
        for s in shape if isinstance(shape, list) else [shape]:
            for dim in s:
                if not isinstance(dim, Sym):
                    continue
                for cond in dim.conditions:
                    old = strongest.get(cond.expr)
                    if old is None or cond.bound > old.bound:
                        strongest[cond.expr] = cond
    return {str(c): c.what for c in strongest.values()}


def render(result, labels=None):
    """The table ``cthulhu shape`` prints for a :class:`~cthulhu.shapes.Chain`."""
    from cthulhu.shapes.symbolic import format_shape

    labels = labels or [spec.get("class_name", spec["kind"]) for spec in result.specs]
    rows = [("#", "layer", "output shape", "receptive field", "jump"),
            ("0", "input", format_shape(result.input_shape), "", "")]
    for i, label in enumerate(labels):
        shape = result.output_shapes[i]
        text = ", ".join(format_shape(s) for s in shape) if isinstance(shape, list) \
            else format_shape(shape)
        if i < result.spatial_layers:
            infos = result.axis_info(upto=i + 1)
            rf = _per_axis(a.receptive_field for a in infos)
            jump = _per_axis((a.jump for a in infos), _fmt_fraction)
        else:
            rf = jump = "-"
        rows.append((str(i + 1), label, text, rf, jump))
    widths = [max(len(r[k]) for r in rows) for k in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.append("")
    lines.extend(_summary(result))
    return "\n".join(lines)


def _summary(result):
    lines = []
    if result.stop_reason:
        lines.append(f"spatial analysis stops at layer {result.spatial_layers + 1}: "
                     f"{result.stop_reason}")
    lines.extend(_axis_lines(result.axes, result.data_format))
    lines.extend(_condition_lines(result.output_shapes))
    return lines


def _axis_lines(axes, data_format):
    names = ", ".join(str(a.axis) for a in axes)
    lines = [f"spatial axes:          {names or '-'} ({data_format})"]
    lines.append(f"receptive field:       {_per_axis(a.receptive_field for a in axes)}")
    lines.append(f"jump (input/output):   {_per_axis((a.jump for a in axes), _fmt_fraction)}")
    if all(a.halo is not None for a in axes):
        halo = _per_axis(a.halo for a in axes)
        offset = _per_axis(a.offset for a in axes)
    else:
        halo = offset = "unknown until the sizes are bound ('same' padding with a stride " \
                        "depends on the size)"
    lines.append(f"halo (before, after):  {halo}")
    lines.append(f"offset:                {offset}")
    lines.append(f"block multiple:        {_per_axis(a.block_multiple for a in axes)} input "
                 f"samples -> {_per_axis(a.output_block_multiple for a in axes)} output samples")
    return lines


def _condition_lines(shapes_):
    return [f"requires:              {cond}  ({what})"
            for cond, what in _conditions(shapes_).items()]
