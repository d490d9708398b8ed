"""Core-layer shapes (Daoloth, Flatten, Reshape, Permute, ...) against NumPy results."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import shapes
from cthulhu.shapes import ShapeError

SHAPES = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(lambda s: (2, *s))


@settings(max_examples=200)
@given(SHAPES.filter(lambda s: len(s) >= 2), st.integers(1, 6))
def test_dense_equals_matmul(shape, units):
    x = np.ones(shape)
    w = np.ones((shape[-1], units))
    assert shapes.dense(shape, units) == (x @ w).shape


@settings(max_examples=200)
@given(SHAPES, st.sampled_from(["channels_last", "channels_first"]))
def test_flatten_equals_numpy_reshape(shape, fmt):
    x = np.ones(shape)
    if fmt == "channels_first" and x.ndim > 2:
        x = np.moveaxis(x, 1, -1)      # Keras 2 reorders to channels_last before flattening
    assert shapes.flatten(shape, fmt) == x.reshape(x.shape[0], -1).shape


@settings(max_examples=300)
@given(SHAPES, st.lists(st.integers(1, 6), min_size=1, max_size=4), st.data())
def test_reshape_equals_numpy_or_raises_like_it(shape, target, data):
    target = list(target)
    if data.draw(st.booleans()):
        target[data.draw(st.integers(0, len(target) - 1))] = -1
    target = tuple(target)
    x = np.ones(shape)
    try:
        expected = x.reshape((shape[0], *target)).shape
    except ValueError:
        with pytest.raises(ShapeError, match="target_shape"):
            shapes.reshape(shape, target)
        return
    assert shapes.reshape(shape, target) == expected


@settings(max_examples=200)
@given(SHAPES, st.data())
def test_permute_equals_numpy_transpose(shape, data):
    dims = tuple(data.draw(st.permutations(range(1, len(shape)))))
    x = np.ones(shape)
    assert shapes.permute(shape, dims) == np.transpose(x, (0, *dims)).shape


@settings(max_examples=100)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5))
def test_repeat_vector_equals_numpy_repeat(batch, features, n):
    x = np.ones((batch, features))
    assert shapes.repeat_vector(x.shape, n) == np.repeat(x[:, None, :], n, axis=1).shape


@settings(max_examples=100)
@given(SHAPES, st.integers(1, 6))
def test_embedding_equals_table_lookup(shape, output_dim):
    table = np.ones((10, output_dim))
    x = np.zeros(shape, dtype=int)
    assert shapes.embedding(shape, output_dim) == table[x].shape
    assert shapes.embedding(shape, output_dim, tuple(shape[1:])) == table[x].shape
    assert shapes.embedding((2, *(None,) * (len(shape) - 1)), output_dim,
                            tuple(shape[1:])) == table[x].shape


def _tiny_lstm(x, units):
    """A plain NumPy LSTM scan, only to produce real outputs and states."""
    batch, steps, features = x.shape
    w = np.full((features, 4 * units), 0.1)
    u = np.full((units, 4 * units), 0.1)
    h = np.zeros((batch, units))
    c = np.zeros((batch, units))
    outputs = []
    for t in range(steps):
        z = x[:, t] @ w + h @ u
        i, f, g, o = np.split(z, 4, axis=-1)
        c = 1 / (1 + np.exp(-f)) * c + 1 / (1 + np.exp(-i)) * np.tanh(g)
        h = 1 / (1 + np.exp(-o)) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1), h, c


@pytest.mark.parametrize("return_sequences, return_state",
                         list(itertools.product([False, True], repeat=2)))
def test_lstm_equals_a_real_scan(return_sequences, return_state):
    x = np.ones((2, 5, 3))
    seq, h, c = _tiny_lstm(x, 4)
    out = seq if return_sequences else h
    got = shapes.lstm(x.shape, 4, return_sequences, return_state)
    if return_state:
        assert got == [out.shape, h.shape, c.shape]
    else:
        assert got == out.shape


def test_documented_examples():
    assert shapes.dense((None, 16), 32) == (None, 32)
    assert shapes.dense((None, 5, 16), 32) == (None, 5, 32)
    assert shapes.flatten((None, 64, 32, 32)) == (None, 65536)
    assert shapes.reshape((None, 12), (3, 4)) == (None, 3, 4)
    assert shapes.reshape((None, 3, 4), (6, 2)) == (None, 6, 2)
    assert shapes.reshape((None, 6, 2), (-1, 2, 2)) == (None, 3, 2, 2)
    assert shapes.permute((None, 10, 64), (2, 1)) == (None, 64, 10)
    assert shapes.repeat_vector((None, 32), 3) == (None, 3, 32)
    assert shapes.same_shape((None, 4, 5)) == (None, 4, 5)


def test_unknown_sizes():
    assert shapes.flatten((None, None, 3)) == (None, None)
    assert shapes.reshape((None, None, 4), (-1, 2)) == (None, None, 2)
    assert shapes.reshape((None, None, 4), (2, 2)) == (None, 2, 2)
    assert shapes.permute((None, None, 3), (2, 1)) == (None, 3, None)
    assert shapes.embedding((None, None), 8, 10) == (None, 10, 8)
    assert shapes.lstm((None, None, 3), 4, True) == (None, None, 4)
    assert shapes.flatten((None,)) == (None, 1)
