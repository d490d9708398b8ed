"""``predict_volume`` into a store (``s3://``, ``memory://``, a Zarr store object).

The same run as on a local path (:mod:`.volume`; both share :mod:`.planning` and
:mod:`.running`), with each safety rule made of
what a store offers (``docs/out-of-core.md``, "Outputs in object stores"):

* **ownership**: the keys under the output's prefix are listed; ``overwrite``
  replaces only a cthulhu output whose every key is one cthulhu writes
  (:func:`.outputs.foreign_key`), chunks and records first, ``zarr.json`` last;
* **lock**: an object ``<prefix>.cthulhu-lock`` beside the output, created only
  if absent, atomically (S3's conditional ``PUT``; see :mod:`.places`), with the
  same record and the same stale-lock rules as the lock file;
* **records and fence**: a block's record ``cthulhu_done/<generation>/<block>`` is
  written after its chunks' ``PUT`` returned; a block writes only while its
  generation's input record ``cthulhu_done/input-<generation>.txt`` exists;
* **durability**: there is no ``fsync``: an S3 ``PUT`` is stored when it is
  acknowledged, and an object is replaced whole (never torn); a memory store
  lives only as long as its process.
"""

from __future__ import annotations

import json
import uuid

from . import digest, outputs
from .job import VolumeJob, marker_name
from .lock import _STEAL_SUFFIX, LOCK_SUFFIX, OutputLock

__all__ = ["predict_to_store", "StoreLock", "StoreJob"]

_LOCAL_SCHEDULERS = (None, "threads", "threading", "synchronous", "sync", "single-threaded")


class StoreLock(OutputLock):
    """The lock of an output in a store: an object beside it, created only if absent."""

    def __init__(self, place):
        self.place, self.objects = place, place.objects
        self.target = place.name
        self.path = place.sibling(LOCK_SUFFIX)
        self._mine = None

    def _create(self, record) -> bool:
        return self.objects.create(self.path, record)

    def _read(self, wait=1.0):
        return self.objects.get(self.path)

    def release(self):
        mine, self._mine = self._mine, None
        if mine is not None and self._read() == mine:
            self.objects.delete(self.path)

    def _steal(self, raw) -> bool:
        import hashlib

        guard = self.path + _STEAL_SUFFIX + hashlib.sha256(raw).hexdigest()[:16]
        if not self.objects.create(guard, b""):
            return False
        try:
            if self._read() == raw:
                self.objects.delete(self.path)
                return True
            return False
        finally:
            self.objects.delete(guard)


