"""Ops as objects that own their geometry (issue 9, section 2).

Laws: a call validates its padding once and builds its geometry once, whoever runs it
(NumPy with and without native code, the generic code on array-api-strict, the Dask
router); no plugin asks ``cthulhu.shapes`` for a length or a padding again; the plugin
receives exactly the op's geometry and the epilogue parts it declared; every epilogue
part the NumPy plugin declares gives what the op's own Array API epilogue gives.
"""

import numpy as np
import pytest

from cthulhu import devices, ops, shapes
from cthulhu.devices import Epilogue, Plugin, fuses
from cthulhu.devices.base import Fusion
from cthulhu.ops._dispatch import apply_epilogue
from cthulhu.shapes import lengths, normalize

xps = pytest.importorskip("array_api_strict")
da = pytest.importorskip("dask.array")

RNG = np.random.default_rng(0)


def _r(*shape):
    return RNG.uniform(-1, 1, shape)


# (op, x shape, weights, arguments)
CALLS = [
    ("conv", (2, 9, 3), [(3, 3, 4)], dict(padding="causal", dilation=2)),
    ("conv", (1, 3, 7, 6), [(3, 2, 3, 5)], dict(padding="same", strides=2,
                                                data_format="channels_first")),
    ("conv_transpose", (1, 5, 6, 3), [(3, 3, 4, 3)], dict(padding="same", strides=2,
                                                          output_padding=1)),
    ("depthwise_conv", (1, 6, 6, 3), [(3, 3, 3, 2)], dict(padding="valid")),
    ("separable_conv", (1, 7, 4), [(3, 4, 2), (1, 8, 5)], dict(padding="same")),
]


def _arrays(x_shape, weights, to=np.asarray):
    return to(_r(*x_shape)), [to(_r(*w)) for w in weights]


@pytest.fixture
def padding_checks(monkeypatch):
    """Every validation of a padding name (the kinds' rule, and the one-axis functions')."""
    calls = []
    kind_rule = shapes.Kind.normalize_padding
    name_rule = normalize.normalize_padding

    def count_kind(self, *args, **kwargs):
        calls.append("kind")
        return kind_rule(self, *args, **kwargs)

    def count_name(*args, **kwargs):
        calls.append("name")
        return name_rule(*args, **kwargs)

    monkeypatch.setattr(shapes.Kind, "normalize_padding", count_kind)
    monkeypatch.setattr(normalize, "normalize_padding", count_name)
    monkeypatch.setattr(lengths, "normalize_padding", count_name)
    return calls


@pytest.fixture
def no_lengths_after_the_geometry(monkeypatch):
    """The one-axis length and padding functions raise; the geometry builders count."""
    def refuse(*args, **kwargs):
        raise AssertionError("a length or padding was computed again after the geometry")

    names = ("conv_length", "conv_padding", "conv_transpose_length", "conv_transpose_padding",
             "upsample_length", "pad_length", "crop_length", "pool_length")
    from cthulhu.shapes import axis_maps

    for module in (shapes, lengths, axis_maps):
        for name in names:
            if hasattr(module, name):
                monkeypatch.setattr(module, name, refuse)
    for op in ops.OPS.values():     # nothing built before counts
        cache = getattr(op, "_cache", None)
        if cache is not None:
            cache.clear()
    built = []
    for name in ("conv_geometry", "upsample_geometry", "pad_geometry"):
        real = getattr(shapes, name)

        def count(*args, _real=real, _name=name, **kwargs):
            built.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(shapes, name, count)
    return built


LIBRARIES = {
    "numpy": np.asarray,
    "strict": xps.asarray,
    "dask": lambda a: da.from_array(a, chunks=2),
}


@pytest.mark.parametrize("library", sorted(LIBRARIES))
@pytest.mark.parametrize("case", CALLS, ids=[f"{c[0]}-{i}" for i, c in enumerate(CALLS)])
def test_padding_is_validated_once_per_call(padding_checks, case, library):
    op, x_shape, weights, args = case
    x, ws = _arrays(x_shape, weights, LIBRARIES[library])
    getattr(ops, op)(x, *ws, **args)       # on Dask: the lazy graph, one call
    assert padding_checks == ["kind"]
    pairs = ops.OPS[op].geometry(np.asarray(_r(*x_shape)), *[np.asarray(_r(*w)) for w in weights],
                                 **args).pads
    padding_checks.clear()
    getattr(ops, op)(x, *ws, **{**args, "padding": pairs, "output_padding": None}
                     if op == "conv_transpose" else {**args, "padding": pairs})
    assert padding_checks == []            # explicit pairs: no name to validate


