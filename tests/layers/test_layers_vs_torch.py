"""A second, third-party reference: PyTorch's CPU operators on the same Keras-layout weights.

The weights are converted from the Keras layouts by hand here (PyTorch wants
``(out, in, *k)`` kernels) and TensorFlow's asymmetric 'same' padding is applied
explicitly, so agreement means cthulhu reproduces Keras/TensorFlow numbers, not
PyTorch conventions.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cthulhu import layers

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _tf_pads(n, k, s, d):
    out = -(-n // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


@settings(max_examples=40)
@given(h=st.integers(3, 8), w=st.integers(3, 8), k=st.integers(1, 4), s=st.integers(1, 3),
       d=st.integers(1, 2), cin=st.integers(1, 3), cout=st.integers(1, 3),
       padding=st.sampled_from(["valid", "same"]), seed=st.integers(0, 999))
def test_cthalpa2d_equals_torch_conv2d_with_tf_padding(h, w, k, s, d, cin, cout, padding, seed):
    d = 1 if s > 1 else d
    assume(padding == "same" or min(h, w) >= d * (k - 1) + 1)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, h, w, cin))
    layer = layers.Cthalpa2D(cout, k, strides=s, padding=padding, dilation_rate=d,
                             dtype="float64")
    layer.build(x.shape)
    kernel, bias = rng.normal(size=(k, k, cin, cout)), rng.normal(size=(cout,))
    layer.set_weights([kernel, bias])
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    if padding == "same":
        (top, bottom), (left, right) = _tf_pads(h, k, s, d), _tf_pads(w, k, s, d)
        xt = F.pad(xt, (left, right, top, bottom))
    wt = torch.from_numpy(kernel).permute(3, 2, 0, 1)  # (k, k, in, out) -> (out, in, k, k)
    yt = F.conv2d(xt, wt, torch.from_numpy(bias), stride=s, dilation=d)
    np.testing.assert_allclose(layer(x), yt.permute(0, 2, 3, 1).numpy(), rtol=1e-10, atol=1e-10)


@settings(max_examples=40)
@given(h=st.integers(1, 5), k=st.integers(1, 4), s=st.integers(1, 3), cin=st.integers(1, 3),
       cout=st.integers(1, 3), seed=st.integers(0, 999))
def test_cthalpa2d_transpose_valid_equals_torch_conv_transpose2d(h, k, s, cin, cout, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(1, h, h, cin))
    layer = layers.Cthalpa2DTranspose(cout, k, strides=s, dtype="float64")
    layer.build(x.shape)
    kernel, bias = rng.normal(size=(k, k, cout, cin)), rng.normal(size=(cout,))
    layer.set_weights([kernel, bias])
    wt = torch.from_numpy(kernel).permute(3, 2, 0, 1)  # (k, k, out, in) -> (in, out, k, k)
    full = (h - 1) * s + k
    keras_len = h * s + max(k - s, 0)  # Keras 2 deconv_length, 'valid'
    extra = keras_len - full  # Keras pads zeros at the end when the stride exceeds the kernel
    yt = F.conv_transpose2d(torch.from_numpy(x).permute(0, 3, 1, 2), wt, torch.from_numpy(bias),
                            stride=s, output_padding=0)
    expected = yt.permute(0, 2, 3, 1).numpy()
    if extra > 0:
        padded = np.zeros((1, keras_len, keras_len, cout)) + bias
        padded[:, :full, :full] = expected
        expected = padded
    np.testing.assert_allclose(layer(x), expected, rtol=1e-10, atol=1e-10)


def test_depthwise_equals_torch_grouped_conv():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 7, 3))
    layer = layers.DepthwiseCthalpa2D(3, depth_multiplier=2, dtype="float64")
    layer.build(x.shape)
    kernel, bias = rng.normal(size=(3, 3, 3, 2)), rng.normal(size=(6,))
    layer.set_weights([kernel, bias])
    # (k, k, C, M) -> (C*M, 1, k, k) with output channel c*M + m
    wt = torch.from_numpy(kernel).permute(2, 3, 0, 1).reshape(6, 1, 3, 3)
    yt = F.conv2d(torch.from_numpy(x).permute(0, 3, 1, 2), wt, torch.from_numpy(bias), groups=3)
    np.testing.assert_allclose(layer(x), yt.permute(0, 2, 3, 1).numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("size", [(2, 2), (3, 2), (1, 4)])
def test_bilinear_equals_torch_half_pixel_interpolation(size):
    # PyTorch's bilinear with align_corners=False uses the same half-pixel centres as TF2.
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 5))
    y = layers.UbboSathla2D(size, data_format="channels_first", interpolation="bilinear")(x)
    yt = F.interpolate(torch.from_numpy(x), scale_factor=size, mode="bilinear",
                       align_corners=False)
    np.testing.assert_allclose(y, yt.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("return_sequences", [False, True])
def test_laldagorth_equals_torch_lstm_with_sigmoid_gates(return_sequences):
    # Keras and PyTorch share the gate order i, f, c(g), o; Keras 2.2's default
    # recurrent activation is hard_sigmoid, so compare with recurrent_activation='sigmoid'.
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 5, 4))
    layer = layers.Laldagorth(6, recurrent_activation="sigmoid",
                              return_sequences=return_sequences, dtype="float64")
    layer.build(x.shape)
    kernel, recurrent, bias = (rng.normal(size=(4, 24)), rng.normal(size=(6, 24)),
                               rng.normal(size=(24,)))
    layer.set_weights([kernel, recurrent, bias])
    lstm = torch.nn.LSTM(4, 6, batch_first=True).double()
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(kernel.T))
        lstm.weight_hh_l0.copy_(torch.from_numpy(recurrent.T))
        lstm.bias_ih_l0.copy_(torch.from_numpy(bias))
        lstm.bias_hh_l0.zero_()
        seq, (h, _) = lstm(torch.from_numpy(x))
    expected = seq.numpy() if return_sequences else h[0].numpy()
    np.testing.assert_allclose(layer(x), expected, rtol=1e-10, atol=1e-12)
