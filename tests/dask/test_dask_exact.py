"""Block-by-block results equal the whole-array, in-memory results, for any chunking.

Hypothesis draws small models (strided, dilated, transposed convolutions with
output_padding, nearest and bilinear up-sampling, cropping, zero-padding,
activations), volume sizes and chunkings that divide nothing. Three Dask routes
are compared with ``model.predict`` on the NumPy volume: the fused model on a
Dask array, layer-by-layer calls on a Dask array, and ``predict_volume`` from a
Zarr store. A second check compares the block planner with an independent
reference written here (``standin``) that knows nothing of the layers.
"""

import dask.array as da
import numpy as np
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

import cthulhu
from cthulhu.blockwise import GraphProgram
from cthulhu.blockwise.plan import output_grid
from cthulhu.devices.dask_ import predict
from tests.support.dask_models import chunks_for, model_cases
from tests.support.dask_standin import StandInConv, StandInPile

TOL = {"rtol": 2e-5, "atol": 2e-5}


def _volume(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@settings(max_examples=80)
@given(case=model_cases(), data=st.data())
def test_fused_dask_predict_equals_in_memory(case, data):
    configs, rank, channels, shape = case
    model = case.model()
    x = _volume(shape)
    expected = model.predict(x)
    chunks = chunks_for(data.draw, shape, minimum=2)
    lazy = predict(model, da.from_array(x, chunks=chunks))
    assert lazy.shape == expected.shape
    np.testing.assert_allclose(lazy.compute(), expected, **TOL)


@settings(max_examples=40)
@given(case=model_cases(max_layers=2, max_size=8), data=st.data())
def test_layer_by_layer_on_dask_equals_in_memory(case, data):
    configs, rank, channels, shape = case
    model = case.model()
    x = _volume(shape, seed=1)
    chunks = chunks_for(data.draw, shape, minimum=2)
    y, expected = da.from_array(x, chunks=chunks), x
    for layer in model.layers:
        y, expected = layer(y), layer(expected)
        assert isinstance(y, da.Array)
        assert y.shape == expected.shape and y.dtype == expected.dtype
    np.testing.assert_allclose(y.compute(), expected, **TOL)


@settings(max_examples=25)
@given(case=model_cases(ranks=(3,), max_layers=3, max_size=9), data=st.data())
def test_predict_volume_equals_in_memory(case, data, tmp_path_factory):
    configs, rank, channels, shape = case
    model = case.model()
    x = _volume(shape[1:], seed=2)  # stored without the batch axis
    stored = x
    channel_axis = -1 if case.data_format == "channels_last" else 0
    if channels == 1 and data.draw(st.booleans()):
        stored = np.squeeze(x, axis=channel_axis)  # a single-channel volume without the axis
    folder = tmp_path_factory.mktemp("vol")
    source = zarr.create_array(store=str(folder / "in.zarr"), shape=stored.shape,
                               chunks=chunks_for(data.draw, stored.shape), dtype="float32")
    source[...] = stored
    out_shape = model.compute_output_shape((1, *x.shape))
    spatial_out = out_shape[1:-1] if case.data_format == "channels_last" else out_shape[2:]
    block = tuple(data.draw(st.integers(1, n)) for n in spatial_out)
    run = {"progress": False, "scheduler": "synchronous"}
    try:
        cthulhu.predict_volume(model, str(folder / "in.zarr"), str(folder / "out.zarr"),
                               block_shape=block, **run)
    except ValueError as exc:  # a block smaller than the halo is refused, by design
        assert "halo" in str(exc)
        block = tuple(spatial_out)
        cthulhu.predict_volume(model, str(folder / "in.zarr"), str(folder / "out.zarr"),
                               block_shape=block, **run)
    result = zarr.open_array(str(folder / "out.zarr"), mode="r")
    expected = model.predict(x[None])[0]
    if stored.ndim < x.ndim and expected.shape[channel_axis] == 1:
        expected = np.squeeze(expected, axis=channel_axis)
    assert result.shape == expected.shape
    np.testing.assert_allclose(result[...], expected, **TOL)
    spatial_chunks = result.chunks[:rank] if case.data_format == "channels_last" or \
        result.ndim == rank else result.chunks[1:]
    assert tuple(spatial_chunks) == block


@st.composite
def standin_chains(draw):
    count = draw(st.integers(1, 3))
    layers = []
    for i in range(count):
        stride = draw(st.integers(1, 3))
        dilation = 1 if stride > 1 else draw(st.integers(1, 2))
        layers.append(StandInConv(draw(st.integers(1, 2)), draw(st.integers(1, 4)), stride,
                                  draw(st.sampled_from(["same", "valid"])), dilation, rank=1,
                                  seed=i, activation=draw(st.sampled_from([None, "relu"]))))
    return layers


@settings(max_examples=60)
@given(layers=standin_chains(), n=st.integers(1, 40), block=st.integers(1, 9))
def test_block_program_matches_independent_reference(layers, n, block):
    """Only the planner is under test: the layers and the reference are the loop code of
    standin, and the model is read only through its public graph (``model.graph()``)."""
    x = _volume((1, n, 2), seed=3)
    model = StandInPile(layers)
    try:
        expected = model.predict(x)
        program = GraphProgram(model, [x.shape])
    except ValueError:
        return  # the volume is too small for this valid chain
    got = np.zeros_like(expected)
    for _, ranges in output_grid(expected.shape[1:2], (block,)):
        (a, b), = ranges
        got[:, a:b] = program.run(lambda index: x[index], ranges)
    np.testing.assert_array_equal(got, expected)
