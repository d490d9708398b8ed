"""Graphs of layers: per-node shapes and exact block plans over a DAG (skip connections).

``graph(nodes, inputs, outputs=None)`` is :func:`~cthulhu.shapes.chain.chain`
for layers that form a directed acyclic graph: several model inputs and
outputs, nodes with several inputs (the ``merge`` and ``concatenate`` kinds)
and tensors read by several nodes (a U-Net's skip connections)::

    g = shapes.graph([("c1", conv, "x"), ("down", strided, "c1"), ("up", upsample, "down"),
                      ("skip", {"kind": "concatenate"}, ["c1", "up"])], {"x": (1, 64, 64, 1)})
    g.shapes["skip"]                       # every node's output shape
    plan = g.block_plan((0, 0), (16, 16))  # how to compute one output block exactly

Block plans
-----------
For an output block, each node must produce the part of its output its
consumers read. A node read by several consumers computes one range per axis:
the smallest one covering what each of them needs (the *union*, as one
slice), and each consumer takes its own slice of it. Walking the nodes from
the outputs back to the inputs, each node's range comes from its kind's range
map exactly as in a chain (:func:`cthulhu.shapes.axis_maps.step_block`):
the input range it reads and the explicit border padding (the layer's own
padding where the block touches the true border of the array, nothing inside)
that make the block equal the whole-array result. A multi-input node reads the
same positions of every input. A node none of whose outputs is needed does not
run; a node whose input range is empty on some axis (the block lies in its
padding) starts from zeros and reads nothing.
"""

from fractions import Fraction
from math import lcm

from ._arith import is_int
from .axis_maps import AxisInfo, LayerBlock, _require_known, _Step, step_block
from .errors import ShapeError, ShapeTypeError, owner_label
from .kinds import get_kind
from .layout import DEFAULT_DATA_FORMAT, spatial_axes
from .spec import layer_spec

__all__ = ["graph", "Graph", "NodeBlock", "GraphBlockPlan", "GraphAxisInfo"]

# The roles a block plan can run (see Kind.blockwise).
_BLOCK_ROLES = frozenset(("pointwise", "window", "pad", "crop", "resample", "merge"))


def _node_inputs(node_id, sources):
    if isinstance(sources, (list, tuple)):
        return tuple(sources)
    return (sources,)


def _topological(nodes, inputs):
    """Node ids in an order where every node follows its inputs (the given order if it does)."""
    seen = set(inputs)
    for node_id, (_, sources) in nodes.items():
        if not all(source in seen for source in sources):
            break
        seen.add(node_id)
    else:
        return list(nodes)
    # Kahn's algorithm: a node is ready once all the nodes it reads are placed.
    waiting = {node_id: sum(1 for s in sources if s not in inputs)
               for node_id, (_, sources) in nodes.items()}
    readers = {node_id: [] for node_id in nodes}
    for node_id, (_, sources) in nodes.items():
        for source in sources:
            if source not in inputs:
                readers[source].append(node_id)
    order = [node_id for node_id, count in waiting.items() if count == 0]
    for node_id in order:                  # grows while it is walked
        for reader in readers[node_id]:
            waiting[reader] -= 1
            if waiting[reader] == 0:
                order.append(reader)
    if len(order) != len(nodes):
        stuck = [node_id for node_id in nodes if waiting[node_id] > 0]
        raise ShapeError(f"the graph has a cycle through nodes {stuck!r}")
    return order


