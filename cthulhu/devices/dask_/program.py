"""A whole model as a block program: every layer run in memory on one block.

:class:`BlockProgram` turns a chain of layers into stages. A stage knows how its
layer maps index ranges along each spatial axis (:class:`~.plan.AxisMap`, from
the layer's ``shape_spec()`` and the padding amounts of :mod:`cthulhu.shapes`)
and holds the *core* it runs on a block: the layer itself for position-wise
layers and up-sampling, a ``valid`` copy of the layer (same weights) for
convolutions, nothing for cropping and zero-padding. Border zeros and crops are
applied by the program, only where the block touches the volume's true border.

The program is plain data plus layers: it pickles, so ``dask.distributed``
workers receive it once per task graph.
"""

from __future__ import annotations

from dataclasses import dataclass

from cthulhu import shapes

from .plan import AxisMap, plan_regions

__all__ = ["Stage", "BlockProgram", "Unblockable", "model_layers"]

_CONV_KINDS = ("conv", "depthwise_conv", "separable_conv")
_WHOLE_AXIS_KINDS = ("dense", "flatten", "reshape", "permute", "repeat_vector", "embedding",
                     "lstm", "opaque")


class Unblockable(ValueError):
    """The model has a layer that needs whole spatial axes (``Flatten``, ``Reshape``, ...)."""


@dataclass
class Stage:
    """One layer of a block program.

    core : callable or None
        Runs on a block (batch, spatial and channel axes); ``None`` is the identity.
    maps : tuple of AxisMap
        One per spatial axis.
    name : str
        For error messages.
    """

    core: object
    maps: tuple
    name: str


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
    """The layer's shape spec: its own ``shape_spec()``, else ``cthulhu.shapes.layer_spec``."""
    spec = layer.shape_spec() if hasattr(layer, "shape_spec") else None
    if spec is None:
        try:
            spec = shapes.layer_spec(layer)
        except (ValueError, TypeError, AttributeError):
            return None
    return spec


def _maps_for(spec, n_in, owner, kind):
    """The AxisMap of every spatial axis of a layer with shape spec ``spec``."""
    rank = len(n_in)
    if kind in _CONV_KINDS:
        maps = []
        for n, k, s, d in zip(n_in, spec["kernel_size"], spec["strides"], spec["dilation_rate"],
                              strict=True):
            pad = shapes.conv_padding(n, k, s, spec["padding"], d, owner=owner)
            maps.append(AxisMap("window", shapes.dilated_kernel_size(k, d), s, pad))
        return tuple(maps), True
    if kind == "conv_transpose":
        output_padding = spec.get("output_padding") or (None,) * rank
        maps = []
        for n, k, s, d, op in zip(n_in, spec["kernel_size"], spec["strides"],
                                  spec["dilation_rate"], output_padding, strict=True):
            pad = shapes.conv_transpose_padding(k, s, spec["padding"], op, d, n=n, owner=owner)
            full = shapes.conv_transpose_padding(k, s, "valid", None, d, n=n, owner=owner)
            maps.append(AxisMap("transpose", shapes.dilated_kernel_size(k, d), s, pad, full))
        return tuple(maps), True
    if kind in ("upsampling", "upsample"):
        interpolation = spec.get("interpolation", "nearest")
        map_kind = "bilinear" if interpolation == "bilinear" else "upsample"
        return tuple(AxisMap(map_kind, 1, f) for f in spec["size"]), False
    if kind in ("cropping", "crop"):
        return tuple(AxisMap("shift", pad=tuple(pair)) for pair in spec["cropping"]), None
    if kind in ("zero_padding", "pad"):
        return tuple(AxisMap("shift", pad=(-lo, -hi)) for lo, hi in spec["padding"]), None
    if kind in ("identity", "same_shape", "pointwise", "dropout", "spatial_dropout"):
        return tuple(AxisMap("point") for _ in range(rank)), False
    raise Unblockable(f"{owner}: layer kind {kind!r} cannot run block by block")


