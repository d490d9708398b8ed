"""What the layer fuzzer draws: constructor arguments (valid and invalid) and inputs.

Every public layer of ``cthulhu.layers`` has an entry in :data:`SPACES`: its
positional arguments, and per argument a strategy of values the docs allow.
:func:`constructor_args` mixes in values from :data:`WILD` (wrong types, zero,
negative and astronomically large sizes, NaN, wrong lengths, ...) for one
argument now and then, so the invalid space is explored as well as the valid one.

Inputs (:func:`inputs`) have rank 0 to 6, sizes 0 to 5 (the layer's own rank
is drawn more often, so calls get past the rank checks), every NumPy dtype
including big-endian ones, and are sometimes a Python list or scalar instead of
an array.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from cthulhu import layers as L
from cthulhu.shapes import MAX_SIZE

# ----------------------------------------------------------------- argument values
FORMATS = st.sampled_from(["channels_last", "channels_first", None, "CHANNELS_LAST"])
ACTIVATIONS = st.sampled_from([None, "linear", "relu", "tanh", "sigmoid", "hard_sigmoid",
                               "gelu", "softmax", "elu", "selu", "softplus", "swish",
                               "exponential", "log_softmax"])
INITIALIZERS = st.sampled_from(["glorot_uniform", "zeros", "ones", "he_normal", "orthogonal",
                                "lecun_uniform", "random_normal", "identity", "uniform"])
SMALL = st.integers(1, 3)
BOOL = st.booleans()


def sizes(rank, low=1, high=3):
    """An int or a tuple/list of ``rank`` ints in ``[low, high]``."""
    one = st.integers(low, high)
    return st.one_of(one, st.tuples(*[one] * rank), st.lists(one, min_size=rank,
                                                             max_size=rank))


def pairs(rank, high=2):
    """Cropping / zero padding in every documented form."""
    one = st.integers(0, high)
    pair = st.tuples(one, one)
    forms = [one, st.tuples(*[one] * rank), st.tuples(*[pair] * rank)]
    if rank == 1:
        forms.append(pair)
    return st.one_of(*forms)


# Values that are wrong for (nearly) every argument: types, signs, sizes that can never
# fit in memory (refused at construction: above cthulhu.shapes.MAX_SIZE), lengths, NaN/inf,
# NumPy scalars where a Python value is expected. Legal sizes stay small (at most 16): a
# legal size of millions is a legal request for gigabytes, which this machine may grant.
WILD = st.one_of(
    st.sampled_from([None, True, False, 0, -1, -3, 1.5, float("nan"), float("inf"), "", "x",
                     "same", "valid", "causal", "bilinear", b"3", 2**31, 2**40, 2**63, 2**64,
                     10**30, (), (0,), (1, 2, 3, 4), ((1, 2, 3),), [[-1, 1]], {"a": 1},
                     {"top_pad": -1}, (None, 2), object(), np.int64(2), np.float32(2.0),
                     np.int64(-2), np.array([2, 2]), 3 + 0j, 16, (16, 1)]),
    st.integers(-2**70, 16),
    st.integers(MAX_SIZE + 1, 2**70),
)

# Per layer: (positional argument names, {argument: strategy of valid values}).
def _conv_space(rank, transpose=False, separable=False, depthwise=False):
    space = {
        "kernel_size": sizes(rank, 1, 3),
        "strides": sizes(rank, 1, 2),
        # 'causal' only where the padding rule has it (a plain 1D convolution)
        "padding": st.sampled_from(["valid", "same", "SAME"] + (
            ["causal"] if rank == 1 and not (transpose or separable or depthwise) else [])),
        "data_format": FORMATS,
        "dilation_rate": st.one_of(st.just(1), sizes(rank, 1, 2)),
        "activation": ACTIVATIONS,
        "use_bias": BOOL,
        "bias_initializer": st.sampled_from(["zeros", "ones", "random_normal"]),
    }
    if not depthwise:
        space["filters"] = SMALL
    if separable or depthwise:
        space["depth_multiplier"] = st.integers(1, 2)
        space["depthwise_initializer"] = INITIALIZERS
    else:
        space["kernel_initializer"] = INITIALIZERS
    if separable:
        space["pointwise_initializer"] = INITIALIZERS
    if transpose:
        space["output_padding"] = st.one_of(st.none(), sizes(rank, 0, 1))
    return space


def _lukthu_functions():
    # Functions defined for every rank and dtype, whose result LuKthu infers by probing:
    # the fuzzer checks the layer, not user functions that fail on their own.
    return st.sampled_from(sorted(LUKTHU_FUNCTIONS))


def _stack_twice(x):
    import array_api_compat

    xp = array_api_compat.array_namespace(x)
    return xp.stack([x, x], axis=x.ndim)


LUKTHU_FUNCTIONS = {"identity": lambda x: x, "stack_twice": _stack_twice}

SPACES = {
    L.Cthalpa1D: (("filters", "kernel_size"), _conv_space(1)),
    L.Cthalpa2D: (("filters", "kernel_size"), _conv_space(2)),
    L.Cthalpa3D: (("filters", "kernel_size"), _conv_space(3)),
    L.Cthalpa2DTranspose: (("filters", "kernel_size"), _conv_space(2, transpose=True)),
    L.Cthalpa3DTranspose: (("filters", "kernel_size"), _conv_space(3, transpose=True)),
    L.SeparableCthalpa1D: (("filters", "kernel_size"), _conv_space(1, separable=True)),
    L.SeparableCthalpa2D: (("filters", "kernel_size"), _conv_space(2, separable=True)),
    L.DepthwiseCthalpa2D: (("kernel_size",), _conv_space(2, depthwise=True)),
    L.Cthalpa1DTranspose: (("filters", "kernel_size"), _conv_space(1, transpose=True)),
    L.DepthwiseCthalpa1D: (("kernel_size",), _conv_space(1, depthwise=True)),
    L.DepthwiseCthalpa3D: (("kernel_size",), _conv_space(3, depthwise=True)),
    L.SeparableCthalpa3D: (("filters", "kernel_size"), _conv_space(3, separable=True)),
    L.Cropping1D: ((), {"cropping": pairs(1)}),
    L.Cropping2D: ((), {"cropping": pairs(2), "data_format": FORMATS}),
    L.Cropping3D: ((), {"cropping": pairs(3), "data_format": FORMATS}),
    L.UbboSathla1D: ((), {"size": st.integers(1, 3)}),
    L.UbboSathla2D: ((), {"size": sizes(2, 1, 3), "data_format": FORMATS,
                          "interpolation": st.sampled_from(["nearest", "bilinear"])}),
    L.UbboSathla3D: ((), {"size": sizes(3, 1, 2), "data_format": FORMATS,
                          "interpolation": st.sampled_from(["nearest", "trilinear"])}),
    L.Xexanoth1D: ((), {"padding": pairs(1)}),
    L.Xexanoth2D: ((), {"padding": pairs(2), "data_format": FORMATS}),
    L.Xexanoth3D: ((), {"padding": pairs(3), "data_format": FORMATS}),
    L.Daoloth: (("units",), {"units": SMALL, "activation": ACTIVATIONS, "use_bias": BOOL,
                             "kernel_initializer": INITIALIZERS}),
    L.Azatoth: (("activation",), {"activation": ACTIVATIONS}),
    L.Darkness: (("rate",), {"rate": st.sampled_from([0.0, 0.25, 0.5]),
                             "noise_shape": st.one_of(st.none(), st.lists(
                                 st.one_of(st.none(), st.just(1)), min_size=1, max_size=4)
                                 .map(tuple)),
                             "seed": st.one_of(st.none(), st.integers(0, 5))}),
    L.SpatialDarkness1D: (("rate",), {"rate": st.sampled_from([0.0, 0.5]),
                                      "seed": st.one_of(st.none(), st.integers(0, 5))}),
    L.SpatialDarkness2D: (("rate",), {"rate": st.sampled_from([0.0, 0.5]), "data_format": FORMATS,
                                      "seed": st.one_of(st.none(), st.integers(0, 5))}),
    L.SpatialDarkness3D: (("rate",), {"rate": st.sampled_from([0.0, 0.5]), "data_format": FORMATS,
                                      "seed": st.one_of(st.none(), st.integers(0, 5))}),
    L.Flatten: ((), {"data_format": FORMATS}),
    L.Reshape: (("target_shape",), {"target_shape": st.lists(
        st.one_of(st.integers(1, 4), st.just(-1)), min_size=1, max_size=4).map(tuple)}),
    L.Permute: (("dims",), {"dims": st.integers(1, 4).flatmap(
        lambda n: st.permutations(range(1, n + 1))).map(tuple)}),
    L.RepeatVector: (("n",), {"n": SMALL}),
    L.LuKthu: (("function",), {"function": _lukthu_functions()}),
    L.ActivityRegularization: ((), {"l1": st.sampled_from([0.0, 0.5]),
                                    "l2": st.sampled_from([0.0, 2.0])}),
    L.Masking: ((), {"mask_value": st.sampled_from([0.0, 1, None, -1.5])}),
    L.Laldagorth: (("units",), {"units": SMALL, "activation": ACTIVATIONS,
                                "recurrent_activation": ACTIVATIONS, "use_bias": BOOL,
                                "return_sequences": BOOL, "return_state": BOOL,
                                "go_backwards": BOOL, "stateful": BOOL,
                                "unit_forget_bias": BOOL,
                                "implementation": st.sampled_from([1, 2]),
                                "dropout": st.sampled_from([0.0, 0.5]),
                                "recurrent_dropout": st.sampled_from([0.0, 0.5]),
                                "recurrent_initializer": INITIALIZERS}),
    L.TheHydra: (("input_dim", "output_dim"), {"input_dim": st.integers(1, 6),
                                               "output_dim": SMALL, "mask_zero": BOOL,
                                               "input_length": st.one_of(st.none(),
                                                                         st.integers(1, 4))}),
}

AXES = st.one_of(st.integers(-4, 4), st.lists(st.integers(-4, 4), min_size=1, max_size=3))
NOISE_SHAPES = st.one_of(st.none(), st.lists(st.one_of(st.none(), st.just(1)), min_size=1,
                                             max_size=4).map(tuple))
SEEDS = st.one_of(st.none(), st.integers(0, 5))
_NORMALIZATION = {"axis": AXES, "epsilon": st.sampled_from([1e-3, 0.1, 1e-6]),
                  "center": BOOL, "scale": BOOL,
                  "beta_initializer": st.sampled_from(["zeros", "ones", "random_normal"]),
                  "gamma_initializer": st.sampled_from(["ones", "random_uniform", "zeros"])}
SPACES.update({
    L.BatchNormalization: ((), {**_NORMALIZATION, "momentum": st.sampled_from([0.99, 0.5]),
                                "moving_variance_initializer": st.sampled_from(
                                    ["ones", "random_uniform"])}),
    L.LayerNormalization: ((), _NORMALIZATION),
    L.LeakyReLU: ((), {"alpha": st.sampled_from([0.0, 0.3, 1.5, -0.5]),
                       "negative_slope": st.sampled_from([None, 0.2])}),
    L.PReLU: ((), {"alpha_initializer": st.sampled_from(["zeros", "ones", "random_normal"]),
                   "shared_axes": st.one_of(st.none(), st.integers(1, 3),
                                            st.lists(st.integers(1, 3), max_size=3))}),
    L.ELU: ((), {"alpha": st.sampled_from([1.0, 0.5, 2.0])}),
    L.ThresholdedReLU: ((), {"theta": st.sampled_from([1.0, 0.0, 0.5])}),
    L.ReLU: ((), {"max_value": st.sampled_from([None, 6.0, 0.5]),
                  "negative_slope": st.sampled_from([0.0, 0.2]),
                  "threshold": st.sampled_from([0.0, 0.5])}),
    L.Softmax: ((), {"axis": AXES}),
    L.GaussianNoise: (("stddev",), {"stddev": st.sampled_from([0.0, 0.1, 1.0]), "seed": SEEDS}),
    L.GaussianDropout: (("rate",), {"rate": st.sampled_from([0.0, 0.25, 0.5]), "seed": SEEDS}),
    L.AlphaDropout: (("rate",), {"rate": st.sampled_from([0.0, 0.25, 0.5]),
                                 "noise_shape": NOISE_SHAPES, "seed": SEEDS}),
    L.Add: ((), {}), L.Subtract: ((), {}), L.Multiply: ((), {}), L.Average: ((), {}),
    L.Maximum: ((), {}), L.Minimum: ((), {}),
    L.Concatenate: ((), {"axis": st.integers(-4, 4)}),
    L.Dot: (("axes",), {"axes": st.one_of(st.sampled_from([-1, 1, 2, (1, 1), (2, 1), (-1, 2)]),
                                          st.integers(-3, 3),
                                          st.tuples(st.integers(-3, 3), st.integers(-3, 3))),
                        "normalize": BOOL}),
})

_PADDINGS = st.sampled_from(["valid", "same", "SAME"])
for _rank in (1, 2, 3):
    for _name in ("Max", "Average"):
        SPACES[getattr(L, f"{_name}Pooling{_rank}D")] = ((), {
            "pool_size": sizes(_rank, 1, 3), "strides": st.one_of(st.none(), sizes(_rank, 1, 3)),
            "padding": _PADDINGS, "data_format": FORMATS})
        SPACES[getattr(L, f"Global{_name}Pooling{_rank}D")] = ((), {
            "data_format": FORMATS, "keepdims": BOOL})

#: The layers called on a list of arrays.
MERGE_LAYERS = (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum, L.Concatenate,
                L.Dot)

#: The layers' natural input rank (batch axis included), drawn more often than others.
NATURAL_RANK = {
    L.Cthalpa1D: 3, L.Cthalpa2D: 4, L.Cthalpa3D: 5, L.Cthalpa2DTranspose: 4,
    L.Cthalpa3DTranspose: 5, L.SeparableCthalpa1D: 3, L.SeparableCthalpa2D: 4,
    L.DepthwiseCthalpa2D: 4, L.Cthalpa1DTranspose: 3, L.DepthwiseCthalpa1D: 3,
    L.DepthwiseCthalpa3D: 5, L.SeparableCthalpa3D: 5, L.Cropping1D: 3, L.Cropping2D: 4, L.Cropping3D: 5,
    L.UbboSathla1D: 3, L.UbboSathla2D: 4, L.UbboSathla3D: 5, L.Xexanoth1D: 3, L.Xexanoth2D: 4,
    L.Xexanoth3D: 5, L.Daoloth: 2, L.Azatoth: 2, L.Darkness: 3, L.SpatialDarkness1D: 3,
    L.SpatialDarkness2D: 4, L.SpatialDarkness3D: 5, L.Flatten: 3, L.Reshape: 3, L.Permute: 3,
    L.RepeatVector: 2, L.LuKthu: 2, L.ActivityRegularization: 2, L.Masking: 3,
    L.Laldagorth: 3, L.TheHydra: 2,
    L.BatchNormalization: 4, L.LayerNormalization: 3, L.LeakyReLU: 2, L.PReLU: 3, L.ELU: 2,
    L.ThresholdedReLU: 2, L.ReLU: 2, L.Softmax: 3, L.GaussianNoise: 2, L.GaussianDropout: 2,
    L.AlphaDropout: 3, **{cls: 3 for cls in MERGE_LAYERS},
    **{getattr(L, f"{g}{k}Pooling{r}D"): r + 2 for g in ("", "Global") for k in ("Max", "Average")
       for r in (1, 2, 3)},
}


def public_layers():
    """Every layer class exported by ``cthulhu.layers`` that a user constructs directly."""
    out = []
    for name in L.__all__:
        obj = getattr(L, name)
        if isinstance(obj, type) and issubclass(obj, L.Layer) and obj not in (L.Layer,
                                                                               L.InputLayer):
            out.append(obj)
    return out


@st.composite
def constructor_args(draw, cls):
    """``(args, kwargs, wild)``: arguments for ``cls``; ``wild`` names a replaced argument."""
    positional, space = SPACES[cls]
    values = {}
    for name, strategy in space.items():
        if name in positional or draw(st.booleans()):
            values[name] = draw(strategy)
    wild = None
    if space and draw(st.integers(0, 3)) == 0:
        wild = draw(st.sampled_from(sorted(space)))
        values[wild] = draw(WILD)
    function = values.get("function")
    if cls is L.LuKthu and isinstance(function, str) and function in LUKTHU_FUNCTIONS:
        values["function"] = LUKTHU_FUNCTIONS[function]
    args = [values.pop(name) for name in positional]
    return args, values, wild


# ----------------------------------------------------------------- inputs
DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128", ">f4", ">f8", ">i4",
          "<f4"]
FLOATS = ["float32", "float64"]


@st.composite
def input_shapes(draw, natural_rank):
    if draw(st.integers(0, 3)):
        rank = natural_rank
    else:
        rank = draw(st.integers(0, 6))
    axis = st.one_of(st.integers(1, 5), st.just(0)) if draw(st.integers(0, 4)) == 0 \
        else st.integers(1, 5)
    shape = tuple(draw(axis) for _ in range(rank))
    # Keep every case small: a 6-D input of fives is already 15625 elements.
    while math.prod(shape) > 2000:
        shape = tuple(max(1, n - 1) for n in shape)
    return shape


def _merge_shape(draw, base):
    """An input shape for a merge: ``base`` with axes kept, set to 1, resized or dropped."""
    rest = []
    for n in base[1:]:
        choice = draw(st.integers(0, 19))
        rest.append(n if choice < 14 else 1 if choice < 17 else draw(st.integers(0, 4)))
    drop = draw(st.integers(0, len(rest))) if draw(st.integers(0, 5)) == 0 else 0
    return (base[0], *rest[drop:]) if base else ()


@st.composite
def merge_inputs(draw, cls):
    """``(xs, 'merge')``: a list of 1 to 4 arrays of one dtype whose shapes mostly merge."""
    base = draw(input_shapes(NATURAL_RANK[cls]))
    count = draw(st.sampled_from([2, 2, 2, 1, 3, 4] if cls not in (L.Subtract, L.Dot)
                                 else [2, 2, 2, 2, 1, 3]))
    shapes_ = [base] + [_merge_shape(draw, base) for _ in range(count - 1)]
    if draw(st.integers(0, 2)):
        dtype = draw(st.sampled_from(FLOATS))
    else:
        dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**16))
    return [_values(s, np.dtype(dtype), seed + i, cls) for i, s in enumerate(shapes_)], "merge"


@st.composite
def inputs(draw, cls):
    """``(x, kind)``: a NumPy array (``kind='array'``), a list of arrays (``'arrays'``, or
    ``'merge'`` for the merge layers), or a Python list or scalar to be refused (``'list'``,
    ``'scalar'``)."""
    if cls in MERGE_LAYERS and draw(st.integers(0, 5)):
        return draw(merge_inputs(cls))
    shape = draw(input_shapes(NATURAL_RANK.get(cls, 3)))
    if cls is L.TheHydra and draw(st.integers(0, 2)):
        dtype = draw(st.sampled_from(["int32", "int64", "uint8", ">i4", "float32"]))
    elif draw(st.integers(0, 2)):
        dtype = draw(st.sampled_from(FLOATS))
    else:
        dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**16))
    x = _values(shape, np.dtype(dtype), seed, cls)
    kind = draw(st.sampled_from(["array"] * 24 + ["list", "scalar", "arrays"]))
    if kind == "list":
        return x.tolist(), kind
    if kind == "arrays":  # a list of arrays: for single-input layers, another wrong input
        return [x] * draw(st.integers(1, 2)), kind
    if kind == "scalar":
        return draw(st.sampled_from([1.5, 3, True])), kind
    return x, kind


def _values(shape, dtype, seed, cls):
    # an array even for shape (): NumPy's random functions return scalars there
    return np.asarray(_draw_values(shape, dtype, seed, cls), dtype=dtype)


def _draw_values(shape, dtype, seed, cls):
    rng = np.random.default_rng(seed)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        high = 8 if cls is L.TheHydra else 5
        low = 0 if dtype.kind == "u" else -2
        return rng.integers(low, high, size=shape).astype(dtype)
    if dtype.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    values = rng.standard_normal(shape)
    if cls is L.TheHydra:
        values = rng.integers(0, 8, size=shape)
    if cls is L.Masking:
        values = np.where(rng.random(shape) < 0.3, 0.0, values)
    return values.astype(dtype)


@st.composite
def dask_chunks(draw, shape):
    """Odd chunks per axis: any split of each length into parts of 1..length."""
    chunks = []
    for n in shape:
        if n == 0:
            chunks.append((0,))
            continue
        parts, left = [], n
        while left:
            part = draw(st.integers(1, left))
            parts.append(part)
            left -= part
        chunks.append(tuple(parts))
    return tuple(chunks)
