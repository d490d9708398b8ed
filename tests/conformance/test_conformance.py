"""One harness, ``check_layer(cls, kwargs, input_shape)``, run on every layer of API.md.

For each layer it checks, independently of the layer's code:

* the constructor signature equals the documented one (the signature lines of
  the cthulhu docs, kept in ``documented_signatures.txt`` beside this file;
  Keras 2.2's for Laldagorth/TheHydra, which the docs use without a page of
  their own);
* ``get_config`` is JSON-safe and ``from_config`` (directly and through the layer
  registry) rebuilds an equal layer computing the same numbers;
* the weights come in the order and shapes of API.md's Keras layouts;
* a ``Pile`` holding the layer saves and loads back with the same numbers;
* the layer's shape spec has its catalog row's kind (``cthulhu.shapes.catalog``);
  and, for the catalog itself: one row per public layer, naming a class of its
  module whose Python signature is the row's, which is the documented one; the
  Keras names and the tables derived from the rows agree;
* ``cthulhu.shapes.chain`` agrees with ``compute_output_shape``; a PyTorch
  tensor comes back as a PyTorch tensor with the same numbers; a Dask array
  comes back lazy (no compute at call time) with the same numbers;
* the output has the shape ``compute_output_shape`` promises, the input's
  library (NumPy, array-api-strict) and floating dtype (float32, float64);
* a wrong input rank, a wrong channel count and a non-float input raise
  ``ValueError``/``TypeError`` naming the layer.
"""

import ast
import importlib
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import array_api_strict
import numpy as np
import pytest

from cthulhu import layers, shapes
from cthulhu.models import Pile, load_model
from cthulhu.names import deserialize_layer, register_function, serialize_layer
from cthulhu.shapes import catalog
from cthulhu.shapes.catalog import CATALOG, REQUIRED, lookup
from cthulhu.shapes.parse import parse_layer
from tests.support.backends import eager_xps

try:
    import torch
except ImportError:  # optional: the check runs where PyTorch is installed
    torch = None
try:
    import dask
    import dask.array as da
except ImportError:  # optional: the check runs where Dask is installed
    dask = da = None

HERE = Path(__file__).resolve().parent
DOCUMENTED = HERE / "documented_signatures.txt"
# Where the docs themselves are in the project's workspace (not in a clone): the copy above
# is checked against them when they are there.
SEEDS = HERE.parents[1].parent / "shared" / "seeds"
_SIGNATURE_LINE = re.compile(r"cthulhu\.layers\.(\w+)\((.*)\)\s*$")


# Every name of API.md's table (and the unchanged names) must be importable from cthulhu.layers.
API_NAMES = [
    "Cthalpa1D", "Cthalpa2D", "Cthalpa3D", "Cthalpa2DTranspose", "Cthalpa3DTranspose",
    "SeparableCthalpa1D", "SeparableCthalpa2D", "DepthwiseCthalpa2D", "UbboSathla1D",
    "UbboSathla2D", "UbboSathla3D", "Xexanoth1D", "Xexanoth2D", "Xexanoth3D", "Daoloth",
    "Azatoth", "Darkness", "SpatialDarkness1D", "SpatialDarkness2D", "SpatialDarkness3D",
    "LuKthu", "Laldagorth", "TheHydra", "Cropping1D", "Cropping2D", "Cropping3D", "Flatten",
    "Input", "Reshape", "Permute", "RepeatVector", "ActivityRegularization", "Masking",
    # Keras 2 layers beyond the docs (issue 10), under their Keras 2 names
    "BatchNormalization", "LayerNormalization", "Concatenate", "Add", "Subtract", "Multiply",
    "Average", "Maximum", "Minimum", "Dot", "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU",
    "ReLU", "Softmax", "GaussianNoise", "GaussianDropout", "AlphaDropout",
    # the convolution family beyond the docs (issue 10)
    "Cthalpa1DTranspose", "DepthwiseCthalpa1D", "DepthwiseCthalpa3D", "SeparableCthalpa3D",
]
# Their signatures are Keras 2's, not lines of the cthulhu docs (see documented_signatures.txt).
KERAS2_SIGNATURES = {"Laldagorth", "TheHydra", "BatchNormalization", "LayerNormalization",
                     "Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum",
                     "Minimum", "Dot", "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "ReLU",
                     "Softmax", "GaussianNoise", "GaussianDropout", "AlphaDropout",
                     # tf.keras 2.15's, and the 3D ones Keras lacks, modelled on their 2D
                     # siblings (documented_signatures.txt)
                     "Cthalpa1DTranspose", "DepthwiseCthalpa1D", "DepthwiseCthalpa3D",
                     "SeparableCthalpa3D"}
