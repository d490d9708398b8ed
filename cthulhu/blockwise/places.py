"""Where a volume is: a local path, or a key prefix in a store (fsspec URL or Zarr store).

Zarr accepts a path, an fsspec URL (``s3://bucket/out.zarr``, ``memory://x.zarr``,
``file:///data/x.zarr``) or a store object. So does ``predict_volume``:

* a path, a ``file://`` URL, a Zarr ``LocalStore``, or an open Zarr array on one,
  is a **local** place: every guarantee of ``docs/out-of-core.md`` holds as written;
* an ``s3://`` URL (any S3 API: AWS, MinIO, Ceph, ...), a ``memory://`` URL, a
  Zarr ``MemoryStore`` or ``FsspecStore`` on those, or an open Zarr array on one,
  is a **store** place (:class:`StorePlace`): the output runs under the rules of
  :mod:`.storeoutput`;
* any other URL is read (inputs), never written: cthulhu cannot create an object
  atomically there, so it could not keep two runs apart.

A :class:`StorePlace` is a prefix in an object namespace with the few operations
a run needs (:class:`Objects`): list, get, put, delete, and *create if absent*,
which must be atomic: S3's conditional ``PUT`` (``If-None-Match: *``), a
process-wide lock for the in-process memory filesystem, ``dict.setdefault`` for
a Zarr ``MemoryStore``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["output_place", "input_place", "StorePlace", "Objects", "WRITABLE"]

WRITABLE = ("s3", "s3a", "memory")  # URL schemes an output may use, besides local files
_MEMORY_LOCK = threading.Lock()


def _scheme(text):
    head, sep, _ = text.partition("://")
    return head.lower() if sep and head.replace("+", "").replace("-", "").isalnum() else None


def _local_of_url(text):
    from urllib.parse import unquote, urlparse

    parsed = urlparse(text)
    if parsed.netloc not in ("", "localhost"):
        raise ValueError(f"{text!r}: a file:// URL names a file on this machine, got host "
                         f"{parsed.netloc!r}")
    return Path(unquote(parsed.path))


def _place(spec, storage_options, writing):
    """A local ``Path`` or a :class:`StorePlace` for ``spec``; ``None`` if it is neither
    (an in-memory array)."""
    what = "output" if writing else "input"
    if isinstance(spec, os.PathLike):
        return Path(spec)
    if isinstance(spec, str):
        scheme = _scheme(spec)
        if scheme is None:
            return Path(spec)
        if scheme in ("file", "local"):
            return _local_of_url(spec)
        if writing and scheme not in WRITABLE:
            raise ValueError(f"output {spec!r}: cthulhu writes to local paths, file://, s3:// "
                             f"and memory:// outputs; on {scheme}:// it cannot create an object "
                             "atomically, so it could not keep two runs on one output apart - "
                             "write locally (or to S3) and copy the result")
        import fsspec

        try:
            fs, path = fsspec.core.url_to_fs(spec, **(storage_options or {}))
        except (ImportError, ValueError) as exc:
            raise ValueError(f"{what} {spec!r}: {exc}") from None
        return StorePlace(_FsspecObjects(fs, scheme, spec, storage_options), path.rstrip("/"),
                          spec, storage_options)
    return _place_of_object(spec, what, writing)


def _place_of_object(spec, what, writing):
    module = type(spec).__module__
    if not module.startswith("zarr"):
        return None
    from zarr.storage import FsspecStore, LocalStore, MemoryStore

    store, sub = spec, ""
    if hasattr(spec, "store") and hasattr(spec, "shape"):  # an open Zarr array
        store, sub = spec.store, spec.path
    if isinstance(store, LocalStore):
        return Path(store.root) / sub
    if isinstance(store, MemoryStore):
        name = "MemoryStore" + (f"/{sub.strip('/')}" if sub.strip("/") else "")
        return StorePlace(_ZarrObjects(store), sub.strip("/"), name, None)
    if isinstance(store, FsspecStore):
        fs = getattr(store.fs, "sync_fs", store.fs)
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        if writing and protocol not in WRITABLE and protocol not in ("file", "local"):
            raise ValueError(f"{what}: cthulhu writes to local, S3 and memory stores, not to "
                             f"a {protocol!r} FsspecStore (it cannot create an object "
                             "atomically there)")
        if protocol in ("file", "local"):
            return Path(store.path) / sub
        path = "/".join(p for p in (store.path.rstrip("/"), sub) if p)
        return StorePlace(_FsspecObjects(fs, protocol), path, f"{protocol}://{path}", None)
    if writing:
        raise TypeError(f"{what}: cthulhu writes to paths, URLs and Zarr LocalStore, "
                        f"MemoryStore and FsspecStore objects, not {type(store).__name__}")
    return None


def output_place(target, storage_options=None):
    """Where ``target`` (path, URL, Zarr store or open array) puts the output."""
    place = _place(target, storage_options, writing=True)
    if place is None:
        raise TypeError(f"predict_volume: target must be a path, a URL or a Zarr store, got "
                        f"{type(target).__name__}")
    return place


def input_place(source, storage_options=None):
    """A :class:`StorePlace` for a URL or store ``source``; ``None`` for local paths and arrays."""
    place = _place(source, storage_options, writing=False)
    return place if isinstance(place, StorePlace) else None


class StorePlace:
    """A prefix (``path``) in a store, with :class:`Objects` to act on its keys."""

    def __init__(self, objects, path, name, storage_options):
        self.objects, self.path, self.name = objects, path, name
        self.storage_options = storage_options

    def key(self, *parts):
        return "/".join(p for p in (self.path, *parts) if p)

    def relative(self, key):
        """``key`` below this place's prefix (``"c/0/1"``)."""
        return key[len(self.path) + 1:] if self.path else key

    def keys(self):
        """Every key below the prefix, but this place's own lock (a store's root holds it)."""
        lock = self.sibling(".cthulhu-lock")
        return [k for k in self.objects.list(self.path) if not k.startswith(lock)]

    def sibling(self, suffix):
        """The key beside this place's prefix: ``<prefix><suffix>``."""
        return self.path + suffix

    def zarr_store(self, read_only=False):
        """``(store, path)`` for :func:`zarr.open_array` / :func:`zarr.create_array`."""
        return self.objects.zarr_store(self.path, read_only)

    def identity(self):
        """``(namespace, path)``: two places overlap iff the namespaces match and one path
        contains the other."""
        return self.objects.namespace, self.path

    def __repr__(self):
        return f"StorePlace({self.name!r})"



