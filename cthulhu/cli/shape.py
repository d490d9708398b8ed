"""``cthulhu shape``: output shapes, receptive field and halo of a layer chain.

Examples::

    cthulhu shape "Cthalpa2D(64, 3, strides=2, padding='same')" --input "(None, 224, 224, 3)"
    cthulhu shape 'Cthalpa3D(8, 3) | UbboSathla3D(2) | Cropping3D(1)' --input 'b, d, h, w, 1'
    cthulhu shape 'Cthalpa3D(8, 3) | UbboSathla3D(2)' --input 'b, d, h, w, 1' --bind d=32 h=64 w=64

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
no array library is needed."""

EPILOG = """\
examples:
  cthulhu shape "Cthalpa2D(64, 3, strides=2, padding='same')" --input "(None, 224, 224, 3)"
  cthulhu shape "Cthalpa3D(8, 3) | UbboSathla3D(2) | Cropping3D(1)" --input "b, d, h, w, 1"
  cthulhu shape "Cthalpa3D(8, 3) | UbboSathla3D(2)" --input "b, d, h, w, 1" --bind d=32 h=64 w=64
  cthulhu shape "Cthalpa2D(8, 3, strides=2) | Cthalpa2D(8, 3)" -i "b, h, w, 1" --svg rf.svg

Layer arguments must be literals (numbers, strings, tuples): nothing is evaluated.
Keras names (Conv2D, Dense, ...) are accepted too."""


def add_parser(subparsers):
    import argparse

    parser = subparsers.add_parser(
        "shape", help="print the output shapes, receptive field and halo of layers",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("layers", metavar="LAYERS",
                        help="a layer call such as \"Cthalpa2D(64, 3, strides=2)\", or "
                             "several separated by '|'")
    parser.add_argument("--input", "-i", required=True, dest="input_shape", metavar="SHAPE",
                        help="the input shape, batch axis included: '(None, 224, 224, 3)', "
                             "or with symbolic sizes 'b, d, h, w, 1'")
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


def run(args) -> int:
    from cthulhu import shapes
    from cthulhu.shapes.parse import parse_shape, split_chain

    texts = split_chain(args.layers)
    specs = _parse_layers(texts)
    input_shape = parse_shape(args.input_shape)
    bindings = _bindings(args.bind)
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


def _conditions(result):
    """The strongest recorded condition per expression, over every shape of the chain."""
    from cthulhu.shapes.symbolic import Sym

    strongest = {}
    for shape in result.output_shapes:
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
    axes = result.axes
    names = ", ".join(str(a.axis) for a in axes)
    lines = []
    if result.stop_reason:
        lines.append(f"spatial analysis stops at layer {result.spatial_layers + 1}: "
                     f"{result.stop_reason}")
    lines.append(f"spatial axes:          {names or '-'} ({result.data_format})")
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
    for cond, what in _conditions(result).items():
        lines.append(f"requires:              {cond}  ({what})")
    return lines
