"""Launch geometry of the channels_last memory-bound kernels (plain Python): up-sampling
(nearest, bi/trilinear) in upsample.cu and depthwise (multiplier 1) in depthwise.cu.

The layout (see upsample.cu): a 2D block, x over the channel vectors, y over output x
positions; grid x over blocks of x positions, grid y over rows (grid-stride). Pooling
(issue 10) should reuse :func:`cl_grid` and :func:`vector_width`.
"""

from __future__ import annotations

from cthulhu.devices.cupy_._launch import CTYPES, INT_MAX, Launch, as_3d, epilogue_args
from cthulhu.shapes import ceildiv

THREADS = 256
MAX_ROWS = 65535  # CUDA's grid y limit; the kernels loop over further rows
VECTOR_BYTES = {"float32": 16, "float16": 8, "float64": 32}


def vector_width(channels: int, *addresses: int, dtype: str = "float32") -> int:
    """4 channels per access when ``channels % 4 == 0`` and every address is aligned to
    the vector, else 1."""
    nbytes = VECTOR_BYTES[dtype]
    if channels % 4 == 0 and all(a % nbytes == 0 for a in addresses):
        return 4
    return 1


def cl_grid(vectors: int, width: int, rows: int):
    """``(grid, block)`` for ``vectors`` channel vectors per position, ``width`` positions
    per row and ``rows`` rows."""
    bx = min(vectors, THREADS)
    by = max(1, min(THREADS // bx, width))
    return (ceildiv(width, by), max(1, min(rows, MAX_ROWS)), 1), (bx, by, 1)


def _check(what: str, value: int) -> None:
    if value > INT_MAX:
        raise OverflowError(f"{what} = {value} exceeds the kernels' 32-bit index range")


def upsample_launch(*, interpolation: str, dtype: str, batch: int, channels: int,
                    in_spatial, size, vec: int) -> Launch:
    """``cthulhu_upsample_nearest_cl`` (rank 1-3) or ``cthulhu_upsample_linear_cl``
    (``bilinear`` of rank 1-2 as RANK 2, rank 3 as RANK 3 = trilinear)."""
    d, h, w = as_3d(in_spatial, 1)
    fd, fh, fw = as_3d(size, 1)
    _check("output image size", d * fd * h * fh * w * fw * channels)
    ctype = CTYPES[dtype]
    args = (batch, d, h, w, channels, fd, fh, fw)
    if interpolation == "nearest":
        grid, block = cl_grid(channels // vec, w, batch * d * h)
        name = f"cthulhu_upsample_nearest_cl<{ctype}, {vec}>"
    else:
        rank = 3 if len(tuple(size)) == 3 else 2
        grid, block = cl_grid(channels // vec, w * fw, batch * d * fd * h * fh)
        name = f"cthulhu_upsample_linear_cl<{ctype}, {vec}, {rank}>"
    return Launch(name=name, grid=grid, block=block, args=args)


def depthwise_launch(*, dtype: str, batch: int, channels: int, in_spatial, out_spatial,
                     kernel, strides, dilation, pads_lo, vec: int, flags: int = 0,
                     activation=None, alpha: float = 0.0) -> Launch:
    """``cthulhu_depthwise_cl`` (depth multiplier 1); the epilogue as
    :func:`._launch.conv_launch`'s (``vec`` entries of each per-channel array per load)."""
    d, h, w = as_3d(in_spatial, 1)
    od, oh, ow = as_3d(out_spatial, 1)
    _check("input image size", d * h * w * channels)
    _check("output image size", od * oh * ow * channels)
    grid, block = cl_grid(channels // vec, ow, batch * od * oh)
    return Launch(
        name=f"cthulhu_depthwise_cl<{CTYPES[dtype]}, {vec}>", grid=grid, block=block,
        **epilogue_args((batch, d, h, w, channels, od, oh, ow, *as_3d(kernel, 1),
                         *as_3d(strides, 1), *as_3d(dilation, 1), *as_3d(pads_lo, 0)),
                        dtype, flags, activation, alpha))


def all_kernel_names() -> dict[str, list[str]]:
    names: dict[str, list[str]] = {"upsample.cu": [], "depthwise.cu": []}
    for ctype in CTYPES.values():
        for vec in (1, 4):
            names["upsample.cu"].append(f"cthulhu_upsample_nearest_cl<{ctype}, {vec}>")
            for rank in (2, 3):
                names["upsample.cu"].append(f"cthulhu_upsample_linear_cl<{ctype}, {vec}, {rank}>")
            names["depthwise.cu"].append(f"cthulhu_depthwise_cl<{ctype}, {vec}>")
    return names
