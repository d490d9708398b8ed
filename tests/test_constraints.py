"""Constraints against column-by-column references written here."""

import math

import array_api_strict as xs
import numpy as np
import pytest

from cthulhu import constraints

EPS = 1e-7


def _column_norms(w):
    """Norm of each column (axis 0 reduced) with plain loops."""
    rows, cols = w.shape
    return [math.sqrt(sum(w[r, c] ** 2 for r in range(rows))) for c in range(cols)]


W = np.array([[3.0, 0.1, -1.0], [4.0, 0.2, 0.0], [0.0, -0.2, 0.5]])


def test_max_norm_rescales_only_long_columns():
    got = constraints.max_norm(2.0)(W)
    for c, n in enumerate(_column_norms(W)):
        want = W[:, c] * (min(n, 2.0) / (EPS + n))
        np.testing.assert_allclose(got[:, c], want, rtol=1e-12)
    assert _column_norms(got)[0] == pytest.approx(2.0, rel=1e-6)


def test_unit_norm_and_axis_1():
    got = constraints.unit_norm()(W)
    np.testing.assert_allclose(_column_norms(got), 1.0, rtol=1e-6)
    rows = constraints.unit_norm(axis=1)(W)
    np.testing.assert_allclose(_column_norms(rows.T), 1.0, rtol=1e-6)


def test_min_max_norm_with_rate():
    c = constraints.min_max_norm(min_value=0.5, max_value=1.0, rate=0.5)
    got = c(W)
    for col, n in enumerate(_column_norms(W)):
        desired = 0.5 * min(max(n, 0.5), 1.0) + 0.5 * n
        np.testing.assert_allclose(got[:, col], W[:, col] * desired / (EPS + n), rtol=1e-12)


def test_non_neg():
    np.testing.assert_array_equal(constraints.non_neg()(W), np.where(W < 0, 0.0, W))


def test_conv_kernel_norm_over_all_but_last_axis():
    kernel = np.random.default_rng(0).normal(size=(3, 3, 4, 5)) * 3
    got = constraints.MaxNorm(1.0, axis=[0, 1, 2])(kernel)
    for f in range(5):
        assert math.sqrt((got[..., f] ** 2).sum()) == pytest.approx(1.0, rel=1e-6)


def test_constraints_keep_namespace():
    x = xs.asarray(W, dtype=xs.float32)
    for name in ("max_norm", "non_neg", "unit_norm", "min_max_norm"):
        y = constraints.get(name)(x)
        assert type(y) is type(x) and y.dtype == xs.float32


def test_constraint_get_serialize_and_errors():
    c = constraints.get({"class_name": "MaxNorm", "config": {"max_value": 3, "axis": 1}})
    assert (c.max_value, c.axis) == (3, 1)
    again = constraints.get(constraints.serialize(constraints.MinMaxNorm(0.1, 0.9, 0.5, 0)))
    assert again.get_config() == {"min_value": 0.1, "max_value": 0.9, "rate": 0.5, "axis": 0}
    assert constraints.get(None) is None
    with pytest.raises(ValueError, match="Unknown constraint"):
        constraints.get("max_normz")
    with pytest.raises(ValueError, match="max_value"):
        constraints.MaxNorm(-1)
