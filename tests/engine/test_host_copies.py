"""Weights set from device arrays reach host memory through the device's plugin."""

import numpy as np

from cthulhu import devices
from cthulhu.devices import Plugin
from cthulhu.devices.cupy_ import CupyPlugin
from cthulhu.engine.utils import to_numpy


class _DeviceArray:
    """A stand-in for a GPU array: np.asarray must not be able to read it."""

    __module__ = "fakegpu_cthulhu_test"

    def __init__(self, values):
        self._values = np.array(values)

    def __array__(self, *args, **kwargs):
        raise TypeError("implicit host conversion refused (like cupy)")


class _FakeGpuPlugin(Plugin):
    name = "fakegpu"
    keys = ("fakegpu_cthulhu_test",)

    def to_numpy(self, a):
        return a._values.copy()


def test_to_numpy_asks_the_arrays_plugin():
    plugin = _FakeGpuPlugin()
    devices.register(plugin)
    try:
        out = to_numpy(_DeviceArray([[1.0, 2.0]]))
    finally:
        devices.unregister(plugin)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, [[1.0, 2.0]])


def test_cupy_plugin_provides_host_copies_without_cupy():
    host_copy = CupyPlugin().to_numpy

    class _Fake:
        def get(self):
            return np.ones(3)

    np.testing.assert_array_equal(host_copy(_Fake()), np.ones(3))
