"""A picture of a layer chain's receptive field and jump along one spatial axis.

One row per layer, on a common scale of input samples: the row's output samples as
dots spaced by the layer's *jump* (input samples between neighbouring outputs), and
under the filled one a bar as wide as its *receptive field* (the input samples it
sees). The numbers come from :func:`cthulhu.shapes.chain`; this module only draws.
Standard library only, so ``cthulhu shape --svg`` still never imports NumPy.
"""

from __future__ import annotations

from fractions import Fraction

from cthulhu.utils import _svg

_LABEL_W = 250      # the layer text on the left
_INFO_W = 170       # "rf 7, jump 2" on the right
_PLOT_W = 640       # the common scale of input samples
_ROW_H = 40
_TOP = 56
_FONT = 12
_MAX_DOTS = 81


def _fmt(value) -> str:
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _cut(text, width):
    limit = int(width / (_svg.CHAR_WIDTH * _FONT))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def receptive_field_svg(result, labels=None, axis=0) -> str:
    """The SVG text of the picture for ``result``, a :class:`cthulhu.shapes.Chain`.

    ``labels`` names the layers (default: their class names); ``axis`` is the
    spatial axis to draw (0 = the first spatial axis).
    """
    count = result.spatial_layers
    rank = len(result.spatial_axes)
    if count == 0:
        reason = f" ({result.stop_reason})" if result.stop_reason else ""
        raise ValueError(f"receptive field picture: the chain has no spatial layer to draw{reason}")
    if isinstance(axis, bool) or not isinstance(axis, int) or not 0 <= axis < rank:
        raise ValueError(f"receptive field picture: axis must be a spatial axis number in "
                         f"0..{rank - 1}, got {axis!r}")
    labels = list(labels or [spec.get("class_name", spec["kind"]) for spec in result.specs])
    rows = []
    for i in range(count):
        info = result.axis_info(upto=i + 1)[axis]
        rows.append((labels[i], info.receptive_field, Fraction(info.jump)))
    widest = max(rf for _, rf, _ in rows)
    biggest_jump = max(j for _, _, j in rows)
    span = max(widest + 2 * int(biggest_jump) + 2, 9)       # input samples shown
    scale = _PLOT_W / span                                   # pixels per input sample
    x0 = _LABEL_W
    width = _LABEL_W + _PLOT_W + _INFO_W
    height = _TOP + _ROW_H * (count + 1) + 24
    axis_index = result.spatial_axes[axis]
    body = [_svg.text(12, 22, f"receptive field and jump along axis {axis_index} "
                               f"(spatial axis {axis}), in input samples", size=14,
                      font_weight="bold"),
            _svg.text(12, 40, "dots: a layer's output samples, spaced by its jump; bar: the "
                              "input samples the filled one sees", size=11, fill="#555")]
    body.append(_input_row(x0, _TOP, span, scale))
    for i, (label, rf, jump) in enumerate(rows):
        body.append(_layer_row(i, x0, _TOP + _ROW_H * (i + 1), span, scale, label, rf, jump))
    body.append(_ruler(x0, _TOP + _ROW_H * (count + 1) - 8, span, scale))
    return _svg.document(width, height, body, title="receptive field and jump")


def _input_row(x0, y, span, scale):
    parts = ['<g class="input">', _svg.text(12, y + 16, "input", size=_FONT)]
    if scale >= 4:
        for k in range(span):
            parts.append(f'<rect {_svg.attrs(class_="input-sample", x=x0 + k * scale + 0.5, y=y + 6, width=scale - 1.0, height=12.0, fill="#dfe6ee", stroke="#8a9bb0", stroke_width=0.5)}/>')
    else:  # too many samples to draw one by one
        parts.append(f'<rect {_svg.attrs(class_="input-band", x=float(x0), y=y + 6, width=span * scale, height=12.0, fill="#dfe6ee")}/>')
    parts.append("</g>")
    return "\n".join(parts)


