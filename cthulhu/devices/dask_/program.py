"""A whole model as a block program: every layer run in memory on one block.

:class:`BlockProgram` turns a chain of layers into stages. A stage holds the
layer's range maps along each spatial axis (from :func:`cthulhu.shapes.chain`,
the only home of that arithmetic) and the *core* it runs on a block: the
layer itself for position-wise layers and up-sampling, a ``valid`` copy of the
layer (same weights) for convolutions, nothing for cropping and zero-padding.
For each output block, :func:`cthulhu.shapes.axis_maps.plan_block` says what
every layer reads, which zeros to add (only where the block touches the
volume's true border) and which part of the core's output to keep.

The program is plain data plus layers: it pickles, so ``dask.distributed``
workers receive it once per task graph.
"""

from __future__ import annotations

from dataclasses import dataclass

from cthulhu import shapes
from cthulhu.shapes.axis_maps import plan_block

from .threads import kernel_threads

__all__ = ["Stage", "BlockProgram", "Unblockable", "model_layers"]

# What each block-wise role of a shape kind (cthulhu.shapes.ROLES) runs on a block: a
# 'valid' copy of the layer, nothing (the zeros and the slice are the result), or the
# layer itself. A window kind whose border is not zeros (pooling) has no 'valid' copy
# that reproduces it yet.
_CORE_COPY_ROLES = ("window",)
_NO_CORE_ROLES = ("pad", "crop")
_LAYER_ROLES = ("pointwise", "resample")


class Unblockable(ValueError):
    """The model has a layer that needs whole spatial axes (``Flatten``, ``Reshape``, ...)."""


@dataclass
class Stage:
    """One layer of a block program.

    core : callable or None
        Runs on a block (batch, spatial and channel axes); ``None`` is the identity.
    steps : tuple
        The layer's range map along each spatial axis (``None``: positions kept),
        as :meth:`cthulhu.shapes.Chain.layer_steps` gives them.
    name : str
        For error messages.
    folded_into : int or None
        For a layer folded into an earlier stage's op (:mod:`cthulhu.engine.fusion`, its
        core then ``None``): that stage's index; ``unfolded`` is the layer itself, run
        when a block starts after that stage (a block planned from zeros).
    """

    core: object
    steps: tuple
    name: str
    folded_into: int | None = None
    unfolded: object = None


class _FoldedCore:
    """A producer's core that runs a folded batch norm and activation in its op's epilogue
    (:mod:`cthulhu.engine.fusion`), or, where the fold is declined (float16), the chain's
    layers one after the other."""

    def __init__(self, core, fold):
        self.core, self.fold = core, fold

    def __call__(self, x, *extras):
        extra = self.fold.epilogue(x)
        if extra is None:
            y = self.core(x)
            for layer in (self.fold.norm_layer, self.fold.activation_layer):
                y = y if layer is None else layer(y)
            return y
        return self.core.call_and_mask(x, epilogue=extra)[0]


def model_layers(model):
    """The layers of a model in call order, for a linear chain (``Pile`` or a chain-shaped ``Lump``).

    Nested models are expanded. A ``Lump`` with branches, or with several
    inputs or outputs, raises :class:`Unblockable`.
    """
    if getattr(model, "layers", None) is None:
        raise TypeError(f"expected a cthulhu model (Pile or Lump), got {type(model).__name__}")
    if hasattr(model, "outputs") and hasattr(model, "inputs"):
        layers = _lump_chain(model)
    else:
        layers = [layer for layer in model.layers
                  if type(layer).__name__ not in ("InputLayer", "Input")]
    chain = []
    for layer in layers:
        if getattr(layer, "layers", None) is not None:
            chain.extend(model_layers(layer))
        else:
            chain.append(layer)
    return chain


def _lump_chain(model):
    inputs, outputs = list(model.inputs), list(model.outputs)
    label = f"model {getattr(model, 'name', '')!r}"
    if len(inputs) != 1 or len(outputs) != 1:
        raise Unblockable(f"{label}: out-of-core prediction runs models with one input and one "
                          f"output, got {len(inputs)} and {len(outputs)}")
    chain, tensor = [], outputs[0]
    while tensor.node.inputs:
        if len(tensor.node.inputs) != 1:
            raise Unblockable(f"{label}: layer {tensor.node.layer.name!r} joins several tensors; "
                              "out-of-core prediction runs chains of layers only")
        chain.append(tensor.node.layer)
        tensor = tensor.node.inputs[0]
    if tensor is not inputs[0]:
        raise Unblockable(f"{label}: its output does not come from its input through one chain")
    chain.reverse()
    return chain


def _valid_copy(layer, input_shape):
    """``layer`` with ``padding='valid'`` (and no ``output_padding``), same weights."""
    config = dict(layer.get_config())
    config["padding"] = "valid"
    if "output_padding" in config:
        config["output_padding"] = None
    config["name"] = f"{layer.name}_block_core"
    copy = type(layer).from_config(config)
    copy.build(input_shape)
    copy.set_weights(layer.get_weights())
    return copy