# The functional forms of the merge layers: cthulhu.layers.<name>(inputs, ...) -> Layer(...)(inputs)
FUNCTIONAL_FORMS = {"concatenate": "Concatenate", "add": "Add", "subtract": "Subtract",
                    "multiply": "Multiply", "average": "Average", "maximum": "Maximum",
                    "minimum": "Minimum", "dot": "Dot"}


def _parse_params(text):
    """``"a, b=1"`` -> ``[("a", <required>), ("b", 1)]``, via the Python parser."""
    fn = ast.parse(f"def f({text}): pass").body[0]
    args = fn.args.args
    defaults = [ast.literal_eval(d) for d in fn.args.defaults]
    required = len(args) - len(defaults)
    return [(a.arg, inspect.Parameter.empty if i < required else defaults[i - required])
            for i, a in enumerate(args)]


def _signature_lines(lines):
    found = {}
    for line in lines:
        m = _SIGNATURE_LINE.search(line)
        if m and not line.startswith("#"):
            found[m.group(1)] = _parse_params(m.group(2))
    return found


def documented_signatures():
    """``{class name: [(param, default), ...]}`` from ``documented_signatures.txt``."""
    return _signature_lines(DOCUMENTED.read_text(encoding="utf-8").splitlines())


def actual_params(cls):
    """The positional-or-keyword parameters of ``cls.__init__`` (extras must be keyword-only)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [(p.name, p.default) for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]


@register_function(name="tests.conformance.square")
def _square(x):
    return x * x


# (class, kwargs, input shape, expected weight shapes, a wrong-rank input shape or None)
CASES = [
    (layers.Cthalpa1D, dict(filters=4, kernel_size=3), (2, 8, 3), [(3, 3, 4), (4,)], (2, 8)),
    (layers.Cthalpa1D, dict(filters=2, kernel_size=2, padding="causal", dilation_rate=2,
                            data_format="channels_first"), (2, 3, 7), [(2, 3, 2), (2,)], None),
    (layers.Cthalpa2D, dict(filters=4, kernel_size=(3, 2)), (2, 6, 7, 3),
     [(3, 2, 3, 4), (4,)], (2, 6, 3)),
    (layers.Cthalpa2D, dict(filters=4, kernel_size=3, strides=2, padding="same",
                            data_format="channels_first"), (1, 3, 7, 7), [(3, 3, 3, 4), (4,)],
     None),
    (layers.Cthalpa3D, dict(filters=2, kernel_size=2), (1, 4, 4, 4, 3),
     [(2, 2, 2, 3, 2), (2,)], (1, 4, 4, 3)),
    (layers.Cthalpa2DTranspose, dict(filters=4, kernel_size=3, strides=2, output_padding=1),
     (1, 4, 4, 3), [(3, 3, 4, 3), (4,)], (1, 4, 3)),
    (layers.Cthalpa3DTranspose, dict(filters=2, kernel_size=2, dilation_rate=2,
                                     data_format="channels_first"), (1, 3, 3, 3, 3),
     [(2, 2, 2, 2, 3), (2,)], None),
    (layers.SeparableCthalpa1D, dict(filters=5, kernel_size=3, depth_multiplier=2), (2, 8, 3),
     [(3, 3, 2), (1, 6, 5), (5,)], (2, 8, 3, 1)),
    (layers.SeparableCthalpa2D, dict(filters=5, kernel_size=3), (1, 6, 6, 3),
     [(3, 3, 3, 1), (1, 1, 3, 5), (5,)], (1, 6, 3)),
    (layers.DepthwiseCthalpa2D, dict(kernel_size=3, depth_multiplier=2), (1, 6, 6, 3),
     [(3, 3, 3, 2), (6,)], (1, 6, 3)),
    (layers.Cthalpa1DTranspose, dict(filters=4, kernel_size=3, strides=2, output_padding=1),
     (2, 5, 3), [(3, 4, 3), (4,)], (2, 5)),
    (layers.Cthalpa1DTranspose, dict(filters=2, kernel_size=2, dilation_rate=2,
                                     padding="same", data_format="channels_first"),
     (1, 3, 6), [(2, 2, 3), (2,)], None),
    (layers.DepthwiseCthalpa1D, dict(kernel_size=3, depth_multiplier=2), (2, 7, 3),
     [(3, 3, 2), (6,)], (2, 7)),
    (layers.DepthwiseCthalpa1D, dict(kernel_size=2, strides=2, padding="same",
                                     data_format="channels_first", use_bias=False),
     (1, 3, 7), [(2, 3, 1)], None),
    (layers.DepthwiseCthalpa3D, dict(kernel_size=(2, 3, 2), depth_multiplier=2), (1, 4, 5, 4, 3),
     [(2, 3, 2, 3, 2), (6,)], (1, 4, 5, 3)),
    (layers.DepthwiseCthalpa3D, dict(kernel_size=2, padding="same", dilation_rate=2,
                                     data_format="channels_first"), (1, 2, 3, 4, 3),
     [(2, 2, 2, 2, 1), (2,)], None),
    (layers.SeparableCthalpa3D, dict(filters=5, kernel_size=3, depth_multiplier=2),
     (1, 4, 5, 4, 3), [(3, 3, 3, 3, 2), (1, 1, 1, 6, 5), (5,)], (1, 4, 5, 3)),
    (layers.SeparableCthalpa3D, dict(filters=2, kernel_size=2, strides=2, padding="same",
                                     data_format="channels_first"), (1, 3, 5, 4, 3),
     [(2, 2, 2, 3, 1), (1, 1, 1, 3, 2), (2,)], None),
    (layers.Cropping1D, dict(cropping=(1, 2)), (2, 6, 3), [], (2, 6)),
    (layers.Cropping2D, dict(cropping=((1, 0), (2, 1))), (2, 5, 5, 3), [], (2, 5, 3)),
    (layers.Cropping3D, dict(cropping=1, data_format="channels_first"), (1, 2, 4, 4, 4), [],
     (1, 4, 4, 4)),
    (layers.UbboSathla1D, dict(size=3), (2, 4, 3), [], (2, 4)),
    (layers.UbboSathla2D, dict(size=(2, 3), interpolation="bilinear"), (1, 3, 3, 2), [],
     (1, 3, 3)),
    (layers.UbboSathla3D, dict(size=2), (1, 2, 2, 2, 1), [], (1, 2, 2, 1)),
    (layers.UbboSathla3D, dict(size=(1, 2, 3), interpolation="trilinear",
                               data_format="channels_first"), (1, 2, 3, 2, 2), [],
     (1, 2, 3, 2)),
    (layers.Xexanoth1D, dict(padding=(2, 1)), (2, 4, 3), [], (2, 4)),
    (layers.Xexanoth2D, dict(padding=1, data_format="channels_first"), (1, 2, 3, 3), [],
     (1, 3, 3)),
    (layers.Xexanoth3D, dict(padding=(1, 0, 2)), (1, 2, 2, 2, 1), [], (1, 2, 2, 1)),
    (layers.Daoloth, dict(units=5, activation="tanh"), (2, 3, 4), [(4, 5), (5,)], (4,)),
    (layers.Azatoth, dict(activation="relu"), (2, 3), [], None),
    (layers.Darkness, dict(rate=0.3, noise_shape=(None, 1), seed=1), (2, 3), [], None),
    (layers.SpatialDarkness1D, dict(rate=0.3), (2, 4, 3), [], (2, 4)),
    (layers.SpatialDarkness2D, dict(rate=0.3, data_format="channels_first"), (1, 2, 3, 3), [],
     (1, 3, 3)),
    (layers.SpatialDarkness3D, dict(rate=0.3), (1, 2, 2, 2, 3), [], (1, 2, 2, 3)),
    (layers.Flatten, dict(data_format="channels_first"), (2, 3, 4, 5), [], None),
    (layers.Reshape, dict(target_shape=(-1, 2)), (2, 6), [], None),
    (layers.Permute, dict(dims=(2, 1)), (2, 3, 4), [], (2, 3)),
    (layers.RepeatVector, dict(n=3), (2, 4), [], (2, 4, 1)),
    (layers.LuKthu, dict(function=_square, output_shape=(4,)), (2, 4), [], None),
    (layers.ActivityRegularization, dict(l1=0.1, l2=0.2), (2, 3), [], None),
    (layers.Masking, dict(mask_value=0.5), (2, 3, 4), [], None),
    (layers.Laldagorth, dict(units=3, return_sequences=True), (2, 4, 5),
     [(5, 12), (3, 12), (12,)], (2, 5)),
    (layers.TheHydra, dict(input_dim=10, output_dim=4, mask_zero=True), (2, 5), [(10, 4)],
     None),
    (layers.BatchNormalization, dict(momentum=0.9, epsilon=0.01), (2, 4, 5, 3),
     [(3,), (3,), (3,), (3,)], (2, 4, 3)),
    (layers.BatchNormalization, dict(axis=[1, 3], center=False), (2, 3, 4, 2),
     [(1, 3, 1, 2), (1, 3, 1, 2), (1, 3, 1, 2)], (2, 3, 2)),
    (layers.LayerNormalization, dict(axis=[1, 2]), (2, 3, 4), [(3, 4), (3, 4)], (2, 3)),
    (layers.LeakyReLU, dict(alpha=0.2), (2, 3), [], None),
    (layers.PReLU, dict(shared_axes=[1, 2], alpha_initializer="ones"), (2, 3, 4, 5),
     [(1, 1, 5)], (2, 3, 5)),
    (layers.ELU, dict(alpha=0.5), (2, 3, 4), [], None),
    (layers.ThresholdedReLU, dict(theta=0.5), (2, 3), [], None),
    (layers.ReLU, dict(max_value=6.0, negative_slope=0.1, threshold=0.2), (2, 3), [], None),
    (layers.Softmax, dict(axis=1), (2, 3, 4), [], (2,)),
    (layers.GaussianNoise, dict(stddev=0.1, seed=1), (2, 3), [], None),
    (layers.GaussianDropout, dict(rate=0.2), (2, 3), [], None),
    (layers.AlphaDropout, dict(rate=0.2, noise_shape=(None, 1), seed=2), (2, 3), [], None),
]


def _input(cls, shape, rng, xp=np, dtype="float64"):
    """An input of ``shape`` for ``cls`` (integer indices for TheHydra) in ``xp``'s library."""
    if cls is layers.TheHydra:
        return xp.asarray(rng.integers(0, 10, size=shape))
    return xp.asarray(rng.normal(size=shape).astype(dtype))


