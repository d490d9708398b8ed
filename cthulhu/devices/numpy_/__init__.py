"""The NumPy device plugin: convolutions through BLAS (im2col / per-tap GEMMs), no Python
loop over output positions. Outputs keep the input dtype (float16 computes in float32)."""

from __future__ import annotations

from cthulhu.devices.base import Plugin


class NumpyPlugin(Plugin):
    """Serves ``numpy.ndarray`` inputs."""

    name = "numpy"
    keys = ("numpy",)

    def available(self) -> tuple[bool, str]:
        import numpy

        return True, f"numpy {numpy.__version__}"

    def get(self, op: str):
        from cthulhu.devices.numpy_ import conv, misc

        table = {
            "conv": conv.conv,
            "conv_transpose": conv.conv_transpose,
            "depthwise_conv": conv.depthwise_conv,
            "separable_conv": conv.separable_conv,
            "matmul": misc.matmul,
            "upsample": misc.upsample,
        }
        return table.get(op)
