"""Fused Dask prediction of models with skip connections equals in-memory prediction.

U-Nets (3D channels_last, 2D channels_first; strided convolutions down, transposed
convolutions or up-sampling up, ``Concatenate`` or ``Add`` skips, convolution +
batch normalisation + ReLU), ResNet and MobileNet blocks and Hypothesis-drawn
U-Net-shaped graphs run fused - one task per output block, every node planned by
the shape algebra's graph plans - over chunkings that divide nothing, and equal
``model.predict`` on the NumPy volume *bitwise*: each block runs the same NumPy
kernels (native convolutions, the same per-channel multiply-add of a folded batch
normalisation) over the same window of the same inputs, so every output sample is
the same sum in the same order. Models that need whole spatial axes are declined
(``predict`` then runs layer by layer, still exact) and refused by ``predict_volume``.
"""

import dask.array as da
import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cthulhu
from cthulhu import layers as L
from cthulhu import shapes
from cthulhu.blockwise import GraphProgram, Unblockable, predict
from cthulhu.engine.base_layer import Layer
from cthulhu.models import Lump
from tests.support.dag_models import mobilenet_block, resnet_block, seeded, unet, unet_cases
from tests.support.dask_models import chunks_for

FIXED = {
    "unet3d": (lambda: unet(3, 3), (1, 16, 24, 16, 1), (1, 7, 5, 9, 1)),
    "unet2d_channels_first": (
        lambda: unet(2, 3, base=3, channels=2, data_format="channels_first"),
        (2, 2, 40, 24), (1, 1, 11, 7)),
    "resnet_blocks": (resnet_block, (2, 21, 18, 3), (1, 5, 7, 2)),
    "resnet_blocks_channels_first": (lambda: resnet_block(data_format="channels_first"),
                                     (1, 3, 13, 17), (1, 2, 6, 5)),
    "mobilenet_block": (mobilenet_block, (1, 19, 23, 4), (1, 6, 4, 3)),
}


def _volume(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_dag_fused_on_dask_is_bitwise_in_memory(name, compute_counter):
    make, shape, chunks = FIXED[name]
    model = make()
    x = _volume(shape)
    expected = model.predict(x)
    with compute_counter() as counter:
        lazy = model.predict(da.from_array(x, chunks=chunks))
    assert counter.count == 0
    # one fused layer of block tasks over the input (rechunked: whole channels, no chunk
    # smaller than the halo); no layer per model layer
    layers = [k for k in lazy.dask.layers if not k.startswith(("array-", "rechunk-"))]
    assert len(layers) == 1 and layers[0].startswith("cthulhu-predict")
    np.testing.assert_array_equal(lazy.compute(), expected)


@pytest.mark.parametrize("block", [5, 8, 13])
def test_unet3d_blocks_of_any_size_are_bitwise(block):
    model = unet(3, 3)
    x = _volume((1, 16, 24, 16, 1), seed=1)
    lazy = predict(model, da.from_array(x, chunks=(1, 9, 10, 11, 1)), block_shape=block)
    np.testing.assert_array_equal(lazy.compute(), model.predict(x))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=unet_cases(), data=st.data())
def test_drawn_unets_fused_on_dask_are_bitwise_in_memory(case, data):
    model, shape = case
    x = _volume(shape, seed=2)
    expected = model.predict(x)
    chunks = chunks_for(data.draw, shape, minimum=1)
    lazy = predict(model, da.from_array(x, chunks=chunks))
    np.testing.assert_array_equal(lazy.compute(), expected)


def test_the_halo_is_the_union_over_every_path():
    """A skip around two convolutions: the halo is the longer path's, not the shorter's."""
    x_in = L.Input(shape=(None, None, 1))
    a = L.Cthalpa2D(2, 3, padding="same")(x_in)
    b = L.Cthalpa2D(2, 5, padding="same")(a)
    c = L.Cthalpa2D(2, 7, padding="same")(b)
    out = L.Concatenate()([a, c])
    model = seeded(Lump(x_in, out))
    program = GraphProgram(model, [(1, 40, 40, 1)])
    assert program.halo == ((1 + 2 + 3,) * 2,) * 2
    assert [a.receptive_field for a in program.axis_info] == [13, 13]
    # the plan of a middle block reads exactly the halo around it, and a's block is the
    # union of what b and the concatenation need
    plan = program.plan(((16, 24), (10, 20)))
    assert plan.input_ranges[program.input_ids[0]] == ((10, 30), (4, 26))
    node_a = next(n for n, s in program.steps.items() if s.layer is a.layer)
    assert plan.nodes[node_a].out_range == ((11, 29), (5, 25))
    x = _volume((1, 40, 40, 1))
    lazy = predict(model, da.from_array(x, chunks=(1, 7, 9, 1)))
    np.testing.assert_array_equal(lazy.compute(), model.predict(x))


