"""The CuPy kernels' entry points for convolutions and dense layers: a frozen
:class:`cthulhu.shapes.ConvGeometry` and a :class:`cthulhu.devices.base.Epilogue` in, a
CuPy array out.

The path is chosen here, stated by :func:`compute_for`:

* float32 inputs follow :func:`cthulhu.config.float32_precision`: ``"float32"`` (the
  default) runs strict float32 (``igemm.cu`` on the FMA units, or ``conv_nd.cu``),
  ``"tf32"`` and ``"bfloat16"`` allow tensor cores with those operand roundings;
* float16 inputs always use tensor cores (f16 operands are exact there; float32
  accumulation, as the SIMT kernel);
* float64, and what ``igemm.cu`` does not take (channels not a multiple of the 16-byte
  vector, more than 10 taps per axis), run ``conv_nd.cu`` in the input's precision (or
  better: a lower precision is never used silently in place of a higher one).
"""

from __future__ import annotations

import functools

import numpy as np

from cthulhu import config
from cthulhu.devices.cupy_ import _eltwise, _igemm, _launch, _loader
from cthulhu.shapes.layout import channel_index

#: float32_precision setting -> igemm computation for float32 inputs.
FLOAT32_COMPUTE = {"float32": "strict", "tf32": "tf32", "bfloat16": "bf16"}
_DTYPES = {np.dtype(np.float16): "float16", np.dtype(np.float32): "float32",
           np.dtype(np.float64): "float64"}


def _cupy():
    import cupy

    return cupy


def dtype_name(x) -> str | None:
    return _DTYPES.get(np.dtype(x.dtype))


def compute_for(dtype: str, precision: str | None = None) -> str | None:
    """The igemm computation for inputs of ``dtype`` (``None``: conv_nd.cu only)."""
    if dtype == "float16":
        return "f16"
    if dtype == "float32":
        return FLOAT32_COMPUTE[precision or config.float32_precision()]
    return None


def address(a) -> int:
    """Device (or, on the CPU stand-in, host) address of an array's first element."""
    interface = getattr(a, "__cuda_array_interface__", None) or a.__array_interface__
    return int(interface["data"][0])


def device_limits(cp) -> tuple[int, int]:
    """(multiprocessors, shared memory per multiprocessor) of the current GPU."""
    return _sm_count(cp.cuda.Device().id), _smem_per_sm(cp.cuda.Device().id)


def _cupy_module():
    import cupy

    return cupy


@functools.cache
def _sm_count(device_id: int) -> int:
    """Multiprocessors of a GPU (the tile choice keeps them all busy)."""
    try:
        return int(_cupy_module().cuda.Device(device_id).attributes["MultiProcessorCount"])
    except Exception:  # an unknown device attribute must not stop the op
        return 108


@functools.cache
def _smem_per_sm(device_id: int) -> int:
    """Shared memory per multiprocessor (how many igemm blocks fit at once)."""
    try:
        attrs = _cupy_module().cuda.Device(device_id).attributes
        return int(attrs["MaxSharedMemoryPerMultiprocessor"])
    except Exception:  # an unknown device attribute must not stop the op
        return 164 * 1024


def kernel_scalars(launch: _launch.Launch) -> list:
    """``launch.args`` typed as the kernel declares them (CuPy passes a NumPy scalar's
    bytes as they are): int32, int64 where ``launch.wide`` says ``long long``, float32
    for a float (``alpha``), float64 where ``launch.doubles`` says ``double``."""
    scalars = []
    for i, a in enumerate(launch.args):
        if isinstance(a, float):
            scalars.append(np.float64(a) if i in launch.doubles else np.float32(a))
        else:
            scalars.append(np.int64(a) if i in launch.wide else np.int32(a))
    return scalars


def run(file: str, launch: _launch.Launch, arrays) -> None:
    """Launch ``launch`` (any kernel of the plugin) with ``arrays`` then its scalars
    (:func:`kernel_scalars`). Only igemm.cu takes dynamic shared memory."""
    fn = _loader.kernel(file, launch.name)
    shared = launch.shared_bytes if file == "igemm.cu" else 0
    if shared > 48 * 1024 and fn.max_dynamic_shared_size_bytes < shared:
        fn.max_dynamic_shared_size_bytes = shared
    fn(launch.grid, launch.block, (*arrays, *kernel_scalars(launch)), shared_mem=shared)


def to_bf16(x):
    """A float32 CuPy array's bfloat16 bits (uint16), rounded to nearest even."""
    cp = _cupy()
    x = cp.ascontiguousarray(x)
    y = cp.empty(x.shape, dtype=cp.uint16)
    if x.size:
        launch = _eltwise.cast_bf16_launch(x.size, aligned=address(x) % 16 == 0)
        run("eltwise.cu", launch, (x, y))
    return y


