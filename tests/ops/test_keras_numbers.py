"""Kernels in the Keras layout give Keras' numbers: cross-correlation, TF 'same' padding
with the odd extra zero at the end. Expected values are worked out by hand below."""

import numpy as np

from tests.support.backends import call_op


def test_conv1d_even_kernel_same_is_cross_correlation_padded_at_the_end(xp):
    x = np.asarray([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1)
    kernel = np.asarray([1.0, 10.0]).reshape(2, 1, 1)
    # y[i] = x[i]*1 + x[i+1]*10, x[4] = 0 (the one padding zero goes after the input)
    # 1+20, 2+30, 3+40, 4+0.  (A true convolution or padding in front would differ.)
    y, _ = call_op(xp, "conv", x, kernel, padding="same")
    np.testing.assert_array_equal(y.reshape(-1), [21.0, 32.0, 43.0, 4.0])


def test_conv2d_even_kernel_same_by_hand(xp):
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)          # [[1,2,3],[4,5,6],[7,8,9]]
    kernel = np.asarray([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)
    # zero row and column appended at the bottom and right; e.g. y[0,0] = 1*1+2*2+4*3+5*4
    expected = [[37.0, 47.0, 21.0], [67.0, 77.0, 33.0], [23.0, 26.0, 9.0]]
    y, _ = call_op(xp, "conv", x, kernel, padding="same")
    np.testing.assert_array_equal(y[0, :, :, 0], expected)


def test_conv_strided_same_by_hand(xp):
    x = np.arange(1.0, 6.0).reshape(1, 5, 1)
    kernel = np.ones((3, 1, 1))
    # n=5, s=2: 3 outputs, total padding (3-1)*2+3-5 = 2 -> one zero on each side
    # windows [0,1,2], [2,3,4], [4,5,0]
    y, _ = call_op(xp, "conv", x, kernel, strides=2, padding="same")
    np.testing.assert_array_equal(y.reshape(-1), [3.0, 9.0, 9.0])


def test_conv_transpose_by_hand(xp):
    x = np.ones((1, 2, 1))
    kernel = np.asarray([1.0, 2.0, 3.0]).reshape(3, 1, 1)
    # valid, stride 2: out[2i + t] += x[i]*k[t]: [1,2,3,0,0] + [0,0,1,2,3]
    y, _ = call_op(xp, "conv_transpose", x, kernel, strides=2, padding="valid")
    np.testing.assert_array_equal(y.reshape(-1), [1.0, 2.0, 4.0, 2.0, 3.0])
    # same, stride 2: length 4; TF's forward padding for length 4 is (0, 1): the last
    # sample of the valid result is dropped
    y, _ = call_op(xp, "conv_transpose", x, kernel, strides=2, padding="same")
    np.testing.assert_array_equal(y.reshape(-1), [1.0, 2.0, 4.0, 2.0])


def test_depthwise_output_channel_order_is_c_times_m_plus_m(xp):
    x = np.asarray([[1.0, 10.0]]).reshape(1, 1, 2)           # one sample, C=2
    kernel = np.asarray([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).reshape(1, 2, 3)  # M=3
    y, _ = call_op(xp, "depthwise_conv", x, kernel)
    np.testing.assert_array_equal(y.reshape(-1), [1.0, 2.0, 3.0, 40.0, 50.0, 60.0])