def test_several_inputs_and_outputs():
    """Two inputs (one up-sampled to meet the other), two outputs of different sizes."""
    fine = L.Input(shape=(None, None, 2))
    coarse = L.Input(shape=(None, None, 1))
    up = L.UbboSathla2D(2)(L.Cthalpa2D(2, 3, padding="same")(coarse))
    joined = L.Concatenate()([L.Cthalpa2D(3, 3, padding="same")(fine), up])
    full = L.Cthalpa2D(1, 3, padding="same")(joined)
    half = L.Cthalpa2D(2, 3, strides=2, padding="same")(joined)
    model = seeded(Lump([fine, coarse], [full, half]))
    x1, x2 = _volume((2, 22, 18, 2), 3), _volume((2, 11, 9, 1), 4)
    expected = model.predict([x1, x2])
    lazy = model.predict([da.from_array(x1, chunks=(1, 7, 5, 1)),
                          da.from_array(x2, chunks=(2, 4, 4, 1))])
    assert isinstance(lazy, list) and all(isinstance(y, da.Array) for y in lazy)
    for got, want in zip(lazy, expected, strict=True):
        np.testing.assert_array_equal(got.compute(), want)


def test_a_branch_that_reads_only_padding_zeros():
    """A zero-padding margin wide enough that some blocks of one branch start from zeros."""
    x_in = L.Input(shape=(None, None, 1))
    padded = L.Xexanoth2D(((5, 0), (0, 6)))(x_in)
    left = L.Cthalpa2D(2, 3, padding="same", bias_initializer="ones")(padded)
    right = L.Cthalpa2DTranspose(2, 1, strides=3, output_padding=2)(
        L.Cthalpa2D(2, 3, strides=3, padding="same")(padded))
    right = L.Cropping2D(((1, 0), (0, 0)))(right)
    out = L.Add()([L.Cropping2D(((1, 0), (0, 0)))(left), right])
    model = seeded(Lump(x_in, out))
    x = _volume((1, 7, 6, 1), 5)
    expected = model.predict(x)
    for block in (1, 2, 3, 7):
        lazy = predict(model, da.from_array(x, chunks=(1, 2, 4, 1)), block_shape=block)
        np.testing.assert_array_equal(lazy.compute(), expected)


def _dense_over_space():
    x_in = L.Input(shape=(1, None, 6))
    y = L.Cthalpa2D(2, 3, padding="same", data_format="channels_first")(x_in)
    return Lump(x_in, L.Daoloth(3, name="dense")(y)), (1, 1, 5, 6), "'dense'"


def _spatial_softmax():
    x_in = L.Input(shape=(2, None, None))
    y = L.Cthalpa2D(2, 3, padding="same", data_format="channels_first")(x_in)
    return Lump(x_in, L.Azatoth("softmax", name="soft")(y)), (1, 2, 7, 6), "'soft'"


def _concatenate_along_space():
    x_in = L.Input(shape=(None, None, 1))
    y = L.Cthalpa2D(1, 3, padding="same")(x_in)
    return Lump(x_in, L.Concatenate(axis=1, name="cat")([x_in, y])), (1, 5, 6, 1), "'cat'"


def _broadcasting_add():
    x_in = L.Input(shape=(None, None, 1))
    col = L.Input(shape=(1, None, 1))
    return Lump([x_in, col], L.Add(name="plus")([x_in, col])), [(1, 5, 6, 1), (1, 1, 6, 1)], \
        "'plus'"


def _flatten():
    x_in = L.Input(shape=(6, 5, 1))
    y = L.Cthalpa2D(2, 3, padding="same")(x_in)
    return Lump(x_in, L.Daoloth(2)(L.Flatten(name="flat")(y))), (2, 6, 5, 1), "'flat'"


@pytest.mark.parametrize("make", [_dense_over_space, _spatial_softmax, _concatenate_along_space,
                                  _broadcasting_add, _flatten])
