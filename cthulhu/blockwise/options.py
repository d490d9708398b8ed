"""The output's storage options: chunks, compression and dtype.

* ``chunks``: the output's chunk size per spatial axis. Every block must cover
  whole chunks (the block a multiple of the chunk, on every axis the block does
  not span whole), so that no two block tasks ever write the same chunk.
  Default: one chunk per block.
* ``compression``: ``"zstd"`` (Zarr's default, level 0), ``"blosc"`` (zstd inside
  Blosc, with byte shuffling), ``"gzip"``, each optionally ``":LEVEL"``, or
  ``"none"``; or Zarr codec objects, passed on as they are.
* ``output_dtype``: the stored dtype. Floating dtypes are cast (rounded to
  nearest); integer dtypes get the values rounded half to even and clipped to the
  dtype's range. Default: the compute dtype.
"""

from __future__ import annotations

__all__ = ["compressors", "check_chunks", "check_output_dtype", "cast", "describe"]

_LEVELS = {"zstd": (-131072, 22), "blosc": (0, 9), "gzip": (0, 9)}


def compressors(compression):
    """Zarr's ``compressors`` argument for ``compression`` (``"auto"`` for Zarr's default)."""
    if compression is None:
        return "auto"
    if not isinstance(compression, str):
        return compression  # codec objects: Zarr checks them
    name, _, level_text = compression.lower().partition(":")
    if name == "none" and not level_text:
        return None
    if name not in _LEVELS:
        raise ValueError(f"predict_volume: compression must be 'zstd', 'blosc', 'gzip' or "
                         f"'none', optionally with ':LEVEL' (e.g. 'zstd:5'), got {compression!r}")
    level = None
    if level_text:
        low, high = _LEVELS[name]
        try:
            level = int(level_text)
        except ValueError:
            level = None
        if level is None or not low <= level <= high:
            raise ValueError(f"predict_volume: compression level of {name!r} must be an int "
                             f"in {low}..{high}, got {level_text!r}")
    from zarr import codecs

    if name == "zstd":
        return codecs.ZstdCodec(level=0 if level is None else level)
    if name == "gzip":
        return codecs.GzipCodec(level=5 if level is None else level)
    return codecs.BloscCodec(cname="zstd", clevel=5 if level is None else level,
                             shuffle="shuffle")


def describe(compression) -> str:
    """A short name of the compression, for the output's attributes."""
    return "zstd" if compression is None else str(compression)


def check_chunks(chunks, block, spatial_out):
    """The output chunk per spatial axis for ``chunks`` (``None``: the block itself)."""
    rank = len(block)
    if chunks is None:
        return tuple(block)
    if isinstance(chunks, int) and not isinstance(chunks, bool):
        chunks = (chunks,) * rank
    chunks = tuple(chunks)
    if len(chunks) != rank or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0
                                      for c in chunks):
        raise ValueError(f"predict_volume: chunks must be a positive int or {rank} positive "
                         f"ints, got {chunks!r}")
    chunks = tuple(min(c, n) for c, n in zip(chunks, spatial_out, strict=True))
    for axis, (c, b, n) in enumerate(zip(chunks, block, spatial_out, strict=True)):
        if b < n and b % c:
            raise ValueError(f"predict_volume: chunks {chunks} do not divide the block "
                             f"{tuple(block)} on spatial axis {axis}: each block must write "
                             "whole chunks (two blocks writing one chunk lose data); pick "
                             f"chunks that divide {b}, or a block that is a multiple of {c}")
    return chunks


def check_output_dtype(output_dtype, dtype):
    """The output's NumPy dtype (``None``: the compute ``dtype``)."""
    import numpy as np

    if output_dtype is None:
        return np.dtype(dtype)
    try:
        found = np.dtype(output_dtype)
    except TypeError:
        found = None
    if found is None or found.kind not in "fiub" or found.kind == "b":
        raise ValueError(f"predict_volume: output_dtype must be a real numeric dtype such as "
                         f"'float16' or 'uint8', got {output_dtype!r}")
    return found


def cast(y, dtype):
    """``y`` (a NumPy block) as ``dtype``: rounded half to even and clipped for integers."""
    import numpy as np

    dtype = np.dtype(dtype)
    if y.dtype == dtype:
        return y
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        y = np.clip(np.rint(y), info.min, info.max)
    return y.astype(dtype)
