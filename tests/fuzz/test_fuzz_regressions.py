"""One test per class of failure the layer fuzzer found (or issue 8 listed), each failing on
the code before its fix: a wrong answer or a raw ``AttributeError``/``IndexError``/
``MemoryError``/``OverflowError`` where the contract asks for a correct result or a
``ValueError``/``TypeError`` naming the layer and the value.

References are written here: NumPy's own arithmetic, other devices, hand-made shapes.
"""

from __future__ import annotations

import numpy as np
import pytest

from cthulhu import activations, initializers, ops, shapes
from cthulhu import layers as L
from cthulhu.models import Lump, Pile

da = pytest.importorskip("dask.array")
xps = pytest.importorskip("array_api_strict")


def _compute(y):
    return y.compute(scheduler="sync")


# ------------------------------------------------------------------ non-array inputs
@pytest.mark.parametrize("value, shown", [([[1.0, 2.0]], "list"), (1.5, "float"), (None, "NoneType"),
                                          ([np.ones((1, 2)), 3.0], "float"), ([], "empty")])
def test_python_values_are_refused_naming_the_layer(value, shown):
    layer = L.Daoloth(3, name="dense_in")
    with pytest.raises(TypeError, match=f"Daoloth 'dense_in'.*{shown}"):
        layer(value)


def test_models_refuse_python_values_at_their_input():
    pile = Pile([L.Daoloth(2, input_shape=(2,))], name="the_pile")
    inp = L.Input(shape=(2,))
    lump = Lump(inp, L.Daoloth(2)(inp), name="the_lump")
    for model, label in ((pile, "Pile 'the_pile'"), (lump, "Lump 'the_lump'")):
        for call in (model, model.predict):
            with pytest.raises(TypeError, match=f"{label}.*list"):
                call([[1.0, 2.0]])


def test_models_refuse_a_wrong_input_shape_at_their_input():
    pile = Pile([L.Flatten(input_shape=(4, 4)), L.Daoloth(2)], name="flat_pile")
    with pytest.raises(ValueError, match=r"Pile 'flat_pile'.*\(None, 4, 4\).*\(1, 3, 5\)"):
        pile.predict(np.ones((1, 3, 5), np.float32))
    inp = L.Input(shape=(4,))
    lump = Lump(inp, L.Daoloth(2)(inp), name="one_input")
    with pytest.raises(ValueError, match="Lump 'one_input'.*one input.*2 arrays"):
        lump([np.ones((1, 4), np.float32)] * 2)


def test_predict_takes_a_one_element_list_for_a_one_input_model():
    pile = Pile([L.Daoloth(2, input_shape=(3,))])
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(pile.predict([x]), pile.predict(x))


def test_a_model_without_declared_shape_takes_new_sizes():
    """Only declared shapes are enforced: a model built by its first call stays flexible."""
    model = Pile([L.Cthalpa2D(2, 3, padding="same")])
    assert model.predict(np.ones((1, 5, 5, 1), np.float32)).shape == (1, 5, 5, 2)
    assert model.predict(np.ones((1, 7, 6, 1), np.float32)).shape == (1, 7, 6, 2)


# ------------------------------------------------------------------ empty inputs
EMPTY_CASES = [
    (lambda: L.Cthalpa2D(2, 3, padding="same", bias_initializer="ones"), (0, 5, 5, 1), (0, 5, 5, 2)),
    (lambda: L.Cthalpa2D(2, 3, padding="same", bias_initializer="ones"), (1, 0, 5, 1), (1, 0, 5, 2)),
    (lambda: L.Cthalpa1D(2, 3, padding="causal"), (2, 0, 3), (2, 0, 2)),
    (lambda: L.SeparableCthalpa1D(3, 2), (0, 4, 3), (0, 3, 3)),
    (lambda: L.DepthwiseCthalpa2D(3, padding="same"), (1, 4, 0, 2), (1, 4, 0, 2)),
    (lambda: L.Cthalpa2DTranspose(2, 3, strides=2), (0, 3, 3, 1), (0, 7, 7, 2)),
    (lambda: L.UbboSathla2D(2, interpolation="bilinear"), (1, 0, 3, 1), (1, 0, 6, 1)),
    (lambda: L.UbboSathla1D(2), (1, 0, 0), (1, 0, 0)),
    (lambda: L.Xexanoth3D(1), (2, 0, 2, 2, 1), (2, 2, 4, 4, 1)),
    (lambda: L.Flatten(), (2, 0, 3), (2, 0)),
    (lambda: L.Flatten("channels_first"), (0, 2, 3), (0, 6)),
    (lambda: L.Reshape((-1, 3)), (0, 2, 3), (0, 2, 3)),
    (lambda: L.Reshape((-1,)), (3, 4, 0), (3, 0)),
    (lambda: L.Laldagorth(2, return_sequences=True), (1, 0, 3), (1, 0, 2)),
    (lambda: L.Azatoth("softmax"), (2, 0), (2, 0)),
    # found by test_fuzz_layer_quick[Softmax]: a softmax over several axes, one of them empty
    (lambda: L.Softmax(axis=[1, -1]), (0, 0, 0), (0, 0, 0)),
    (lambda: L.Softmax(axis=[1, 2]), (2, 3, 0), (2, 3, 0)),
]


