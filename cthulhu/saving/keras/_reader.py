"""One reader per Keras file kind, each returning a ``KerasFile``."""

from __future__ import annotations

import io
import os
import zlib

import numpy as np

from cthulhu.saving.keras import _h5, _weights, _zip
from cthulhu.saving.keras._config import (
    MODEL_CLASSES,
    Findings,
    looks_keras1,
    looks_keras3,
    normalize_model,
)
from cthulhu.saving.keras._keras1 import convert_weights
from cthulhu.saving.keras._limits import DEFAULT_LIMITS, Budget, KerasFileError, MiB, load_json
from cthulhu.saving.keras._sniff import sniff
from cthulhu.saving.keras._types import KerasFile

_NPZ_REFUSAL = ("Keras 3 stores model.weights.npz entries as pickled Python dicts (object "
                "arrays); cthulhu never unpickles. Re-save with the default weights_format='h5'")


_READERS = {"keras_zip": "_read_keras_zip", "keras_dir": "_read_keras_dir",
            "hdf5": "_read_hdf5", "json": "_read_json_file"}
# what h5py, zipfile and numpy raise on damaged input, and what a config of the wrong
# shape makes plain Python raise: all become one KerasFileError line at the boundary
_DAMAGE = (OSError, RuntimeError, KeyError, IndexError, TypeError, AttributeError,
           ValueError, EOFError, OverflowError, zlib.error)


def read_keras(path, *, original_backend=None, limits=DEFAULT_LIMITS, isolate=True,
               timeout=None, weights=True):
    """Read any Keras model or weights file, by content. See the package docstring.

    ``isolate`` (default True) reads in a child process with a wall-clock ``timeout``
    (default: 60 s plus 1 s per 20 MiB), so that libhdf5 cannot hang or crash the caller
    on a damaged file; ``isolate=False`` reads in this process (faster, for trusted files).
    ``weights=False`` reads a model file's config only (its weights are neither read nor
    checked: ``cthulhu inspect``).
    """
    where = os.fspath(path)
    kind = sniff(where)
    if kind in _READERS:
        if isolate:
            from cthulhu.saving.keras._isolated import read_in_child

            return read_in_child(where, original_backend, limits, timeout, weights)
        reader = globals()[_READERS[kind]]
        try:
            return reader(where, original_backend, limits, weights=weights)
        except KerasFileError:
            raise
        except ImportError:
            raise
        except _DAMAGE as exc:
            text = str(exc).strip().splitlines()
            raise KerasFileError(f"{where}: damaged or malformed ({type(exc).__name__}: "
                                 f"{text[0][:300] if text else ''})") from None
    reasons = {
        "cthulhu": "a cthulhu model file, not a Keras one (cthulhu.models.load_model reads it)",
        "npz": "an .npz archive, not a Keras model or weights file",
        "zip": "a zip archive without config.json: not a Keras .keras file",
        "savedmodel": "a TensorFlow SavedModel folder: it holds TensorFlow graphs that only "
                      "TensorFlow can run; save the model as .keras or .h5 instead",
        "directory": "a folder, not a Keras model file",
        "empty": "an empty file",
        "missing": "no such file",
        "unknown": "not a Keras file (neither HDF5, a zip archive nor JSON text)",
    }
    if kind == "missing":
        raise FileNotFoundError(f"no Keras file at {where}")
    if kind == "zip":  # say what is broken, if the archive is
        with _zip.open_zip(where, where, Budget(where, limits)):
            pass
    raise KerasFileError(f"{where}: {reasons[kind]}")


def read_keras_json(text, *, limits=DEFAULT_LIMITS):
    """A ``model.to_json()`` text (any Keras generation) as a ``KerasFile`` without weights."""
    where = "<json text>"
    if not isinstance(text, (str, bytes, bytearray)):
        raise TypeError(f"read_keras_json: text should be str or bytes, not "
                        f"{type(text).__name__}")
    obj = load_json(text, where, "the JSON text", limits)
    if "weight_map" in obj:
        raise KerasFileError(f"{where}: a sharded-weights index, not a model config")
    return _from_json_config(obj, where, "json_config")


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------

def _read_small_file(path, cap, what):
    size = os.path.getsize(path)
    if size > cap:
        raise KerasFileError(f"{path}: {what} is {size} bytes, more than {cap} "
                             "(Limits.max_config_bytes)")
    with open(path, "rb") as handle:
        return handle.read(size + 1)


