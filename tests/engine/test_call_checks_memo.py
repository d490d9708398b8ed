"""A built layer skips its input checks only for the input kind it accepted last (array
type, shape, dtype): any other input is checked again and refused as before."""

import array_api_strict as xps
import numpy as np
import pytest

from cthulhu.layers import Daoloth


def test_checks_still_refuse_after_a_good_call():
    layer = Daoloth(3, name="d")
    x = np.ones((2, 4), np.float32)
    layer(x)
    layer(x)                                                  # the remembered kind
    with pytest.raises(ValueError, match="Daoloth 'd'.*expected 4 channels"):
        layer(np.ones((2, 5), np.float32))
    with pytest.raises(TypeError, match="Daoloth 'd'.*floating"):
        layer(np.ones((2, 4), np.int32))
    with pytest.raises(ValueError, match="Daoloth 'd'.*rank"):
        layer(np.ones((4,), np.float32))
    y = layer(xps.ones((2, 4), dtype=xps.float32))            # another library: checked
    assert y.shape == (2, 3)
    with pytest.raises(TypeError, match="Daoloth 'd'.*list"):
        layer([[1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(layer(x), layer(x.copy()))


def test_byte_swapped_input_is_converted_after_a_native_call():
    layer = Daoloth(2)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    want = layer(x)
    np.testing.assert_array_equal(layer(x.astype(">f4")), want)
