"""The test references checked against facts that don't come from them.

A reference that is wrong would make every layer test meaningless, so each one is
tied here to something independent: NumPy's own correlate, the adjoint identity
between a convolution and its transpose, hand-worked numbers.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.layer_refs import (
    conv,
    conv_transpose,
    depthwise_conv,
    lstm,
    resize_bilinear,
    tf_padding,
)


def test_tf_padding_same_puts_odd_extra_at_end():
    # n=5, k=4, s=1: 3 zeros, TensorFlow puts 1 before and 2 after.
    assert tf_padding(5, 4, 1, 1, "same") == (1, 2)
    # n=6, k=3, s=2: out=3, total=(3-1)*2+3-6=1 -> (0, 1)
    assert tf_padding(6, 3, 2, 1, "same") == (0, 1)
    assert tf_padding(6, 3, 1, 2, "causal") == (4, 0)


def test_conv_reference_equals_numpy_correlate():
    rng = np.random.default_rng(0)
    x = rng.normal(size=9)
    w = rng.normal(size=3)
    y = conv(x.reshape(1, 9, 1), w.reshape(3, 1, 1), None, (1,), "valid", (1,), "channels_last")
    np.testing.assert_allclose(y.ravel(), np.correlate(x, w, mode="valid"))


def test_conv_reference_hand_numbers_same_2d():
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    w = np.ones((2, 2, 1, 1))
    # 'same' with k=2 pads one zero row/col at the END (TensorFlow).
    y = conv(x, w, None, (1, 1), "same", (1, 1), "channels_last")[0, :, :, 0]
    expected = np.array([[0 + 1 + 3 + 4, 1 + 2 + 4 + 5, 2 + 5],
                         [3 + 4 + 6 + 7, 4 + 5 + 7 + 8, 5 + 8],
                         [6 + 7, 7 + 8, 8]])
    np.testing.assert_array_equal(y, expected)


@settings(max_examples=30)
@given(n=st.integers(3, 7), k=st.integers(1, 3), s=st.integers(1, 3),
       d=st.integers(1, 2), padding=st.sampled_from(["valid", "same"]),
       cin=st.integers(1, 2), cout=st.integers(1, 2))
def test_conv_transpose_reference_is_adjoint_of_conv(n, k, s, d, padding, cin, cout):
    # <conv(x, w), y> == <x, conv_transpose(y, w)> when conv_transpose's output
    # length is n: that is what "gradient of the convolution" means.
    rng = np.random.default_rng(n * 100 + k * 10 + s)
    x = rng.normal(size=(1, n, n, cin))
    w = rng.normal(size=(k, k, cin, cout))
    d = 1 if s > 1 else d  # Keras forbids stride > 1 together with dilation > 1
    k_eff = d * (k - 1) + 1
    if k_eff > n:
        return
    y = conv(x, w, None, (s, s), padding, (d, d), "channels_last")
    m = y.shape[1]
    # output_padding giving back length n, when one exists in [0, s)
    base = (m - 1) * s + k_eff - 2 * (k_eff // 2 if padding == "same" else 0)
    p = n - base
    if not 0 <= p < s:
        return
    g = rng.normal(size=y.shape)
    # Keras's transposed kernel (k, k, filters, in_channels) is the forward kernel itself.
    xt = conv_transpose(g, w, None, (s, s), padding, (p, p), (d, d), "channels_last")
    assert xt.shape == x.shape
    np.testing.assert_allclose(np.sum(y * g), np.sum(x * xt), rtol=1e-10)


def test_depthwise_reference_channel_order():
    x = np.zeros((1, 1, 1, 2))
    x[..., 0], x[..., 1] = 1.0, 10.0
    w = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)  # c0 -> (1, 2), c1 -> (3, 4)
    y = depthwise_conv(x, w, None, (1, 1), "valid", (1, 1), "channels_last")
    np.testing.assert_array_equal(y.ravel(), [1, 2, 30, 40])


def test_bilinear_reference_hand_numbers():
    # 1x2 -> 1x4 (width only): half-pixel centres give [0, .25, .75, 1] * (b - a) + a
    x = np.array([0.0, 4.0]).reshape(1, 1, 2, 1)
    y = resize_bilinear(x, (1, 2), "channels_last").ravel()
    np.testing.assert_allclose(y, [0.0, 1.0, 3.0, 4.0])


def test_lstm_reference_one_step_hand_numbers():
    # units=1, input_dim=1, all weights zero except the bias: i=f=o=hs(0)=0.5, g=tanh(1)
    k = np.zeros((1, 4))
    r = np.zeros((1, 4))
    b = np.array([0.0, 0.0, 1.0, 0.0])
    out, h, c = lstm(np.zeros((1, 1, 1)), k, r, b)
    c_exp = 0.5 * np.tanh(1.0)
    np.testing.assert_allclose(c.ravel(), [c_exp])
    np.testing.assert_allclose(h.ravel(), [0.5 * np.tanh(c_exp)])