def test_whole_axis_layers_are_declined_never_wrong(make, tmp_path):
    model, shapes_, name = make()
    model = seeded(model)
    many = isinstance(shapes_, list)
    xs = [_volume(s, i) for i, s in enumerate(shapes_ if many else [shapes_])]
    with pytest.raises(Unblockable, match=name):
        predict(model, [da.from_array(x, chunks=2) for x in xs])
    expected = model.predict(xs if many else xs[0])
    lazy = model.predict([da.from_array(x, chunks=2) for x in xs] if many
                         else da.from_array(xs[0], chunks=2))  # layer by layer instead
    np.testing.assert_allclose(lazy.compute(), expected, rtol=1e-6, atol=1e-6)
    if not many:
        np.save(tmp_path / "x.npy", xs[0])
        with pytest.raises(ValueError, match=name):
            cthulhu.predict_volume(model, tmp_path / "x.npy", tmp_path / "y.zarr",
                                   progress=False)


def test_unet3d_predict_volume_is_bitwise_in_memory(tmp_path):
    model = unet(3, 3)
    x = _volume((40, 48, 40), 6)  # stored single-channel; chunks and blocks divide nothing
    source = zarr.create_array(store=str(tmp_path / "in.zarr"), shape=x.shape,
                               chunks=(7, 9, 11), dtype="float32")
    source[...] = x
    summary = cthulhu.predict_volume(model, str(tmp_path / "in.zarr"),
                                     str(tmp_path / "out.zarr"), block_shape=(35, 34, 37),
                                     progress=False)
    assert summary["computed"] == 2 * 2 * 2
    result = zarr.open_array(str(tmp_path / "out.zarr"))
    np.testing.assert_array_equal(result[...], model.predict(x[None, ..., None])[0, ..., 0])
    attrs = dict(result.attrs)["cthulhu"]
    assert attrs["complete"] and attrs["halo"] == [[23, 33]] * 3
    with pytest.raises(ValueError, match="smaller than the model's halo"):
        cthulhu.plan_volume(model, str(tmp_path / "in.zarr"), block_shape=16)


def test_unet3d_plan_volume_draws_its_halo(tmp_path):
    model = unet(3, 3)
    np.save(tmp_path / "x.npy", _volume((72, 80, 64)))
    plan = cthulhu.plan_volume(model, tmp_path / "x.npy", block_shape=40)
    assert "halo" in plan.line()
    svg = plan.svg()
    assert svg.startswith("<svg") and "halo" in svg


@pytest.mark.parametrize("merge", ["Add", "Subtract", "Multiply", "Average", "Maximum",
                                   "Minimum"])
def test_every_merge_is_fused_bitwise(merge, compute_counter):
    """Paths of different reach joined by each merge; a third input for those taking more."""
    x_in = L.Input(shape=(None, None, 2))
    a = L.Cthalpa2D(2, 3, padding="same")(x_in)
    b = L.Cthalpa2D(2, 3, padding="same", dilation_rate=2)(x_in)
    inputs = [a, b] if merge == "Subtract" else [a, b, L.Cthalpa2D(2, 1)(x_in)]
    model = seeded(Lump(x_in, getattr(L, merge)()(inputs)))
    x = _volume((2, 23, 19, 2), 7)
    with compute_counter() as counter:
        lazy = model.predict(da.from_array(x, chunks=(1, 5, 7, 1)))
    assert counter.count == 0
    assert [k for k in lazy.dask.layers if k.startswith("cthulhu-predict")]
    np.testing.assert_array_equal(lazy.compute(), model.predict(x))


def test_channel_broadcasting_shared_layers_and_nested_models_are_fused_bitwise():
    """A one-channel gate multiplied into every channel (broadcast along the channels
    only), a layer called twice, and a nested Lump called on two tensors."""
    inner_in = L.Input(shape=(None, None, 3))
    inner = seeded(Lump(inner_in, L.Cthalpa2D(3, 3, padding="same", activation="relu")(
        inner_in)), seed=3)
    x_in = L.Input(shape=(None, None, 3))
    gate = L.Cthalpa2D(1, 3, padding="same", activation="sigmoid")(x_in)
    gated = L.Multiply()([x_in, gate])
    shared = L.Cthalpa2D(3, 3, padding="same")
    out = L.Add()([inner(shared(gated)), inner(shared(x_in))])
    model = seeded(Lump(x_in, out), seed=4)
    x = _volume((1, 26, 21, 3), 8)
    lazy = predict(model, da.from_array(x, chunks=(1, 8, 6, 2)), block_shape=(9, 7))
    np.testing.assert_array_equal(lazy.compute(), model.predict(x))