@pytest.mark.parametrize("native", ["1", "0"])
@pytest.mark.parametrize("library", ["numpy", "strict"])
def test_no_plugin_recomputes_a_length(no_lengths_after_the_geometry, monkeypatch, library,
                                       native):
    monkeypatch.setenv("CTHULHU_NATIVE", native)
    built = no_lengths_after_the_geometry
    to = LIBRARIES[library]
    for op, x_shape, weights, args in CALLS:
        x, ws = _arrays(x_shape, weights, to)
        bias = to(_r(ops.OPS[op].out_channels(ws)))
        for _ in range(2):      # built on the first call; the second finds it cached
            getattr(ops, op)(x, *ws, bias=bias, activation="relu", **args)
        assert built == ["conv_geometry"], op
        built.clear()
    x = to(_r(1, 3, 4, 2))
    ops.upsample(x, (2, 3), interpolation="bilinear")
    ops.upsample(x, 2)
    ops.pad(x, ((1, 2), (0, 1)))
    ops.crop(x, ((1, 0), (1, 1)))
    assert built == ["upsample_geometry"] * 2 + ["pad_geometry"] * 2


def test_the_dask_router_plans_from_the_ops_geometry(no_lengths_after_the_geometry):
    for op, x_shape, weights, args in CALLS:
        x = _r(*x_shape)
        ws = [_r(*w) for w in weights]
        y = getattr(ops, op)(da.from_array(x, chunks=2), *ws, **args)
        np.testing.assert_allclose(y.compute(), getattr(ops, op)(x, *ws, **args), rtol=1e-12,
                                   atol=1e-12)


class _Recorder(Plugin):
    """Serves array-api-strict arrays; records what each op callable receives."""

    name, keys = "recorder", ("array_api_strict",)

    def __init__(self):
        self.seen = []

    def get(self, op):
        if op == "blockwise":
            return None

        @fuses("bias")
        def impl(x, *weights, geometry, epilogue):
            self.seen.append((op, geometry, epilogue))
            return NotImplemented            # the generic code computes the result

        return impl


@pytest.fixture
def recorder():
    plugin = _Recorder()
    devices.register(plugin, replace=True)
    yield plugin
    devices.unregister(plugin)


def test_plugins_receive_the_ops_geometry_and_their_epilogue_parts(recorder):
    for op, x_shape, weights, args in CALLS:
        x, ws = _arrays(x_shape, weights)
        g = ops.OPS[op].geometry(x, *ws, **args)
        bias = _r(g.out_channels)
        y = getattr(ops, op)(xps.asarray(x), *map(xps.asarray, ws), bias=xps.asarray(bias),
                             activation="relu", **args)
        name, geometry, epilogue = recorder.seen.pop()
        assert name == op and geometry == g
        assert epilogue.parts() == ("bias",)           # fuses("bias"): the relu is the op's
        expected = np.maximum(ops.OPS[op].reference(x, *ws, **args)
                              + bias.reshape([-1 if a == g.channel_axis else 1
                                              for a in range(x.ndim)]), 0)
        np.testing.assert_allclose(np.from_dlpack(y), expected, rtol=1e-12, atol=1e-12)
    k = _r(4, 3)
    ops.matmul(xps.asarray(_r(2, 5, 4)), xps.asarray(k))
    assert recorder.seen.pop()[1:] == (shapes.MatmulGeometry((2, 5), 4, 3), Epilogue())
    ops.upsample(xps.asarray(_r(1, 2, 3, 1)), (2, 1), interpolation="bilinear")
    name, geometry, epilogue = recorder.seen.pop()
    assert geometry == shapes.upsample_geometry((1, 2, 3, 1), (2, 1),
                                                data_format="channels_last",
                                                interpolation="bilinear")
    assert epilogue.empty


def test_every_op_is_an_object_with_an_empty_vjp_slot():
    assert set(ops.OPS) == {"conv", "conv_transpose", "depthwise_conv", "separable_conv",
                            "matmul", "upsample", "pad", "crop", "pool", "global_pool",
                            "blockwise"}
    for name, op in ops.OPS.items():
        assert isinstance(op, ops.Op) and op.name == name and op.vjp is None
        if name not in ("pad", "crop"):         # generic only: no plugin entry
            assert name in devices.OPS


# -- the epilogue -----------------------------------------------------------------------

B, S, T = np.ones(2), np.full(2, 2.0), np.full(2, 3.0)


