"""Regularizer penalties against sums written here."""

import array_api_strict as xs
import numpy as np
import pytest

from cthulhu import regularizers

W = np.array([[1.0, -2.0, 0.5], [-0.25, 3.0, 0.0]])
ABS = sum(abs(v) for v in W.ravel())
SQ = sum(v * v for v in W.ravel())


@pytest.mark.parametrize("reg, expected", [
    (regularizers.l1(0.1), 0.1 * ABS),
    (regularizers.l2(0.2), 0.2 * SQ),
    (regularizers.l1_l2(l1=0.3, l2=0.4), 0.3 * ABS + 0.4 * SQ),
    (regularizers.L1L2(), 0.0),
    (regularizers.get("l1"), 0.01 * ABS),
    (regularizers.get("l2"), 0.01 * SQ),
    (regularizers.get("l1_l2"), 0.01 * ABS + 0.01 * SQ),
    (regularizers.get({"class_name": "L1L2", "config": {"l1": 0.5, "l2": 0.0}}), 0.5 * ABS),
])
def test_regularizer_penalty(reg, expected):
    assert float(reg(W)) == pytest.approx(expected, rel=1e-12)


def test_regularizer_on_other_namespace_returns_0d_array():
    x = xs.asarray(W, dtype=xs.float32)
    penalty = regularizers.l1_l2(0.1, 0.1)(x)
    assert type(penalty) is type(x) and penalty.shape == () and penalty.dtype == xs.float32


def test_regularizer_serialize_round_trip():
    for reg in (regularizers.l1(0.3), regularizers.L2(0.7), regularizers.l1_l2(0.1, 0.2)):
        again = regularizers.get(regularizers.serialize(reg))
        assert (again.l1, again.l2) == (reg.l1, reg.l2)


def test_regularizer_errors():
    with pytest.raises(ValueError, match="l1"):
        regularizers.L1L2(l1=-1.0)
    with pytest.raises(ValueError, match="Unknown regularizer"):
        regularizers.get("l3")
    assert regularizers.get(None) is None