def _layer_row(i, x0, y, span, scale, label, rf, jump):
    start = (span - rf) // 2                     # the bar covers input samples [start, start + rf)
    centre = start + rf / 2
    parts = [f'<g {_svg.attrs(class_="layer", data_index=i + 1, data_layer=label, data_receptive_field=rf, data_jump=_fmt(jump), data_scale=f"{scale:.6f}")}>',
             f"<title>{_svg.escape(f'{label}: receptive field {rf}, jump {_fmt(jump)}')}</title>",
             _svg.text(12, y + 14, _cut(f"{i + 1}  {label}", _LABEL_W - 20), size=_FONT)]
    parts.append(f'<rect {_svg.attrs(class_="rf", x=x0 + start * scale, y=y + 16, width=rf * scale, height=8.0, rx=2.0, fill="#e67e22", fill_opacity=0.55)}/>')
    step = float(jump) * scale
    reach = int(min(centre / float(jump), _MAX_DOTS // 2)) if step >= 4 else 0
    if step < 4:  # neighbours closer than the picture can separate: a line stands for them
        parts.append(f'<line {_svg.attrs(class_="dense-samples", x1=float(x0), y1=y + 8.0, x2=x0 + span * scale, y2=y + 8.0, stroke="#2c3e50", stroke_width=1.0, stroke_dasharray="1,2")}/>')
    for m in range(-reach, reach + 1):
        cx = x0 + (centre + m * float(jump)) * scale
        if not x0 <= cx <= x0 + span * scale:
            continue
        filled = m == 0
        parts.append(f'<circle {_svg.attrs(class_="sample" + (" chosen" if filled else ""), cx=cx, cy=y + 8.0, r=3.5 if filled else 2.5, fill="#2c3e50" if filled else "white", stroke="#2c3e50", stroke_width=1.0)}/>')
    info = f"rf {rf}, jump {_fmt(jump)}"
    parts.append(_svg.text(x0 + span * scale + 12, y + 14, info, size=_FONT))
    parts.append("</g>")
    return "\n".join(parts)


def _ruler(x0, y, span, scale):
    every = next(n for n in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10**9)
                 if n * scale >= 24)
    parts = ['<g class="ruler">',
             f'<line {_svg.attrs(x1=float(x0), y1=float(y), x2=x0 + span * scale, y2=float(y), stroke="#555")}/>']
    for k in range(0, span + 1, every):
        x = x0 + k * scale
        parts.append(f'<line {_svg.attrs(x1=x, y1=float(y), x2=x, y2=y + 5.0, stroke="#555")}/>')
        parts.append(_svg.text(x, y + 17, k, size=10, anchor="middle", fill="#555"))
    parts.append(_svg.text(x0 + span * scale + 12, y + 4, "input samples", size=10, fill="#555"))
    parts.append("</g>")
    return "\n".join(parts)


def plot_receptive_field(layers, input_shape, to_file=None, axis=0, labels=None) -> str:
    """Draw the receptive field and jump of a layer chain; write ``to_file`` (SVG) if given.

    ``layers`` and ``input_shape`` are what :func:`cthulhu.shapes.chain` takes
    (layers, specs or ``"Cthalpa2D(8, 3)"``-style texts and a shape with or
    without symbols). Returns the SVG text.

    Examples
    --------
    >>> svg = plot_receptive_field(["Cthalpa1D(4, 3, strides=2)", "Cthalpa1D(4, 3)"], "b, n, 1")
    >>> svg.count('class="layer"'), 'data-receptive-field="7"' in svg
    (2, True)
    """
    from cthulhu import shapes
    from cthulhu.shapes.parse import parse_layer, parse_shape

    texts = [layer for layer in layers if isinstance(layer, str)]
    specs = [parse_layer(layer) if isinstance(layer, str) else layer for layer in layers]
    if isinstance(input_shape, str):
        input_shape = parse_shape(input_shape)
    result = shapes.chain(specs, input_shape)
    if labels is None and len(texts) == len(specs):
        labels = texts
    svg = receptive_field_svg(result, labels=labels, axis=axis)
    if to_file is not None:
        from pathlib import Path

        Path(to_file).write_text(svg, encoding="utf-8")
    return svg
