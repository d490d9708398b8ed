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