def test_dot_over_the_channels_is_declined():
    x_in = L.Input(shape=(None, None, 3))
    model = seeded(Lump(x_in, L.Dot(axes=-1, name="dotted")(
        [x_in, L.Cthalpa2D(3, 3, padding="same")(x_in)])))
    x = _volume((1, 6, 5, 3), 9)
    with pytest.raises(Unblockable, match="'dotted'"):
        predict(model, da.from_array(x, chunks=(1, 3, 3, 3)))
    lazy = model.predict(da.from_array(x, chunks=(1, 3, 3, 3)))   # layer by layer
    np.testing.assert_allclose(lazy.compute(), model.predict(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("make, fused", [
    (lambda: L.BatchNormalization(axis=-1), True),
    (lambda: L.BatchNormalization(axis=1), False),       # per-row statistics
    (lambda: L.LayerNormalization(axis=-1), True),
    (lambda: L.LayerNormalization(axis=[1, 2]), False),  # normalises over space
    (L.Softmax, True),
    (lambda: L.Softmax(axis=1), False),
    (lambda: L.PReLU(shared_axes=[1, 2]), True),
    (L.PReLU, False),                                    # one slope per position
])
def test_axis_layers_fuse_only_along_the_channels(make, fused):
    x_in = L.Input(shape=(12, 10, 3))
    layer = make()
    model = seeded(Lump(x_in, layer(L.Cthalpa2D(3, 3, padding="same")(x_in))))
    x = _volume((1, 12, 10, 3), 10)
    expected = model.predict(x)
    if fused:
        lazy = predict(model, da.from_array(x, chunks=(1, 5, 4, 3)))
        np.testing.assert_array_equal(lazy.compute(), expected)
        return
    with pytest.raises(Unblockable, match=repr(layer.name)):
        predict(model, da.from_array(x, chunks=(1, 5, 4, 3)))
    lazy = model.predict(da.from_array(x, chunks=(1, 5, 4, 3)))   # layer by layer
    np.testing.assert_allclose(lazy.compute(), expected, rtol=1e-6, atol=1e-6)


class _LoopMaxPool2D(Layer):
    """A channels_last 2D max pooling written here as plain loops, of the shape algebra's
    ``pooling`` kind (padding excluded from the windows). The pooling layers come with
    issue 10; this one shows the fused runner takes their kind: a ``window`` whose block
    pads are passed to ``call_with_pads`` (here: left out of every maximum)."""

    explicit_pads = True

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size, self.strides, self.padding = pool_size, strides or pool_size, padding

    def shape_spec(self):
        return {"kind": "pooling", "rank": 2, "pool_size": self.pool_size,
                "strides": self.strides, "padding": self.padding,
                "data_format": "channels_last"}

    def compute_output_shape(self, input_shape):
        spec = shapes.layer_spec(self)
        return shapes.get_kind("pooling").output_shape(spec, tuple(input_shape), self)

    def call(self, x):
        pads = [shapes.conv_padding(n, self.pool_size, self.strides, self.padding)
                for n in x.shape[1:3]]
        return self._call_padded(x, pads)

    def _call_padded(self, x, pads):
        x = np.asarray(x)
        (t, b), (lf, r) = ((0, 0), (0, 0)) if pads == "valid" else pads
        k, s = self.pool_size, self.strides
        n, h, w, c = x.shape
        rows, cols = (h + t + b - k) // s + 1, (w + lf + r - k) // s + 1
        out = np.empty((n, rows, cols, c), x.dtype)
        for i in range(rows):
            for j in range(cols):
                i0, j0 = i * s - t, j * s - lf     # the window, in x's coordinates
                window = x[:, max(i0, 0):i0 + k, max(j0, 0):j0 + k, :]
                out[:, i, j, :] = window.max(axis=(1, 2))
        return out


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_a_pooling_window_down_the_unet_is_fused_bitwise(padding):
    """Max pooling (3x3 windows, stride 2: overlapping, and 'same' pads that are left out
    of the maximum) down, a transposed convolution up, concatenated skip."""
    x_in = L.Input(shape=(None, None, 1))
    skip = L.Cthalpa2D(3, 3, padding="same", activation="relu")(x_in)
    down = _LoopMaxPool2D(3, 2, padding)(skip)
    mid = L.Cthalpa2D(4, 3, padding="same")(down)
    up = L.Cthalpa2DTranspose(3, 3, strides=2, padding=padding)(mid)
    if padding == "same":                        # 21 -> 11 -> 22: back to 21
        up = L.Cropping2D(((0, 1), (0, 1)))(up)
    model = seeded(Lump(x_in, L.Cthalpa2D(1, 1)(L.Concatenate()([skip, up]))), seed=5)
    x = _volume((1, 21, 25, 1), 11) - 1.0        # mostly negative: padding zeros would win
    expected = model.predict(x)
    for chunks in [(1, 4, 7, 1), (1, 9, 5, 1)]:
        lazy = predict(model, da.from_array(x, chunks=chunks))
        np.testing.assert_array_equal(lazy.compute(), expected)
