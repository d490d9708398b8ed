"""One-axis length formulas against brute-force window counts and real 1D computations."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cthulhu import shapes
from cthulhu.shapes import ShapeError
from tests.support.shape_refs import (
    ceil_div,
    conv1d,
    conv1d_matrix,
    count_windows,
    scatter_transpose1d,
    tf_same_pads,
    zero_insert1d,
)

N = st.integers(1, 40)
K = st.integers(1, 7)
S = st.integers(1, 5)
D = st.integers(1, 4)


@st.composite
def axis(draw, n=N):
    """(n, k, s, d) with Keras' rule: not both stride > 1 and dilation > 1."""
    n, k, s, d = draw(n), draw(K), draw(S), draw(D)
    if s > 1 and d > 1:
        d = 1 if draw(st.booleans()) else d
        s = 1 if d > 1 else s
    return n, k, s, d


@settings(max_examples=400)
@given(axis(), st.sampled_from(["valid", "same", "causal"]))
def test_conv_length_counts_windows_of_padded_input(args, padding):
    n, k, s, d = args
    K_ = (k - 1) * d + 1
    assume(padding != "valid" or n >= K_)
    lo, hi = shapes.conv_padding(n, k, s, padding, d)
    expected = count_windows(n + lo + hi, k, s, d)
    assert shapes.conv_length(n, k, s, padding, d) == expected
    x = np.arange(1.0, n + 1)
    assert conv1d(x, np.ones(k), s, d, (lo, hi)).shape == (expected,)


@settings(max_examples=300)
@given(axis(), st.sampled_from(["same", "causal"]))
def test_same_and_causal_give_ceil_n_over_s(args, padding):
    n, k, s, d = args
    assert shapes.conv_length(n, k, s, padding, d) == ceil_div(n, s)


@settings(max_examples=300)
@given(axis())
def test_same_padding_is_tensorflow_minimal_total_odd_extra_at_end(args):
    n, k, s, d = args
    assert shapes.conv_padding(n, k, s, "same", d) == tf_same_pads(n, k, s, d)


@settings(max_examples=200)
@given(axis())
def test_causal_padding_is_all_before_and_output_t_ignores_the_future(args):
    n, k, s, d = args
    lo, hi = shapes.conv_padding(n, k, s, "causal", d)
    assert hi == 0
    rng = np.random.default_rng(n * 100 + k)
    x, w = rng.normal(size=n), rng.normal(size=k)
    y = conv1d(x, w, s, d, (lo, hi))
    x2 = x.copy()
    x2[-1] += 1.0                       # change the last sample only
    y2 = conv1d(x2, w, s, d, (lo, hi))
    keep = [t for t in range(len(y)) if t * s < n - 1]   # output t sees inputs <= t*s only
    assert np.allclose(y[keep], y2[keep])


@settings(max_examples=300)
@given(axis(), st.integers(-3, 5), st.integers(-3, 5))
def test_conv_length_explicit_pairs(args, lo, hi):
    n, k, s, d = args
    assume(n + lo + hi >= (k - 1) * d + 1 and n + min(lo, 0) >= 0 and n + min(hi, 0) >= 0)
    assert shapes.conv_length(n, k, s, (lo, hi), d) == count_windows(n + lo + hi, k, s, d)
    assert shapes.conv_padding(n, k, s, (lo, hi), d) == (lo, hi)


@settings(max_examples=200)
@given(axis(n=st.just(1)), st.data())
def test_valid_too_short_raises(args, data):
    _, k, s, d = args
    K_ = (k - 1) * d + 1
    assume(K_ > 1)
    n = data.draw(st.integers(0, K_ - 1))
    with pytest.raises(ShapeError, match="at least"):
        shapes.conv_length(n, k, s, "valid", d)


def _transpose_case(draw):
    n, k, s, d = draw(axis(n=st.integers(1, 12)))
    padding = draw(st.sampled_from(["valid", "same"]))
    p = draw(st.one_of(st.none(), st.integers(0, s - 1)))
    return n, k, s, d, padding, p


transpose_cases = st.composite(_transpose_case)


def _forward_pads(L, k, s, d, padding):
    return (0, 0) if padding == "valid" else tf_same_pads(L, k, s, d)


def _tf_rejects(n, k, s, d, padding, p):
    """TensorFlow's gradient op needs conv(L) == n; Keras 'same' + even K + p=0 breaks that."""
    K_ = (k - 1) * d + 1
    return padding == "same" and p == 0 and K_ % 2 == 0


@settings(max_examples=400)
@given(transpose_cases())
def test_transpose_length_is_inverted_by_the_forward_conv(case):
    n, k, s, d, padding, p = case
    assume(not _tf_rejects(*case))
    L = shapes.conv_transpose_length(n, k, s, padding, p, d)
    lo, hi = _forward_pads(L, k, s, d, padding)
    assert count_windows(L + lo + hi, k, s, d) == n
    assert shapes.conv_length(L, k, s, padding, d) == n


