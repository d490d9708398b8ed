"""Hypothesis strategies for small models of spatial layers (shared by the Dask tests)."""

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from cthulhu import layers as L
from cthulhu.models import Pile

_CONV = {2: L.Cthalpa2D, 3: L.Cthalpa3D}
_TRANSPOSE = {2: L.Cthalpa2DTranspose, 3: L.Cthalpa3DTranspose}
_UP = {2: L.UbboSathla2D, 3: L.UbboSathla3D}
_DEPTHWISE = {2: L.DepthwiseCthalpa2D, 3: L.DepthwiseCthalpa3D}
_SEPARABLE = {2: L.SeparableCthalpa2D, 3: L.SeparableCthalpa3D}
# the linear interpolation of each rank (UbboSathla2D's bilinear, UbboSathla3D's trilinear)
_LINEAR = {2: "bilinear", 3: "trilinear"}
_CROP = {2: L.Cropping2D, 3: L.Cropping3D}
_PAD = {2: L.Xexanoth2D, 3: L.Xexanoth3D}


@st.composite
def layer_configs(draw, rank):
    """One layer as (kind, kwargs); kwargs are plain values so failures print readably."""
    kind = draw(st.sampled_from(["conv", "conv", "conv", "transpose", "up", "crop", "pad",
                                 "act", "depthwise", "separable"]))
    if kind in ("depthwise", "separable"):
        stride = draw(st.integers(1, 2))
        dilation = 1 if stride > 1 else draw(st.integers(1, 2))
        kwargs = {"kernel_size": draw(st.integers(1, 3)), "strides": stride,
                  "padding": draw(st.sampled_from(["same", "valid"])), "dilation_rate": dilation,
                  "depth_multiplier": draw(st.integers(1, 2))}
        if kind == "separable":
            kwargs["filters"] = draw(st.integers(1, 3))
        return kind, kwargs
    if kind == "conv":
        stride = draw(st.integers(1, 2))
        dilation = 1 if stride > 1 else draw(st.integers(1, 2))
        return kind, {"filters": draw(st.integers(1, 3)), "kernel_size": draw(st.integers(1, 3)),
                      "strides": stride, "padding": draw(st.sampled_from(["same", "valid"])),
                      "dilation_rate": dilation,
                      "activation": draw(st.sampled_from([None, "relu", "tanh"]))}
    if kind == "transpose":
        stride = draw(st.integers(1, 3))
        padding = draw(st.sampled_from(["same", "valid"]))
        kernel = draw(st.integers(1, 3))
        output_padding = draw(st.one_of(st.none(), st.integers(0, stride - 1)))
        if output_padding is not None and padding == "same" and kernel % 2 == 0 and \
                output_padding == 0:
            output_padding = None  # TensorFlow rejects this combination; so does the algebra
        return kind, {"filters": draw(st.integers(1, 2)), "kernel_size": kernel,
                      "strides": stride, "padding": padding, "output_padding": output_padding}
    if kind == "up":
        kwargs = {"size": draw(st.integers(1, 2)),
                  "interpolation": draw(st.sampled_from(["nearest", _LINEAR[rank]]))}
        return kind, kwargs
    if kind in ("crop", "pad"):
        pairs = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(rank))
        key = "cropping" if kind == "crop" else "padding"
        return kind, {key: pairs}
    return kind, {"activation": draw(st.sampled_from(["relu", "sigmoid"]))}


def build_layer(kind, kwargs, rank, data_format="channels_last"):
    kwargs = dict(kwargs)
    if kind != "act":
        kwargs["data_format"] = data_format
    if kind == "conv":
        return _CONV[rank](**kwargs)
    if kind == "transpose":
        return _TRANSPOSE[rank](**kwargs)
    if kind == "up":
        return _UP[rank](**kwargs)
    if kind == "depthwise":
        return _DEPTHWISE[rank](**kwargs)
    if kind == "separable":
        return _SEPARABLE[rank](**kwargs)
    if kind == "crop":
        return _CROP[rank](**kwargs)
    if kind == "pad":
        return _PAD[rank](**kwargs)
    return L.Azatoth(kwargs["activation"])


def build_model(configs, rank, channels, seed=0, data_format="channels_last"):
    """A built Pile of the drawn layers with seeded random weights and biases."""
    layers = [build_layer(kind, kwargs, rank, data_format) for kind, kwargs in configs]
    spatial = (None,) * rank
    input_shape = (*spatial, channels) if data_format == "channels_last" else (channels, *spatial)
    model = Pile([L.InputLayer(input_shape=input_shape), *layers])
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(w.shape).astype(np.float32) * 0.5
               for w in model.get_weights()]
    model.set_weights(weights)
    return model


class Case(tuple):
    """``(configs, rank, channels, shape)`` plus ``data_format`` and a ``model()`` builder."""

    data_format = "channels_last"

    def model(self, seed=0):
        configs, rank, channels, _ = self
        return build_model(configs, rank, channels, seed, self.data_format)


@st.composite
def model_cases(draw, ranks=(2, 3), max_layers=3, max_size=10,
                formats=("channels_last", "channels_first")):
    """A :class:`Case` (model layers, rank, channels, volume shape incl. batch) whose
    output is not empty; ``case.model()`` builds the model."""
    rank = draw(st.sampled_from(ranks))
    data_format = draw(st.sampled_from(formats))
    configs = draw(st.lists(layer_configs(rank), min_size=1, max_size=max_layers))
    if all(kind == "act" for kind, _ in configs):
        data_format = "channels_last"  # no layer would say where the channels are
    channels = draw(st.integers(1, 2))
    spatial = tuple(draw(st.integers(3, max_size)) for _ in range(rank))
    batch = draw(st.integers(1, 2))
    shape = ((batch, *spatial, channels) if data_format == "channels_last"
             else (batch, channels, *spatial))
    case = Case((configs, rank, channels, shape))
    case.data_format = data_format
    try:
        out = case.model().compute_output_shape(shape)
    except ValueError:
        assume(False)
    out = tuple(out)
    assume(all(isinstance(n, int) and n >= 1 for n in out))
    assume(np.prod(out) <= 40_000)
    return case


def chunks_for(draw, shape, minimum=1):
    """Chunk sizes per axis that need not divide anything (batch and channels too)."""
    return tuple(draw(st.integers(min(minimum, n), n)) for n in shape)
