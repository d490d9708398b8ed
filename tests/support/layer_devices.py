"""Run a layer on NumPy, array-api-strict (its second device) and Dask, and check each result.

``run(layer, x, device, **call)`` converts the input (an array, or a list of
arrays for the merge layers; masks given as keywords too), calls the layer,
checks that the result is of the input's library (on array-api-strict: on
``device1``) with the input's dtype, that Dask computed nothing while the layer
was called, and returns the result as a NumPy array.
"""

from __future__ import annotations

import array_api_strict as xps
import dask
import dask.array as da
import numpy as np

DEVICE1 = xps.Device("device1")
DEVICES = ("numpy", "strict", "dask")


def devices_for(dtype):
    """array-api-strict has no float16."""
    return DEVICES if np.dtype(dtype) != np.float16 else ("numpy", "dask")


def _odd_chunks(shape):
    # a split of every axis that divides nothing evenly (3 then the rest; 1 for short axes)
    return tuple((n,) if n <= 1 else (1, n - 1) if n <= 3 else (3, n - 3) for n in shape)


def convert(device, a):
    if a is None:
        return None
    if isinstance(a, (list, tuple)):
        return [convert(device, item) for item in a]
    if device == "strict":
        return xps.asarray(a, device=DEVICE1)
    if device == "dask":
        return da.from_array(a, chunks=_odd_chunks(a.shape))
    return a


def run(layer, x, device, **call):
    computes = []

    def counting(*args, **kwargs):
        computes.append(1)
        return dask.get(*args, **kwargs)

    inputs = convert(device, x)
    call = {key: convert(device, value) if key == "mask" else value
            for key, value in call.items()}
    with dask.config.set(scheduler=counting):
        y = layer(inputs, **call)
    first = inputs[0] if isinstance(inputs, list) else inputs
    assert type(y) is type(first), (device, type(y))
    if device == "strict":
        assert y.device == DEVICE1
        out = np.from_dlpack(y)
    elif device == "dask":
        assert computes == [] or call.get("training"), f"dask computed {len(computes)} times"
        out = y.compute(scheduler="sync")
    else:
        out = y
    reference = x[0] if isinstance(x, list) else x
    assert out.dtype == reference.dtype, (device, out.dtype, reference.dtype)
    return np.asarray(out)


TOLERANCE = {np.dtype("float16"): dict(rtol=3e-3, atol=3e-3),
             np.dtype("float32"): dict(rtol=2e-5, atol=2e-6),
             np.dtype("float64"): dict(rtol=1e-12, atol=1e-13)}


def assert_matches(got, want, dtype):
    """``got`` (in ``dtype``) equals the float64 loop reference within ``dtype``'s rounding."""
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got.astype(np.float64), want, **TOLERANCE[np.dtype(dtype)])
