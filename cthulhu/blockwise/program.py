"""A whole model as a block program: every layer of its graph run in memory on one block.

:class:`GraphProgram` reads a model only through the engine's public API: its
graph (``model.graph(expand=True)``: the layer calls in topological order,
nested models expanded), each layer's shape spec (``layer.shape_spec()``, read
by :func:`cthulhu.shapes.layer_spec`) and the spec's kind
(:func:`cthulhu.shapes.get_kind`), which says how the layer runs on a block (its
*role*, ``cthulhu.shapes.ROLES``). :func:`cthulhu.shapes.graph` plans every block:
walking back from the output block, each node's range is the union of what its
readers need, with its own padding only where the block touches the volume's
true border (``docs/shapes.md`` section 6). A node then runs, by role:

* ``window`` (convolutions of every kind; pooling): ``layer.call_with_pads(x,
  pads)`` with the plan's explicit padding - the engine's public call of a layer
  with another padding, no copy of the layer;
* ``pointwise`` (activations, batch normalisation at inference - a per-channel
  multiply-add -, ``Daoloth`` on the channels, ...) and ``merge``
  (``Concatenate`` along the channels, ``Add`` ...): the layer itself;
* ``resample`` (up-sampling): the layer, then the plan's part of its output;
* ``pad`` and ``crop``: index arithmetic, no call.

A batch normalisation after a convolution or a ``Daoloth`` (and an activation after
it) runs in the producer's op epilogue, as in memory: the fold plan is the engine's
(:func:`cthulhu.engine.fusion.plan` on the same expanded graph), which folds a pair
only when the producer's output goes to the batch normalisation alone (a skip
connection reading the convolution keeps them apart). On a block, the producer then
runs with the epilogue and the folded nodes pass its result on (they keep their
place in the block plan: pointwise, their ranges are the producer's), also where the
producer's block starts from zeros; where a fold is declined (float16) they run
themselves.

A node read by several nodes (a skip connection) computes its block once; each
reader takes its slice, and a block is dropped as soon as its last reader ran:
no intermediate volume exists, only the blocks of one task. A node whose block
lies wholly in zero padding starts from zeros (``from_zeros``) and the nodes
only it reads do not run.

The program is plain data plus layers: it pickles, so ``dask.distributed``
workers receive it once per task graph.
"""

from __future__ import annotations

from dataclasses import dataclass

from cthulhu import shapes
from cthulhu.devices.dask_.halo import keep_part, pad_zeros, spatial_widths
from cthulhu.devices.dask_.threads import kernel_threads
from cthulhu.engine import fusion

__all__ = ["GraphProgram", "Unblockable", "RUN_ROLES"]

#: The roles a program runs (cthulhu.shapes.ROLES); any other needs whole spatial axes.
RUN_ROLES = ("pointwise", "window", "pad", "crop", "resample", "merge")


class Unblockable(ValueError):
    """The model cannot run block by block; the message names the layer and why."""


@dataclass
class Step:
    """One node of a program: the layer, how it runs on a block, what it reads."""

    id: object
    layer: object
    role: str
    inputs: tuple
    owner: str
    #: the cthulhu.engine.fusion.Fold this node produces (it runs with the epilogue)
    fold: object = None
    #: for a node folded into a producer's op: that producer's id
    folded_into: object = None


def _owner(layer):
    return f"{type(layer).__name__} {getattr(layer, 'name', '')!r}"


