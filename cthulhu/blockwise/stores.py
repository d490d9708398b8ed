"""Volumes on disk: where blocks are read from and written to.

Inputs: a Zarr array (v3 or v2, a directory), an HDF5 dataset written
``file.h5:dataset``, a ``.npy`` file (memory-mapped, never loaded whole), or any
in-memory array with ``shape``, ``dtype`` and slicing (NumPy, an open Zarr or
h5py array). Output: a Zarr v3 array on disk whose chunks are the output blocks.

A :class:`Source` is a small picklable description: it opens the file lazily,
once per process, so that ``dask.distributed`` workers open their own handles
instead of receiving an open file.
"""

from __future__ import annotations

import collections
import itertools
import os
import threading
from pathlib import Path

__all__ = ["Source", "open_source", "create_target", "open_target", "is_zarr_path"]

_H5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")


def is_zarr_path(path) -> bool:
    """Whether ``path`` names a Zarr store (by suffix, or a directory with Zarr metadata)."""
    p = Path(path)
    if p.suffix == ".zarr":
        return True
    return p.is_dir() and ((p / "zarr.json").exists() or (p / ".zarray").exists())


def _split_h5(spec: str):
    """``'file.h5:dataset'`` -> ``('file.h5', 'dataset')``, or ``None`` if not HDF5."""
    lowered = spec.lower()
    for suffix in _H5_SUFFIXES:
        cut = lowered.find(suffix + ":")
        if cut >= 0:
            end = cut + len(suffix)
            return spec[:end], spec[end + 1:]
        if lowered.endswith(suffix):
            return spec, None
    return None