def graph(nodes, inputs, outputs=None, *, default_data_format=DEFAULT_DATA_FORMAT):
    """Shapes and block plans of a graph of layers.

    Parameters
    ----------
    nodes : sequence of (node id, layer, input ids)
        ``layer`` is anything :func:`~cthulhu.shapes.chain` takes (a spec dict,
        a layer object, a ``{"class_name", "config"}`` dict); ``input ids`` is
        one id or a list of ids of nodes or model inputs. Ids are any hashable
        values (strings, ints).
    inputs : dict
        ``{input id: shape}`` for the model inputs (batch axis included; ints,
        ``None`` or symbols).
    outputs : sequence, optional
        The output node ids; by default the nodes no other node reads.
    default_data_format : str
        The layout of the block plans when no node has one (as for :func:`chain`).

    Returns
    -------
    Graph

    Examples
    --------
    >>> conv = {"kind": "conv", "rank": 1, "filters": 2, "kernel_size": 3, "padding": "same"}
    >>> g = graph([("a", conv, "x"), ("b", conv, "a"), ("sum", {"kind": "merge"}, ["a", "b"])],
    ...           {"x": (1, 10, 1)})
    >>> g.shapes["sum"], g.outputs
    ((1, 10, 2), ['sum'])
    """
    if not isinstance(inputs, dict) or not inputs:
        raise ShapeTypeError(f"inputs must be a dict {{input id: shape}}, got {inputs!r}")
    table = {}
    for entry in nodes:
        if not isinstance(entry, (list, tuple)) or len(entry) != 3:
            raise ShapeTypeError(f"a graph node is (node id, layer, input ids), got {entry!r}")
        node_id, layer, sources = entry
        if node_id in table or node_id in inputs:
            raise ShapeError(f"node id {node_id!r} is used twice")
        spec = layer if isinstance(layer, dict) and layer.get("normalized") else layer_spec(layer)
        table[node_id] = (spec, _node_inputs(node_id, sources))
    for node_id, (spec, sources) in table.items():
        for source in sources:
            if source not in table and source not in inputs:
                raise ShapeError(f"{owner_label(spec)} (node {node_id!r}) reads {source!r}, "
                                 "which is neither a node nor a model input")
    if outputs is None:
        read = {source for _, sources in table.values() for source in sources}
        outputs = [node_id for node_id in table if node_id not in read]
    else:
        outputs = list(outputs)
        for node_id in outputs:
            if node_id not in table:
                raise ShapeError(f"output {node_id!r} is not a node of the graph")
    return Graph(table, {k: tuple(v) for k, v in inputs.items()}, outputs, default_data_format)