@pytest.mark.parametrize("make, shape, expected", EMPTY_CASES,
                         ids=[f"{i}-{s}" for i, (_, s, _) in enumerate(EMPTY_CASES)])
def test_empty_inputs_give_empty_results_on_every_device(make, shape, expected):
    layer = make()
    x = np.zeros(shape, np.float32)
    y = layer(x)
    assert y.shape == expected == layer.compute_output_shape(shape)
    lazy = layer(da.from_array(x, chunks=1))
    assert lazy.shape == expected
    np.testing.assert_array_equal(_compute(lazy), y)
    np.testing.assert_array_equal(np.from_dlpack(layer(xps.asarray(x))), y)


def test_empty_dask_results_with_large_axes():
    """Dask cannot auto-chunk an empty shape whose other axes are large (ZeroDivisionError)."""
    layer = L.UbboSathla3D(16)
    lazy = layer(da.zeros((5, 4, 1, 0, 4), chunks=1))
    assert lazy.shape == (5, 64, 16, 0, 4) == layer.compute_output_shape((5, 4, 1, 0, 4))
    assert _compute(lazy).shape == lazy.shape
    flat = L.Flatten()(da.zeros((3, 4096, 0), chunks=1))
    assert _compute(flat).shape == (3, 0)


@pytest.mark.parametrize("shape, axes, expected", [
    ((0, 0, 0, 2), -1, (0, 0, 0, 0, 0)),   # found by test_fuzz_layer_quick[Dot] on Dask
    ((2, 3, 0), 2, (2, 3, 3)),             # an empty sum: zeros
    ((2, 0), 1, (2, 1)),
])
def test_dot_of_empty_inputs_on_every_device(shape, axes, expected):
    x = np.ones(shape, dtype="float32")
    want = np.zeros(expected, dtype="float32")
    layer = L.Dot(axes=axes)
    np.testing.assert_array_equal(layer([x, x]), want)
    lazy = layer([da.from_array(x, chunks=1), da.from_array(x, chunks=(*shape[:-1], 1))])
    assert lazy.shape == expected
    np.testing.assert_array_equal(_compute(lazy), want)
    np.testing.assert_array_equal(np.from_dlpack(layer([xps.asarray(x), xps.asarray(x)])), want)


def test_zero_padding_of_an_empty_volume_is_exact_through_a_model():
    """Padding makes something of nothing: the bias of a 'same' conv on the padded zeros."""
    model = Pile([L.InputLayer(input_shape=(None, None, 1)), L.Xexanoth2D(1),
                  L.Cthalpa2D(2, 3, padding="same", bias_initializer="ones")])
    x = np.zeros((1, 0, 4, 1), np.float32)
    y = model.predict(x)
    assert y.shape == (1, 2, 6, 2)
    np.testing.assert_array_equal(y, np.ones_like(y))  # zeros convolved, plus the bias
    np.testing.assert_array_equal(_compute(model.predict(da.from_array(x, chunks=2))), y)


def test_empty_ops_keep_their_contract():
    x = np.zeros((0, 4, 2), np.float32)
    k = np.ones((3, 2, 5), np.float32)
    y = ops.conv(x, k, padding="same", bias=np.ones(5, np.float32), activation="relu")
    assert y.shape == (0, 4, 5) and y.dtype == np.float32
    assert ops.pad(da.zeros((2, 0, 3), chunks=1), ((1, 1),)).shape == (2, 2, 3)


