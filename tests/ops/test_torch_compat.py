"""A PyTorch CPU tensor runs through array-api-compat on the generic code, with torch's numbers."""

import numpy as np
import pytest

from cthulhu import devices, ops

torch = pytest.importorskip("torch")
F = torch.nn.functional


def test_torch_conv2d_generic_matches_torch():
    g = torch.Generator().manual_seed(0)
    x = torch.rand((2, 6, 7, 3), generator=g, dtype=torch.float64)
    k = torch.rand((3, 3, 3, 4), generator=g, dtype=torch.float64)
    b = torch.rand((4,), generator=g, dtype=torch.float64)
    assert devices.explain(x, "conv").plugin == "generic"
    y = ops.conv(x, k, strides=(2, 1), padding="valid", bias=b, activation="relu")
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float64
    expected = F.relu(F.conv2d(x.permute(0, 3, 1, 2), k.permute(3, 2, 0, 1), b, stride=(2, 1)))
    torch.testing.assert_close(y.permute(0, 3, 1, 2), expected)


def test_torch_conv_transpose_and_depthwise_match_torch():
    g = torch.Generator().manual_seed(1)
    x = torch.rand((1, 4, 5, 5), generator=g, dtype=torch.float64)      # channels_first
    k = torch.rand((3, 3, 5, 4), generator=g, dtype=torch.float64)      # (*k, F, C)
    y = ops.conv_transpose(x, k, strides=2, padding="valid", data_format="channels_first")
    expected = F.conv_transpose2d(x, k.permute(3, 2, 0, 1), stride=2)
    torch.testing.assert_close(y, expected)
    kd = torch.rand((3, 3, 4, 2), generator=g, dtype=torch.float64)     # (*k, C, M)
    y = ops.depthwise_conv(x, kd, data_format="channels_first")
    expected = F.conv2d(x, kd.reshape(3, 3, 8).permute(2, 0, 1).unsqueeze(1), groups=4)
    torch.testing.assert_close(y, expected)


def test_torch_float16_and_upsample_keep_dtype():
    x = torch.ones((1, 2, 2, 1), dtype=torch.float16)
    y = ops.upsample(x, (2, 2), interpolation="bilinear")
    assert y.dtype == torch.float16 and tuple(y.shape) == (1, 4, 4, 1)
    y = ops.matmul(torch.ones((2, 3)), torch.ones((3, 4)), bias=torch.ones(4))
    np.testing.assert_array_equal(y.numpy(), np.full((2, 4), 4.0))


# -- the NumPy plugin at realistic sizes against PyTorch's own kernels ------------

def _nchw(x):
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))


def _oihw(k):
    rank = k.ndim - 2
    return torch.from_numpy(np.ascontiguousarray(np.transpose(k, (rank + 1, rank,
                                                                  *range(rank)))))


def test_numpy_conv2d_same_strided_matches_torch_with_tf_padding():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 33, 30, 16), dtype=np.float32)
    k = rng.standard_normal((3, 4, 16, 24), dtype=np.float32)
    y = ops.conv(x, k, strides=2, padding="same")
    # TF 'same': rows total (17-1)*2+3-33 = 2 -> (1, 1); cols total (15-1)*2+4-30 = 2 -> (1, 1)
    expected = F.conv2d(F.pad(_nchw(x), (1, 1, 1, 1)), _oihw(k), stride=2)
    np.testing.assert_allclose(y, np.moveaxis(expected.numpy(), 1, -1), rtol=1e-4, atol=1e-4)
    # even kernel, stride 1: total 3 -> (1, 2), the odd extra at the end
    y = ops.conv(x, k, padding="same")
    expected = F.conv2d(F.pad(_nchw(x), (1, 2, 1, 1)), _oihw(k))
    np.testing.assert_allclose(y, np.moveaxis(expected.numpy(), 1, -1), rtol=1e-4, atol=1e-4)


def test_numpy_conv3d_and_transpose_match_torch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 12, 11, 10, 8), dtype=np.float32)
    k = rng.standard_normal((3, 3, 3, 8, 6), dtype=np.float32)
    y = ops.conv(x, k, padding="same", dilation=2)
    expected = F.conv3d(_nchw(x), _oihw(k), padding=2, dilation=2)
    np.testing.assert_allclose(y, np.moveaxis(expected.numpy(), 1, -1), rtol=1e-4, atol=1e-4)
    kt = rng.standard_normal((3, 3, 3, 5, 8), dtype=np.float32)      # (*k, F, C)
    y = ops.conv_transpose(x, kt, strides=2, padding="same")
    tk = torch.from_numpy(np.ascontiguousarray(np.transpose(kt, (4, 3, 0, 1, 2))))
    # TF's 'same' for the 2n-long forward input pads (0, 1) (odd extra at the end), so the
    # transposed output is torch's unpadded one (length 2n + 1) without its last sample
    expected = F.conv_transpose3d(_nchw(x), tk, stride=2)[:, :, :24, :22, :20]
    np.testing.assert_allclose(y, np.moveaxis(expected.numpy(), 1, -1), rtol=1e-4, atol=1e-4)


def test_numpy_depthwise_separable_and_bilinear_match_torch():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 20, 21, 12), dtype=np.float32)
    dk = rng.standard_normal((3, 3, 12, 2), dtype=np.float32)
    pk = rng.standard_normal((1, 1, 24, 7), dtype=np.float32)
    tdk = torch.from_numpy(np.ascontiguousarray(np.transpose(dk.reshape(3, 3, 24),
                                                             (2, 0, 1))[:, None]))
    mid = F.conv2d(_nchw(x), tdk, padding=1, groups=12)
    y = ops.depthwise_conv(x, dk, padding="same")
    np.testing.assert_allclose(y, np.moveaxis(mid.numpy(), 1, -1), rtol=1e-4, atol=1e-4)
    y = ops.separable_conv(x, dk, pk, padding="same")
    expected = F.conv2d(mid, _oihw(pk))
    np.testing.assert_allclose(y, np.moveaxis(expected.numpy(), 1, -1), rtol=1e-4, atol=1e-4)
    # torch's align_corners=False bilinear is TF2's half-pixel resize
    y = ops.upsample(x, (2, 3), interpolation="bilinear")
    expected = F.interpolate(_nchw(x), scale_factor=(2, 3), mode="bilinear",
                             align_corners=False)
    np.testing.assert_allclose(y, np.moveaxis(expected.numpy(), 1, -1), rtol=1e-5, atol=1e-5)