class Source:
    """A read-only volume: ``shape``, ``dtype``, ``chunks`` and ``read(slices)``.

    Parameters
    ----------
    spec : str, os.PathLike or array
        A Zarr directory, ``file.h5:dataset``, a ``.npy`` file, or an array.

    Attributes
    ----------
    cache_bytes : int
        How many bytes of decoded chunks a process keeps (Zarr and HDF5 inputs;
        0 turns the cache off). A block's region reaches a few samples into
        its neighbours' chunks for the halo, and a compressed chunk is decoded
        whole for any part of it: without the cache, each chunk of the input
        would be decoded up to 3^rank times (8 times for the corner blocks of
        a volume two blocks wide) instead of about once.
    """

    def __init__(self, spec, storage_options=None):
        from .places import input_place

        self._array = None
        self.cache_bytes = 0
        self._cache = None
        self.place = input_place(spec, storage_options)
        if self.place is not None:  # a URL or a Zarr store: a Zarr array in a store
            self.spec, self.kind, self.path, self.dataset = self.place.name, "store", None, None
            array = self._open()
        elif isinstance(spec, str) and spec.lower().startswith(("file://", "local://")):
            from .places import _local_of_url

            self.__init__(os.fspath(_local_of_url(spec)))
            return
        elif isinstance(spec, (str, os.PathLike)):
            self.spec = os.fspath(spec)
            self.kind, self.path, self.dataset = self._classify(self.spec)
            array = self._open()
        else:
            if not (hasattr(spec, "shape") and hasattr(spec, "dtype") and hasattr(spec, "__getitem__")):
                raise TypeError(f"predict_volume: source must be a path or an array, got "
                                f"{type(spec).__name__}")
            kind = "dask" if _is_dask(spec) else "array"
            self.spec, self.kind, self.path, self.dataset = _identity(spec), kind, None, None
            array = spec
            self._array = spec
        self.shape = tuple(int(n) for n in array.shape)
        self.dtype = array.dtype
        self.chunks = _chunks_of(array)

    @staticmethod
    def _classify(spec: str):
        h5 = _split_h5(spec)
        if h5 is not None:
            path, dataset = h5
            if not Path(path).is_file():
                raise FileNotFoundError(f"input {spec!r}: no such HDF5 file {path!r}")
            if not dataset:
                raise ValueError(f"input {spec!r}: name the HDF5 dataset as 'file.h5:dataset'")
            return "hdf5", path, dataset
        if spec.lower().endswith(".npy"):
            if not Path(spec).is_file():
                raise FileNotFoundError(f"input {spec!r}: no such .npy file")
            return "npy", spec, None
        if not Path(spec).exists():
            raise FileNotFoundError(f"input {spec!r}: no such file or directory")
        if is_zarr_path(spec):
            return "zarr", spec, None
        raise ValueError(f"input {spec!r}: not a Zarr store, 'file.h5:dataset' or .npy file")

    def _open(self):
        if self._array is not None:
            return self._array
        if self.kind == "store":
            self._array = _open_in_store(self.place, self.spec)
        elif self.kind == "zarr":
            import zarr

            try:
                self._array = zarr.open_array(self.path, mode="r")
            except Exception as exc:  # zarr raises several types for "not an array"
                raise ValueError(f"input {self.spec!r}: cannot open as a Zarr array ({exc})") from exc
        elif self.kind == "hdf5":
            import h5py

            handle = h5py.File(self.path, "r")
            if self.dataset not in handle:
                handle.close()
                raise KeyError(f"input {self.spec!r}: no dataset {self.dataset!r} in {self.path!r}")
            node = handle[self.dataset]
            if not isinstance(node, h5py.Dataset):
                handle.close()
                raise ValueError(f"input {self.spec!r}: {self.dataset!r} is a group, not a dataset")
            self._array = node
        elif self.kind == "npy":
            import numpy as np

            self._array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        return self._array

    def read(self, slices):
        """The region ``slices`` (a tuple of ``slice``) as a NumPy array."""
        import numpy as np

        array = self._open()
        if (self.chunks is None or self.kind not in ("zarr", "hdf5", "dask", "store")
                or self.cache_bytes <= 0):
            return _values(array[tuple(slices)])
        bounds = [sl.indices(n)[:2] for sl, n in zip(slices, self.shape, strict=True)]
        out = np.empty(tuple(max(b - a, 0) for a, b in bounds), dtype=self.dtype)
        if out.size == 0:
            return out
        per_axis = [range(a // c, (b - 1) // c + 1) for (a, b), c in zip(bounds, self.chunks,
                                                                        strict=True)]
        for index in itertools.product(*per_axis):
            chunk = self._chunk(array, index)
            take, put = [], []
            for i, c, (a, b) in zip(index, self.chunks, bounds, strict=True):
                lo, hi = max(a, i * c), min(b, (i + 1) * c)
                take.append(slice(lo - i * c, hi - i * c))
                put.append(slice(lo - a, hi - a))
            out[tuple(put)] = chunk[tuple(take)]
        return out

    def _chunk(self, array, index):
        """The decoded chunk ``index``, from this process's cache when it holds it."""

        if self._cache is None:
            self._cache = _ChunkCache(self.cache_bytes)
        region = tuple(slice(i * c, min((i + 1) * c, n))
                       for i, c, n in zip(index, self.chunks, self.shape, strict=True))
        return self._cache.get_or_load(index, lambda: _values(array[region]))

    def paths(self):
        """The files or folders holding this input (resolved), as far as they are known."""
        if self.path is not None:
            return [Path(self.path).resolve()]
        array = self._array
        store = getattr(array, "store", None)
        root = getattr(store, "root", None)  # a Zarr array on a local store
        if root is not None:
            return [(Path(root) / getattr(array, "path", "")).resolve()]
        file = getattr(array, "file", None)  # an open h5py dataset
        found = getattr(file, "filename", None) or getattr(array, "filename", None)  # memmap
        return [Path(found).resolve()] if isinstance(found, (str, os.PathLike)) else []

    def __repr__(self) -> str:
        return f"Source({self.spec!r}, kind={self.kind!r}, shape={self.shape}, dtype={self.dtype})"

    def __getstate__(self):
        # Ship the description, not the open handle: each process reopens the file.
        state = dict(self.__dict__)
        state["_cache"] = None
        if self.kind not in ("array", "dask"):
            state["_array"] = None
        return state


def _open_in_store(place, spec):
    import zarr

    if not place.objects.list(place.path):
        raise FileNotFoundError(f"input {spec!r}: no such Zarr array (nothing under that "
                                "prefix)")
    store, path = place.zarr_store(read_only=True)
    try:
        return zarr.open_array(store=store, path=path or None, mode="r")
    except Exception as exc:  # zarr raises several types for "not an array"
        raise ValueError(f"input {spec!r}: cannot open as a Zarr array ({exc})") from exc


