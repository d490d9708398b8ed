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


def _shape_text(shape) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(_shape_text(s) for s in shape) + "]"
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _pile_rows(model):
    if model._input_batch_shape is None:
        raise ValueError(f"{model._owner()}: this model has not yet been built. Give the first layer "
                         "an input_shape (or add an Input) or call the model on data first.")
    rows, shape = [], model._input_batch_shape
    for layer in model.layers:
        shape = tuple(layer.compute_output_shape(shape))
        rows.append([f"{layer.name} ({type(layer).__name__})", _shape_text(shape),
                     f"{layer.count_params():,}"])
    return rows


def _lump_rows(model):
    rows = []
    for layer in model.layers:
        nodes = model._model_nodes(layer)
        shapes = {_shape_text([t.shape for t in n.outputs] if len(n.outputs) > 1 else n.outputs[0].shape)
                  for n in nodes}
        shape = shapes.pop() if len(shapes) == 1 else "multiple"
        sources = [f"{t.layer.name}[{model._ref(t)[1]}][{t.tensor_index}]"
                   for n in nodes for t in n.inputs]
        first = [f"{layer.name} ({type(layer).__name__})", shape, f"{layer.count_params():,}",
                 sources[0] if sources else ""]
        rows.append(first)
        for extra in sources[1:]:
            rows.append(["", "", "", extra])
    return rows


def print_summary(model, line_length=None, positions=None, print_fn=print):
    """Print the summary table of a ``Pile`` or ``Lump`` through ``print_fn`` (one call per line)."""
    from cthulhu.engine.pile import Pile

    sequential = isinstance(model, Pile)
    explicit = line_length is not None or positions is not None
    if sequential:
        headers, rows = ["Layer (type)", "Output Shape", "Param #"], _pile_rows(model)
        line_length = line_length or 65
        positions = positions or [0.45, 0.85, 1.0]
    else:
        headers = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        rows = _lump_rows(model)
        line_length = line_length or 98
        positions = positions or [0.33, 0.55, 0.67, 1.0]
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
        last = i == len(rows) - 1
        if not last and not (rows[i + 1][0] == "" and not sequential):
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
