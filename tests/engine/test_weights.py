"""The Weight contract: a home array on any device, converted copies, NumPy for the host.

A layer's weights are NumPy arrays unless ``set_weights`` gives another library's
arrays: then they stay in that library, on that device (array-api-strict's second
device here), cast to the weight's dtype; ``get_weights`` and saving still give NumPy,
and calls on any library give the numbers of the same layer with NumPy weights.
"""

import numpy as np
import pytest

from cthulhu.engine.weights import Weight
from cthulhu.layers import Daoloth
from cthulhu.models import Pile, load_model
from tests.support.backends import Backend

xps = pytest.importorskip("array_api_strict")
DEVICE1 = xps.Device("device1")


def _pair(seed=0):
    """Two identical Daoloth layers; the second gets its weights as device1 arrays."""
    rng = np.random.default_rng(seed)
    kernel, bias = rng.normal(size=(3, 2)), rng.normal(size=2)
    host, moved = Daoloth(2, input_shape=(3,)), Daoloth(2, input_shape=(3,))
    host.build((None, 3))
    moved.build((None, 3))
    host.set_weights([kernel, bias])
    moved.set_weights([xps.asarray(kernel, device=DEVICE1), xps.asarray(bias, device=DEVICE1)])
    return host, moved


def test_set_weights_keeps_a_home_in_its_library_and_device_with_the_weight_dtype():
    host, moved = _pair()
    for home in moved.weights:
        assert type(home).__module__.startswith("array_api_strict")
        assert home.device == DEVICE1 and home.dtype == xps.float32
    assert all(isinstance(w, np.ndarray) for w in host.weights)
    for got, want in zip(moved.get_weights(), host.get_weights(), strict=True):
        assert isinstance(got, np.ndarray) and got.dtype == np.float32
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", [Backend.NUMPY, Backend.STRICT, Backend.STRICT_DEVICE1,
                                     Backend.DASK])
def test_calls_on_any_library_use_the_home_wherever_it_is(backend):
    if backend.skip_reason():
        pytest.skip(backend.skip_reason())
    xp = backend.xp()
    host, moved = _pair(1)
    x = np.random.default_rng(2).normal(size=(4, 3)).astype(np.float32)
    y = moved(xp.asarray(x))
    np.testing.assert_allclose(xp.to_numpy(y), host(x), rtol=1e-6, atol=1e-6)


def test_converted_copies_are_cached_and_forgotten_when_the_home_changes():
    layer = Daoloth(2, use_bias=False, input_shape=(3,))
    layer.build((None, 3))
    x = xps.ones((1, 3), dtype=xps.float32, device=DEVICE1)
    first = layer.weight_as(x, "kernel")
    assert layer.weight_as(x, "kernel") is first and first.device == DEVICE1
    layer.set_weights([np.full((3, 2), 2.0)])
    assert float(xps.sum(layer.weight_as(x, "kernel"))) == 12.0
    record = layer.weight_records()[0][1]
    record.constraint = lambda w: w * 0.5
    layer.apply_constraints()
    assert float(xps.sum(layer.weight_as(x, "kernel"))) == 6.0
    assert isinstance(layer.get_weight("kernel"), np.ndarray)


def test_lazy_and_plain_values_become_numpy_homes():
    da = pytest.importorskip("dask.array")
    layer = Daoloth(2, input_shape=(3,))
    layer.build((None, 3))
    layer.set_weights([da.ones((3, 2), chunks=2), [0.5, 0.25]])
    assert all(isinstance(w, np.ndarray) and w.dtype == np.float32 for w in layer.weights)
    np.testing.assert_array_equal(layer.get_weights()[1], [0.5, 0.25])


def test_a_model_with_homes_on_another_device_saves_and_loads(tmp_path):
    host, moved = _pair(3)
    path = tmp_path / "moved.cthulhu"
    Pile([moved]).save(path)
    again = load_model(path)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(again.predict(x), host(x), rtol=1e-6)
    assert all(isinstance(w, np.ndarray) for w in again.weights)


def test_weight_like_follows_the_dtype_rules():
    w = Weight("k", np.arange(6, dtype=np.float32).reshape(2, 3))
    assert w.shape == (2, 3) and w.size == 6 and w.dtype == np.float32
    assert w.like(np.ones(1, np.float64)).dtype == np.float64          # the input's float
    assert w.like(np.ones(1, np.int64)).dtype == np.float32             # else the weight's
    assert w.like(np.ones(1, np.int64), default_dtype="float16").dtype == np.float16
    assert w.like(np.ones(1, np.float64), dtype=np.float16).dtype == np.float16
    w.assign(xps.asarray(np.ones((2, 3)), device=DEVICE1))
    assert w.dtype == np.float32 and w.value.dtype == xps.float32
    np.testing.assert_array_equal(w.numpy(), np.ones((2, 3)))