@settings(max_examples=300)
@given(transpose_cases())
def test_transpose_length_matches_keras_documented_formula(case):
    n, k, s, d, padding, p = case
    K_ = (k - 1) * d + 1
    if p is None:
        # Keras infers the smallest L whose forward conv has n outputs (valid), or n*s (same).
        expected = n * s if padding == "same" else n * s + max(K_ - s, 0)
    else:
        # The docs: new = (n - 1) * stride + kernel - 2 * padding + output_padding.
        expected = (n - 1) * s + K_ - 2 * (K_ // 2 if padding == "same" else 0) + p
    if expected < 1:
        with pytest.raises(ShapeError, match="empty output"):
            shapes.conv_transpose_length(n, k, s, padding, p, d)
    else:
        assert shapes.conv_transpose_length(n, k, s, padding, p, d) == expected


@settings(max_examples=400)
@given(transpose_cases())
def test_transpose_padding_reproduces_scatter_add_and_is_the_adjoint(case):
    n, k, s, d, padding, p = case
    assume(not (_tf_rejects(*case) and n == 1))
    L = shapes.conv_transpose_length(n, k, s, padding, p, d)
    rng = np.random.default_rng(7 * n + k)
    x, w = rng.normal(size=n), rng.normal(size=k)
    forward = _forward_pads(L, k, s, d, padding)
    reference = scatter_transpose1d(x, w, s, d, forward[0], L)

    pads = shapes.conv_transpose_padding(k, s, padding, p, d, n=n)
    assert pads == shapes.conv_transpose_padding(k, s, padding, p, d)   # independent of n
    direct = conv1d(zero_insert1d(x, s), w[::-1], 1, d, pads)
    assert direct.shape == (L,)
    np.testing.assert_allclose(direct, reference, atol=1e-12)
    if not _tf_rejects(*case):
        # Gradient-of-conv semantics: the transpose is A^T of the forward conv matrix.
        A = conv1d_matrix(L, k, s, d, forward, w)
        assert A.shape == (n, L)
        np.testing.assert_allclose(A.T @ x, reference, atol=1e-12)


@settings(max_examples=400)
@given(axis(n=st.integers(1, 60)), st.sampled_from(["valid", "same"]))
def test_proposed_output_padding_inverts_the_forward_conv(args, padding):
    n, k, s, d = args
    assume(padding == "same" or n >= (k - 1) * d + 1)
    m = shapes.conv_length(n, k, s, padding, d)
    p = shapes.conv_transpose_output_padding(n, k, s, padding, d)
    assert p is None or 0 <= p < s
    assert shapes.conv_transpose_length(m, k, s, padding, p, d) == n


@settings(max_examples=200)
@given(st.integers(1, 30), st.integers(0, 5), st.integers(0, 5), st.integers(1, 5))
def test_crop_pad_upsample_lengths(n, lo, hi, f):
    x = np.arange(n)
    assert shapes.pad_length(n, lo, hi) == np.pad(x, (lo, hi)).shape[0]
    assert shapes.upsample_length(n, f) == np.repeat(x, f).shape[0]
    if lo + hi < n:
        assert shapes.crop_length(n, lo, hi) == x[lo: n - hi].shape[0]
    else:
        with pytest.raises(ShapeError, match="cropped"):
            shapes.crop_length(n, lo, hi)


@settings(max_examples=200)
@given(st.integers(1, 30), st.integers(1, 5), st.one_of(st.none(), st.integers(1, 5)),
       st.sampled_from(["valid", "same"]))
def test_pool_length_counts_windows(n, pool, stride, padding):
    s = pool if stride is None else stride
    assume(padding == "same" or n >= pool)
    lo, hi = (0, 0) if padding == "valid" else tf_same_pads(n, pool, s, 1)
    assert shapes.pool_length(n, pool, stride, padding) == count_windows(n + lo + hi, pool, s, 1)


@pytest.mark.parametrize("fn", [
    lambda: shapes.conv_length(None, 3, 2, "same"),
    lambda: shapes.conv_length(None, 3, 1, "valid"),
    lambda: shapes.conv_transpose_length(None, 3, 2, "same", 1),
    lambda: shapes.crop_length(None, 1, 1),
    lambda: shapes.pad_length(None, 1, 1),
    lambda: shapes.upsample_length(None, 2),
    lambda: shapes.conv_transpose_output_padding(None, 3, 2),
])
def test_unknown_length_gives_none(fn):
    assert fn() is None


def test_same_padding_of_unknown_length():
    assert shapes.conv_padding(None, 4, 1, "same") == (1, 2)   # stride 1: K - 1, whatever n
    assert shapes.conv_padding(None, 4, 2, "same") == (None, None)
    assert shapes.conv_padding(None, 3, 1, "causal") == (2, 0)


def test_documented_examples():
    assert shapes.conv_length(224, 3, 2, "same") == 112
    assert shapes.conv_length(224, 7, 2, "valid") == 109
    assert shapes.conv_length(10, 3, 1, "valid", 2) == 6
    assert shapes.conv_padding(5, 4, 1, "same") == (1, 2)
    assert shapes.conv_transpose_length(112, 3, 2, "same") == 224
    assert shapes.conv_transpose_length(5, 3, 2, "valid", 1) == 12
    assert shapes.conv_transpose_length(5, 3, 2, "valid") == 11
    assert shapes.conv_transpose_padding(3, 2, "same") == (2, 1)
