"""Launch geometry of ``eltwise.cu`` (plain Python): the stand-alone per-channel
epilogue (bias, batch-norm scale/shift, activation) and the bfloat16 cast."""

from __future__ import annotations

import math

from cthulhu.devices.cupy_._launch import ACTIVATIONS, CTYPES, Launch, row_grid
from cthulhu.shapes import ceildiv
from cthulhu.shapes.layout import is_channels_last

THREADS = 256
#: Vectors per thread a grid aims at (several accesses in flight per thread).
PER_THREAD = 4
MAX_BLOCKS = 2**31 - 1


def vector_width(channels: int, size: int, aligned: bool) -> int:
    """4 elements per access when channels, size and the pointers allow it, else 1."""
    return 4 if aligned and channels % 4 == 0 and size % 4 == 0 else 1


def strided_blocks(groups: int, vec: int, channels: int) -> int:
    """Blocks of a channels_last grid: about PER_THREAD vectors per thread, and a total
    thread count whose vectors cover whole channel rows (threads * vec % channels == 0),
    so that each thread's channel never changes along its grid-stride loop."""
    unit = channels // math.gcd(channels, THREADS * vec)  # blocks per whole-row period
    want = max(1, ceildiv(groups, THREADS * PER_THREAD))
    blocks = max(unit, want // unit * unit)
    if blocks > MAX_BLOCKS:
        raise OverflowError(f"channel count {channels} needs a grid past CUDA's limit")
    return blocks


def epilogue_launch(*, layout: str, dtype: str, size: int, batch: int, channels: int,
                    flags: int, activation=None, alpha: float = 0.0,
                    aligned: bool = True) -> Launch:
    """``cthulhu_channel_epilogue_*`` over ``size`` elements, ``batch`` x ``channels``
    (in place or not: the caller passes x and y). Arguments after the arrays:
    channels_last ``(groups, c, flags, act, alpha)``, channels_first
    ``(planes, c, inner, flags, act, alpha)``."""
    ctype = CTYPES[dtype]
    act = ACTIVATIONS[activation]
    if is_channels_last(layout):
        vec = vector_width(channels, size, aligned and dtype != "float64")
        groups = size // vec
        blocks = strided_blocks(groups, vec, channels)
        return Launch(name=f"cthulhu_channel_epilogue_nhwc<{ctype}, {vec}>",
                      grid=(blocks, 1, 1), block=(THREADS, 1, 1),
                      args=(groups, channels, flags, act, float(alpha)), wide=(0,))
    planes = batch * channels
    inner = size // planes
    grid, block = row_grid(planes, inner)
    return Launch(name=f"cthulhu_channel_epilogue_nchw<{ctype}>", grid=grid, block=block,
                  args=(planes, channels, inner, flags, act, float(alpha)), wide=(0,))


def cast_bf16_launch(size: int, aligned: bool = True) -> Launch:
    vec = 4 if aligned and size % 4 == 0 else 1
    groups = size // vec
    blocks = max(1, min(ceildiv(groups, THREADS * PER_THREAD), MAX_BLOCKS))
    return Launch(name=f"cthulhu_cast_bf16<{vec}>", grid=(blocks, 1, 1),
                  block=(THREADS, 1, 1), args=(groups,), wide=(0,))


def all_kernel_names() -> list[str]:
    names = [f"cthulhu_cast_bf16<{v}>" for v in (1, 4)]
    for ctype in CTYPES.values():
        names += [f"cthulhu_channel_epilogue_nhwc<{ctype}, {v}>" for v in (1, 4)]
        names.append(f"cthulhu_channel_epilogue_nchw<{ctype}>")
    return names
