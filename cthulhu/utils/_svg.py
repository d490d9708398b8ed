"""A few helpers to write SVG by hand: escaped text, a document, a text-width estimate.

The pictures use a monospace font, so a line of ``n`` characters is about
``0.6 * n * font_size`` wide in every renderer; boxes are sized from that.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"
CHAR_WIDTH = 0.6  # of the font size, for a monospace font


def text_width(text: str, size: float) -> float:
    return len(text) * CHAR_WIDTH * size


def attrs(**values) -> str:
    """``key="value"`` pairs; ``class_`` becomes ``class`` and ``_`` in names becomes ``-``."""
    parts = []
    for key, value in values.items():
        if value is None:
            continue
        name = "class" if key == "class_" else key.replace("_", "-")
        if isinstance(value, float):
            value = f"{value:.1f}".rstrip("0").rstrip(".")
        parts.append(f"{name}={quoteattr(str(value))}")
    return " ".join(parts)


def text(x, y, content, size=12, anchor="start", **extra) -> str:
    """A ``<text>``; runs of spaces are kept (renderers collapse plain ones, not NBSPs)."""
    content = str(content).replace("  ", " \u00a0")
    return (f"<text {attrs(x=float(x), y=float(y), font_size=size, text_anchor=anchor, **extra)}>"
            f"{escape(content)}</text>")


def document(width, height, body, title=None) -> str:
    """A standalone SVG document (white background, one font for everything)."""
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" '
            f'{attrs(width=float(width), height=float(height))} '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT}">')
    parts = [head]
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    parts.append(f'<rect {attrs(width="100%", height="100%", fill="white")}/>')
    parts.extend(body)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
