"""The child side of an isolated Keras read (``python -m cthulhu.saving.keras._child``).

It reads the request (path, limits) from stdin, runs ``read_keras(..., isolate=False)``
and writes the result as data for :mod:`cthulhu.saving.keras._isolated`: a JSON document
and an ``.npz`` of plain arrays, or one error line.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from cthulhu.saving.keras._isolated import _ARRAYS, _ERROR, _META
from cthulhu.saving.keras._limits import KerasFileError, Limits
from cthulhu.saving.keras._reader import read_keras


def _write_result(kfile, out):
    arrays = {}
    listing = []
    for number, (key, values) in enumerate(kfile.weights.items()):
        listing.append([list(key), len(values)])
        for j, value in enumerate(values):
            arrays[f"{number}/{j}"] = np.asarray(value)
    certificate = None
    if kfile.certificate is not None:
        text, extra = kfile.certificate
        certificate = [text, sorted(extra)]
        for name, value in extra.items():
            arrays[f"certificate/{name}"] = np.asarray(value)
    np.savez(Path(out, _ARRAYS), **arrays)
    meta = {
        "source": kfile.source, "format": kfile.format, "generation": kfile.generation,
        "keras_version": kfile.keras_version, "backend": kfile.backend,
        "model_config": kfile.model_config, "weights": listing,
        "weight_names": [[list(k), list(v)] for k, v in kfile.weight_names.items()],
        "layer_order": [list(k) for k in kfile.layer_order], "keyed_by": kfile.keyed_by,
        "weights_converted": kfile.weights_converted,
        "code": [dataclasses.asdict(r) for r in kfile.code],
        "custom": [dataclasses.asdict(r) for r in kfile.custom], "notes": list(kfile.notes),
        "certificate": certificate}
    Path(out, _META).write_text(json.dumps(meta), encoding="utf-8")


def _child():
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file
    except (ImportError, ValueError, OSError):
        pass
    request = json.loads(sys.stdin.read())
    out = request["out"]
    try:
        kfile = read_keras(request["path"], original_backend=request["original_backend"],
                           limits=Limits(**request["limits"]), isolate=False,
                           weights=request.get("weights", True))
    except (KerasFileError, ImportError, FileNotFoundError) as exc:
        kind = "KerasFileError" if isinstance(exc, KerasFileError) else (
            "ImportError" if isinstance(exc, ImportError) else "FileNotFoundError")
        Path(out, _ERROR).write_text(json.dumps({"type": kind, "message": str(exc)}))
        return
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        Path(out, _ERROR).write_text(json.dumps({
            "type": type(exc).__name__, "message": str(exc).splitlines()[0][:500]
            if str(exc) else ""}))
        return
    _write_result(kfile, out)


if __name__ == "__main__":
    _child()