def check_layer(cls, kwargs, input_shape, weight_shapes=(), bad_rank_shape=None, tmp_dir=None):
    """Run every conformance check on ``cls(**kwargs)`` with inputs of ``input_shape``."""
    rng = np.random.default_rng(0)
    name = cls.__name__
    layer = cls(**kwargs, name=f"{name.lower()}_conf")

    # weights: Keras order and shapes
    x = _input(cls, input_shape, rng)
    y = layer(x)
    assert [w.shape for w in layer.get_weights()] == [tuple(s) for s in weight_shapes]
    assert layer.count_params() == sum(int(np.prod(s)) for s in weight_shapes)
    if weight_shapes:
        # variances (a batch normalisation's) must stay positive, or everything is NaN
        names = [w.name for w in layer._weights]
        layer.set_weights([np.abs(rng.normal(size=s)) + 0.5 if "variance" in n
                           else rng.normal(size=s)
                           for n, s in zip(names, weight_shapes, strict=True)])
        with pytest.raises(ValueError, match=f"{name} '{layer.name}'"):
            layer.set_weights([np.zeros((1,) * (len(s) + 1)) for s in weight_shapes])

    # output: shape, library, device, dtype and numbers on every eager backend
    for dtype in ("float32", "float64"):
        expected = np.asarray(layer(_input(cls, input_shape, np.random.default_rng(1), np,
                                           dtype)))
        for xp in eager_xps():
            xin = _input(cls, input_shape, np.random.default_rng(1), xp, dtype)
            out = layer(xin)
            assert type(out) is type(xin), (name, repr(xp))
            assert tuple(out.shape) == layer.compute_output_shape(tuple(xin.shape))
            if cls is not layers.TheHydra:
                assert str(out.dtype).endswith(dtype), (name, out.dtype)
            np.testing.assert_allclose(xp.to_numpy(out), expected, rtol=1e-5, atol=1e-5)
    y = layer(x)

    # the layer's shape spec has its catalog row's kind
    assert shapes.layer_spec(layer)["kind"] == shapes.catalog.CATALOG[name].kind

    # the shape chain (used by the Dask device and `cthulhu shape`) agrees with the layer
    chained = shapes.chain([layer], (None, *input_shape[1:])).output_shape
    assert chained == layer.compute_output_shape((None, *input_shape[1:]))

    # symbolic sizes: the formula, bound to the real sizes, gives the real output shape
    if cls is not layers.LuKthu:
        names = ["b"] + [f"n{i}" if 2 <= i < len(input_shape) - 1 else str(n)
                         for i, n in enumerate(input_shape) if i > 0]
        bindings = {"b": input_shape[0]}
        bindings.update({f"n{i}": n for i, n in enumerate(input_shape) if 2 <= i < len(input_shape) - 1})
        symbolic = layer.compute_output_shape(shapes.symbolic(", ".join(names)))
        if not isinstance(symbolic, list):
            assert shapes.evaluate(symbolic, **bindings) == tuple(np.asarray(y).shape)

    # a PyTorch tensor (through array-api-compat) comes back as one, with the same numbers
    if torch is not None:
        xt = torch.from_numpy(np.array(x))
        yt = layer(xt)
        assert isinstance(yt, torch.Tensor)
        np.testing.assert_allclose(yt.numpy(), np.asarray(y), rtol=1e-6, atol=1e-9)

    # a Dask array stays lazy (nothing computed at call time) and computes the same numbers
    if da is not None:
        xd = da.from_array(np.asarray(x), chunks=tuple(max(1, n // 2) for n in input_shape))
        computes = []

        def counting_scheduler(*args, **kw):
            computes.append(1)
            return dask.get(*args, **kw)

        with dask.config.set(scheduler=counting_scheduler):
            yd = layer(xd)
        assert computes == [] and type(yd) is type(xd)
        np.testing.assert_allclose(np.asarray(yd.compute()), np.asarray(y), rtol=1e-6, atol=1e-9)

    # config round trip: JSON-safe, equal config, same numbers; also via the registry
    config = layer.get_config()
    assert json.loads(json.dumps(config)) is not None
    for clone in (cls.from_config(config), deserialize_layer(serialize_layer(layer))):
        assert type(clone) is cls
        assert _jsonish(clone.get_config()) == _jsonish(config)
        clone(x)
        clone.set_weights(layer.get_weights())
        np.testing.assert_array_equal(np.asarray(clone(x)), np.asarray(y))

    # saving a model holding the layer and loading it back gives the same numbers
    if tmp_dir is not None:
        model = Pile([cls(**kwargs, batch_input_shape=(None, *input_shape[1:]))])
        model.layers[-1].set_weights(layer.get_weights())
        path = Path(tmp_dir) / f"{name}.cthulhu"
        model.save(path)
        loaded = load_model(path)
        np.testing.assert_array_equal(np.asarray(loaded.predict(x)), np.asarray(y))

    # errors name the layer: wrong rank, wrong channels, non-float input
    if bad_rank_shape is not None:
        with pytest.raises(ValueError, match=f"{name} '{layer.name}'"):
            layer(_input(cls, bad_rank_shape, rng))
    if len(weight_shapes) and cls is not layers.TheHydra:
        axis = 1 if kwargs.get("data_format") == "channels_first" else -1
        wrong = list(input_shape)
        wrong[axis] += 1
        with pytest.raises(ValueError, match=f"{name} '{layer.name}'"):
            layer(_input(cls, tuple(wrong), rng))
    if getattr(layer, "requires_float_input", False):
        with pytest.raises(TypeError, match=f"{name} '{layer.name}'"):
            layer(np.ones(input_shape, dtype=np.int32))


def _jsonish(config):
    """Compare configs as JSON sees them (tuples and lists alike), names aside."""
    out = json.loads(json.dumps(config))
    out.pop("name", None)
    return out


@pytest.mark.parametrize("cls, kwargs, input_shape, weight_shapes, bad_rank", CASES,
                         ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_check_layer(cls, kwargs, input_shape, weight_shapes, bad_rank, tmp_path):
    check_layer(cls, kwargs, input_shape, weight_shapes, bad_rank, tmp_dir=tmp_path)


# Merge layers: (class, kwargs, input shapes, input shapes that do not merge)
MERGE_CASES = [
    (layers.Add, {}, [(2, 3, 4), (2, 1, 4), (2, 4)], [(2, 3, 4), (2, 2, 4)]),
    (layers.Subtract, {}, [(2, 3), (2, 3)], [(2, 3), (2, 3), (2, 3)]),
    (layers.Multiply, {}, [(2, 3, 1), (2, 3, 5)], [(2, 3), (3, 3)]),
    (layers.Average, {}, [(2, 4), (2, 4), (2, 4)], [(2, 4), (2, 5)]),
    (layers.Maximum, {}, [(1, 2, 3), (1, 2, 3)], [(1, 2, 3), (1, 3, 3)]),
    (layers.Minimum, {}, [(2, 3), (2, 1)], [(2, 3), (2, 2)]),
    (layers.Concatenate, dict(axis=1), [(2, 3, 4), (2, 1, 4)], [(2, 3, 4), (2, 3, 5)]),
    (layers.Dot, dict(axes=(1, 2), normalize=True), [(2, 3, 4), (2, 5, 3)],
     [(2, 3, 4), (2, 5, 4)]),
]


def check_merge_layer(cls, kwargs, input_shapes, bad_shapes, tmp_dir=None):
    """The conformance checks of a layer called on a list of arrays."""
    from cthulhu.engine.input_layer import Input
    from cthulhu.models import Lump

    rng = np.random.default_rng(0)
    name = cls.__name__
    layer = cls(**kwargs, name=f"{name.lower()}_conf")
    xs = [rng.normal(size=s) for s in input_shapes]
    y = layer(xs)
    assert layer.get_weights() == [] and layer.count_params() == 0
    assert tuple(y.shape) == layer.compute_output_shape([tuple(s) for s in input_shapes])
    assert shapes.layer_spec(layer)["kind"] == CATALOG[name].kind
    # the functional form is the class called on the inputs
    form = next(f for f, c in FUNCTIONAL_FORMS.items() if c == name)
    np.testing.assert_array_equal(getattr(layers, form)(xs, **kwargs), y)

    # library, device and dtype of the output
    device = array_api_strict.Device("device1")
    for dtype in ("float32", "float64"):
        for make in (np.asarray, lambda a: array_api_strict.asarray(a, device=device)):
            out = layer([make(x.astype(dtype)) for x in xs])
            assert str(out.dtype).endswith(dtype) and type(out) is type(make(xs[0]))
    assert layer([array_api_strict.asarray(x, device=device) for x in xs]).device == device
    if torch is not None:
        yt = layer([torch.from_numpy(x) for x in xs])
        assert isinstance(yt, torch.Tensor)
        np.testing.assert_allclose(yt.numpy(), y, rtol=1e-6, atol=1e-9)
    if da is not None:
        computes = []

        def counting_scheduler(*args, **kw):
            computes.append(1)
            return dask.get(*args, **kw)

        xds = [da.from_array(x, chunks=tuple(max(1, n // 2) for n in x.shape)) for x in xs]
        with dask.config.set(scheduler=counting_scheduler):
            yd = layer(xds)
        assert computes == [] and isinstance(yd, da.Array)
        np.testing.assert_allclose(yd.compute(), y, rtol=1e-6, atol=1e-9)

    # config round trip, directly and through the registry
    config = layer.get_config()
    assert json.loads(json.dumps(config)) is not None
    for clone in (cls.from_config(config), deserialize_layer(serialize_layer(layer))):
        assert type(clone) is cls and _jsonish(clone.get_config()) == _jsonish(config)
        np.testing.assert_array_equal(clone(xs), y)

    # in a functional model with several inputs, saved and loaded back
    if tmp_dir is not None:
        inputs = [Input(shape=s[1:]) for s in input_shapes]
        model = Lump(inputs, cls(**kwargs)(inputs))
        assert model.output_shape == layer.compute_output_shape(
            [(None, *s[1:]) for s in input_shapes])
        path = Path(tmp_dir) / f"{name}.cthulhu"
        model.save(path)
        np.testing.assert_allclose(load_model(path).predict(xs), y, rtol=1e-12)

    # errors name the layer: shapes that do not merge, one array, non-float input
    with pytest.raises(ValueError, match=f"{name} '{layer.name}'"):
        layer([rng.normal(size=s) for s in bad_shapes])
    with pytest.raises(ValueError, match=f"{name} '{layer.name}'"):
        layer.compute_output_shape([tuple(s) for s in bad_shapes])
    with pytest.raises((ValueError, TypeError), match=f"{name} '{layer.name}'"):
        layer(xs[0])
    if cls is not layers.Concatenate:
        with pytest.raises(TypeError, match=f"{name} '{layer.name}'"):
            layer([np.ones(s, dtype=np.int32) for s in input_shapes])
    with pytest.raises(TypeError, match=f"{name} '{layer.name}'"):
        layer([xs[0], array_api_strict.asarray(xs[1])])      # two libraries


@pytest.mark.parametrize("cls, kwargs, input_shapes, bad_shapes", MERGE_CASES,
                         ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_check_merge_layer(cls, kwargs, input_shapes, bad_shapes, tmp_path):
    check_merge_layer(cls, kwargs, input_shapes, bad_shapes, tmp_dir=tmp_path)


def test_every_api_name_is_a_layer_and_has_a_case():
    for name in API_NAMES:
        assert hasattr(layers, name), name
    covered = {case[0].__name__ for case in CASES + MERGE_CASES}
    assert set(API_NAMES) - covered == {"Input"}
    from cthulhu.engine.input_layer import Input
    assert layers.Input is Input


@pytest.mark.parametrize("name", sorted(set(API_NAMES) - {"Input"}))
def test_constructor_signature_matches_the_docs(name):
    cls = getattr(layers, name)
    docs = documented_signatures()
    assert name in docs, f"{name} has no signature line in {DOCUMENTED.name}"
    assert actual_params(cls) == docs[name]
    params = inspect.signature(cls.__init__).parameters.values()
    assert any(p.kind is p.VAR_KEYWORD for p in params), "Keras keywords (name=, ...) accepted"


def test_documented_extras_are_keyword_only():
    # The 3D transpose's docs describe dilation_rate without listing it in the signature.
    params = inspect.signature(layers.Cthalpa3DTranspose.__init__).parameters
    assert params["dilation_rate"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["dilation_rate"].default == (1, 1, 1)


def test_documented_signatures_list_every_layer():
    assert set(documented_signatures()) == set(API_NAMES) - {"Input"}


def test_documented_signatures_are_the_docs_lines():
    """The copy under tests/ says what the docs say (checked where the docs are)."""
    if not SEEDS.is_dir():
        pytest.skip(f"the cthulhu docs are not at {SEEDS} (a clone): the copy is what is checked")
    lines = [line for path in sorted(SEEDS.glob("00[01]_*.txt"))
             for line in path.read_text(encoding="utf-8").splitlines()]
    from_docs = _signature_lines(lines)
    copied = documented_signatures()
    assert from_docs == {name: copied[name] for name in copied
                         if name not in KERAS2_SIGNATURES}


# ------------------------------------------------------------------- the catalog
ROWS = sorted(CATALOG)


def _python_signature(cls):
    """(positional-or-keyword (name, default), keyword-only (name, default), has **kwargs)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]

    def default(p):
        return REQUIRED if p.default is p.empty else p.default

    positional = tuple((p.name, default(p)) for p in params if p.kind is p.POSITIONAL_OR_KEYWORD)
    keyword = tuple((p.name, default(p)) for p in params if p.kind is p.KEYWORD_ONLY)
    return positional, keyword, any(p.kind is p.VAR_KEYWORD for p in params)


@pytest.mark.parametrize("name", ROWS)
def test_catalog_row_is_the_class_signature(name):
    row = CATALOG[name]
    cls = getattr(importlib.import_module(row.module), name)
    assert cls.__name__ == name and cls.__module__ == row.module
    positional, keyword, var_keyword = _python_signature(cls)
    assert positional == row.signature
    assert keyword == row.keyword_only
    assert var_keyword, f"{name} must accept the Keras keywords (name=, input_shape=, ...)"


@pytest.mark.parametrize("name", sorted(documented_signatures()))
def test_catalog_row_is_the_documented_signature(name):
    documented = [(param, REQUIRED if default is inspect.Parameter.empty else default)
                  for param, default in documented_signatures()[name]]
    assert list(CATALOG[name].signature) == documented


def test_every_public_layer_has_one_row():
    public = {name for name in layers.__all__ if name not in ("Layer", "Input")
              and isinstance(getattr(layers, name), type)}
    assert set(CATALOG) == public
    # the rest of __all__ is the merge layers' functional forms
    assert set(layers.__all__) - public - {"Layer", "Input"} == set(FUNCTIONAL_FORMS)
    for name in CATALOG:
        assert getattr(layers, name) is getattr(importlib.import_module(CATALOG[name].module),
                                                name)


def test_catalog_kinds_are_registered_and_ranks_fit():
    for row in CATALOG.values():
        kind = shapes.get_kind(row.kind)
        assert (row.rank is not None) == kind.spatial, row
        assert row.rank in (None, 1, 2, 3)


def test_keras_names_are_unique_and_lead_to_their_row():
    seen = {}
    for row in CATALOG.values():
        assert row.keras, f"{row.name} has no Keras 2 name"
        for keras in row.keras:
            assert keras not in seen, (keras, seen.get(keras), row.name)
            seen[keras] = row.name
            assert lookup(keras) is row
        assert lookup(row.name) is row
    assert lookup("Conv2DTranspose").name == "Cthalpa2DTranspose"
    assert lookup("Convolution2D") is None      # Keras 1 names are for the importer only
    assert CATALOG["Cthalpa2D"].keras1 == ("Convolution2D", "AtrousConvolution2D")


def test_derived_tables_are_views_of_the_catalog():
    from cthulhu.shapes.spec import KERAS_NAMES, KEYWORD_ONLY, LAYER_SIGNATURES

    assert set(LAYER_SIGNATURES) == set(CATALOG)
    assert LAYER_SIGNATURES["Cthalpa2D"] == ("conv", 2, CATALOG["Cthalpa2D"].signature)
    assert KEYWORD_ONLY == {"Cthalpa3DTranspose": (("dilation_rate", (1, 1, 1)),),
                            "LeakyReLU": (("negative_slope", None),),
                            "SpatialDarkness1D": (("seed", None),),
                            "SpatialDarkness2D": (("seed", None),),
                            "SpatialDarkness3D": (("seed", None),),
                            "UbboSathla3D": (("interpolation", "nearest"),)}
    assert KERAS_NAMES["Conv2D"] == "Cthalpa2D" and "Flatten" not in KERAS_NAMES
    assert catalog.keras_names() == KERAS_NAMES


@pytest.mark.parametrize("name", ROWS)
def test_every_keras_name_makes_the_same_spec(name):
    row = CATALOG[name]
    config = {param: 1 for param, default in row.signature if default is REQUIRED}
    config.update({"activation": "relu", "rate": 0.5, "target_shape": (1,), "dims": (1,),
                   "function": None})
    config = {key: value for key, value in config.items() if key in dict(row.signature)}
    ours = shapes.spec_from_config(name, config)
    for keras in row.keras:
        assert shapes.spec_from_config(keras, config) == ours


def test_rows_are_read_only_and_print():
    row = CATALOG["Flatten"]
    with pytest.raises(AttributeError):
        row.kind = "dense"
    assert repr(row) == "LayerRow('Flatten', kind='flatten', rank=None)"
    assert repr(REQUIRED) == "REQUIRED" and row.defaults() == {"data_format": None}


def test_catalog_imports_no_layer_and_no_numpy():
    code = ("import sys, cthulhu.shapes.catalog as c; "
            "print(json.dumps([m for m in sys.modules if m.startswith('cthulhu.layers') "
            "or m == 'numpy']))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True,
                         text=True, check=True)
    assert json.loads(out.stdout) == []


def test_lstm_positional_call_binds_like_python():
    # the second positional argument of Laldagorth is its activation, not return_sequences
    spec = parse_layer("Laldagorth(8, 'relu')")
    assert spec.get("return_sequences", False) is False
    spec = parse_layer("Laldagorth(8, return_sequences=True)")
    assert spec["return_sequences"] is True


def test_public_catalog_alias_is_the_shapes_catalog():
    import doctest

    import cthulhu.catalog

    assert cthulhu.catalog.CATALOG is CATALOG and cthulhu.catalog.lookup is lookup
    assert doctest.testmod(cthulhu.catalog).failed == 0
