"""Reading a Keras file in a child process, so that libhdf5 cannot hang or crash the caller.

libhdf5 parses HDF5 metadata in C. Some damaged files make it loop forever (a zeroed
global heap, seen when fuzzing the fixtures) and the HDF5 project fixes crash bugs every
release; both happen inside one C call that holds the GIL, where no Python timeout can
reach. So ``read_keras`` (``isolate=True``, the default for files that hold HDF5) runs
the same reader in a fresh Python process (:mod:`cthulhu.saving.keras._child`) with a
wall-clock limit, and takes back only data: a JSON document and an ``.npz`` of plain
arrays, loaded with ``allow_pickle=False``. A child that times out, crashes or is killed
becomes a ``KerasFileError``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from cthulhu.saving.keras._limits import KerasFileError, Limits, load_json
from cthulhu.saving.keras._types import CodeRecord, CustomRecord, KerasFile

_META = "meta.json"
_ARRAYS = "weights.npz"
_ERROR = "error.json"


def default_timeout(path):
    """60 s, plus 1 s per 20 MiB of file: reading is disk-bound, never minutes for a
    model that fits in memory."""
    path = Path(path)
    try:
        if path.is_dir():
            size = sum(f.stat().st_size for f in path.iterdir())
        elif path.name.endswith(".json"):  # a sharded index: its shards lie beside it
            stem = path.name[: -len(".json")].removesuffix(".weights")
            size = sum(f.stat().st_size for f in path.parent.iterdir()
                       if f.name.startswith(stem))
        else:
            size = path.stat().st_size
    except OSError:
        size = 0
    return 60.0 + size / (20 << 20)


def read_in_child(path, original_backend, limits, timeout, weights=True):
    where = os.fspath(path)
    timeout = default_timeout(where) if timeout is None else float(timeout)
    package_root = str(Path(__file__).resolve().parents[3])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [package_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    with tempfile.TemporaryDirectory(prefix="cthulhu-keras-") as out:
        request = {"path": where, "out": out, "original_backend": original_backend,
                   "limits": dataclasses.asdict(limits), "weights": bool(weights)}
        try:
            done = subprocess.run([sys.executable, "-m", "cthulhu.saving.keras._child"],
                                  input=json.dumps(request).encode(), env=env,
                                  capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise KerasFileError(f"{where}: reading did not finish in {timeout:.0f} s (a "
                                 "damaged HDF5 file can make libhdf5 loop); refused") from None
        except OSError as exc:
            raise RuntimeError(f"{where}: cannot start the process that reads Keras files "
                               f"({exc}); pass isolate=False to read in this process") \
                from None
        error_file = Path(out, _ERROR)
        if error_file.is_file():
            error = json.loads(error_file.read_text(encoding="utf-8"))
            kind = {"KerasFileError": KerasFileError, "ImportError": ImportError,
                    "FileNotFoundError": FileNotFoundError}.get(error["type"])
            if kind is None:
                raise KerasFileError(f"{where}: unreadable ({error['type']}: "
                                     f"{error['message']})")
            raise kind(error["message"])
        if done.returncode != 0 or not Path(out, _META).is_file():
            how = (f"signal {-done.returncode}" if done.returncode < 0
                   else f"exit status {done.returncode}")
            raise KerasFileError(f"{where}: the process reading it died ({how}); a damaged "
                                 "HDF5 file can crash libhdf5; refused")
        return _load_result(out, where, limits)


def _load_result(out, where, limits):
    # our own child wrote these, but they are read as bounded data all the same
    text = Path(out, _META).read_bytes()
    bigger = Limits(max_config_bytes=2 * limits.max_config_bytes + (16 << 20),
                    max_json_depth=limits.max_json_depth + 8)
    meta = load_json(text, where, "the reader's result", bigger)
    with np.load(Path(out, _ARRAYS), allow_pickle=False) as arrays:
        weights = {}
        for number, (key, count) in enumerate(meta["weights"]):
            weights[tuple(key)] = [arrays[f"{number}/{j}"] for j in range(count)]
        certificate = None
        if meta.get("certificate") is not None:
            text, names = meta["certificate"]
            certificate = (text, {name: arrays[f"certificate/{name}"] for name in names})
    return KerasFile(
        source=meta["source"], format=meta["format"], generation=meta["generation"],
        keras_version=meta["keras_version"], backend=meta["backend"],
        model_config=meta["model_config"], weights=weights,
        weight_names={tuple(k): list(v) for k, v in meta["weight_names"]},
        layer_order=tuple(tuple(k) for k in meta["layer_order"]), keyed_by=meta["keyed_by"],
        weights_converted=meta["weights_converted"],
        code=tuple(CodeRecord(tuple(r["path"]), r["class_name"], r["kind"], r["detail"])
                   for r in meta["code"]),
        custom=tuple(CustomRecord(tuple(r["path"]), r["class_name"], r["module"],
                                  r["registered_name"], r["key"]) for r in meta["custom"]),
        notes=tuple(meta["notes"]), certificate=certificate)
