"""The content of an input volume, as a list of digested parts.

A resumed run must compute its remaining blocks from the same input values as
the blocks already written. Paths, shapes and dtypes do not show that (a scan
re-exported to the same path has the same of each), so the input's *content*
is digested (SHA-256) when an output is created and again when a run resumes:

* a Zarr array on disk: every stored file of the array, as stored - each chunk
  file's compressed bytes, and ``zarr.json`` (``.zarray`` for v2) without its
  user attributes. Nothing is decoded; a missing chunk (which reads as the fill
  value) is a missing part. One part per file, so a refusal names the chunks
  that changed.
* a ``.npy`` file, an HDF5 dataset or an array in memory: the values, read in
  slabs along the first axis (about 64 MiB each, whole HDF5 chunks), plus the
  shape and dtype. One part per slab.

The digest is sound - a different content gives a different digest, short of a
SHA-256 collision - and costs one read of the input (the stored, compressed
bytes for Zarr) per run start; ``docs/out-of-core.md`` has the measured cost.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
from pathlib import Path

__all__ = ["input_parts", "combine", "describe_change", "dump_parts", "load_parts"]

SLAB_BYTES = 64 * 2**20
_METADATA = {"zarr.json": "attributes", ".zarray": None}
_SKIPPED = (".zattrs", ".zgroup")


def combine(parts) -> str | None:
    """One digest for a list of ``(name, digest)`` parts (``None`` for no digest)."""
    if parts is None:
        return None
    digest = hashlib.sha256()
    for name, value in parts:
        digest.update(f"{name}\0{value}\n".encode())
    return digest.hexdigest()


def input_parts(source):
    """``[(part name, hex digest), ...]`` of the content of ``source`` (a ``stores.Source``).

    ``None`` for a lazy Dask array: digesting it would compute the whole graph once
    more before the run computes it again (and hold it, for an unchunked result).
    Its output records no digest and cannot be resumed (:mod:`.resume`).
    """
    if source.kind == "dask":
        return None
    if source.kind == "zarr":
        return _zarr_parts(Path(source.path))
    if source.kind == "store":
        return _store_parts(source.place)
    return _slab_parts(source)


def _zarr_parts(root):
    files = sorted(_stored_files(root))
    workers = min(8, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:  # hashlib releases the GIL
        digests = list(pool.map(lambda rel: _file_digest(root, rel), files))
    return list(zip(files, digests, strict=True))


def _store_parts(place):
    """The same parts as :func:`_zarr_parts`, from the objects under a store prefix."""
    keys = sorted(k for k in place.keys()
                  if k.rsplit("/", 1)[-1] not in _SKIPPED and not k.endswith((".partial", ".tmp")))

    def part(key):
        rel = place.relative(key)
        return rel, _bytes_digest(rel, place.objects.get(key) or b"")

    workers = min(8, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(part, keys))


def _bytes_digest(rel, data):
    if rel in _METADATA:
        document = json.loads(data)
        if _METADATA[rel] is not None and isinstance(document, dict):
            document.pop(_METADATA[rel], None)
        return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    return hashlib.sha256(data).hexdigest()


def _stored_files(root):
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        rel = Path(folder).relative_to(root)
        for name in names:
            if name in _SKIPPED or name.endswith((".partial", ".tmp")):
                continue  # user attributes, and files still being written by their writer
            yield (rel / name).as_posix()


def _file_digest(root, rel):
    path = root / rel
    if rel in _METADATA:
        document = json.loads(path.read_bytes())
        if _METADATA[rel] is not None and isinstance(document, dict):
            document.pop(_METADATA[rel], None)  # attributes never change the values
        return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(8 * 2**20):
            digest.update(block)
    return digest.hexdigest()


def _slab_parts(source):
    import numpy as np

    array = source._open()
    shape = tuple(source.shape)
    parts = [("shape and dtype", hashlib.sha256(f"{shape} {np.dtype(source.dtype).str}"
                                                .encode()).hexdigest())]
    if not shape:
        return parts + [("value", hashlib.sha256(np.asarray(array).tobytes()).hexdigest())]
    row_bytes = max(int(np.prod(shape[1:], dtype=np.int64)) * np.dtype(source.dtype).itemsize, 1)
    rows = max(SLAB_BYTES // row_bytes, 1)
    if source.chunks:  # whole chunks along the first axis: each decoded once
        rows = max(rows // source.chunks[0], 1) * source.chunks[0]
    for start in range(0, shape[0], rows):
        stop = min(start + rows, shape[0])
        slab = np.ascontiguousarray(array[start:stop])
        parts.append((f"[{start}:{stop}] along the first axis",
                      hashlib.sha256(memoryview(slab).cast("B")).hexdigest()))
    return parts


def describe_change(old, new, limit=4) -> str:
    """What differs between two part lists, in words (``old``: recorded, ``new``: now)."""
    before, after = dict(old), dict(new)
    changed = [n for n in before if n in after and before[n] != after[n]]
    removed = [n for n in before if n not in after]
    added = [n for n in after if n not in before]
    words = []
    for names, what in ((changed, "changed"), (removed, "removed"), (added, "added")):
        if names:
            shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more"
                                                if len(names) > limit else "")
            words.append(f"{what}: {shown}")
    return "; ".join(words) or "the parts are the same but in another order"


def dump_parts(parts) -> bytes:
    """The text form of a part list (one ``digest name`` line each) for the output's records."""
    if parts is None:
        return b""
    return "".join(f"{value} {name}\n" for name, value in parts).encode()


def load_parts(data: bytes):
    parts = []
    for line in data.decode().splitlines():
        value, _, name = line.partition(" ")
        parts.append((name, value))
    return parts