class GraphProgram:
    """A model prepared to run on blocks of volumes of the given shapes.

    Parameters
    ----------
    model : Pile or Lump
        Built (an unbuilt ``Pile`` is built for ``input_shapes``).
    input_shapes : sequence of tuple of int, optional
        One whole-volume shape per model input, batch axis included. Default: the
        model's declared input shapes (``None`` for free sizes: enough to know the
        layout and to check the layers, not to plan blocks).

    Raises
    ------
    Unblockable
        A layer needs whole spatial axes (``Flatten``, global pooling, a softmax
        along a spatial axis, ...), has several outputs, runs in training mode, or
        is a sliding window without an explicit-padding call; the message names it.

    Attributes
    ----------
    input_shapes, output_shapes : list of tuple
    graph : cthulhu.shapes.Graph
        The shape algebra's graph of the model, with these input shapes.
    data_format : str
    """

    def __init__(self, model, input_shapes=None):
        if not callable(getattr(model, "graph", None)):
            raise TypeError(f"expected a cthulhu model (Pile or Lump), got "
                            f"{type(model).__name__}")
        if input_shapes is not None:
            input_shapes = [tuple(int(n) for n in shape) for shape in input_shapes]
            if not getattr(model, "built", True) and len(input_shapes) == 1 and \
                    callable(getattr(model, "build", None)):
                model.build(input_shapes[0])
        label = f"model {getattr(model, 'name', '')!r}"
        mg = model.graph(expand=True)
        if input_shapes is None:
            input_shapes = [tuple(mg[key].output_shape) for key in mg.inputs]
        if len(mg.inputs) != len(input_shapes):
            raise ValueError(f"{label} has {len(mg.inputs)} inputs, got {len(input_shapes)} "
                             "arrays")
        self.name = getattr(model, "name", type(model).__name__)
        self.input_ids = tuple(mg.inputs)
        self.output_ids = tuple(mg.outputs)
        self.input_shapes = input_shapes
        self.steps = {}
        nodes = []
        for node in mg.nodes:
            if node.is_input:
                continue
            owner = _owner(node.layer)
            if node.multiple_outputs or any(node.input_indices):
                raise Unblockable(f"{owner}: has several outputs, so the model cannot run "
                                  "block by block")
            if node.training:
                raise Unblockable(f"{owner}: is called with training=True in the model, so "
                                  "its result depends on the whole batch or on random draws; "
                                  "the model cannot run block by block")
            spec = shapes.layer_spec(node.layer)   # a bad layer is an error, not a refusal
            nodes.append((node.id, spec, list(node.inputs) if node.input_is_list
                          else node.inputs[0]))
            self.steps[node.id] = Step(node.id, node.layer, "", tuple(node.inputs), owner)
        from cthulhu import config

        # shapes that do not fit the layers are the caller's error (a ShapeError, naming the
        # layer); a layer that cannot run on blocks is a refusal (Unblockable)
        self.graph = shapes.graph(nodes, dict(zip(self.input_ids, input_shapes, strict=True)),
                                  list(self.output_ids),
                                  default_data_format=config.image_data_format())
        try:
            self.graph.check_blockwise()
        except shapes.ShapeError as exc:
            raise Unblockable(f"{label} cannot run block by block: {exc}; run that part on "
                              "the computed result") from exc
        self.data_format = self.graph.data_format
        self.spatial_axes = self.graph.spatial_axes
        self.rank = len(self.spatial_axes)
        self.channel_axis = shapes.channel_index(self.rank + 2, self.data_format)
        for node_id, step in self.steps.items():
            step.role = self.graph.node_role(node_id)
            self._check_step(step)
        self._fold(mg)
        self.output_shapes = [tuple(self.graph.shapes[o]) for o in self.output_ids]
        self._axes = None

    def _check_step(self, step):
        layer = step.layer
        if step.role == "window" and not getattr(layer, "explicit_pads", False):
            raise Unblockable(f"{step.owner}: a sliding window without an explicit-padding "
                              "call (Layer.call_with_pads), so the model cannot run block by "
                              "block; run that part on the computed result")
        if shapes.is_channels_first(self.data_format) and _normalises_last_axis(layer):
            raise Unblockable(
                f"{step.owner}: its activation normalises over the last axis, a spatial "
                "axis in channels_first, so the model cannot run block by block; run that "
                "part on the computed result")

    def _fold(self, mg):
        """Mark the folds of the engine's plan (none under ``fusion.folding(False)``)."""
        if not fusion.is_folding():
            return
        for fold in fusion.plan(mg).folds:
            producer = self.steps[fold.producer]
            if producer.role not in ("window", "pointwise"):
                continue
            producer.fold = fold
            for node_id in fold.absorbed:
                self.steps[node_id].folded_into = fold.producer

    @classmethod
    def declared(cls, model):
        """The program of ``model`` for its declared input shapes (``None``: free sizes).

        A model not built yet (a ``Pile`` whose first layer declares no input shape)
        has no graph: then ``(None, rank, data_format)`` from its layers' shape specs
        (``rank`` ``None`` when no layer is spatial), for a caller that builds it once
        the volume's shape is known; otherwise ``(program, rank, data_format)``.
        """
        if getattr(model, "built", True):
            program = cls(model)
            return program, program.rank, program.data_format
        for layer in getattr(model, "layers", ()):
            spec = shapes.layer_spec(layer)
            if shapes.get_kind(spec["kind"]).spatial:
                return None, spec["rank"], spec["data_format"]
        from cthulhu import config

        return None, None, config.image_data_format()  # position-wise layers only

    # ------------------------------------------------------------ shapes
    @property
    def input_shape(self):
        """The (first) input's shape."""
        return self.input_shapes[0]

    @property
    def output_shape(self):
        """The (first) output's shape."""
        return self.output_shapes[0]

    def spatial(self, shape):
        """The spatial sizes of ``shape``."""
        return tuple(shape[a] for a in self.spatial_axes)

    @property
    def axis_info(self):
        """Receptive field, jump, offset and halo per spatial axis, from the first input to
        the first output (:meth:`cthulhu.shapes.Graph.axis_info`)."""
        if self._axes is None:
            try:
                self._axes = self.graph.axis_info(self.output_ids[0], self.input_ids[0])
            except shapes.ShapeError as exc:
                raise Unblockable(f"model {self.name!r}: {exc}") from exc
        return self._axes

    @property
    def halo(self):
        return tuple(a.halo for a in self.axis_info)

    @property
    def jump(self):
        return tuple(a.jump for a in self.axis_info)

    def depths(self):
        """Per input, the halo ``(before, after)`` per spatial axis towards the first output,
        ``None`` where unknown (what :func:`~cthulhu.devices.dask_.halo.halo_map` joins
        small chunks by)."""
        out = []
        for key in self.input_ids:
            try:
                infos = self.graph.axis_info(self.output_ids[0], key)
                out.append([a.depth for a in infos])
            except shapes.ShapeError:
                out.append([None] * self.rank)
        return out

    # ------------------------------------------------------------ blocks
    def plan(self, out_range, outputs=None):
        """The :class:`cthulhu.shapes.GraphBlockPlan` of one output block (of each of
        ``outputs``, default the first output; they share their spatial sizes)."""
        outputs = self.output_ids[:1] if outputs is None else outputs
        ranges = tuple(tuple(r) for r in out_range)
        return self.graph.plan({o: ranges for o in outputs})

    def input_range(self, out_range, index=0):
        """The region of input ``index`` the block ``out_range`` of the first output reads
        (``(start, stop)`` per spatial axis; an empty range where it reads nothing)."""
        plan = self.plan(out_range)
        found = plan.input_ranges.get(self.input_ids[index])
        return found if found is not None else tuple((0, 0) for _ in range(self.rank))

    def run(self, read, out_range, batch=(0, 1), dtype="float32", plan=None, outputs=None,
            probe=None):
        """The model's output over ``out_range`` (per spatial axis) for ``batch`` items.

        ``read(index)`` returns the input region ``index`` (a tuple of slices over
        the batch and spatial axes, all channels) as an array of the library the
        layers should run on; for several inputs, ``read`` is a list of such
        functions. ``plan`` is ``self.plan(out_range, outputs)`` when the caller has
        it. ``outputs``: the output node ids to compute (default the first); a list
        of blocks is returned when several are asked for. ``probe()`` gives an array
        of the input's library when the block reads no input (default: a one-sample
        read).
        """
        import array_api_compat as aac

        readers = list(read) if isinstance(read, (list, tuple)) else [read]
        outputs = self.output_ids[:1] if outputs is None else tuple(outputs)
        if plan is None:
            plan = self.plan(out_range, outputs)
        if probe is None:
            def probe():
                index = (slice(batch[0], batch[0] + 1),) + (slice(0, 1),) * (self.rank + 1)
                return readers[0](index)
        with kernel_threads():
            values = self._execute(readers, plan, batch, dtype, probe, outputs)
        blocks = []
        for o in outputs:
            y = keep_part(values[o], plan.output_slice(o), self.spatial_axes)
            blocks.append(aac.array_namespace(y).asarray(y))
        return blocks if len(outputs) > 1 else blocks[0]

    def _execute(self, readers, plan, batch, dtype, probe, outputs):
        left = {}                      # readers still to run, per value: free it after
        for block in plan.nodes.values():
            if not block.from_zeros:
                for source in block.inputs:
                    left[source] = left.get(source, 0) + 1
        values = {}
        folded = set()                 # producers that ran with their fold's epilogue here
        for i, key in enumerate(self.input_ids):
            if key in plan.input_ranges:
                values[key] = self._read(readers[i], plan.input_ranges[key], batch, dtype)
        for node_id, block in plan.nodes.items():
            step = self.steps[node_id]
            if block.from_zeros:
                y = self._from_zeros(step, block, batch, dtype, probe, folded)
            else:
                xs = [keep_part(values[s], r, self.spatial_axes)
                      for s, r in zip(block.inputs, block.reads, strict=True)]
                for source in block.inputs:
                    left[source] -= 1
                    if left[source] == 0 and source not in outputs:
                        del values[source]
                if step.folded_into in folded:
                    y = xs[0]          # the producer's op applied this node already
                else:
                    y = self._run_step(step, block, xs, folded)
            values[node_id] = y
        return values

    def _run_step(self, step, block, xs, folded):
        role, layer = step.role, step.layer
        if role == "merge":
            return layer(xs)
        x = xs[0]
        extra = self._epilogue(step, x, folded)
        if role == "pointwise":
            return layer(x) if extra is None else layer.call_and_mask(x, epilogue=extra)[0]
        if role == "window":
            return _padded(layer, x, block.pads, extra)
        x = pad_zeros(x, spatial_widths(block.zeros, self.spatial_axes, x.ndim))
        if role == "resample":
            x = layer(x)
        return keep_part(x, block.keep, self.spatial_axes)  # pad, crop: the slice is the result

    @staticmethod
    def _epilogue(step, x, folded):
        """The epilogue of the fold ``step`` produces, for its input ``x`` (``None``: none,
        or declined); a producer that takes it joins ``folded``."""
        extra = None if step.fold is None else step.fold.epilogue(x)
        if extra is not None:
            folded.add(step.id)
        return extra

    def _from_zeros(self, step, block, batch, dtype, probe, folded):
        """A node whose block lies in zero padding: its core form on zeros (read nothing)."""
        import array_api_compat as aac

        like = probe()
        xp = aac.array_namespace(like)
        shape = list(self.graph.shapes[step.inputs[0]])
        shape[0] = batch[1] - batch[0]
        for axis, (start, stop), (lo, hi) in zip(self.spatial_axes, block.in_range, block.zeros,
                                                 strict=True):
            shape[axis] = stop - start + lo + hi
        x = xp.zeros(tuple(shape), dtype=getattr(xp, str(dtype)), device=aac.device(like))
        if step.role == "window":
            x = _padded(step.layer, x, "valid", self._epilogue(step, x, folded))
        elif step.role == "resample":
            x = step.layer(x)
        return keep_part(x, block.keep, self.spatial_axes)

    def _read(self, read, ranges, batch, dtype):
        """The input region, in ``dtype``."""
        import array_api_compat as aac

        index = [slice(None)] * (self.rank + 2)
        index[0] = slice(*batch)
        for axis, (start, stop) in zip(self.spatial_axes, ranges, strict=True):
            index[axis] = slice(start, stop)
        x = read(tuple(index))
        xp = aac.array_namespace(x)
        target = getattr(xp, str(dtype))
        return x if x.dtype == target else xp.astype(x, target)

    def weights_digest(self, update):
        """Feed every layer's weights, in graph order, to ``update(bytes)`` (a run's identity)."""
        for node_id in self.graph.order:
            for weight in self.steps[node_id].layer.get_weights():
                update(f"{weight.shape} {weight.dtype.str}".encode())
                update(weight.tobytes())


def _padded(layer, x, pads, epilogue):
    """``layer.call_with_pads``; the ``epilogue`` keyword only with a fold (a layer of the
    plain explicit-padding protocol takes ``(x, pads)``)."""
    if epilogue is None:
        return layer.call_with_pads(x, pads)
    return layer.call_with_pads(x, pads, epilogue=epilogue)


def _normalises_last_axis(layer):
    """Whether the layer's activation mixes the positions of the last axis (softmax)."""
    from cthulhu import activations

    return activations.name_of(getattr(layer, "activation", None)) in ("softmax", "log_softmax")