def _read_json_file(path, original_backend, limits, weights=True):
    obj = load_json(_read_small_file(path, limits.max_config_bytes, "the JSON file"), path,
                    "the JSON file", limits)
    if "weight_map" in obj:
        return _read_sharded(path, obj, limits)
    return _from_json_config(obj, path, "json_config")


def _generation_of(version, config):
    if version is not None:
        major = str(version).split(".")[0]
        if major in ("1", "2", "3"):
            return f"keras{major}"
        return "keras3" if major.isdigit() and int(major) > 3 else "keras2"
    if looks_keras3(config):  # Keras 3's marks are unambiguous; Keras 1 words are checked next
        return "keras3"
    return "keras1" if looks_keras1(config) else "keras2"


def _from_json_config(obj, where, fmt):
    version = obj.get("keras_version")
    generation = _generation_of(version, obj)
    findings = Findings()
    config = normalize_model(obj, where, findings, keras1=generation == "keras1",
                             legacy_nodes=generation != "keras3")
    return _make(where, fmt, generation, version, obj.get("backend"), config, [], {}, {},
                 "layer_name", True, findings)


def _make(where, fmt, generation, version, backend, config, order, weights, names, keyed_by,
          converted, findings, certificate=None):
    return KerasFile(source=where, format=fmt, generation=generation,
                     keras_version=None if version is None else str(version),
                     backend=backend, model_config=config, weights=weights,
                     weight_names=names, layer_order=tuple(order), keyed_by=keyed_by,
                     weights_converted=converted, code=tuple(findings.code),
                     custom=tuple(findings.custom), notes=tuple(findings.notes),
                     certificate=certificate)


# ---------------------------------------------------------------------------
# HDF5
# ---------------------------------------------------------------------------

def _read_hdf5(path, original_backend, limits, source=None, where=None, weights=True):
    where = where or path
    budget = Budget(where, limits)
    with _h5.open_file(source if source is not None else path, where) as f:
        text = _h5.attr_text(f, "model_config", where, limits)
        if text is not None:
            return _legacy_model(f, text, where, budget, limits, original_backend, weights)
        if _h5.attr_names(f, "layer_names", where, limits) is not None:
            return _legacy_weights(f, where, budget, limits, original_backend)
        top = {name for name, _ in _h5.children(f, where, budget)}
        if top & {"layers", "vars", "_layer_checkpoint_dependencies"}:
            tree = _weights.read_object_tree(f, where, budget, limits)
            order, weights, names, keyed_by = _weights.flatten_tree(tree, None, where)
            findings = Findings()
            if keyed_by == "object_path":
                findings.notes.append("weights are keyed by Keras object paths (the file does "
                                      "not name its layers): match them with a model config")
            return _make(where, "hdf5_object_weights", "keras3" if keyed_by == "layer_name"
                         else "unknown", None, None, None, order, weights, names, keyed_by,
                         True, findings)
    raise KerasFileError(f"{where}: an HDF5 file but not a Keras model or weights file (no "
                         "model_config, layer_names or layers group)")


def _versions(f, group, where, limits):
    version = _h5.attr_text(f, "keras_version", where, limits, 256)
    backend = _h5.attr_text(f, "backend", where, limits, 256)
    if group is not None:
        version = version or _h5.attr_text(group, "keras_version", where, limits, 256)
        backend = backend or _h5.attr_text(group, "backend", where, limits, 256)
    return version, backend


def _legacy_model(f, text, where, budget, limits, original_backend, weights=True):
    obj = load_json(text, where, "model_config", limits)
    group = None
    if f.get("model_weights", getlink=True) is not None:  # never resolve a link to check
        group = _weights.resolve_group(f, "model_weights", where)
    version, backend = _versions(f, group, where, limits)
    generation = _generation_of(version, obj) if version is not None else "keras1"
    findings = Findings()
    backend = _declared_backend(backend, original_backend, findings)
    config = normalize_model(obj, where, findings, keras1=generation == "keras1",
                             legacy_nodes=generation != "keras3")
    read_weights = weights
    order, weights, names = [], {}, {}
    if group is not None and read_weights:
        order, weights, names = _weights.read_legacy(group, where, budget, limits)
        order, weights, names = _weights.split_nested(order, weights, names, config, where)
    elif group is None:
        findings.notes.append("the file holds no model_weights group")
    weights, names = _convert_all(weights, names, config, version if generation != "keras1"
                                  else (version or "1"), backend, findings)
    certificate = _h5_certificate(f, where, budget, limits) if read_weights else None
    return _make(where, "hdf5_model", generation, version, backend, config, order, weights,
                 names, "layer_name", True, findings, certificate)


