"""The NumPy device plugin: every convolution in the native engine (:mod:`._engine`,
one C call per op, its own threads), and pooling in the same C library (:mod:`.pool`),
built at install time or on first use (:mod:`._native`); without native code,
NumPy/BLAS paths (im2col, per-tap GEMMs, pooling axis by axis). No Python loop over
output positions. Outputs keep the input dtype (float16 computes in float32). Thread
counts: :mod:`.threads`."""

from __future__ import annotations

from cthulhu.devices.base import Plugin


class NumpyPlugin(Plugin):
    """Serves ``numpy.ndarray`` inputs."""

    name = "numpy"
    keys = ("numpy",)

    def available(self) -> tuple[bool, str]:
        import numpy

        from cthulhu.devices.numpy_ import _native, _threads

        return True, (f"numpy {numpy.__version__}, native kernels: {_native.describe()}, "
                      f"threads: {_threads.workers()}, BLAS: {_threads.describe_blas()}")

    def get(self, op: str):
        return _table().get(op)


def _table():
    from cthulhu.devices.numpy_ import conv, depthwise, misc, pool, transpose

    return {
        "conv": conv.conv,
        "conv_transpose": transpose.conv_transpose,
        "depthwise_conv": depthwise.depthwise_conv,
        "separable_conv": depthwise.separable_conv,
        "matmul": misc.matmul,
        "add": misc.add,
        "affine": misc.affine,
        "upsample": misc.upsample,
        "pool": pool.pool,
        "global_pool": pool.global_pool,
    }