class _ChunkCache:
    """A thread-safe least-recently-used map of decoded chunks, bounded in bytes."""

    def __init__(self, limit):
        self.limit, self.size = limit, 0
        self._items = collections.OrderedDict()
        self._lock = threading.Lock()
        self._loading = {}  # key -> threading.Event of the one thread loading it

    def get_or_load(self, key, load):
        """The value of ``key``; ``load()`` makes it when absent, once even when several
        threads ask at the same moment (the others wait for it: a lazy input's chunk is
        computed, and a stored one decoded, once)."""
        while True:
            with self._lock:
                value = self._items.get(key)
                if value is not None:
                    self._items.move_to_end(key)
                    return value
                loading = self._loading.get(key)
                if loading is None:
                    loading = self._loading[key] = threading.Event()
                    break
            loading.wait()
            with self._lock:
                value = self._items.get(key)
            if value is not None:
                return value
            return load()  # too large to keep, or its loader failed: load it here
        try:
            value = load()
            self.put(key, value)
            return value
        finally:
            with self._lock:
                del self._loading[key]
            loading.set()

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value):
        if value.nbytes > self.limit:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self.size += value.nbytes
            while self.size > self.limit:
                _, old = self._items.popitem(last=False)
                self.size -= old.nbytes


def _is_dask(array) -> bool:
    return type(array).__module__.startswith("dask.") and hasattr(array, "dask")


def _values(region):
    """A region read from an input, as a NumPy array.

    A lazy Dask input computes only that region, on this thread (``"synchronous"``):
    the block tasks already run in parallel, and a region never needs more.
    """
    import numpy as np

    if _is_dask(region):
        region = region.compute(scheduler="synchronous")
    return np.asarray(region)


def _identity(array) -> str:
    """A name for an in-memory or open array, shown in messages and kept in the output."""
    if _is_dask(array):  # lazy: its values are never computed just to name it
        return f"dask.array<{array.name}>"
    for attr in ("store_path", "filename"):
        where = getattr(array, attr, None)
        if where:
            return f"{type(array).__name__}:{where}"
    file = getattr(array, "file", None)
    if file is not None and getattr(array, "name", None):
        return f"hdf5:{file.filename}:{array.name}"  # an open h5py dataset
    import hashlib

    import numpy as np

    # A plain in-memory array fits in memory: its bytes are the identity.
    digest = hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]
    return f"{type(array).__name__}:sha256:{digest}"


def _chunks_of(array):
    if _is_dask(array):  # regular chunks: the chunk cache computes each about once
        regular = all(len(set(c[:-1])) <= 1 and c[-1] <= c[0] for c in array.chunks if c)
        return tuple(int(n) for n in array.chunksize) if regular else None
    chunks = getattr(array, "chunks", None)
    if isinstance(chunks, tuple) and chunks and all(isinstance(c, int) for c in chunks):
        return tuple(chunks)
    return None


def open_source(spec, storage_options=None) -> Source:
    """Open ``spec`` (see :class:`Source`) as a read-only volume."""
    return spec if isinstance(spec, Source) else Source(spec, storage_options)


def create_target(path, shape, chunks, dtype, attributes, overwrite=False, dimension_names=None,
                  compressors="auto"):
    """Create the output Zarr v3 array at ``path`` (chunks: whole chunks per output block)."""
    import zarr

    return zarr.create_array(store=os.fspath(path), shape=tuple(shape), chunks=tuple(chunks),
                             dtype=dtype, fill_value=0, attributes=attributes,
                             overwrite=overwrite, zarr_format=3, compressors=compressors,
                             dimension_names=None if dimension_names is None
                             else tuple(dimension_names))


def open_target(path, mode="r+"):
    """Open an existing output array (``None`` if there is none at ``path``)."""
    import zarr

    if not Path(path).exists():
        return None
    try:
        return zarr.open_array(os.fspath(path), mode=mode)
    except Exception:  # not a Zarr array: the caller reports "exists" as for any other file
        return None