_CERTIFICATE_GROUP = "cthulhu_certificate"
_CERTIFICATE_PREFIX = "cthulhu/"


def _h5_certificate(f, where, budget, limits):
    """cthulhu's certificate (``cthulhu.saving.certificate``) in an ``.h5``: the group's
    ``certificate`` text and its arrays, read as data; None if the file has none."""
    if f.get(_CERTIFICATE_GROUP, getlink=True) is None:
        return None
    group = _weights.resolve_group(f, _CERTIFICATE_GROUP, where)
    text = _h5.attr_text(group, "certificate", where, limits, MiB)
    arrays = {name: _h5.read_array(_h5.subgroup(group, name, where), where, budget)
              for name, kind in _h5.children(group, where, budget) if kind == "dataset"}
    return (text or "", arrays)


def _zip_certificate(entries, read, where, budget, limits):
    meta = f"{_CERTIFICATE_PREFIX}certificate.json"
    if meta not in entries:
        return None
    text = read(meta, MiB, "certificate").decode("utf-8", "replace")
    arrays = {}
    for name in entries:
        if name.startswith(_CERTIFICATE_PREFIX) and name.endswith(".npy"):
            data = read(name, limits.max_weight_bytes, "certificate array")
            budget.spend_weights(len(data), f"certificate entry {name!r}")
            try:
                array = np.load(io.BytesIO(data), allow_pickle=False)
            except (ValueError, OSError, EOFError) as exc:
                raise KerasFileError(f"{where}: certificate entry {name!r} is not a plain "
                                     f".npy array ({exc})") from None
            arrays[name[len(_CERTIFICATE_PREFIX):-len(".npy")]] = array
    return (text, arrays)


def _legacy_weights(f, where, budget, limits, original_backend):
    version, backend = _versions(f, None, where, limits)
    findings = Findings()
    backend = _declared_backend(backend, original_backend, findings)
    generation = _generation_of(version, {}) if version is not None else "keras1"
    order, weights, names = _weights.read_legacy(f, where, budget, limits)
    pending = generation == "keras1" or backend == "theano"
    if pending:
        findings.notes.append("weights are as stored: apply convert_weights per layer with "
                              "the target layer's Keras 2 class and config")
    return _make(where, "hdf5_weights", generation, version, backend, None, order, weights,
                 names, "layer_name", not pending, findings)


def _declared_backend(backend, original_backend, findings):
    if original_backend is None:
        return backend
    if backend is not None and backend != original_backend:
        findings.notes.append(f"backend {original_backend!r} declared by the caller over the "
                              f"file's {backend!r}")
    return original_backend


def _layer_configs(config, prefix=()):
    """Leaf layer path -> its normalised entry."""
    out = {}
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        return out
    for layer in config["config"].get("layers", []):
        cfg = layer.get("config")
        name = layer.get("name") or (cfg.get("name") if isinstance(cfg, dict) else None)
        if layer["class_name"] in MODEL_CLASSES and isinstance(cfg, dict) and "layers" in cfg:
            out.update(_layer_configs(layer, prefix + (name,)))
        else:
            out[prefix + (name,)] = layer
    return out


_FUSED_NAMES = ("kernel", "recurrent_kernel", "bias")


def _convert_all(weights, names, config, version, backend, findings):
    layers = _layer_configs(config)
    out, out_names = {}, dict(names)
    for key, arrays in weights.items():
        layer = layers.get(key)
        if layer is None:
            out[key] = arrays
            continue
        out[key], notes = convert_weights(layer["class_name"], layer["config"], arrays,
                                          version, backend, "/".join(key))
        if len(out[key]) != len(arrays):  # Keras 1 gates fused: name the Keras 2 arrays
            out_names[key] = list(_FUSED_NAMES[:len(out[key])])
        findings.notes.extend(notes)
    return out, out_names