class Graph:
    """The result of :func:`graph`.

    Attributes
    ----------
    specs : dict
        Node id -> normalised spec.
    node_inputs : dict
        Node id -> tuple of input ids.
    inputs : dict
        Model input id -> shape.
    outputs : list
        Output node ids.
    order : list
        Node ids, every node after its inputs.
    shapes : dict
        Output shape of every node, and the shape of every model input.
    consumers : dict
        Id (node or input) -> the node ids that read it, in ``order``.
    """

    def __init__(self, table, inputs, outputs, default_data_format=DEFAULT_DATA_FORMAT):
        self.specs = {node_id: spec for node_id, (spec, _) in table.items()}
        self.node_inputs = {node_id: sources for node_id, (_, sources) in table.items()}
        self.inputs = inputs
        self.outputs = outputs
        self.order = _topological(table, inputs)
        self.shapes = dict(inputs)
        self.consumers = {key: [] for key in (*inputs, *self.order)}
        for node_id in self.order:
            spec, sources = self.specs[node_id], self.node_inputs[node_id]
            for source in sources:
                self.consumers[source].append(node_id)
            kind = get_kind(spec["kind"])
            if kind.inputs == 1:
                if len(sources) != 1:
                    raise ShapeError(f"{owner_label(spec)} (node {node_id!r}) takes one input, "
                                     f"got {len(sources)}")
                shape = self.shapes[sources[0]]
            else:
                shape = [self.shapes[source] for source in sources]
            self.shapes[node_id] = kind.output_shape(spec, shape, spec)
        self._layout = None
        self._default_format = default_data_format

    def __repr__(self):
        return (f"Graph({len(self.order)} nodes, inputs {list(self.inputs)}, "
                f"outputs {self.outputs})")

    @property
    def output_shapes(self):
        """The output shapes, in ``outputs`` order."""
        return [self.shapes[node_id] for node_id in self.outputs]

    # --------------------------------------------------------- spatial layout
    def _spatial_layout(self):
        """``(rank, data_format)`` of the spatial nodes (the first one's; channels_last if none)."""
        if self._layout is None:
            layout = None
            for node_id in self.order:
                spec = self.specs[node_id]
                if get_kind(spec["kind"]).spatial:
                    layout = (spec["rank"], spec["data_format"])
                    break
            if layout is None:
                ndim = len(next(iter(self.inputs.values())))
                layout = (max(ndim - 2, 0), self._default_format)
            self._layout = layout
        return self._layout

    @property
    def data_format(self):
        return self._spatial_layout()[1]

    @property
    def spatial_axes(self):
        """Indices of the spatial axes in the nodes' shapes."""
        rank, fmt = self._spatial_layout()
        return spatial_axes(rank + 2, fmt)

    def ancestors(self, node_ids):
        """The nodes (and model inputs) the given nodes depend on, themselves included."""
        seen, stack = set(), list(node_ids)
        while stack:
            key = stack.pop()
            if key in seen:
                continue
            seen.add(key)
            stack.extend(self.node_inputs.get(key, ()))
        return seen

    def check_blockwise(self, outputs=None):
        """Raise :class:`ShapeError` unless the outputs can be computed block by block.

        Every node they depend on must keep the spatial layout (one rank and data
        format) and have a block-wise role (not a ``Flatten``, a global pooling,
        an opaque layer ...).
        """
        outputs = self.outputs if outputs is None else list(outputs)
        needed = self.ancestors(outputs)
        rank, fmt = self._spatial_layout()
        ndim = rank + 2
        for key in self.inputs:
            if key in needed and len(self.inputs[key]) != ndim:
                raise ShapeError(f"model input {key!r} has shape {self.inputs[key]!r}; the "
                                 f"spatial layers expect rank {ndim}")
        for node_id in self.order:
            if node_id not in needed:
                continue
            spec = self.specs[node_id]
            kind = get_kind(spec["kind"])
            role = self.node_role(node_id)
            if role not in _BLOCK_ROLES:
                raise ShapeError(f"{owner_label(spec)} (node {node_id!r}, {kind.name}) needs "
                                 "whole spatial axes: the graph cannot run block by block")
            if kind.spatial and (spec["rank"], spec["data_format"]) != (rank, fmt):
                raise ShapeError(f"{owner_label(spec)} (node {node_id!r}) changes the spatial "
                                 f"layout ({spec['rank']}D {spec['data_format']}, not "
                                 f"{rank}D {fmt})")

    def node_role(self, node_id):
        """How the node runs on a block in this graph's layout: a key of ``shapes.ROLES``
        (its kind's :meth:`~cthulhu.shapes.Kind.blockwise`, given the layout and, for a
        kind with several inputs, their shapes)."""
        spec = self.specs[node_id]
        kind = get_kind(spec["kind"])
        rank, fmt = self._spatial_layout()
        if kind.inputs == 1:
            return kind.blockwise(spec, fmt, rank + 2)
        sources = self.node_inputs[node_id]
        return kind.blockwise(spec, fmt, rank + 2,
                              input_shapes=[self.shapes[s] for s in sources])

    def node_steps(self, node_id):
        """The node's range map along each spatial axis (``None``: positions kept)."""
        spec = self.specs[node_id]
        kind = get_kind(spec["kind"])
        if kind.inputs != 1 or kind.role == "pointwise":
            return (None,) * len(self.spatial_axes)
        n_in = self.shapes[self.node_inputs[node_id][0]]
        n_out = self.shapes[node_id]
        return tuple(kind.steps(spec, j, n_in[idx], n_out[idx])
                     for j, idx in enumerate(self.spatial_axes))

    # ------------------------------------------------------------ halos
    def axis_info(self, output=None, input=None):
        """Receptive field, jump, offset and halo per spatial axis, from one input to one output.

        What :meth:`Chain.axis_info <cthulhu.shapes.chain.Chain.axis_info>` gives for a
        chain, over the graph: the range an output range depends on is the *union*
        (hull) over the paths from ``input`` to ``output`` (each node reads the union
        of what its readers need, as in :meth:`plan`), so ``halo`` is the widest
        reach of any path. ``jump`` must be the same along every path (a merge of a
        strided path and an unstrided one whose lengths happen to agree has none:
        :class:`ShapeError` naming the merge).

        Parameters
        ----------
        output, input : node id and model input id, optional
            Default: the first output and the first model input.

        Returns
        -------
        tuple of GraphAxisInfo
            One per spatial axis (the attributes of :class:`~cthulhu.shapes.AxisInfo`).

        Examples
        --------
        >>> conv = {"kind": "conv", "rank": 1, "filters": 1, "kernel_size": 3, "padding": "same"}
        >>> g = graph([("a", conv, "x"), ("b", conv, "a"), ("c", conv, "b"),
        ...            ("sum", {"kind": "merge"}, ["a", "c"])], {"x": (1, 20, 1)})
        >>> info = g.axis_info()[0]
        >>> info.halo, info.receptive_field, info.jump
        ((3, 3), 7, Fraction(1, 1))
        """
        output = self.outputs[0] if output is None else output
        input = next(iter(self.inputs)) if input is None else input
        if output not in self.specs:
            raise ShapeError(f"{output!r} is not a node of the graph")
        if input not in self.inputs:
            raise ShapeError(f"{input!r} is not a model input of the graph")
        self.check_blockwise([output])
        nodes = [n for n in self.order if n in self.ancestors([output])]
        return tuple(self._graph_axis(j, idx, nodes, input, output)
                     for j, idx in enumerate(self.spatial_axes))

    def _graph_axis(self, j, idx, nodes, input, output):
        steps = {n: self.node_steps(n)[j] for n in nodes}
        # jump of every node's output from the input (input samples per sample), forward
        jumps = {input: Fraction(1)}
        for n in nodes:
            found = {jumps[s] for s in self.node_inputs[n] if s in jumps}
            if not found:
                continue                       # not reached from this input
            if len(found) > 1:
                raise ShapeError(f"{owner_label(self.specs[n])} (node {n!r}) joins paths that "
                                 f"scale spatial axis {idx} differently (jumps "
                                 f"{sorted(found)}): the graph has no single halo")
            jump, step = found.pop(), steps[n]
            if step is not None:
                jump = jump / step.s if step.up else jump * step.s
            jumps[n] = jump
        if output not in jumps:
            raise ShapeError(f"output {output!r} does not depend on input {input!r}")
        jump = jumps[output]
        # an output shift by M shifts every node's output by whole samples
        m_out = 1
        for j_n in jumps.values():
            m_out = lcm(m_out, (jump / j_n).denominator)
        reached = [n for n in nodes if n in jumps]
        known = all(steps[n] is None or steps[n].lo is not None for n in reached)
        if not known:   # the receptive field does not depend on the paddings
            steps = {n: None if s is None else _Step(s.up, s.s, s.K, 0, s.n_in, s.n_out, s.clamp)
                     for n, s in steps.items()}

        def back(a, b):
            need = {output: (a, b)}
            for n in reversed(reached):
                if n not in need:
                    continue
                step, (lo, hi) = steps[n], need[n]
                if step is not None:
                    lo, hi = step.back(lo, hi)
                for source in self.node_inputs[n]:
                    if source in jumps:        # the union over the readers
                        old = need.get(source, (lo, hi))
                        need[source] = (min(old[0], lo), max(old[1], hi))
            return need[input]

        multiple = int(m_out * jump)
        info = GraphAxisInfo(idx, jump, m_out, multiple)
        if known:
            lo, hi = back(0, m_out)
            info.halo = (-lo, hi - multiple)
            info.depth = (max(0, -lo), max(0, hi - multiple))
            info.offset = back(0, 1)[0]
        widths = (b - a for a, b in (back(i, i + 1) for i in range(min(m_out, 4096))))
        info.receptive_field = max(widths, default=1)
        return info

    # ------------------------------------------------------------- blocks
    def block_plan(self, out_start, out_stop, output=None):
        """How to compute the block ``[out_start, out_stop)`` of one output.

        ``output`` is an output node id (default: the first output). The
        other outputs are not computed. See :meth:`plan`.
        """
        if output is None:
            output = self.outputs[0]
        return self.plan({output: tuple(zip(out_start, out_stop, strict=True))})

    def plan(self, ranges):
        """How to compute blocks of several outputs at once.

        Parameters
        ----------
        ranges : dict
            Output node id -> one ``(start, stop)`` per spatial axis, in that
            node's output coordinates.

        Returns
        -------
        GraphBlockPlan
        """
        if not isinstance(ranges, dict) or not ranges:
            raise ShapeTypeError(f"plan() takes {{output id: ((start, stop), ...)}}, got "
                                 f"{ranges!r}")
        self.check_blockwise(ranges)
        axes = self.spatial_axes
        need = {}
        for node_id, block in ranges.items():
            if node_id not in self.specs:
                raise ShapeError(f"{node_id!r} is not a node of the graph")
            block = tuple(tuple(pair) for pair in block)
            self._check_block(node_id, block)
            if all(a < b for a, b in block):
                need[node_id] = _hull(need.get(node_id), block)
        blocks = {}
        for node_id in reversed(self.order):
            if node_id not in need:
                continue
            spec = self.specs[node_id]
            steps = self.node_steps(node_id)
            for step in steps:
                _require_known(step, spec)
            parts = [step_block(step, a, b) for step, (a, b) in zip(steps, need[node_id],
                                                                     strict=True)]
            block = NodeBlock(spec, *(tuple(part[k] for part in parts) for k in range(5)))
            block.inputs = self.node_inputs[node_id]
            block.from_zeros = any(stop <= start for start, stop in block.in_range)
            if not block.from_zeros:
                for source in block.inputs:
                    need[source] = _hull(need.get(source), block.in_range)
            blocks[node_id] = block
        for block in blocks.values():
            if not block.from_zeros:
                block.reads = tuple(_relative(block.in_range, need[source])
                                    for source in block.inputs)
        ordered = {node_id: blocks[node_id] for node_id in self.order if node_id in blocks}
        input_ranges = {key: need[key] for key in self.inputs if key in need}
        return GraphBlockPlan(input_ranges, dict(ranges), ordered, len(axes))

    def _check_block(self, node_id, block):
        shape = self.shapes[node_id]
        axes = self.spatial_axes
        if len(block) != len(axes):
            raise ShapeError(f"a block of {node_id!r} needs one (start, stop) per spatial axis "
                             f"({len(axes)}), got {block!r}")
        for idx, (a, b) in zip(axes, block, strict=True):
            n = shape[idx]
            if not (is_int(n) and is_int(a) and is_int(b)):
                raise ShapeError(f"block plans need known int sizes; axis {idx} of {node_id!r} "
                                 f"has size {n} and the block is [{a}, {b})")
            if not 0 <= a <= b <= n:
                raise ShapeError(f"block [{a}, {b}) is not inside axis {idx} of {node_id!r} "
                                 f"(length {n})")