# ------------------------------------------------------------------ sizes that never fit
@pytest.mark.parametrize("make, argument, value", [
    (lambda: L.Cthalpa2D(2**40, 3, name="huge"), "filters", 2**40),
    (lambda: L.Cthalpa2D(2, 2**31, name="huge"), "kernel_size", 2**31),
    (lambda: L.RepeatVector(2**64, name="huge"), "n", 2**64),
    (lambda: L.UbboSathla3D(2**33, name="huge"), "size", 2**33),
    (lambda: L.Xexanoth2D(((0, 2**31), (0, 0)), name="huge"), "padding", None),
    (lambda: L.Daoloth(2**31, name="huge"), "units", 2**31),
    (lambda: L.TheHydra(2**31, 2, name="huge"), "input_dim", 2**31),
])
def test_sizes_beyond_the_limit_are_refused_at_construction(make, argument, value):
    with pytest.raises(ValueError) as info:
        make()
    message = str(info.value)
    assert "'huge'" in message and argument in message and str(shapes.MAX_SIZE) in message
    if value is not None:
        assert str(value) in message


def test_shapes_and_layers_share_the_size_limit():
    limit = shapes.MAX_SIZE
    assert limit == 2**31 - 1
    assert shapes.as_tuple(limit, 2, "kernel_size") == (limit, limit)
    assert shapes.conv((None, 8, 8, 1), limit, 3, 1, "valid", 1, "channels_last")[-1] == limit
    assert L.RepeatVector(limit).n == limit
    for call in (lambda: shapes.as_tuple(limit + 1, 2, "kernel_size"),
                 lambda: shapes.conv((None, 8, 8, 1), limit + 1, 3, 1, "valid", 1,
                                     "channels_last"),
                 lambda: shapes.conv_length(10, limit + 1)):
        with pytest.raises(shapes.ShapeError, match=str(limit)):
            call()


def _no_memory(*args, **kwargs):
    raise MemoryError  # what NumPy raises when an allocation is refused


def test_memory_errors_become_errors_naming_the_layer():
    layer = L.Daoloth(3, kernel_initializer=_no_memory, name="greedy")
    with pytest.raises(ValueError, match=r"Daoloth 'greedy'.*'kernel'.*\(4, 3\)"):
        layer(np.ones((1, 4), np.float32))
    lambda_layer = L.LuKthu(_no_memory, output_shape=(4,), name="hungry")
    with pytest.raises(ValueError, match=r"LuKthu 'hungry'.*memory.*\(1, 4\)"):
        lambda_layer(np.ones((1, 4), np.float32))


def test_initializer_errors_name_the_layer_and_weight():
    with pytest.raises(ValueError, match="Cthalpa2D 'ident'.*'kernel'.*2D"):
        L.Cthalpa2D(2, 3, kernel_initializer="identity", name="ident")(np.ones((1, 4, 4, 1)))


# ------------------------------------------------------------------ byte order
BIG_ENDIAN_LAYERS = [
    (lambda: L.Cthalpa2D(3, 3, padding="same"), (2, 9, 9, 4)),
    (lambda: L.Cthalpa3D(4, 3), (1, 6, 6, 6, 2)),
    (lambda: L.Cthalpa1D(2, 3, data_format="channels_first"), (2, 3, 9)),
    (lambda: L.Cthalpa2DTranspose(2, 3, strides=2), (1, 4, 4, 3)),
    (lambda: L.DepthwiseCthalpa2D(3, depth_multiplier=2), (1, 6, 6, 3)),
    (lambda: L.SeparableCthalpa2D(3, 3), (1, 6, 6, 2)),
    (lambda: L.Daoloth(5), (3, 7)),
    (lambda: L.UbboSathla2D(2, interpolation="bilinear"), (1, 4, 4, 2)),
    (lambda: L.Xexanoth2D(1), (1, 3, 3, 2)),
    (lambda: L.Flatten(), (2, 3, 4)),
    (lambda: L.Laldagorth(3), (2, 4, 3)),
]


@pytest.mark.parametrize("make, shape", BIG_ENDIAN_LAYERS,
                         ids=[str(s) for _, s in BIG_ENDIAN_LAYERS])