class BlockProgram:
    """A chain of layers prepared to run on blocks of a volume.

    Parameters
    ----------
    layers : list of layers
        Built layers, in order (see :func:`model_layers`).
    input_shape : tuple of int
        The whole volume's shape, batch axis included.

    Attributes
    ----------
    shapes : list of tuple
        The input shape of every layer, then the output shape.
    data_format : str
    """

    def __init__(self, layers, input_shape):
        self.input_shape = tuple(int(n) for n in input_shape)
        self.data_format = _data_format(layers)
        self.rank = len(self.input_shape) - 2
        self.stages, self.shapes = [], [self.input_shape]
        shape = self.input_shape
        for layer in layers:
            out = tuple(layer.compute_output_shape(shape))
            self.stages.append(self._stage(layer, shape, out))
            shape = out
            self.shapes.append(shape)
        self.output_shape = shape

    @classmethod
    def from_stages(cls, stages, shapes_, data_format):
        """A program from ready stages and the shapes between them (used by the per-op path)."""
        program = cls.__new__(cls)
        program.stages, program.shapes = list(stages), [tuple(s) for s in shapes_]
        program.input_shape, program.output_shape = program.shapes[0], program.shapes[-1]
        program.data_format, program.rank = data_format, len(program.input_shape) - 2
        return program

    def _spatial(self, shape):
        return tuple(shape[1:-1]) if self.data_format == "channels_last" else tuple(shape[2:])

    def _stage(self, layer, shape, out):
        owner = f"{type(layer).__name__} {getattr(layer, 'name', '')!r}"
        spec = _spec_of(layer)
        n_in = self._spatial(shape)
        kind = None if spec is None else spec.get("kind")
        if kind == "dense" and self.data_format == "channels_last":
            kind = "pointwise"  # Daoloth on the channels axis: each position on its own
        if kind is None or kind in _WHOLE_AXIS_KINDS:
            raise Unblockable(
                f"{owner}: maps input shape {shape} to {out} using whole spatial axes (or in a "
                "way the Dask device cannot see), so the model cannot run block by block; "
                "run that part on the computed result")
        maps, needs_copy = _maps_for(spec, n_in, owner, kind)
        if needs_copy is None:
            core = None
        elif needs_copy:
            batchless = (None, *shape[1:])
            core = _valid_copy(layer, _unknown_spatial(batchless, self.data_format))
        else:
            core = layer
        return Stage(core, maps, owner)

    @property
    def in_lengths(self):
        return [self._spatial(s) for s in self.shapes[:-1]]

    @property
    def spatial_axes(self):
        start = 1 if self.data_format == "channels_last" else 2
        return tuple(range(start, start + self.rank))

    def run(self, read, out_range, batch=(0, 1), dtype="float32", extras=()):
        """The model's output over ``out_range`` (per spatial axis) for ``batch`` items.

        ``read(index)`` returns the input region ``index`` (a tuple of slices
        over the batch and spatial axes, all channels) as a NumPy array (or an
        array of the library the layers should run on). ``extras`` (a per-op
        kernel and bias) are passed to the cores after the block.
        """
        import array_api_compat as aac

        maps = [stage.maps for stage in self.stages]
        regions = plan_regions(maps, self.in_lengths, out_range)
        x = None
        for i, (stage, region) in enumerate(zip(self.stages, regions, strict=True)):
            if region is None:
                continue
            if region.src is None:
                x = self._zeros(x, i, region, batch, dtype, read)
            else:
                if x is None:
                    x = self._read(read, region.src, batch, dtype)
                x = self._pad(x, region.zeros)
            if stage.core is not None:
                x = stage.core(x, *extras) if extras else stage.core(x)
            x = x[self._index(region.keep)]
        xp = aac.array_namespace(x)
        return xp.asarray(x)

    def _index(self, ranges):
        index = [slice(None)] * (self.rank + 2)
        for axis, (start, stop) in zip(self.spatial_axes, ranges, strict=True):
            index[axis] = slice(start, stop)
        return tuple(index)

    def _read(self, read, src, batch, dtype):
        import array_api_compat as aac

        index = list(self._index(src))
        index[0] = slice(*batch)
        x = read(tuple(index))
        xp = aac.array_namespace(x)
        if x.dtype != getattr(xp, str(dtype)):
            x = xp.astype(x, getattr(xp, str(dtype)))
        return x

    def _pad(self, x, zeros):
        if not any(lo or hi for lo, hi in zeros):
            return x
        import array_api_compat as aac

        xp = aac.array_namespace(x)
        widths = [(0, 0)] * (self.rank + 2)
        for axis, pair in zip(self.spatial_axes, zeros, strict=True):
            widths[axis] = tuple(pair)
        padded_shape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, widths, strict=True))
        out = xp.zeros(padded_shape, dtype=x.dtype, device=aac.device(x))
        inner = tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape, widths, strict=True))
        out[inner] = x
        return out

    def _zeros(self, x, i, region, batch, dtype, read):
        import array_api_compat as aac

        shape = list(self.shapes[i])
        shape[0] = batch[1] - batch[0]
        for axis, (length, _) in zip(self.spatial_axes, region.zeros, strict=True):
            shape[axis] = length
        if x is None:
            # Nothing read yet: make the zeros with the reader's library.
            probe = read(tuple(slice(0, 1) for _ in range(self.rank + 2)))
            xp = aac.array_namespace(probe)
            return xp.zeros(tuple(shape), dtype=getattr(xp, str(dtype)), device=aac.device(probe))
        xp = aac.array_namespace(x)
        return xp.zeros(tuple(shape), dtype=x.dtype, device=aac.device(x))


def _unknown_spatial(shape, data_format):
    shape = list(shape)
    axes = range(1, len(shape) - 1) if data_format == "channels_last" else range(2, len(shape))
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
    return formats.pop() if formats else shapes.normalize_data_format(None)