def _hull(old, new):
    """The smallest ranges covering ``old`` (or ``None``) and ``new``, per axis."""
    if old is None:
        return tuple(new)
    return tuple((min(a, c), max(b, d)) for (a, b), (c, d) in zip(old, new, strict=True))


def _relative(in_range, computed):
    return tuple((a - base, b - base) for (a, b), (base, _) in zip(in_range, computed,
                                                                   strict=True))


class NodeBlock(LayerBlock):
    """One node's part of a :class:`GraphBlockPlan`: a :class:`LayerBlock` plus where it reads.

    Attributes (beside :class:`LayerBlock`'s)
    -----------------------------------------
    inputs : tuple
        The node's input ids.
    reads : tuple or None
        Per input, the ``(start, stop)`` per axis of ``in_range`` *within
        that input's computed block* (a node's ``out_range``, a model input's
        ``input_ranges`` entry): the slice to take. ``None`` when ``from_zeros``.
    from_zeros : bool
        ``in_range`` is empty on some axis (only the node's padding lies under
        the block): start from a zero array of ``len(in_range) + zeros``
        samples per axis (core form) and read nothing.
    """

    __slots__ = ("inputs", "reads", "from_zeros")

    def __init__(self, spec, in_range, out_range, pads, zeros, keep):
        super().__init__(spec, in_range, out_range, pads, zeros, keep)
        self.inputs, self.reads, self.from_zeros = (), None, False

    def __repr__(self):
        kind = self.spec.get("kind") if self.spec else None
        return (f"NodeBlock({kind}, inputs={self.inputs}, in={self.in_range}, "
                f"out={self.out_range}, reads={self.reads}, pads={self.pads}, "
                f"zeros={self.zeros}, keep={self.keep}, from_zeros={self.from_zeros})")


