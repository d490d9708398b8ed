"""The NumPy device plugin: convolutions through BLAS (im2col / per-tap GEMMs) and, for
the memory-bound ones (depthwise, few input channels), small native C kernels compiled
on first use (:mod:`._native`); no Python loop over output positions. Outputs keep the
input dtype (float16 computes in float32). Thread counts: :mod:`.threads`."""

from __future__ import annotations

from cthulhu.devices.base import Plugin


class NumpyPlugin(Plugin):
    """Serves ``numpy.ndarray`` inputs."""

    name = "numpy"
    keys = ("numpy",)

    def available(self) -> tuple[bool, str]:
        import numpy

        from cthulhu.devices.numpy_ import _native

        return True, f"numpy {numpy.__version__}, native kernels: {_native.describe()}"

    def get(self, op: str):
        return _table().get(op)


def _table():
    from cthulhu.devices.numpy_ import conv, depthwise, misc, transpose

    return {
        "conv": conv.conv,
        "conv_transpose": transpose.conv_transpose,
        "depthwise_conv": depthwise.depthwise_conv,
        "separable_conv": depthwise.separable_conv,
        "matmul": misc.matmul,
        "upsample": misc.upsample,
    }
