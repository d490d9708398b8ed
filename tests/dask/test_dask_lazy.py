"""Calling layers and models on Dask arrays builds graphs and computes nothing."""

import dask.array as da
import numpy as np
import pytest

from cthulhu import devices
from cthulhu import layers as L
from cthulhu.models import Pile

LAYERS = [
    lambda: L.Cthalpa3D(2, 3, padding="same", activation="relu"),
    lambda: L.Cthalpa3D(2, 3, strides=2, padding="same"),
    lambda: L.Cthalpa3D(2, 2, dilation_rate=2),
    lambda: L.Cthalpa3DTranspose(2, 3, strides=2, padding="same"),
    lambda: L.UbboSathla3D(2),
    lambda: L.Cropping3D(1),
    lambda: L.Xexanoth3D(1),
    lambda: L.SpatialDarkness3D(0.5),
    lambda: L.Azatoth("relu"),
    lambda: L.Daoloth(3),
]


@pytest.mark.parametrize("make", LAYERS)
def test_layer_call_on_dask_computes_nothing_and_is_exact(make, compute_counter, rng):
    x = rng.standard_normal((1, 7, 6, 5, 2)).astype(np.float32)
    layer = make()
    expected = layer(x)
    with compute_counter() as counter:
        y = layer(da.from_array(x, chunks=(1, 3, 4, 2, 1)))
    assert counter.count == 0
    assert isinstance(y, da.Array) and y.shape == expected.shape and y.dtype == expected.dtype
    np.testing.assert_allclose(y.compute(), expected, rtol=1e-5, atol=1e-5)


def test_dask_plugin_serves_dask_arrays():
    x = da.zeros((1, 4, 4, 1), chunks=2)
    assert devices.explain(x, "conv").plugin == "dask"
    assert devices.lookup(x, "upsample") is not None


def test_model_predict_on_dask_is_lazy_fused_and_exact(compute_counter, rng):
    model = Pile([L.InputLayer(input_shape=(None, None, None, 1)),
                  L.Cthalpa3D(3, 3, padding="same", activation="relu"),
                  L.Cthalpa3D(3, 3, strides=2, padding="same"),
                  L.Cthalpa3DTranspose(1, 3, strides=2, padding="same")])
    x = rng.standard_normal((2, 9, 10, 11, 1)).astype(np.float32)
    with compute_counter() as counter:
        lazy = model.predict(da.from_array(x, chunks=(1, 4, 5, 3, 1)))
        lazy_call = model(da.from_array(x, chunks=(2, 5, 5, 5, 1)))
    assert counter.count == 0
    # fused: one task per output block, no per-layer layers in the graph
    assert any(str(name).startswith("cthulhu-predict") for name in lazy.dask.layers)
    # the input, the fused program, and a rechunk that joins the chunks shorter than the halo
    kinds = sorted(str(name).split("-")[0] for name in lazy.dask.layers)
    assert kinds == ["array", "cthulhu", "rechunk"], kinds
    np.testing.assert_allclose(lazy.compute(), model.predict(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lazy_call.compute(), model.predict(x), rtol=1e-5, atol=1e-5)


def test_flatten_into_dense_over_chunked_axes_is_correct(compute_counter, rng):
    """A model that needs whole axes is not fused; layer by layer it is still exact."""
    model = Pile([L.InputLayer(input_shape=(6, 5, 2)), L.Cthalpa2D(2, 3, padding="same"),
                  L.Flatten(), L.Daoloth(4)])
    x = rng.standard_normal((3, 6, 5, 2)).astype(np.float32)
    with compute_counter() as counter:
        lazy = model.predict(da.from_array(x, chunks=(2, 4, 3, 1)))
    assert counter.count == 0
    np.testing.assert_allclose(lazy.compute(), model.predict(x), rtol=1e-5, atol=1e-5)


def test_predict_volume_refuses_unblockable_model(tmp_path):
    import cthulhu

    model = Pile([L.InputLayer(input_shape=(6, 5, 1)), L.Flatten(), L.Daoloth(2)])
    x = np.zeros((6, 5, 1), np.float32)
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(ValueError, match="Flatten"):
        cthulhu.predict_volume(model, str(tmp_path / "x.npy"), str(tmp_path / "out.zarr"))
    assert not (tmp_path / "out.zarr").exists()


def test_importing_the_plugin_imports_no_array_library():
    import subprocess
    import sys

    code = ("import sys, cthulhu.devices.dask_ as d; d.DaskPlugin; "
            "print(sorted(m for m in ('dask', 'numpy', 'zarr') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