class GraphBlockPlan:
    """How to compute output blocks of a graph.

    Attributes
    ----------
    input_ranges : dict
        Model input id -> the ``(start, stop)`` per spatial axis to read (only
        the inputs the block needs).
    output_ranges : dict
        Output node id -> the requested block.
    nodes : dict
        Node id -> :class:`NodeBlock`, for the nodes that run, every node after
        its inputs. A node's result covers its ``out_range``; an output's
        requested block is its slice ``[start - out_range start, ...)``.
    """

    __slots__ = ("input_ranges", "output_ranges", "nodes", "rank")

    def __init__(self, input_ranges, output_ranges, nodes, rank):
        self.input_ranges, self.output_ranges, self.nodes = input_ranges, output_ranges, nodes
        self.rank = rank

    def output_slice(self, output):
        """The requested block of ``output`` within its node's computed ``out_range``."""
        block = self.nodes.get(output)
        wanted = self.output_ranges[output]
        if block is None:
            return tuple((0, 0) for _ in wanted)
        return _relative(wanted, block.out_range)

    def __repr__(self):
        return (f"GraphBlockPlan(inputs={self.input_ranges}, outputs={self.output_ranges}, "
                f"{len(self.nodes)} nodes)")


class GraphAxisInfo(AxisInfo):
    """:meth:`Graph.axis_info`'s answer for one spatial axis: the attributes of
    :class:`~cthulhu.shapes.AxisInfo` (``halo``, ``depth`` and ``offset`` are ``None``
    where a padding depends on an unknown size)."""

    __slots__ = ()

    def __init__(self, axis, jump, output_block_multiple, block_multiple):
        self.axis, self.jump = axis, jump
        self.output_block_multiple, self.block_multiple = output_block_multiple, block_multiple
        self.halo = self.depth = self.offset = None
        self.receptive_field = 1
