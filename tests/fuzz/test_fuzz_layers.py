"""Hypothesis fuzzing of every public layer: constructors and inputs, valid and invalid.

For each layer of ``cthulhu.layers`` the fuzzer draws constructor arguments
(mostly valid, one argument now and then from a pool of wrong values) and an
input (rank 0 to 6, zero-size axes, every dtype including big-endian, sometimes
a Python list or scalar), runs it on NumPy, array-api-strict and Dask (odd
chunks) and accepts only what ``fuzz_oracle`` allows: a result whose shape is
``compute_output_shape``, of the input's library and floating dtype, equal on
every device; or a ``ValueError``/``TypeError`` naming the layer.

Two profiles:

* quick (always): a few examples per layer, the whole file in well under a minute;
* long (``@pytest.mark.slow``): ``CTHULHU_FUZZ=long python -m pytest -m slow tests/fuzz``
  runs ``CTHULHU_FUZZ_EXAMPLES`` (default 400) examples per layer. It is skipped
  unless ``CTHULHU_FUZZ=long`` is set, so that the default test run stays short.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cthulhu import layers as L
from tests.support.fuzz_oracle import check_case
from tests.support.fuzz_spaces import constructor_args, dask_chunks, inputs, public_layers

# Layers whose training=True call draws random masks.
RANDOM_IN_TRAINING = (L.Darkness, L.SpatialDarkness1D, L.SpatialDarkness2D,
                      L.SpatialDarkness3D, L.Laldagorth, L.GaussianNoise, L.GaussianDropout,
                      L.AlphaDropout)
QUICK_EXAMPLES = 80
LONG_EXAMPLES = int(os.environ.get("CTHULHU_FUZZ_EXAMPLES", "400"))
LAYERS = public_layers()
# Random data overflows now and then (the 'exponential' activation, float16 penalties):
# inf and NaN results are compared like any others, so NumPy's warnings are noise here.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@st.composite
def cases(draw, cls):
    args, kwargs, wild = draw(constructor_args(cls))
    x, kind = draw(inputs(cls))
    if kind == "array":
        chunks = draw(dask_chunks(x.shape))
    elif kind == "merge":  # one chunking per input
        chunks = [draw(dask_chunks(a.shape)) for a in x]
    else:
        chunks = None      # NumPy only
    training = draw(st.booleans()) if cls in RANDOM_IN_TRAINING else False
    return {"cls": cls, "args": args, "kwargs": kwargs, "wild": wild, "x": x, "kind": kind,
            "chunks": chunks, "training": training}


def _fuzz(cls, examples):
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.data())
    def run(data):
        check_case(data.draw(cases(cls), label="case"))

    run()


def test_every_public_layer_is_fuzzed():
    from tests.support.fuzz_spaces import NATURAL_RANK, SPACES

    missing = [cls.__name__ for cls in LAYERS if cls not in SPACES or cls not in NATURAL_RANK]
    assert not missing, f"layers without a fuzzing space: {missing}"
    assert len(LAYERS) >= 51


@pytest.mark.parametrize("cls", LAYERS, ids=[cls.__name__ for cls in LAYERS])
def test_fuzz_layer_quick(cls):
    _fuzz(cls, QUICK_EXAMPLES)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("CTHULHU_FUZZ") != "long",
                    reason="the long fuzz run is opt-in: CTHULHU_FUZZ=long")
@pytest.mark.parametrize("cls", LAYERS, ids=[cls.__name__ for cls in LAYERS])
def test_fuzz_layer_long(cls):
    _fuzz(cls, LONG_EXAMPLES)