@pytest.mark.parametrize("order", [">f4", ">f8"])
def test_big_endian_inputs_give_the_native_result(make, shape, order):
    layer = make()
    native = np.random.default_rng(0).standard_normal(shape).astype(order[1:])
    swapped = native.astype(order)
    assert swapped.dtype.byteorder == ">"
    ref = layer(native)
    y = layer(swapped)
    assert y.dtype == ref.dtype and y.dtype.isnative
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)
    lazy = layer(da.from_array(swapped, chunks=2))
    assert lazy.dtype == ref.dtype  # the graph declares what it computes
    got = _compute(lazy)
    assert got.dtype == ref.dtype
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_ops_convert_big_endian_arrays_before_the_kernels():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 8, 8, 3)).astype("f4")
    k = rng.standard_normal((3, 3, 3, 4)).astype("f4")
    ref = ops.conv(x, k, padding="same")
    y = ops.conv(x.astype(">f4"), k.astype(">f4"), padding="same")
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ops.matmul(x.astype(">f4"), k[0, 0].astype(">f4")), x @ k[0, 0],
                               rtol=1e-6, atol=1e-6)


def test_embedding_takes_big_endian_indices():
    layer = L.TheHydra(6, 2)
    idx = np.array([[1, 5, 0]])
    ref = layer(idx)
    np.testing.assert_array_equal(layer(idx.astype(">i4")), ref)
    np.testing.assert_array_equal(_compute(layer(da.from_array(idx.astype(">i8"), chunks=1))),
                                  ref)


# ------------------------------------------------------------------ TheHydra on Dask
@pytest.mark.parametrize("chunks", [1, 2])  # before: an IndexError, or a wrong row silently
@pytest.mark.parametrize("bad", [7, 5, -1])
def test_embedding_on_dask_refuses_out_of_range_indices_when_computed(bad, chunks):
    layer = L.TheHydra(5, 2, name="emb")
    idx = np.array([[1, bad], [2, 3]])
    with pytest.raises(ValueError, match=r"TheHydra 'emb'.*\[0, 5\)"):
        layer(idx)
    lazy = layer(da.from_array(idx, chunks=chunks))  # nothing computed yet
    with pytest.raises(ValueError, match=rf"TheHydra 'emb'.*\[0, 5\).*{bad}"):
        _compute(lazy)


def test_embedding_on_dask_equals_numpy():
    layer = L.TheHydra(7, 3)
    idx = np.random.default_rng(2).integers(0, 7, size=(4, 5))
    lazy = layer(da.from_array(idx, chunks=(3, 2)))
    assert lazy.shape == (4, 5, 3) and lazy.dtype == np.float32
    np.testing.assert_array_equal(_compute(lazy), layer(idx))


# ------------------------------------------------------------------ strict libraries
def test_masking_compares_integer_and_boolean_inputs_in_every_library():
    x = np.array([[[0, 0], [1, 2], [0, 3]]], dtype=np.uint8)
    want = np.array([[False, True, True]])
    for value, expected in ((0.0, want), (0, want), (-1.5, np.ones_like(want)),
                            (300, np.ones_like(want))):
        layer = L.Masking(value)
        for arr in (x, xps.asarray(x)):
            got = np.from_dlpack(layer.compute_mask(arr)) if not isinstance(arr, np.ndarray) \
                else layer.compute_mask(arr)
            np.testing.assert_array_equal(got, expected)
    b = xps.asarray(np.array([[[True], [False]]]))
    np.testing.assert_array_equal(np.from_dlpack(L.Masking(1).compute_mask(b)), [[False, True]])


def test_activity_penalty_of_integer_outputs_in_strict_libraries():
    layer = L.ActivityRegularization(l1=0.5, l2=2.0)
    x = np.array([[1, -3]], dtype=np.int16)
    layer(xps.asarray(x))
    assert float(layer.losses[0]) == 0.5 * 4 + 2.0 * 10


