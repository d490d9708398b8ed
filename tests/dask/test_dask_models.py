"""Fixed models covering what the drawn ones leave out: channels_first, 1D causal and dilated,
depthwise and separable 2D, bilinear up-sampling, Daoloth on the channels, Lump chains."""

import dask.array as da
import numpy as np
import pytest

import cthulhu
from cthulhu import layers as L
from cthulhu.devices.dask_ import predict
from cthulhu.models import Lump, Pile

TOL = {"rtol": 2e-5, "atol": 2e-5}


def seeded(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5
                       for w in model.get_weights()])
    return model


CASES = {
    "channels_first_3d": (lambda: Pile([
        L.InputLayer(input_shape=(2, None, None, None)),
        L.Cthalpa3D(3, 3, strides=2, padding="same", data_format="channels_first"),
        L.Cthalpa3DTranspose(2, 3, strides=2, padding="same", data_format="channels_first"),
        L.UbboSathla3D(2, data_format="channels_first"),
        L.Cropping3D(((1, 2), (0, 1), (2, 0)), data_format="channels_first")]),
        (1, 2, 9, 7, 8), (1, 2, 4, 3, 5), 8),
    "causal_dilated_1d": (lambda: Pile([
        L.InputLayer(input_shape=(None, 2)),
        L.Cthalpa1D(3, 3, padding="causal", dilation_rate=2, activation="relu"),
        L.Cthalpa1D(2, 4, strides=3, padding="same"),
        L.Xexanoth1D((3, 1)), L.UbboSathla1D(3)]),
        (2, 31, 2), (1, 7, 2), 16),
    "depthwise_separable_bilinear_2d": (lambda: Pile([
        L.InputLayer(input_shape=(None, None, 2)),
        L.DepthwiseCthalpa2D(3, depth_multiplier=2, padding="same"),
        L.SeparableCthalpa2D(3, 3, strides=2, padding="same", activation="relu"),
        L.UbboSathla2D((2, 3), interpolation="bilinear"),
        L.Daoloth(2), L.SpatialDarkness2D(0.3),
        L.Cthalpa2DTranspose(1, (3, 2), strides=(2, 1), padding="valid")]),
        # blocks of 12: the bilinear step's halo (6 input samples at jump 1/2) needs them
        (2, 13, 11, 2), (1, 4, 5, 1), 12),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixed_model_fused_layerwise_and_volume(name, tmp_path, compute_counter):
    make, shape, chunks, block = CASES[name]
    model = seeded(make())
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    expected = model.predict(x)
    dx = da.from_array(x, chunks=chunks)
    with compute_counter() as counter:
        fused = predict(model, dx)
        layerwise = dx
        for layer in model.layers:
            layerwise = layer(layerwise)
    assert counter.count == 0
    np.testing.assert_allclose(fused.compute(), expected, **TOL)
    np.testing.assert_allclose(layerwise.compute(), expected, **TOL)
    np.save(tmp_path / "x.npy", x)
    cthulhu.predict_volume(model, tmp_path / "x.npy", tmp_path / "y.zarr", block_shape=block,
                           progress=False)
    import zarr

    np.testing.assert_allclose(zarr.open_array(str(tmp_path / "y.zarr"))[...], expected, **TOL)


def test_lump_chain_is_fused_and_two_outputs_too(compute_counter, tmp_path):
    inputs = L.Input(shape=(None, None, 1))
    hidden = L.Cthalpa2D(2, 3, padding="same")(inputs)
    chain = seeded(Lump(inputs, L.Cthalpa2D(1, 3, strides=2, padding="same")(hidden)))
    x = np.random.default_rng(2).standard_normal((1, 11, 10, 1)).astype(np.float32)
    lazy = chain.predict(da.from_array(x, chunks=(1, 4, 3, 1)))
    assert len(lazy.dask.layers) == 2  # input + one fused program
    np.testing.assert_allclose(lazy.compute(), chain.predict(x), **TOL)

    from cthulhu.blockwise import Unblockable

    left = L.Cthalpa2D(1, 3, padding="same")(inputs)
    right = L.Cthalpa2D(1, 1)(inputs)
    two_outputs = seeded(Lump(inputs, [left, right]))
    lazy = two_outputs.predict(da.from_array(x, chunks=(1, 4, 3, 1)))  # fused, both outputs
    for got, want in zip(lazy, two_outputs.predict(x), strict=True):
        np.testing.assert_allclose(got.compute(), want, **TOL)
    np.save(tmp_path / "x.npy", x[0])
    with pytest.raises(Unblockable, match="one input and one output"):
        cthulhu.predict_volume(two_outputs, tmp_path / "x.npy", tmp_path / "y.zarr",
                               progress=False)


def test_blocks_that_see_only_border_zeros(compute_counter):
    """Blocks inside a zero-padding margin or an output_padding tail read no input at all."""
    model = seeded(Pile([L.InputLayer(input_shape=(None, None, 1)),
                         L.Xexanoth2D(((4, 3), (0, 2))),
                         L.Cthalpa2D(2, 1, activation="relu"),
                         L.Cthalpa2DTranspose(1, 1, strides=3, output_padding=2),
                         L.Cthalpa2D(1, 2, padding="same")]))
    x = np.random.default_rng(4).standard_normal((1, 5, 4, 1)).astype(np.float32)
    expected = model.predict(x)
    for block in (1, 2, 5):
        lazy = predict(model, da.from_array(x, chunks=(1, 2, 3, 1)), block_shape=block)
        np.testing.assert_allclose(lazy.compute(), expected, **TOL)