# ---------------------------------------------------------------------------
# Keras 3 .keras (zip or folder) and sharded weights
# ---------------------------------------------------------------------------

def _read_keras_zip(path, original_backend, limits, weights=True):
    budget = Budget(path, limits)
    with _zip.open_zip(path, path, budget) as archive:
        entries = _zip.names(archive)

        def read(name, cap, what):
            return _zip.read_entry(archive, name, path, budget, cap, what)

        return _keras_v3(path, entries, read, "keras_zip", budget, limits, weights)


def _read_keras_dir(path, original_backend, limits, weights=True):
    budget = Budget(path, limits)
    entries = os.listdir(path)

    def read(name, cap, what):
        full = os.path.join(path, name)
        if os.path.islink(full) or not os.path.isfile(full):
            raise KerasFileError(f"{path}: {name} is not a plain file")
        size = os.path.getsize(full)
        if size > cap:
            raise KerasFileError(f"{path}: {what} {name} is {size} bytes, more than {cap}")
        with open(full, "rb") as handle:
            return handle.read(size + 1)

    return _keras_v3(path, entries, read, "keras_dir", budget, limits, weights)


def _keras_v3(where, entries, read, fmt, budget, limits, read_weights=True):
    if "config.json" not in entries:
        raise KerasFileError(f"{where}: no config.json: not a Keras .keras model")
    obj = load_json(read("config.json", limits.max_config_bytes, "config"), where,
                    "config.json", limits)
    metadata = {}
    if "metadata.json" in entries:
        metadata = load_json(read("metadata.json", MiB, "metadata"), where, "metadata.json",
                             limits)
    version = metadata.get("keras_version")
    generation = _generation_of(version, obj) if version is not None else (
        "keras3" if looks_keras3(obj) else "keras2")
    findings = Findings()
    config = normalize_model(obj, where, findings, legacy_nodes=generation != "keras3")
    order, weights, names, keyed_by = [], {}, {}, "layer_name"
    if not read_weights:
        findings.notes.append("weights not read (config only)")
    elif "model.weights.h5" in entries:
        data = read("model.weights.h5", limits.max_weight_bytes, "weights")
        with _h5.open_file(io.BytesIO(data), where) as f:
            tree = _weights.read_object_tree(f, where, budget, limits)
        del data
        order, weights, names, keyed_by = _weights.flatten_tree(tree, config, where)
    elif "model.weights.npz" in entries:
        raise KerasFileError(f"{where}: {_NPZ_REFUSAL}")
    else:
        findings.notes.append("the file holds no weights (an unbuilt model)")
    if any(name.startswith("assets/") for name in entries):
        findings.notes.append("assets/ entries ignored (vocabularies and the like)")
    certificate = _zip_certificate(entries, read, where, budget, limits) if read_weights \
        else None
    return _make(where, fmt, generation, version, None, config, order, weights, names,
                 keyed_by, True, findings, certificate)


def _read_sharded(path, index, limits):
    budget = Budget(path, limits)
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict):
        raise KerasFileError(f"{path}: weight_map should be an object")
    shards = []
    for value in weight_map.values():
        for name in value if isinstance(value, list) else [value]:
            if not isinstance(name, str) or os.path.basename(name) != name \
                    or name.startswith(".") or "\\" in name or not name.endswith(".h5"):
                raise KerasFileError(f"{path}: shard {str(name)[:80]!r} is not a plain .h5 file "
                                     "name beside the index; refusing it")
            if name not in shards:
                shards.append(name)
    folder = os.path.dirname(os.path.abspath(path))
    tree = None
    for name in shards:
        full = os.path.join(folder, name)
        if os.path.islink(full) or not os.path.isfile(full):
            raise KerasFileError(f"{path}: shard {name} is missing or not a plain file")
        with _h5.open_file(full, f"{path} (shard {name})") as f:
            tree = _weights.read_object_tree(f, f"{path} (shard {name})", budget, limits, tree)
    findings = Findings()
    if tree is None:
        tree = _weights.Node()
    order, weights, names, keyed_by = _weights.flatten_tree(tree, None, path)
    findings.notes.append(f"weights read from {len(shards)} shard(s)")
    return _make(path, "sharded_weights", "keras3", None, None, None, order, weights, names,
                 keyed_by, True, findings)