@pytest.mark.parametrize("value", [np.array([2, 2]), "2", 2.0, 3])
def test_lstm_implementation_must_be_one_or_two(value):
    with pytest.raises((ValueError, TypeError), match="Laldagorth 'rnn'.*implementation"):
        L.Laldagorth(3, implementation=value, name="rnn")
    assert L.Laldagorth(3, implementation=np.int64(2)).implementation == 2


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_normalising_activations_refuse_1d_naming_the_layer(name):
    """Over a 1D input the only axis is the batch: the result would depend on batching."""
    layer = L.Azatoth(name, name="norm")
    with pytest.raises(ValueError, match=f"Azatoth 'norm'.*{name}.*1D"):
        layer(np.ones(3, np.float32))


def test_dropout_seed_must_be_non_negative():
    with pytest.raises(ValueError, match="Darkness 'drop'.*seed.*-3"):
        L.Darkness(0.5, seed=-3, name="drop")


# ------------------------------------------------------------------ pathological slowness
@pytest.mark.parametrize("name", ["gelu", "selu", "swish", "mish", "softplus", "sigmoid",
                                  "hard_sigmoid", "elu", "relu6", "softmax", "log_softmax"])
def test_activations_on_dask_are_one_graph_layer(name):
    x = np.random.default_rng(3).standard_normal((6, 5)).astype("f4")
    lazy = da.from_array(x, chunks=(2, 2))
    y = activations.get(name)(lazy)
    added = len(y.dask.layers) - len(lazy.dask.layers)
    assert added <= 2, added  # the function, plus a rechunk for softmax's whole axis
    np.testing.assert_allclose(_compute(y), activations.get(name)(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda: [L.Cthalpa2D(3, 3, data_format="channels_first", activation="softmax")],
    lambda: [L.Cthalpa2D(3, 3, data_format="channels_first"), L.Azatoth("log_softmax")],
])
def test_fused_dask_predict_keeps_softmax_over_a_spatial_axis_exact(make):
    """channels_first: softmax's last axis is spatial; blocks must not split it."""
    model = Pile([L.InputLayer(input_shape=(2, 6, 7)), *make()])
    x = np.random.default_rng(6).standard_normal((2, 2, 6, 7)).astype("f4")
    lazy = model.predict(da.from_array(x, chunks=(1, 2, 3, 2)))
    np.testing.assert_allclose(_compute(lazy), model.predict(x), rtol=1e-5, atol=1e-6)


def test_softmax_on_a_1d_dask_array_fails_when_called_naming_the_layer():
    layer = L.Azatoth("log_softmax", name="norm1d")
    with pytest.raises(ValueError, match="Azatoth 'norm1d'.*1D"):
        layer(da.ones(3, chunks=1))  # not at compute time, where no layer is known


def test_per_op_dask_convolution_joins_chunks_smaller_than_the_halo():
    layer = L.Cthalpa3D(2, 7, padding="same")
    x = np.random.default_rng(4).standard_normal((1, 12, 12, 12, 1)).astype("f4")
    y = layer(da.from_array(x, chunks=1))  # halo 3 + 3, chunks of one sample
    graph = dict(y.__dask_graph__())
    conv_tasks = [key for key in graph if isinstance(key, tuple) and key[0] == y.name]
    # each task gathers a handful of joined chunks, not 7**3 single samples
    assert len(conv_tasks) <= 8, len(conv_tasks)
    np.testing.assert_allclose(_compute(y), layer(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(6, 24), (24, 6), (40, 40), (3, 3, 4, 8), (7, 1), (1, 9)])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_orthogonal_initializer_is_orthonormal(shape, dtype):
    w = initializers.Orthogonal(gain=1.5, seed=5)(shape, dtype=dtype)
    assert w.shape == shape and w.dtype == dtype
    flat = w.reshape(-1, shape[-1]).astype(np.float64) / 1.5
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    tol = {"float16": 5e-3, "float32": 5e-6, "float64": 1e-12}[dtype]
    np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=tol)


def test_orthogonal_initializer_is_uniformly_distributed():
    """Haar on the rows: each entry has mean 0 and variance 1/n; no sign or position bias."""
    draws = np.stack([initializers.Orthogonal()((4, 16), dtype="float64") for _ in range(400)])
    assert abs(draws.mean()) < 0.01
    np.testing.assert_allclose(draws.var(axis=0), 1 / 16, rtol=0.25)
    # the diagonal of an LQ factorisation is positive; Q's own entries are not biased by it
    assert abs(np.mean(draws[:, np.arange(4), np.arange(4)])) < 0.03