class StoreJob(VolumeJob):
    """A :class:`VolumeJob` whose output is a prefix in a store."""

    def __init__(self, place, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.place = place

    @property
    def records(self):
        return self.place.key(outputs.DONE_DIR, self.generation)

    def _input_record(self):
        return self.place.key(outputs.DONE_DIR, f"input-{self.generation}.txt")

    def output(self):
        if self._out is None:
            import zarr

            store, path = self.place.zarr_store()
            try:
                out = zarr.open_array(store=store, path=path or None, mode="r+")
            except Exception as exc:  # zarr raises several kinds for "not there"
                raise OSError(f"output {self.place.name!r} was removed while this run wrote "
                              f"it ({exc})") from None
            self._out = out.with_config({"write_empty_chunks": True})
        return self._out

    def _generation_open(self):
        return self.place.objects.get(self._input_record()) is not None

    def _sync_chunk(self, out, stored):
        """Nothing: a store's ``PUT`` has returned, the chunk is stored (module docstring)."""

    def _record_block(self, block):
        if not self._generation_open():
            raise OSError(f"output {self.place.name!r} was removed or replaced while this run "
                          "wrote it; block not recorded")
        self.place.objects.put(f"{self.records}/{marker_name(block)}", b"")

    def done(self):
        prefix = self.records + "/"
        return {key[len(prefix):] for key in self.place.objects.list(self.records)}


def _refusal(place, reason):
    return outputs._refusal(place.name, reason)


def existing(place, to_replace=True):
    """The ``"cthulhu"`` attributes of the output at ``place``; ``None`` if it has no keys."""
    keys = place.keys()
    if not keys:
        return None
    raw = place.objects.get(place.key("zarr.json"))
    if raw is None:
        raise _refusal(place, "keys without zarr.json")
    info = outputs.owner_info(raw, place.name)
    if to_replace:
        for key in keys:
            if outputs.foreign_key(tuple(place.relative(key).split("/"))):
                raise _refusal(place, f"it holds {place.relative(key)!r}, which cthulhu did "
                                      "not write")
    return info


def remove(place):
    """Delete the cthulhu output at ``place``: every key but ``zarr.json``, then it."""
    existing(place, to_replace=True)
    head = place.key("zarr.json")
    for key in place.keys():
        if key != head:
            place.objects.delete(key)
    place.objects.delete(head)


def recorded(place):
    def block_of(rank):
        from .resume import block_of_info

        try:
            return block_of_info(existing(place, to_replace=False), rank)
        except (OSError, ValueError):
            return None

    return block_of


def _state(place, identity, overwrite):
    from .resume import decide

    info = existing(place, to_replace=overwrite)
    generation = (info or {}).get("generation")
    records_there = isinstance(generation, str) and place.objects.get(
        place.key(outputs.DONE_DIR, f"input-{generation}.txt")) is not None
    return decide(place.name, info, identity, overwrite, records_there), info


def _check_apart(place, source):
    inside = getattr(source, "place", None)
    if inside is None:
        return
    (ours, out), (theirs, src) = place.identity(), inside.identity()
    if ours == theirs and (out == src or out.startswith(src + "/") or src.startswith(out + "/")):
        raise ValueError(f"output {place.name!r} overlaps the input {source.spec!r}; the output "
                         "must be a prefix apart from the input's")


def predict_to_store(place, model, source, block_shape, overwrite, scheduler, progress, dtype,
                     device, chunks, compression, output_dtype, drawing):
    """The run of :func:`.volume.predict_volume` into ``place`` (a ``StorePlace``)."""
    import time

    import zarr

    from .planning import plan_run
    from .resume import check_resumable
    from .running import RunSummary, check_content_parts, execute
    from .scheduling import connected

    start = time.perf_counter()
    if place.objects.in_process and scheduler not in _LOCAL_SCHEDULERS:
        raise ValueError(f"output {place.name!r} lives in this process's memory: run it with "
                         "the 'threads' or 'synchronous' scheduler (other processes would "
                         "write into their own memory)")
    geo, plan = plan_run(model, source, block_shape, overwrite, dtype, device, scheduler, chunks,
                         compression, output_dtype, recorded=recorded(place))
    src = geo.source
    _check_apart(place, src)
    lock = StoreLock(place)
    lock.check()
    state, info = _state(place, plan["identity"], overwrite)
    if state == "resume":
        check_resumable(place.name, info, src)
    if drawing is not None:
        from .planview import VolumePlan

        VolumePlan(geo).save(drawing)
    job = StoreJob(place, geo.program, src, geo.layout, geo.out_layout, place.name, dtype,
                   device, out_dtype=plan["dtype"])
    blocks = plan["blocks"]
    with connected(scheduler) as runner, lock:
        state, info = _state(place, plan["identity"], overwrite)
        parts = digest.input_parts(src)
        if state == "resume":
            old = place.objects.get(place.key(outputs.DONE_DIR, f"input-{info['generation']}.txt"))
            check_content_parts(place.name, info, parts, src, old)
            job.generation = info["generation"]
        else:
            if state == "overwrite":
                remove(place)
            job.generation = uuid.uuid4().hex
            store, path = place.zarr_store()
            attrs = dict(plan["attrs"], generation=job.generation,
                         input_digest=digest.combine(parts))
            zarr.create_array(store=store, name=path or None, shape=tuple(plan["shape"]),
                              chunks=tuple(plan["chunks"]), dtype=plan["dtype"], fill_value=0,
                              attributes={**plan["copied"], outputs.ATTR: attrs},
                              zarr_format=3, compressors=plan["codec"],
                              dimension_names=plan["dimension_names"])
            place.objects.put(job._input_record(), digest.dump_parts(parts))
        done = job.done()
        todo = [b for b in blocks if marker_name(b) not in done]
        voxels = execute(job, todo, runner, progress, plan["shape"], len(blocks))
        _finish(place, job)
    return RunSummary(blocks=len(blocks), computed=len(todo), skipped=len(blocks) - len(todo),
                      seconds=time.perf_counter() - start, voxels=voxels, shape=plan["shape"],
                      output=place.name, ome=False, array=place.name)


def _finish(place, job):
    """``"complete": true`` (one ``PUT`` of the new ``zarr.json``), then the records go."""
    head = place.key("zarr.json")
    document = json.loads(place.objects.get(head))
    document["attributes"][outputs.ATTR]["complete"] = True
    place.objects.put(head, json.dumps(document, indent=2).encode())
    for key in place.objects.list(place.key(outputs.DONE_DIR)):
        place.objects.delete(key)
