"""Pooling on Dask arrays: lazy (nothing computed while the graph is built), one task per
output block reading its window's input range (the halo from cthulhu.shapes), and equal to
the in-memory NumPy result for chunkings that divide nothing, 'same' borders included."""

import dask
import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import layers, ops
from tests.support import pool_refs as ref

FORMATS = ("channels_last", "channels_first")


def _never_compute(*args, **kwargs):
    raise AssertionError("the graph was computed while it was built")


@st.composite
def _cases(draw):
    rank = draw(st.integers(1, 3))
    pool_size = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    padding = draw(st.sampled_from(["valid", "same"]))
    spatial = tuple(draw(st.integers(max(k, 2), 9)) for k in pool_size)
    chunks = tuple(draw(st.integers(1, n)) for n in spatial)
    return rank, spatial, pool_size, strides, padding, chunks


@settings(max_examples=40)
@given(case=_cases(), kind=st.sampled_from(["max", "average"]), fmt=st.sampled_from(FORMATS))
def test_pool_on_dask_equals_numpy_for_any_chunking(case, kind, fmt):
    rank, spatial, pool_size, strides, padding, chunks = case
    x = np.random.default_rng(sum(spatial)).standard_normal((2, *spatial, 3)).astype(np.float32)
    if fmt == "channels_first":
        x = np.ascontiguousarray(ref.to_first(x))
        block = (1, 3, *chunks)
    else:
        block = (1, *chunks, 3)
    expected = ops.pool(x, pool_size, strides=strides, padding=padding, kind=kind,
                        data_format=fmt)
    lazy_in = da.from_array(x, chunks=block)
    with dask.config.set(scheduler=_never_compute):
        lazy = ops.pool(lazy_in, pool_size, strides=strides, padding=padding, kind=kind,
                        data_format=fmt)
    assert isinstance(lazy, da.Array) and lazy.shape == expected.shape
    np.testing.assert_array_equal(lazy.compute(scheduler="sync"), expected)


@pytest.mark.parametrize("kind", ["max", "average"])
def test_pool_on_dask_builds_one_task_per_output_block(kind):
    x = da.from_array(np.ones((1, 12, 12, 2), np.float32), chunks=(1, 4, 4, 2))
    y = ops.pool(x, 3, strides=2, padding="same", kind=kind)
    assert y.shape == (1, 6, 6, 2)
    layer = dict(y.dask.layers)[y.name]
    assert len(layer) == len(y.chunks[1]) * len(y.chunks[2]) + 1     # + the program entry
    np.testing.assert_array_equal(y.compute(scheduler="sync"), 1.0)


@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_global_pool_on_dask_is_lazy_and_exact(kind, fmt):
    x = np.random.default_rng(0).standard_normal((2, 7, 9, 3))
    xin = np.ascontiguousarray(ref.to_first(x)) if fmt == "channels_first" else x
    with dask.config.set(scheduler=_never_compute):
        lazy = ops.global_pool(da.from_array(xin, chunks=2), kind=kind, data_format=fmt)
    np.testing.assert_allclose(lazy.compute(scheduler="sync"), ref.global_pool(x, kind),
                               rtol=1e-12, atol=1e-12)


def test_a_model_with_pooling_called_on_dask_equals_numpy():
    """Layer by layer (each layer's lazy op); the fused whole-model runner is not asked."""
    from cthulhu.models import Pile

    model = Pile([layers.Cthalpa3D(2, 3, padding="same", input_shape=(10, 11, 9, 1)),
                  layers.MaxPooling3D(2, padding="same"),
                  layers.AveragePooling3D(3, strides=1, padding="same"),
                  layers.Cthalpa3D(2, 1)])
    x = np.random.default_rng(1).standard_normal((1, 10, 11, 9, 1)).astype(np.float32)
    expected = model.predict(x)
    with dask.config.set(scheduler=_never_compute):
        got = model(da.from_array(x, chunks=(1, 3, 4, 5, 1)))
    np.testing.assert_allclose(np.asarray(got.compute(scheduler="sync")), expected,
                               rtol=2e-6, atol=2e-6)