def gemm_weights(kernel, geometry, compute: str, cp_: int, fp: int):
    """The weight matrix igemm.cu reads: ``(taps, Cp, Fp)`` zero-padded, in the
    computation's storage type; a transposed kernel ``(*k, F, C)`` flipped over its taps
    and swapped to ``(tap, C, F)`` (the equivalent direct convolution's kernel)."""
    cp = _cupy()
    taps = 1
    for k in geometry.kernel_size:
        taps *= k
    if geometry.transposed:
        f, c = kernel.shape[-2:]
        m = kernel.reshape(taps, f, c)[::-1].transpose(0, 2, 1)
    else:
        c, f = kernel.shape[-2:]
        m = kernel.reshape(taps, c, f)
    store = {"strict": cp.float32, "tf32": cp.float32, "bf16": cp.float32,
             "f16": cp.float16}[compute]
    out = cp.zeros((taps, cp_, fp), dtype=store)
    out[:, :c, :f] = m
    return to_bf16(out) if compute == "bf16" else out


def epilogue_flags(epilogue) -> int:
    """CTHULHU_EPI_* bits of the per-channel arrays an epilogue holds."""
    return ((epilogue.bias is not None) * _launch.EPI_BIAS
            | (epilogue.scale is not None) * _launch.EPI_SCALE
            | (epilogue.shift is not None) * _launch.EPI_SHIFT)


def epilogue_arrays(cp, epilogue, dtype, count, like):
    """``[bias, scale, shift]`` as C-contiguous arrays of ``count`` entries in ``dtype``;
    an absent one is ``like`` (a pointer the kernel never reads: its flag is off)."""
    out = []
    for name in ("bias", "scale", "shift"):
        a = getattr(epilogue, name)
        out.append(like if a is None else cp.ascontiguousarray(a, dtype=dtype).reshape(count))
    return out


def igemm_fits(geometry, compute: str | None) -> bool:
    if compute is None or geometry.kind not in ("conv", "conv_transpose"):
        return False
    return _igemm.supported(compute=compute, channels=geometry.in_channels,
                            kernel=geometry.kernel_size, strides=geometry.strides,
                            transposed=geometry.transposed,
                            dilation=geometry.dilation)


def conv_igemm(x, kernel, geometry, epilogue, compute: str, tile: str | None = None):
    """A (transposed) convolution through igemm.cu; ``x`` in ``geometry.data_format``."""
    cp = _cupy()
    transposed = geometry.transposed
    f = geometry.out_channels
    out_dtype = cp.float16 if compute == "f16" else cp.float32
    if geometry.channels_first:
        x = cp.transpose(x, geometry.to_channels_last)  # read channels_last, written either
    x = cp.ascontiguousarray(x, dtype=cp.float16 if compute == "f16" else cp.float32)
    if address(x) % 16:
        x = x.copy()  # a view starting inside its buffer: cp.async needs 16-byte sources
    if compute == "bf16":
        x = to_bf16(x)
    sm_count, smem = device_limits(cp)
    launch = _igemm.launch(
        compute=compute, transposed=transposed, out_layout=geometry.data_format,
        batch=geometry.batch, channels=geometry.in_channels, filters=f,
        in_spatial=geometry.in_spatial, out_spatial=geometry.out_spatial,
        kernel=geometry.kernel_size, strides=geometry.strides, dilation=geometry.dilation,
        pads_lo=geometry.pads_lo, flags=epilogue_flags(epilogue),
        activation=epilogue.activation, alpha=epilogue.alpha, sm_count=sm_count,
        smem_per_sm=smem, tile=tile)
    w = gemm_weights(kernel, geometry, compute, launch.args[5], launch.args[10])
    y = cp.empty(geometry.out_shape, dtype=out_dtype)
    bias, scale, shift = epilogue_arrays(cp, epilogue, out_dtype, f, y)
    run("igemm.cu", launch, (x, w, bias, scale, shift, y))
    return y


def apply_epilogue(y, epilogue, data_format):
    """The epilogue in place by eltwise.cu (after a cuBLAS matmul, which fuses none)."""
    if epilogue.empty or y.size == 0:
        return y
    cp = _cupy()
    channels = y.shape[channel_index(y.ndim, data_format)]
    dtype = dtype_name(y)
    launch = _eltwise.epilogue_launch(layout=data_format, dtype=dtype, size=y.size,
                                      batch=y.shape[0], channels=channels,
                                      flags=epilogue_flags(epilogue),
                                      activation=epilogue.activation, alpha=epilogue.alpha,
                                      aligned=address(y) % 16 == 0)
    arrays = epilogue_arrays(cp, epilogue, y.dtype, channels, y)
    run("eltwise.cu", launch, (y, *arrays, y))
    return y
