"""Initializers: fans computed by hand, distribution statistics, seeds, configs."""

import math

import numpy as np
import pytest

from cthulhu import initializers


@pytest.mark.parametrize("shape, fans", [
    ((20, 30), (20, 30)),
    ((5, 7, 3), (5 * 7, 5 * 3)),                 # Cthalpa1D kernel (k, in, out)
    ((3, 3, 16, 32), (9 * 16, 9 * 32)),          # Cthalpa2D kernel
    ((2, 3, 4, 5, 6), (24 * 5, 24 * 6)),         # Cthalpa3D kernel
    ((10,), (math.sqrt(10), math.sqrt(10))),     # bias: Keras' sqrt fallback
])
def test_initializer_fans_by_hand(shape, fans):
    assert initializers.compute_fans(shape) == pytest.approx(fans)


SHAPE = (3, 3, 64, 128)  # fan_in 576, fan_out 1152: enough samples for tight statistics
FAN_IN, FAN_OUT = 576, 1152


@pytest.mark.parametrize("name, limit", [
    ("glorot_uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("he_uniform", math.sqrt(6 / FAN_IN)),
    ("lecun_uniform", math.sqrt(3 / FAN_IN)),
])
def test_initializer_uniform_statistics(name, limit):
    w = initializers.get(name)(SHAPE)
    assert w.shape == SHAPE and w.dtype == np.float32
    assert w.max() <= limit and w.min() >= -limit
    assert w.max() > 0.99 * limit and w.min() < -0.99 * limit
    assert abs(w.mean()) < 0.01 * limit
    assert w.std() == pytest.approx(limit / math.sqrt(3), rel=0.02)


@pytest.mark.parametrize("name, std", [
    ("glorot_normal", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ("he_normal", math.sqrt(2 / FAN_IN)),
    ("lecun_normal", math.sqrt(1 / FAN_IN)),
])
def test_initializer_truncated_normal_statistics(name, std):
    w = initializers.get(name)(SHAPE, dtype="float64")
    assert w.dtype == np.float64
    assert w.std() == pytest.approx(std, rel=0.02)  # Keras rescales so the truncated std is exact
    # truncation at two standard deviations of the untruncated distribution
    assert np.abs(w).max() <= 2 * std / 0.87962566103423978 + 1e-12
    # five standard errors of the mean: unseeded draws must not fail one run in a hundred
    assert abs(w.mean()) < 5 * std / math.sqrt(w.size)


def test_initializer_variance_scaling_untruncated_and_modes():
    w = initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal", seed=1)(SHAPE)
    assert w.std() == pytest.approx(math.sqrt(2.0 / FAN_OUT), rel=0.02)
    assert np.abs(w).max() > 2.5 * w.std()  # not truncated
    with pytest.raises(ValueError, match="mode"):
        initializers.VarianceScaling(mode="fan_middle")
    with pytest.raises(ValueError, match="distribution"):
        initializers.VarianceScaling(distribution="cauchy")
    with pytest.raises(ValueError, match="scale"):
        initializers.VarianceScaling(scale=0)


def test_initializer_random_basics():
    n = initializers.RandomNormal(mean=1.0, stddev=0.5, seed=3)((200, 200))
    assert n.mean() == pytest.approx(1.0, abs=0.01) and n.std() == pytest.approx(0.5, rel=0.02)
    u = initializers.RandomUniform(-2.0, 3.0, seed=3)((200, 200))
    assert u.min() >= -2.0 and u.max() < 3.0 and u.mean() == pytest.approx(0.5, abs=0.03)
    t = initializers.TruncatedNormal(mean=0.0, stddev=0.1, seed=3)((200, 200))
    assert np.abs(t).max() <= 0.2
    # the std of a unit normal truncated to [-2, 2] is 0.8796
    assert t.std() == pytest.approx(0.1 * 0.87962566103423978, rel=0.02)


@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal", "orthogonal", "random_normal",
                                  "truncated_normal", "random_uniform"])
def test_initializer_seeds_reproducible(name):
    cls = type(initializers.get(name))
    a = cls(seed=42)((4, 5))
    np.testing.assert_array_equal(a, cls(seed=42)((4, 5)))
    assert not np.array_equal(a, cls(seed=43)((4, 5)))
    unseeded = cls()
    assert not np.array_equal(unseeded((4, 5)), unseeded((4, 5)))


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (3, 3, 4, 8)])
def test_initializer_orthogonal(shape):
    w = initializers.Orthogonal(gain=2.0, seed=0)(shape, dtype="float64")
    flat = w.reshape(-1, shape[-1])
    if flat.shape[0] >= flat.shape[1]:
        np.testing.assert_allclose(flat.T @ flat, 4.0 * np.eye(flat.shape[1]), atol=1e-10)
    else:
        np.testing.assert_allclose(flat @ flat.T, 4.0 * np.eye(flat.shape[0]), atol=1e-10)
    with pytest.raises(ValueError, match="2 dimensions"):
        initializers.Orthogonal()((5,))


def test_initializer_constant_identity():
    np.testing.assert_array_equal(initializers.get("zeros")((2, 2)), np.zeros((2, 2)))
    np.testing.assert_array_equal(initializers.get("ones")((3,)), np.ones(3))
    np.testing.assert_array_equal(initializers.Constant(2.5)((2,)), [2.5, 2.5])
    np.testing.assert_array_equal(initializers.Identity(3.0)((2, 3)), [[3, 0, 0], [0, 3, 0]])
    with pytest.raises(ValueError, match="2D"):
        initializers.Identity()((2, 2, 2))


ALIASES = ["zeros", "zero", "ones", "one", "constant", "random_normal", "normal", "random_uniform",
           "uniform", "truncated_normal", "variance_scaling", "orthogonal", "identity",
           "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
           "lecun_normal"]


@pytest.mark.parametrize("name", ALIASES)
def test_initializer_names_and_config_round_trip(name):
    init = initializers.get(name)
    again = initializers.get(initializers.serialize(init))
    assert type(again) is type(init) and again.get_config() == init.get_config()
    assert init((4, 4)).shape == (4, 4)


def test_initializer_keras22_variance_scaling_config():
    init = initializers.get({"class_name": "VarianceScaling",
                             "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform",
                                        "seed": None}})
    limit = math.sqrt(6 / (FAN_IN + FAN_OUT))
    assert np.abs(init(SHAPE)).max() <= limit


def test_initializer_errors():
    with pytest.raises(ValueError, match="Unknown initializer"):
        initializers.get("glorot_unifrom")
    with pytest.raises(ValueError, match="seed"):
        initializers.RandomNormal(seed="x")
    with pytest.raises(ValueError, match="floating"):
        initializers.Zeros()((2,), dtype="int32")