class Objects:
    """The operations on a store's keys that a run needs (keys are full paths)."""

    namespace = None
    in_process = False  # the store lives in this process: no other process sees it
    durable = False

    def list(self, prefix):  # pragma: no cover - interface
        raise NotImplementedError

    def get(self, key):  # pragma: no cover - interface
        raise NotImplementedError

    def put(self, key, data):  # pragma: no cover - interface
        raise NotImplementedError

    def create(self, key, data) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def delete(self, key):  # pragma: no cover - interface
        raise NotImplementedError


class _FsspecObjects(Objects):
    def __init__(self, fs, protocol, url=None, options=None):
        self.fs, self.protocol, self.url, self.options = fs, protocol, url, options
        self.in_process = protocol == "memory"
        self.durable = protocol in ("s3", "s3a")  # an acknowledged PUT is stored
        endpoint = getattr(fs, "client_kwargs", {}) or {}
        self.namespace = (protocol, str(endpoint.get("endpoint_url", "")))

    def list(self, prefix):
        try:
            found = self.fs.find(prefix, withdirs=False)
        except FileNotFoundError:
            return []
        # find() of a key that is a file lists the file itself: only what lies under it
        return [k for k in found if k.startswith(prefix.rstrip("/") + "/")]

    def get(self, key):
        try:
            return self.fs.cat_file(key)
        except FileNotFoundError:
            return None

    def put(self, key, data):
        self.fs.pipe_file(key, data)

    def create(self, key, data):
        if self.protocol == "memory":
            with _MEMORY_LOCK:  # the memory filesystem is this process's: a lock is atomic
                if self.fs.exists(key):
                    return False
                self.fs.pipe_file(key, data)
                return True
        try:  # S3's conditional PUT (If-None-Match: *): exactly one creator wins
            self.fs.pipe_file(key, data, mode="create")
        except FileExistsError:
            return False
        self.fs.invalidate_cache(key)
        return True

    def delete(self, key):
        try:
            self.fs.rm_file(key)
        except FileNotFoundError:
            pass
        self.fs.invalidate_cache(key)

    def zarr_store(self, path, read_only=False):
        from zarr.storage import FsspecStore

        if self.url is not None:  # as Zarr builds it from a URL (an asynchronous filesystem)
            store = FsspecStore.from_url(self.url, storage_options=self.options,
                                         read_only=read_only)
            return store, ""
        from zarr.storage._fsspec import _make_async

        fs = self.fs if self.fs.async_impl else _make_async(self.fs)
        return FsspecStore(fs, read_only=read_only, path=path), ""


class _ZarrObjects(Objects):
    """A Zarr ``MemoryStore`` (keys relative to its root)."""

    in_process = True

    def __init__(self, store):
        self.store = store
        self.namespace = ("zarr-memory", id(store._store_dict))

    def _sync(self, coroutine):
        from zarr.core.sync import sync

        return sync(coroutine)

    def list(self, prefix):
        prefix = prefix.strip("/")

        async def collect():
            return [k async for k in self.store.list_prefix(prefix + "/" if prefix else "")]

        return self._sync(collect())

    def get(self, key):
        value = self.store._store_dict.get(key)
        return None if value is None else value.to_bytes()

    def put(self, key, data):
        from zarr.core.buffer import default_buffer_prototype

        self.store._store_dict[key] = default_buffer_prototype().buffer.from_bytes(data)

    def create(self, key, data):
        from zarr.core.buffer import default_buffer_prototype

        value = default_buffer_prototype().buffer.from_bytes(data)
        return self.store._store_dict.setdefault(key, value) is value  # atomic under the GIL

    def delete(self, key):
        self.store._store_dict.pop(key, None)

    def zarr_store(self, path, read_only=False):
        return (self.store.with_read_only(read_only) if read_only else self.store), path
