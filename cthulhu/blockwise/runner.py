"""``model.predict`` on Dask arrays: the whole model fused, one task per output block.

:func:`predict` builds a lazy Dask array by hand with
:func:`cthulhu.devices.dask_.halo.halo_map`: each task receives exactly the
input chunks under its block's region (the block plus the model's halo,
clipped at the volume's borders), runs the :class:`~.program.GraphProgram` on
it in memory with the chunks' own library (NumPy or CuPy) and returns the
block's exact output. :func:`run_model` is the runner the engine finds for
Dask arrays (``cthulhu.engine.services.runner_for``): it declines, and the
model runs layer by layer, when the model cannot run block by block.
"""

from __future__ import annotations

from cthulhu.devices.dask_.halo import halo_map

from .program import GraphProgram, Unblockable

__all__ = ["predict", "run_model", "even_chunks", "normalize_block"]


def normalize_block(block_shape, rank):
    """``block_shape`` (an int, ``None`` for 64, or ``rank`` ints) as ``rank`` positive ints."""
    if block_shape is None:
        block_shape = 64
    if isinstance(block_shape, int):
        block_shape = (block_shape,) * rank
    block_shape = tuple(block_shape)
    if len(block_shape) != rank or not all(isinstance(b, int) and b > 0 for b in block_shape):
        raise ValueError(f"block_shape must be a positive int or {rank} positive ints, "
                         f"got {block_shape!r}")
    return block_shape


def even_chunks(n, block):
    """``n`` samples cut in ``block``s (the last one smaller)."""
    full, rest = divmod(n, block)
    return (block,) * full + ((rest,) if rest else ())


def predict(model, x, block_shape=None):
    """The whole ``model`` over the Dask array ``x``, lazily, one task per output block.

    Parameters
    ----------
    model : Pile or Lump
        Any graph of layers that run block by block: chains, skip connections
        (``Concatenate`` along the channels, ``Add`` and the other merges),
        strided and transposed convolutions, up-sampling, cropping, padding and
        position-wise layers (batch normalisation at inference included).
    x : dask.array.Array or list of dask.array.Array
        ``(batch, spatial..., channels)`` (or channels first, as the model); one per
        model input.
    block_shape : int, tuple of int or "auto", optional
        Output block size per spatial axis; default: blocks proportional to ``x``'s
        chunks. ``"auto"``: the size ``predict_volume`` picks from the model's halo
        (:func:`~cthulhu.blockwise.blocks.auto_block`), worth it when the chunks
        are small next to the halo.

    Returns
    -------
    dask.array.Array, or a list of them for a model with several outputs
        Nothing is computed until the caller asks.

    Raises
    ------
    Unblockable
        A layer needs whole spatial axes (the message names it).
    """
    many = isinstance(x, (list, tuple))
    xs = list(x) if many else [x]
    program = GraphProgram(model, [tuple(a.shape) for a in xs])
    empty_in = any(n == 0 for a in xs for n in a.shape)
    if empty_in and all(n != 0 for shape in program.output_shapes for n in shape):
        # Zero padding can make something of nothing; no block of an empty input can be
        # planned, so the layers run one by one (the ops give exact results on empties).
        raise Unblockable(f"model {program.name!r}: the input is empty but the output is "
                          "not, so it cannot run block by block")
    axes = program.spatial_axes
    groups = {}
    for output, shape in zip(program.output_ids, program.output_shapes, strict=True):
        groups.setdefault(program.spatial(shape), []).append(output)
    depths = None if empty_in else program.depths()
    results = {}
    for spatial_out, outputs in groups.items():
        out_chunks = None
        if block_shape is not None:
            out_chunks = _out_chunks(program, spatial_out, block_shape)
        task = _Task(program, tuple(outputs))
        shapes_ = [program.output_shapes[program.output_ids.index(o)] for o in outputs]
        arrays = halo_map(xs, shapes_, task.plan, task, spatial_axes=axes,
                          channel_axis=program.channel_axis, out_chunks=out_chunks,
                          depths=depths, name="cthulhu-predict")
        results.update(zip(outputs, arrays, strict=True))
    ordered = [results[o] for o in program.output_ids]
    return ordered if len(ordered) > 1 else ordered[0]


def _out_chunks(program, spatial_out, block_shape):
    if isinstance(block_shape, str) and block_shape == "auto":
        from .blocks import auto_block

        try:
            halo, jump = program.halo, program.jump
        except Unblockable:
            halo, jump = None, (1,) * program.rank
        if halo is not None and any(h is None for h in halo):
            halo = None
        block_shape = auto_block(halo, jump, spatial_out)
    block = normalize_block(block_shape, program.rank)
    return tuple(even_chunks(n, b) for n, b in zip(spatial_out, block, strict=True))


class _Task:
    """The block task of :func:`predict`: plan (while the graph is built), then run."""

    def __init__(self, program, outputs):
        self.program, self.outputs = program, outputs

    def plan(self, out_range):
        plan = self.program.plan(out_range, self.outputs)
        reads = [plan.input_ranges.get(key) for key in self.program.input_ids]
        return reads, _Compact(plan)

    def __call__(self, regions, plan):
        program = self.program

        def reader(region):
            def read(index):
                return region.take([(sl.start, sl.stop) for sl in
                                    (index[a] for a in program.spatial_axes)],
                                   program.spatial_axes)
            return read

        first = regions[0]
        batch = (0, first.probe.shape[0])
        dtype = str(first.probe.dtype)
        out = program.run([reader(r) for r in regions], None, batch=batch, dtype=dtype,
                          plan=plan, outputs=self.outputs, probe=lambda: first.probe)
        return tuple(out) if len(self.outputs) > 1 else out


class _Compact:
    """A :class:`cthulhu.shapes.GraphBlockPlan` without its nodes' specs (small to pickle)."""

    __slots__ = ("input_ranges", "nodes", "slices")

    def __init__(self, plan):
        self.input_ranges = plan.input_ranges
        self.nodes = {key: _NodePart(block) for key, block in plan.nodes.items()}
        self.slices = {o: plan.output_slice(o) for o in plan.output_ranges}

    def output_slice(self, output):
        return self.slices[output]


class _NodePart:
    __slots__ = ("in_range", "pads", "zeros", "keep", "inputs", "reads", "from_zeros")

    def __init__(self, block):
        for name in self.__slots__:
            setattr(self, name, getattr(block, name))


def run_model(model, x):
    """The Dask runner of ``model.predict`` (``cthulhu.engine.services``): :func:`predict`,
    or ``NotImplemented`` - the model then runs layer by layer, still lazily and exactly -
    when it cannot run block by block."""
    try:
        return predict(model, x)
    except Unblockable:
        return NotImplemented
