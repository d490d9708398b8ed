"""The geometries an op hands a device plugin (``cthulhu.shapes.geometry``).

Judges: per-axis formulas written here (TensorFlow's 'same' padding, the transposed
convolution as a zero-stuffed direct one), the whole-layer shape functions of
``cthulhu.shapes``, and the one-axis range maps the Dask planner used before the
geometries existed (``conv_step``, ``conv_transpose_step``, ``upsampling_step``).
"""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import shapes
from cthulhu.shapes.axis_maps import conv_step, conv_transpose_step, upsampling_step
from cthulhu.shapes.geometry import (
    ConvGeometry,
    conv_geometry,
    pad_geometry,
    pool_geometry,
    range_maps,
    upsample_geometry,
)


def _same(n, k, s, d):
    """TensorFlow 'same': total = max((ceil(n/s) - 1)*s + K - n, 0), the odd one after."""
    span = d * (k - 1) + 1
    total = max((-(-n // s) - 1) * s + span - n, 0)
    return total // 2, total - total // 2


@st.composite
def _direct(draw):
    rank = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    # Keras (and the layers' shape functions): no stride > 1 with a dilation > 1 anywhere
    dilation = tuple(1 if max(strides) > 1 else draw(st.integers(1, 3)) for _ in strides)
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    spatial = tuple(draw(st.integers(span, span + 9)) for span in spans)
    padding = draw(st.sampled_from(["valid", "same"] + (["causal"] if rank == 1 else [])))
    fmt = draw(st.sampled_from(["channels_last", "channels_first"]))
    return rank, kernel, strides, dilation, spatial, padding, fmt


@settings(max_examples=150, deadline=None)
@given(case=_direct(), channels=st.integers(1, 5), filters=st.integers(1, 5))
def test_conv_geometry_matches_the_formulas_and_the_shape_function(case, channels, filters):
    rank, kernel, strides, dilation, spatial, padding, fmt = case
    shape = ((2, *spatial, channels) if fmt == "channels_last" else (2, channels, *spatial))
    g = conv_geometry("conv", shape, kernel, filters=filters, strides=strides,
                      dilation=dilation, padding=padding, data_format=fmt)
    for n, k, s, d, (lo, hi), m in zip(spatial, kernel, strides, dilation, g.pads,
                                       g.out_spatial, strict=True):
        span = d * (k - 1) + 1
        want = {"valid": (0, 0), "same": _same(n, k, s, d), "causal": (span - 1, 0)}[padding]
        assert (lo, hi) == want
        assert m == (n + lo + hi - span) // s + 1
    assert g.in_shape == shape and g.batch == 2 and g.in_channels == channels
    assert g.out_shape == shapes.conv(shape, filters, kernel, strides, padding, dilation, fmt)
    assert g.channels_first == (fmt == "channels_first")
    assert g.channel_axis == (1 if fmt == "channels_first" else rank + 1)
    assert g.spatial_axes == tuple(range(2, rank + 2) if fmt == "channels_first"
                                   else range(1, rank + 1))


@settings(max_examples=100, deadline=None)
@given(rank=st.integers(1, 3), data=st.data())
def test_conv_transpose_geometry_is_a_stuffed_direct_convolution(rank, data):
    kernel = tuple(data.draw(st.integers(1, 4)) for _ in range(rank))
    strides = tuple(data.draw(st.integers(1, 3)) for _ in range(rank))
    spatial = tuple(data.draw(st.integers(1, 6)) for _ in range(rank))
    padding = data.draw(st.sampled_from(["valid", "same"]))
    outp = None
    if data.draw(st.booleans()):
        outp = tuple(data.draw(st.integers(0, s - 1)) for s in strides)
        if padding == "same" and any(k % 2 == 0 and p == 0 for k, p in zip(kernel, outp,
                                                                           strict=True)):
            outp = None
    shape = (1, *spatial, 3)
    g = conv_geometry("conv_transpose", shape, kernel, filters=4, strides=strides,
                      dilation=(1,) * rank, padding=padding, data_format="channels_last",
                      output_padding=outp)
    assert g.out_shape == shapes.conv_transpose(shape, 4, kernel, strides, padding, outp, 1,
                                                "channels_last")
    direct = g.stuffed()
    assert direct.kind == "conv" and direct.strides == (1,) * rank
    assert direct.in_spatial == tuple((n - 1) * s + 1 for n, s in zip(spatial, strides,
                                                                     strict=True))
    # the stride-1 direct convolution over the stuffed input gives the same lengths
    assert direct.out_spatial == tuple(n + lo + hi - k + 1 for n, k, (lo, hi) in
                                       zip(direct.in_spatial, kernel, g.pads, strict=True))
    assert direct.out_spatial == g.out_spatial


def test_depthwise_and_separable_geometries():
    dw = conv_geometry("depthwise_conv", (1, 7, 7, 3), (3, 3), strides=(1, 1), dilation=(1, 1),
                       padding="same", data_format="channels_last", depth_multiplier=2)
    assert dw.out_channels == dw.mid_channels == 6 and dw.out_shape == (1, 7, 7, 6)
    sep = conv_geometry("separable_conv", (1, 3, 7, 7), (3, 3), filters=5, strides=(2, 2),
                        dilation=(1, 1), padding="valid", data_format="channels_first",
                        depth_multiplier=2)
    assert sep.out_shape == (1, 5, 3, 3) and sep.mid_channels == 6
    assert sep.depthwise().out_shape == (1, 6, 3, 3) and sep.depthwise().kind == "depthwise_conv"
    with pytest.raises(ValueError, match="not transposed"):
        sep.stuffed()


def test_geometries_are_frozen_hashable_and_equal_by_value():
    args = dict(strides=(1,), dilation=(1,), padding="same", data_format="channels_last")
    a = conv_geometry("conv", (1, 5, 2), (3,), filters=4, **args)
    b = conv_geometry("conv", (1, 5, 2), (3,), filters=4, **args)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != a.replace(batch=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.batch = 3
    for g in (a, upsample_geometry((1, 2, 3, 4), (2, 2), data_format="channels_last"),
              shapes.matmul_geometry((1, 512), (512, 128)),
              pad_geometry((1, 4, 2), ((1, -2),), data_format="channels_last"),
              pool_geometry("max", (1, 9, 9, 4), (2, 2), strides=(2, 2), padding="same",
                            data_format="channels_last")):
        hash(g)
        assert all(isinstance(v, (int, str, tuple, type(None)))
                   for v in dataclasses.astuple(g))


def test_conv_geometry_refuses_an_inconsistent_construction():
    with pytest.raises(ValueError, match="kind"):
        ConvGeometry("pool", 1, "channels_last", 1, (5,), 1, (5,), 1, (3,), (1,), (1,),
                     ((1, 1),))
    with pytest.raises(ValueError, match="pads must have 2 entries"):
        ConvGeometry("conv", 2, "channels_last", 1, (5, 5), 1, (5, 5), 1, (3, 3), (1, 1),
                     (1, 1), ((1, 1),))


def test_shape_dependent_errors_name_the_owner():
    args = dict(strides=(1,), dilation=(1,), data_format="channels_last", owner="ops.conv")
    with pytest.raises(shapes.ShapeError, match="ops.conv: padded input length"):
        conv_geometry("conv", (1, 2, 1), (3,), filters=1, padding="valid", **args)
    with pytest.raises(shapes.ShapeError, match="cannot be combined"):
        conv_geometry("conv", (1, 9, 1), (3,), filters=1, padding="valid",
                      **{**args, "strides": (2,), "dilation": (2,)})
    with pytest.raises(shapes.ShapeError, match="output_padding"):
        conv_geometry("conv_transpose", (1, 5, 1), (3,), filters=1, padding="same",
                      output_padding=(2,), **{**args, "strides": (2,)})
    # a transposed convolution with explicit pads is one stride-1 convolution: allowed
    g = conv_geometry("conv_transpose", (1, 5, 1), (3,), filters=1, padding=((2, 2),),
                      **{**args, "strides": (2,), "dilation": (2,)})
    assert g.out_spatial == (9 + 4 - 5 + 1,)


def test_upsample_pad_and_pool_geometries():
    u = upsample_geometry((2, 3, 4, 5), (2, 3), data_format="channels_first",
                          interpolation="bilinear")
    assert u.out_shape == (2, 3, 8, 15) and u.channels == 3
    p = pad_geometry((1, 4, 6, 2), ((1, 0), (-2, -9)), data_format="channels_last")
    assert p.out_shape == (1, 5, 0, 2)                 # cropped past the end: empty
    q = pool_geometry("average", (1, 4, 9, 9), (2, 2), strides=(2, 2), padding="same",
                      data_format="channels_first")
    assert q.out_shape == shapes.pooling((1, 4, 9, 9), 2, None, "same", "channels_first")
    assert q.pads == ((0, 1), (0, 1)) and q.border == "excluded"
    with pytest.raises(ValueError, match="kind"):
        pool_geometry("median", (1, 4, 4, 1), (2, 2), strides=(2, 2), padding="valid",
                      data_format="channels_last")


def _ranges(step, n_out):
    return [step.back(a, b) for a in range(n_out) for b in range(a + 1, n_out + 1)]


@settings(max_examples=100, deadline=None)
@given(case=_direct())
def test_range_maps_equal_the_planners_one_axis_steps(case):
    rank, kernel, strides, dilation, spatial, padding, fmt = case
    shape = (1, *spatial, 2)
    g = conv_geometry("conv", shape, kernel, filters=3, strides=strides, dilation=dilation,
                      padding=padding, data_format="channels_last")
    for axis, step in enumerate(range_maps(g)):
        old = conv_step(spatial[axis], kernel[axis], strides[axis], padding, dilation[axis])
        assert _ranges(step, g.out_spatial[axis]) == _ranges(old, g.out_spatial[axis])
    if padding == "causal" or any(d > 1 for d in dilation):
        return
    t = conv_geometry("conv_transpose", shape, kernel, filters=3, strides=strides,
                      dilation=(1,) * rank, padding=padding, data_format="channels_last")
    for axis, step in enumerate(range_maps(t)):
        old = conv_transpose_step(spatial[axis], kernel[axis], strides[axis], padding)
        assert step.up and _ranges(step, t.out_spatial[axis]) == _ranges(old, t.out_spatial[axis])
    u = upsample_geometry(shape, strides, data_format="channels_last", interpolation="bilinear")
    for axis, step in enumerate(range_maps(u)):
        old = upsampling_step(spatial[axis], strides[axis], "bilinear")
        assert (step is None) == (old is None)
        if step is not None:
            assert _ranges(step, u.out_spatial[axis]) == _ranges(old, u.out_spatial[axis])
