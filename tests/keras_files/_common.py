"""Helpers shared by the fixture generators (run only in the generator venvs)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"


def save_truth(path, model, inputs, outputs, leaf_paths):
    """Keras's own view, independent of any file format: inputs, predict outputs and
    every leaf layer's get_weights(), as plain arrays (no pickle)."""
    arrays = {}
    for i, x in enumerate(inputs):
        arrays[f"input/{i}"] = np.asarray(x)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    for i, y in enumerate(outputs):
        arrays[f"output/{i}"] = np.asarray(y)
    layers = []
    for layer_path, layer in leaf_paths:
        values = layer.get_weights()
        layers.append({"path": list(layer_path), "class_name": type(layer).__name__,
                       "weights": len(values)})
        for j, w in enumerate(values):
            arrays["weights/" + "/".join(layer_path) + f"/{j}"] = np.asarray(w)
    np.savez_compressed(path, **arrays)
    return {"truth": path.name, "leaf_layers": layers, "inputs": len(inputs),
            "outputs": len(outputs)}


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def write_index(path, meta, entries, models=None):
    body = {**meta, "models": models or {}, "files": entries}
    path.write_text(json.dumps(body, indent=1, sort_keys=False) + "\n")