def _spec_of(layer):
    """The layer's normalised shape spec (``cthulhu.shapes.layer_spec``), or ``None``."""
    try:
        return shapes.layer_spec(layer)
    except (ValueError, TypeError, AttributeError):
        return None


class BlockProgram:
    """A chain of layers prepared to run on blocks of a volume.

    Parameters
    ----------
    layers : list of layers
        Built layers, in order (see :func:`model_layers`).
    input_shape : tuple of int
        The whole volume's shape, batch axis included.
    folds : callable, optional
        ``folds(layers, shapes)``: the fold plan of the chain (the model's
        ``fold_chain``); a folded batch norm and activation run in the producer's op.

    Attributes
    ----------
    shapes : list of tuple
        The input shape of every layer, then the output shape.
    data_format : str
    """

    def __init__(self, layers, input_shape, folds=None):
        self.input_shape = tuple(int(n) for n in input_shape)
        self.data_format = _data_format(layers)
        self.rank = len(self.input_shape) - 2
        specs = [self._checked_spec(layer) for layer in layers]
        chain = shapes.chain(specs, self.input_shape)
        if chain.spatial_layers < len(specs):
            layer = layers[chain.spatial_layers]
            raise Unblockable(f"{_owner(layer)}: {chain.stop_reason}, so the model cannot run "
                              "block by block; run that part on the computed result")
        self.shapes = [self.input_shape, *(tuple(s) for s in chain.output_shapes)]
        self.output_shape = self.shapes[-1]
        # What predict_volume checks block sizes against (None where a padding is unknown).
        self.halo, self.jump = chain.halo, chain.jump
        self.axis_info = chain.axes  # receptive field, jump, offset per axis (metadata.py)
        self.stages = [Stage(self._core(layer, spec, shape), steps, _owner(layer))
                       for layer, spec, shape, steps in zip(layers, specs, self.shapes[:-1],
                                                           chain.layer_steps(), strict=True)]
        if folds is not None:
            self._fold(layers, folds(layers, self.shapes))

    def _fold(self, layers, plan):
        """Batch norms and activations after a convolution run in its op's epilogue:
        ``plan`` is the model's (``Model.fold_chain``, :mod:`cthulhu.engine.fusion`), stage
        ``i`` its node ``i + 1``."""
        for fold in plan.folds:
            producer = self.stages[fold.producer - 1]
            if producer.core is None:
                continue
            producer.core = _FoldedCore(producer.core, fold)
            for node in fold.absorbed:
                stage = self.stages[node - 1]
                stage.core, stage.unfolded = None, layers[node - 1]
                stage.folded_into = fold.producer - 1

    @classmethod
    def from_stages(cls, stages, shapes_, data_format):
        """A program from ready stages and the shapes between them (used by the per-op path)."""
        program = cls.__new__(cls)
        program.stages, program.shapes = list(stages), [tuple(s) for s in shapes_]
        program.input_shape, program.output_shape = program.shapes[0], program.shapes[-1]
        program.data_format, program.rank = data_format, len(program.input_shape) - 2
        program.halo = program.jump = program.axis_info = None
        return program

    def _spatial(self, shape):
        return shapes.split_channels(shape, self.data_format)[1]

    def _role(self, spec):
        if spec is None:
            return None
        kind = shapes.get_kind(spec["kind"])
        role = kind.blockwise(spec, self.data_format, self.rank + 2)
        if role in _CORE_COPY_ROLES and kind.border != "zeros":
            return None
        return role

    def _checked_spec(self, layer):
        spec = _spec_of(layer)
        if shapes.is_channels_first(self.data_format) and _normalises_last_axis(layer):
            raise Unblockable(
                f"{_owner(layer)}: its activation normalises over the last axis, a spatial "
                "axis in channels_first, so the model cannot run block by block; run that "
                "part on the computed result")
        if self._role(spec) not in (*_CORE_COPY_ROLES, *_NO_CORE_ROLES, *_LAYER_ROLES):
            raise Unblockable(
                f"{_owner(layer)}: uses whole spatial axes (or works in a way the Dask device "
                "cannot see), so the model cannot run block by block; run that part on the "
                "computed result")
        return spec

    def _core(self, layer, spec, shape):
        role = self._role(spec)
        if role in _NO_CORE_ROLES:
            return None
        if role in _CORE_COPY_ROLES:
            batchless = (None, *shape[1:])
            return _valid_copy(layer, _unknown_spatial(batchless, self.data_format))
        return layer  # position-wise layers, Daoloth on the channels, up-sampling

    @property
    def spatial_axes(self):
        return shapes.spatial_axes(self.rank + 2, self.data_format)

    def plan(self, out_range):
        """The :class:`cthulhu.shapes.BlockPlan` of one output block."""
        return plan_block([stage.steps for stage in self.stages], out_range)

    def run(self, read, out_range, batch=(0, 1), dtype="float32", extras=(), plan=None):
        """The model's output over ``out_range`` (per spatial axis) for ``batch`` items.

        ``read(index)`` returns the input region ``index`` (a tuple of slices
        over the batch and spatial axes, all channels) as a NumPy array (or an
        array of the library the layers should run on). ``extras`` (a per-op
        kernel and bias) are passed to the cores after the block. ``plan`` is
        ``self.plan(out_range)`` when the caller has it already.
        """
        import array_api_compat as aac

        if plan is None:
            plan = self.plan(out_range)
        first = plan.from_zeros
        with kernel_threads():
            if first is None:
                first = 0
                x = self._read(read, plan.input_range, batch, dtype,
                               plan.layers[0].zeros if plan.layers else None)
            else:
                x = self._zeros(read, first, plan.layers[first], batch, dtype)
            for i in range(first, len(self.stages)):
                stage, lb = self.stages[i], plan.layers[i]
                if i > first:
                    x = self._pad(x, lb.zeros)
                if stage.core is not None:
                    x = stage.core(x, *extras) if extras else stage.core(x)
                elif stage.folded_into is not None and stage.folded_into < first:
                    x = stage.unfolded(x)   # its producer ran before this block's start
                x = self._keep(x, lb.keep)
        xp = aac.array_namespace(x)
        return xp.asarray(x)

    def _index(self, ranges):
        index = [slice(None)] * (self.rank + 2)
        for axis, (start, stop) in zip(self.spatial_axes, ranges, strict=True):
            index[axis] = slice(start, stop)
        return tuple(index)

    def _keep(self, x, keep):
        axes = self.spatial_axes
        if all(a == 0 and b == x.shape[axis] for axis, (a, b) in zip(axes, keep, strict=True)):
            return x
        return x[self._index(keep)]

    def _read(self, read, src, batch, dtype, zeros):
        """The input region, in ``dtype``, with ``zeros`` around it (one copy at most)."""
        import array_api_compat as aac

        index = list(self._index(src))
        index[0] = slice(*batch)
        x = read(tuple(index))
        xp = aac.array_namespace(x)
        target = getattr(xp, str(dtype))
        if zeros is not None and any(lo or hi for lo, hi in zeros):
            # Border block: the conversion to ``dtype`` and the border zeros in one copy.
            return self._pad(x, zeros, target)
        if x.dtype != target:
            x = xp.astype(x, target)
        return x

    def _pad(self, x, zeros, dtype=None):
        if dtype is None and not any(lo or hi for lo, hi in zeros):
            return x
        import array_api_compat as aac

        xp = aac.array_namespace(x)
        widths = [(0, 0)] * (self.rank + 2)
        for axis, pair in zip(self.spatial_axes, zeros, strict=True):
            widths[axis] = tuple(pair)
        padded = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, widths, strict=True))
        out = xp.empty(padded, dtype=x.dtype if dtype is None else dtype, device=aac.device(x))
        # Zero only the border slabs, then copy the data once into the middle.
        for axis, (lo, hi) in enumerate(widths):
            for start, stop in ((0, lo), (padded[axis] - hi, padded[axis])):
                if stop > start:
                    slab = [slice(None)] * len(padded)
                    slab[axis] = slice(start, stop)
                    out[tuple(slab)] = 0
        inner = tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape, widths, strict=True))
        out[inner] = x
        return out

    def _zeros(self, read, i, lb, batch, dtype):
        """Layer ``i``'s input when only zeros lie under the block there."""
        import array_api_compat as aac

        shape = list(self.shapes[i])
        shape[0] = batch[1] - batch[0]
        for axis, (start, stop), (lo, hi) in zip(self.spatial_axes, lb.in_range, lb.zeros,
                                                 strict=True):
            shape[axis] = stop - start + lo + hi
        # Nothing is read for this block: a one-sample probe tells the reader's library.
        probe = read(tuple(slice(0, 1) for _ in range(self.rank + 2)))
        xp = aac.array_namespace(probe)
        return xp.zeros(tuple(shape), dtype=getattr(xp, str(dtype)), device=aac.device(probe))


def _normalises_last_axis(layer):
    """Whether the layer's activation mixes the positions of the last axis (softmax)."""
    from cthulhu import activations

    return activations.name_of(getattr(layer, "activation", None)) in ("softmax", "log_softmax")


def _owner(layer):
    return f"{type(layer).__name__} {getattr(layer, 'name', '')!r}"


def _unknown_spatial(shape, data_format):
    shape = list(shape)
    axes = shapes.spatial_axes(len(shape), data_format)
    for axis in axes:
        shape[axis] = None
    return tuple(shape)


def _data_format(layers):
    formats = set()
    for layer in layers:
        spec = layer.shape_spec() if hasattr(layer, "shape_spec") else None
        fmt = (spec or {}).get("data_format") or getattr(layer, "data_format", None)
        if fmt is not None:
            formats.add(fmt)
    if len(formats) > 1:
        raise ValueError(f"the model mixes data formats {sorted(formats)}; out-of-core prediction "
                         "needs one layout for the whole chain")
    if formats:
        return formats.pop()
    # No layer says: the user's default, as the layers' data_format=None (cthulhu.shapes
    # reads no configuration).
    from cthulhu import config

    return config.image_data_format()