@pytest.mark.parametrize("epilogue, fusion, fused, rest", [
    # nothing declared: everything is the op's
    (Epilogue(B, S, T, "relu"), None, (), ("bias", "scale", "shift", "activation")),
    # the parts run in order: a plugin takes the present ones up to the first it lacks
    (Epilogue(B, S, T, "relu"), ("bias", "activation"), ("bias",),
     ("scale", "shift", "activation")),
    (Epilogue(B, None, None, "relu"), ("bias", "activation"), ("bias", "activation"), ()),
    (Epilogue(None, S, None, "relu"), ("bias", "scale"), ("scale",), ("activation",)),
    (Epilogue(B, None, None, "tanh"), ("bias", "activation"), ("bias",), ("activation",)),
    (Epilogue(None, None, None, None), ("bias",), (), ()),
])
def test_epilogue_split_keeps_the_order(epilogue, fusion, fused, rest):
    mark = None if fusion is None else fuses(*fusion)(lambda: None).cthulhu_fuses
    got_fused, got_rest = epilogue.split(mark)
    assert got_fused.parts() == fused and got_rest.parts() == rest


def test_fuses_records_parts_and_activations():
    impl = fuses("bias", "activation", activations=("relu", "relu6"))(lambda: None)
    assert impl.cthulhu_fuses == Fusion(frozenset({"bias", "activation"}),
                                        frozenset({"relu", "relu6"}))
    _, rest = Epilogue(B, None, None, "relu6").split(impl.cthulhu_fuses)
    assert rest.empty


@pytest.mark.parametrize("activation", [None, "relu", "relu6", "leaky_relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("axis", [1, -1])
def test_the_ops_epilogue_is_the_formula(activation, axis):
    y = _r(2, 3, 4) * 8
    c = y.shape[axis]
    b, s, t = _r(c), _r(c), _r(c)
    shape = [1, 1, 1]
    shape[axis] = c
    z = (y + b.reshape(shape)) * s.reshape(shape) + t.reshape(shape)
    want = {None: z, "relu": np.maximum(z, 0), "relu6": np.clip(z, 0, 6),
            "leaky_relu": np.where(z >= 0, z, 0.1 * z), "sigmoid": 1 / (1 + np.exp(-z)),
            "tanh": np.tanh(z)}[activation]
    got = apply_epilogue(xps.asarray(y), Epilogue(*map(xps.asarray, (b, s, t)), activation,
                                                  0.1), axis)
    np.testing.assert_allclose(np.from_dlpack(got), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("native", ["1", "0"])
@pytest.mark.parametrize("activation", [None, "relu", "relu6"])
def test_numpy_plugin_fuses_the_whole_epilogue_it_declares(monkeypatch, native, activation):
    """A folded batch norm and relu6 through the NumPy plugin (engine and NumPy paths)
    equal the generic result with the op's Array API epilogue."""
    monkeypatch.setenv("CTHULHU_NATIVE", native)
    for op, x_shape, weights, args in [*CALLS, ("matmul", (3, 4), [(4, 5)], {})]:
        x, ws = _arrays(x_shape, weights)
        g = ops.OPS[op].geometry(x, *ws, **args)
        f = g.out_features if op == "matmul" else g.out_channels
        epilogue = Epilogue(_r(f), _r(f) * 4, _r(f), activation)
        y = ops.OPS[op].run(x, tuple(ws), g, epilogue)
        want = apply_epilogue(ops.OPS[op].generic(x, *ws, geometry=g), epilogue,
                              g.channel_axis)
        np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-10, err_msg=op)


def test_geometry_cache_is_bounded_and_never_skips_a_check():
    from cthulhu.ops._op import GeometryCache

    cache, calls = GeometryCache(), []

    def build(value):
        calls.append(value)
        return value

    assert cache.get((1,), build, "a") == "a" and cache.get((1,), build, "b") == "a"
    assert cache.get(([1],), build, "c") == "c" and calls == ["a", "c"]   # unhashable
    for i in range(cache.LIMIT + 5):
        cache.get(("k", i), build, i)
    assert len(cache._store) <= cache.LIMIT
    # a failing call is not remembered: the same bad input fails every time
    x, k = np.ones((1, 2, 1)), np.ones((3, 1, 1))
    for _ in range(2):
        with pytest.raises(ValueError, match="padded input length"):
            ops.conv(x, k)
    ops.conv(np.ones((1, 5, 1)), k, strides=2)
    with pytest.raises(TypeError, match="strides must be integers"):
        ops.conv(np.ones((1, 5, 1)), k, strides=2.0)     # equal to 2, but not an int


@pytest.mark.parametrize("name", ["cthulhu.ops.conv", "cthulhu.ops.dense", "cthulhu.ops.resample",
                                  "cthulhu.ops.blockwise", "cthulhu.devices"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
