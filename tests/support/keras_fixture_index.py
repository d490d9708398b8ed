"""The fixture indexes written by the generators, and small helpers for the tests.

Plain NumPy and JSON: the tests never import Keras or TensorFlow.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1] / "keras_files"
FIXTURES = HERE / "fixtures"
GENERATION_OF_DIR = {"keras3": "keras3", "tfkeras": "keras2", "keras1": "keras1"}


@functools.cache
def index(folder):
    return json.loads(next((FIXTURES / folder).glob("index_*.json")).read_text())


def entries():
    """(folder, entry) for every fixture file of every generation."""
    return [(folder, entry) for folder in ("keras3", "tfkeras", "keras1")
            for entry in index(folder)["files"]]


def entry_id(item):
    folder, entry = item
    return f"{folder}/{entry['file']}"


def path_of(folder, entry):
    return FIXTURES / folder / entry["file"]


@functools.cache
def truth(folder, name):
    with np.load(FIXTURES / folder / name, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def truth_weights(folder, name, prefix="weights/"):
    """{layer path tuple: [arrays in get_weights order]} from a truth file."""
    out = {}
    for key, value in truth(folder, name).items():
        if not key.startswith(prefix):
            continue
        *path, index_ = key[len(prefix):].split("/")
        out.setdefault(tuple(path), {})[int(index_)] = value
    return {path: [arrays[i] for i in sorted(arrays)] for path, arrays in out.items()}


@functools.cache
def read_cached(folder, file):
    """read_keras of a fixture, once per test session (tests never mutate the result)."""
    from cthulhu.saving.keras import read_keras

    return read_keras(FIXTURES / folder / file, isolate=False)


def model_entry(folder, model):
    return index(folder)["models"][model]


def sibling(folder, model, fmt):
    """The index entry of another file of the same model (e.g. its full-model .h5)."""
    for entry in index(folder)["files"]:
        if entry["model"] == model and entry["format"] == fmt:
            return entry
    raise KeyError((folder, model, fmt))


def walk_layers(config, prefix=()):
    """(path, layer entry, container class) for every layer of a normalised model."""
    for layer in config["config"]["layers"]:
        cfg = layer["config"]
        name = layer.get("name") or cfg["name"]
        yield prefix + (name,), layer, config["class_name"]
        if layer["class_name"] in ("Sequential", "Functional", "Model") and "layers" in cfg:
            yield from walk_layers(layer, prefix + (name,))
