"""``model.summary()``: the Keras 2 table of layers, output shapes and parameter counts."""

from __future__ import annotations


def _row(fields, stops) -> str:
    """Fields left-aligned in columns ending at ``stops`` (a too-long field is cut, as in Keras)."""
    line = ""
    for field, stop in zip(fields, stops, strict=True):
        if line:
            line = line[:-1] + " "
        line = (line + str(field))[:stop]
        line += " " * (stop - len(line))
    return line.rstrip()


def shape_text(shape) -> str:
    """A shape as Keras 2's summary writes it: ``(None, 3)``, ``(None,)``, ``[(..), (..)]``."""
    if isinstance(shape, list):
        return "[" + ", ".join(shape_text(s) for s in shape) + "]"
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def print_summary(model, line_length=None, positions=None, print_fn=print):
    """Print the summary table of a model through ``print_fn`` (one call per line).

    The model supplies its columns (``model.summary_columns``: headers, Keras's
    default width and column stops) and its rows (``model.summary_rows()``); a
    row whose first field is empty continues the row above (no rule between them).
    """
    headers, default_length, default_positions = model.summary_columns
    rows = model.summary_rows()
    explicit = line_length is not None or positions is not None
    line_length = line_length or default_length
    positions = list(positions or default_positions)
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    if not explicit:  # Keras's widths, widened so that no field is cut (3D shapes are long)
        positions = _fitted(positions, [headers, *rows])
        line_length = positions[-1]
    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    print_fn(_row(headers, positions))
    print_fn("=" * line_length)
    for i, row in enumerate(rows):
        print_fn(_row(row, positions))
        if i < len(rows) - 1 and rows[i + 1][0] != "":
            print_fn("_" * line_length)
    print_fn("=" * line_length)
    trainable = _count(model.trainable_weights)
    non_trainable = _count(model.non_trainable_weights)
    print_fn(f"Total params: {trainable + non_trainable:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {non_trainable:,}")
    print_fn("_" * line_length)


def _fitted(positions, rows):
    """Column stops at least as far apart as ``positions``, and wide enough for every field."""
    widths = [b - a for a, b in zip([0, *positions[:-1]], positions, strict=True)]
    for row in rows:
        for i, field in enumerate(row):
            widths[i] = max(widths[i], len(str(field)) + 1)
    stops, end = [], 0
    for width in widths:
        end += width
        stops.append(end)
    return stops


def _count(arrays) -> int:
    seen, total = set(), 0
    for a in arrays:
        if id(a) not in seen:
            seen.add(id(a))
            total += int(a.size)
    return total
