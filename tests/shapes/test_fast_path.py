"""The chains' fast path agrees with the validating whole-layer functions.

``normalize_spec`` checks a layer's arguments once and prepares
``spec["fast_shape"]``; ``chain`` then calls that on checked shapes. For
Hypothesis-drawn raw user configs (ints or tuples, any-case padding,
``data_format=None``) and input shapes (ints, ``None``, symbols, some too
small), the fast path and the public function given the raw arguments must
give the same shape, with the same recorded conditions, or raise the same
error. Also: specs reject bad filters/units/depth_multiplier when normalised,
and ``Cthalpa3DTranspose`` configs keep their ``dilation_rate``.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import shapes
from cthulhu.shapes import ShapeError, spec_from_config
from cthulhu.shapes.axis_maps import AxisInfo, _prefix_multiples, _receptive_field
from cthulhu.shapes.parse import parse_layer
from cthulhu.shapes.spec import spec_owner

H, W, D = shapes.symbolic("h, w, d")
FORMATS = st.sampled_from([None, "channels_last", "channels_first", "Channels_First"])


def _per_axis(rank, values):
    """An int (one for every axis) or a tuple of ``rank`` of ``values``."""
    return st.one_of(values, st.tuples(*[values] * rank))


def _size():
    return st.one_of(st.integers(0, 14), st.none(), st.sampled_from([H, W, D, H + 3, 2 * W]))


# class name -> (rank, kind)
CONVS = {"Cthalpa1D": 1, "Cthalpa2D": 2, "Cthalpa3D": 3, "SeparableCthalpa1D": 1,
         "SeparableCthalpa2D": 2, "DepthwiseCthalpa2D": 2, "Cthalpa2DTranspose": 2,
         "Cthalpa3DTranspose": 3}


@st.composite
def conv_config(draw):
    name = draw(st.sampled_from(sorted(CONVS)))
    rank = CONVS[name]
    transpose = name.endswith("Transpose")
    config = {"kernel_size": draw(_per_axis(rank, st.integers(1, 5)))}
    if draw(st.booleans()):
        config["strides"] = draw(_per_axis(rank, st.integers(1, 3)))
    else:
        config["dilation_rate"] = draw(_per_axis(rank, st.integers(1, 3)))
    paddings = ["valid", "same", "VALID", "Same"]
    if name == "Cthalpa1D":
        paddings.append("causal")
    config["padding"] = draw(st.sampled_from(paddings))
    if not (rank == 1 and config["padding"] == "causal"):
        config["data_format"] = draw(FORMATS)
    if name != "DepthwiseCthalpa2D":
        config["filters"] = draw(st.integers(1, 9))
    if "Separable" in name or "Depthwise" in name:
        config["depth_multiplier"] = draw(st.integers(1, 3))
    if transpose and draw(st.booleans()):
        config["output_padding"] = draw(_per_axis(rank, st.integers(0, 2)))
    return name, rank, config


def _validating(name, rank, config, shape, owner):
    """The public whole-layer function called with the raw user arguments."""
    c = dict(config)
    ones = 1
    args = (c["kernel_size"], c.get("strides", ones), c["padding"])
    dilation, fmt = c.get("dilation_rate", ones), c.get("data_format")
    if rank == 1 and fmt is None:
        fmt = "channels_last"        # the 1D layers' documented default
    if name.endswith("Transpose"):
        return shapes.conv_transpose(shape, c["filters"], *args, c.get("output_padding"),
                                     dilation, fmt, owner)
    if name.startswith("Depthwise"):
        return shapes.depthwise_conv(shape, *args, c["depth_multiplier"], dilation, fmt, owner)
    if name.startswith("Separable"):
        return shapes.separable_conv(shape, c["filters"], *args, c["depth_multiplier"],
                                     dilation, fmt, owner)
    return shapes.conv(shape, c["filters"], *args, dilation, fmt, owner)


def _seen(dim):
    """A size as the tests compare it: symbols by their text and recorded conditions."""
    if hasattr(dim, "conditions"):
        return (str(dim), sorted(str(c) for c in dim.conditions))
    return dim


def _outcome(func):
    try:
        return "ok", tuple(_seen(d) for d in func())
    except ShapeError as exc:
        return "error", str(exc)


def _fast(spec, shape):
    function, args = spec["fast_shape"]
    return function(shape, spec, *args)


def _agree(spec, shape, validating):
    """Fast path, validating function and a two-layer chain give one outcome."""
    want = _outcome(validating)
    assert _outcome(lambda: _fast(spec, shape)) == want
    # in a chain, a layer after the first takes the fast path
    lead = spec_from_config("Azatoth", {"activation": "relu"})
    assert _outcome(lambda: shapes.chain([lead, spec], shape).output_shape) == want
    return want


@settings(max_examples=400)
@given(conv_config(), st.data())
def test_fast_convolutions_agree_with_validating(case, data):
    name, rank, config = case
    try:
        spec = spec_from_config(name, config)
    except ShapeError as exc:
        # a bad config (output_padding >= strides): the function says the same
        with pytest.raises(ShapeError) as info:
            _validating(name, rank, config, (None,) * (rank + 2), name)
        assert str(info.value) == str(exc)
        return
    extra = data.draw(st.sampled_from([0, 0, 0, 1]))     # a wrong rank now and then
    shape = (data.draw(st.one_of(st.none(), st.integers(1, 4))),
             *data.draw(st.lists(_size(), min_size=rank + 1 + extra, max_size=rank + 1 + extra)))
    if not extra:     # the user's raw arguments
        _agree(spec, shape, lambda: _validating(name, rank, config, shape, spec_owner(spec)))
    # the normalised arguments (tuples: the rank is known whatever the input's)
    tuples = {**config, **{key: spec[key] for key in
                           ("kernel_size", "strides", "dilation_rate", "output_padding")
                           if key in spec}}
    _agree(spec, shape, lambda: _validating(name, rank, tuples, shape, spec_owner(spec)))


RESAMPLERS = {"UbboSathla1D": 1, "UbboSathla2D": 2, "UbboSathla3D": 3, "Cropping1D": 1,
              "Cropping2D": 2, "Cropping3D": 3, "Xexanoth1D": 1, "Xexanoth2D": 2,
              "Xexanoth3D": 3}


@st.composite
def resample_config(draw):
    name = draw(st.sampled_from(sorted(RESAMPLERS)))
    rank = RESAMPLERS[name]
    config = {}
    if rank > 1:
        config["data_format"] = draw(FORMATS)
    if name.startswith("UbboSathla"):
        config["size"] = draw(_per_axis(rank, st.integers(1, 3)))
        return name, rank, config
    pair = st.tuples(st.integers(0, 3), st.integers(0, 3))
    if rank == 1:
        amount = draw(st.one_of(st.integers(0, 3), pair))
    else:
        amount = draw(st.one_of(st.integers(0, 3), st.tuples(*[st.integers(0, 3)] * rank),
                                st.tuples(*[pair] * rank)))
    config["cropping" if name.startswith("Cropping") else "padding"] = amount
    return name, rank, config


@settings(max_examples=300)
@given(resample_config(), st.data())
def test_fast_resampling_agrees_with_validating(case, data):
    name, rank, config = case
    spec = spec_from_config(name, config)
    owner = spec_owner(spec)
    shape = (None, *data.draw(st.lists(_size(), min_size=rank + 1, max_size=rank + 1)))
    fmt = config.get("data_format")
    if name.startswith("UbboSathla"):
        _agree(spec, shape, lambda: shapes.upsampling(shape, config["size"], fmt, owner))
    elif name.startswith("Cropping"):
        _agree(spec, shape, lambda: shapes.cropping(shape, config["cropping"], fmt, owner,
                                                    rank=rank))
    else:
        _agree(spec, shape, lambda: shapes.zero_padding(shape, config["padding"], fmt, owner,
                                                        rank=rank))


@settings(max_examples=100)
@given(st.integers(1, 50), st.lists(_size(), min_size=0, max_size=4))
def test_fast_dense_and_pointwise_agree_with_validating(units, rest):
    shape = (None, *rest)
    spec = spec_from_config("Daoloth", {"units": units, "name": "d"})
    _agree(spec, shape, lambda: shapes.dense(shape, units, "Daoloth 'd'"))
    for name, config in (("Azatoth", {"activation": "tanh"}), ("SpatialDarkness2D", {"rate": 0.5}),
                         ("Darkness", {"rate": 0.1})):
        spec = spec_from_config(name, config)
        assert _fast(spec, shape) == shapes.same_shape(shape) == shape


@settings(max_examples=100)
@given(st.lists(st.one_of(conv_config(), resample_config()), min_size=1, max_size=12),
       st.integers(0, 2), st.data())
def test_chain_equals_layer_by_layer_validating_calls(cases, rank_pick, data):
    """Every layer of a long chain (fast path) as if it were the first (validating path)."""
    rank = (1, 2, 3)[rank_pick]
    specs = []
    for name, r, config in cases:
        if r == rank:
            try:
                specs.append(spec_from_config(name, config))
            except ShapeError:
                pass
    shape = (None, *data.draw(st.lists(st.one_of(st.integers(20, 60), st.none(),
                                                 st.sampled_from([H, W])),
                                       min_size=rank + 1, max_size=rank + 1)))
    expected, current = [], shape
    for spec in specs:
        outcome = _outcome(lambda s=spec, c=current: shapes.chain([s], c).output_shape)
        if outcome[0] == "error":
            expected.append(outcome)
            break
        current = shapes.chain([spec], current).output_shape
        expected.append(outcome)
    try:
        got = [("ok", tuple(map(_seen, out))) for out in shapes.chain(specs, shape).output_shapes]
    except ShapeError as exc:
        got = None
        assert expected and expected[-1] == ("error", str(exc))
    if got is not None:
        assert got == expected


def test_fast_path_errors_name_the_layer():
    spec = spec_from_config("Cthalpa2D", {"filters": 4, "kernel_size": 5, "name": "c5"})
    lead = spec_from_config("Azatoth", {"activation": "relu"})
    with pytest.raises(ShapeError, match=r"^Cthalpa2D 'c5': padded input length \(dilated "
                                         r"kernel size 5\) must be at least 5, got 3$"):
        shapes.chain([lead, spec], (None, 3, 9, 1))
    with pytest.raises(ShapeError, match=r"^Cthalpa2D 'c5': expected an input of rank 4"):
        shapes.chain([spec_from_config("Daoloth", {"units": 3}), spec, spec], (None, 9, 9, 1, 1))
    # a hand-written spec without class_name is named by its kind
    raw = {"kind": "cropping", "rank": 1, "cropping": (2, 2)}
    with pytest.raises(ShapeError, match=r"^cropping: length of the axis cropped by \(2, 2\) "
                                         r"must be at least 5, got 4$"):
        shapes.chain([lead, raw], (None, 4, 1))


@pytest.mark.parametrize("kind, config, match", [
    ("conv", {"rank": 2, "kernel_size": 3}, "conv: missing required argument 'filters'"),
    ("conv", {"rank": 2, "kernel_size": 3, "filters": 0}, r"filters must be a positive .* 0"),
    ("separable_conv", {"rank": 1, "kernel_size": 3, "filters": 2, "depth_multiplier": -1},
     "depth_multiplier must be a positive integer, got -1"),
    ("depthwise_conv", {"rank": 2, "kernel_size": 3, "depth_multiplier": 1.5},
     "depth_multiplier must be"),
    ("conv_transpose", {"rank": 2, "kernel_size": 3, "filters": "8"}, "filters must be"),
    ("dense", {"units": 0}, "units must be a positive integer, got 0"),
    ("dense", {}, "dense: missing required argument 'units'"),
    # the layers and the validating function agree: only Cthalpa1D is causal
    ("separable_conv", {"rank": 1, "kernel_size": 3, "filters": 2, "padding": "causal"},
     "padding must be one of 'valid', 'same', got 'causal'"),
])
def test_specs_check_counts_when_normalised(kind, config, match):
    with pytest.raises(ShapeError, match=match):
        shapes.chain([{"kind": kind, **config}], (None, 8, 8, 3))


# --------------------------------------------- Cthalpa3DTranspose dilation_rate
@pytest.mark.parametrize("name", ["Cthalpa3DTranspose", "Conv3DTranspose"])
def test_conv3d_transpose_config_keeps_dilation_rate(name):
    spec = spec_from_config(name, {"filters": 2, "kernel_size": 3, "dilation_rate": 2})
    assert spec["dilation_rate"] == (2, 2, 2)
    # Keras deconv_length, valid, no output_padding: n*s + max(K - s, 0), K = 2*(3-1)+1 = 5
    assert shapes.chain([spec], (None, 4, 4, 4, 1)).output_shape == (None, 8, 8, 8, 2)
    assert spec_from_config(name, {"filters": 2, "kernel_size": 3})["dilation_rate"] == (1, 1, 1)
    with pytest.raises(ShapeError, match=r"dilation_rate must be positive integers, got \(0, 0, 0\)"):
        spec_from_config(name, {"filters": 2, "kernel_size": 3, "dilation_rate": 0})


def test_conv3d_transpose_dilation_from_a_layer_config_and_the_command_line():
    class Cthalpa3DTranspose:        # a layer known only by its get_config()
        name = "up"

        def get_config(self):
            return {"filters": 1, "kernel_size": (2, 3, 3), "dilation_rate": (1, 2, 3),
                    "padding": "same", "name": self.name}

    spec = shapes.layer_spec(Cthalpa3DTranspose())
    assert spec["dilation_rate"] == (1, 2, 3)
    # the receptive field along each axis is the dilated kernel: K = d*(k-1) + 1
    assert shapes.chain([spec], (None, 5, 5, 5, 1)).receptive_field == (2, 5, 7)
    parsed = parse_layer("Cthalpa3DTranspose(4, 3, dilation_rate=2)")
    assert parsed["dilation_rate"] == (2, 2, 2)
    # still keyword-only: the documented positional signature has no dilation_rate
    with pytest.raises(ShapeError, match="unexpected keyword argument 'dilation'"):
        parse_layer("Cthalpa3DTranspose(4, 3, dilation=2)")


# ------------------------------------------------ receptive field by range sets
def _brute_receptive_field(steps, period):
    best = 1
    for i in range(period):
        a, b = i, i + 1
        for step in reversed(steps):
            a, b = step.back(a, b)
        best = max(best, b - a) if i else b - a
    return best


@settings(max_examples=150)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 3), st.integers(1, 5),
                          st.integers(-3, 4)), max_size=8))
def test_receptive_field_merging_equals_one_range_at_a_time(layers):
    from cthulhu.shapes.axis_maps import _Step

    steps = [_Step(up, s, K, lo, 10, 10) for up, s, K, lo in layers]
    period = 1
    for m in _prefix_multiples(steps):
        period = max(period, m)
    period *= 2          # more than one period: the merge must not depend on it
    assert _receptive_field(steps, period) == _brute_receptive_field(steps, period)
    if steps:   # the recurrence ends at the chain's own output block multiple
        assert _prefix_multiples(steps)[-1] == AxisInfo(1, steps).output_block_multiple
