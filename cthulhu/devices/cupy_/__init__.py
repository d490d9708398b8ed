"""The CuPy (GPU) device: cthulhu's heavy ops as raw CUDA kernels.

The kernels are CUDA C++ files in :mod:`cthulhu.devices.cupy_.kernels`, compiled at
first use by NVRTC through ``cupy.RawModule`` (:mod:`._loader`) and launched with the
geometry computed in plain Python (:mod:`._launch`). This module imports neither CuPy
nor NumPy: without CuPy the plugin loads, reports itself unavailable with the reason,
and CuPy arrays (which then cannot exist) never reach it.
"""

from __future__ import annotations

from cthulhu.devices.base import Plugin

__all__ = ["CupyPlugin"]

_OPS = ("conv", "conv_transpose", "depthwise_conv", "separable_conv", "matmul", "upsample",
        "pool", "global_pool")


class CupyPlugin(Plugin):
    """Serves ``cupy.ndarray`` inputs with the kernels of ``kernels/*.cu``.

    Supported: float16 (accumulating in float32), float32 and float64; conv and
    transposed conv of rank 1-3, depthwise and separable conv, matmul (cuBLAS),
    nearest up-sampling of rank 1-3 and bilinear of rank 2, max/average pooling and global
    pooling of rank 1-3, both data formats. Other
    calls return ``NotImplemented`` and run the generic Array API code on CuPy.
    """

    name = "cupy"
    keys = ("cupy",)

    def available(self) -> tuple[bool, str]:
        try:
            import cupy
        except ModuleNotFoundError as exc:
            if exc.name != "cupy":
                return False, f"cupy failed to import ({exc})"
            return False, ("cupy is not installed (pip install 'cthulhu-layers[cuda12]' or "
                           "'cthulhu-layers[cuda13]')")
        except Exception as exc:  # a broken CUDA installation surfaces here
            return False, f"cupy failed to import ({type(exc).__name__}: {exc})"
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CuPy raises its own CUDA error types here
            return False, f"cupy cannot reach a GPU ({type(exc).__name__}: {exc})"
        if count < 1:
            return False, "cupy found no CUDA device"
        return True, f"cupy {cupy.__version__}, {count} CUDA device(s)"

    def get(self, op: str):
        if op not in _OPS:
            return None
        from cthulhu.devices.cupy_ import _ops

        return getattr(_ops, op)

    def to_numpy(self, x):
        """A CuPy array copied to host memory (``np.asarray`` refuses device arrays)."""
        return x.get()
