"""Saving and loading models: one file, JSON config + NumPy weights, no pickle.

The file (conventionally ``*.cthulhu``; no extension is added or required) is
a zip archive holding

- ``cthulhu.json``: ``{"format": "cthulhu-model", "version": 1, "model":
  {"class_name", "config"}, "weights": [{"layer", "names", "entries"}]}``;
- ``weights/<n>.npy``: one ``.npy`` per weight, written and read with
  ``allow_pickle=False``, so loading never unpickles anything.

The file is written to a temporary file in the same folder and moved into
place with ``os.replace``: a reader sees the old file or the new one, never a
half-written one. Functions stored as code (a ``LuKthu`` lambda) are refused
on load unless ``safe_mode=False`` (see ``cthulhu.engine.functions``).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "cthulhu-model"
VERSION = 1
_CONFIG_ENTRY = "cthulhu.json"


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def model_to_dict(model) -> dict:
    from cthulhu.engine.serialization import serialize_layer

    return _jsonable(serialize_layer(model))


def save_model(model, filepath, overwrite=True) -> None:
    """Write ``model``'s config and weights to exactly ``filepath``, atomically.

    Parameters
    ----------
    model : Pile or Lump
    filepath : str or os.PathLike
    overwrite : bool
        If False and the file exists, raise ``FileExistsError``.
    """
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists and overwrite=False")
    model_config = model_to_dict(model)
    try:
        config_text = json.dumps(model_config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot save {model.name!r}: its config is not JSON-serialisable ({exc})") from None
    manifest, arrays = [], []
    for layer in model.layers:
        values = layer.get_weights()
        if not values:
            continue
        names = [w.name for w in getattr(layer, "_weights", [])] or [str(i) for i in range(len(values))]
        if len(names) != len(values):
            names = [str(i) for i in range(len(values))]
        entries = []
        for value in values:
            entries.append(f"weights/{len(arrays)}.npy")
            arrays.append(value)
        manifest.append({"layer": layer.name, "names": names, "entries": entries})
    meta = {"format": FORMAT, "version": VERSION, "model": json.loads(config_text),
            "weights": manifest}
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
                archive.writestr(_CONFIG_ENTRY, json.dumps(meta, indent=1))
                for entry, value in zip((e for m in manifest for e in m["entries"]), arrays,
                                        strict=True):
                    buffer = io.BytesIO()
                    np.save(buffer, np.ascontiguousarray(value), allow_pickle=False)
                    archive.writestr(entry, buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_array(archive, entry, path):
    try:
        data = archive.read(entry)
    except KeyError:
        raise ValueError(f"{path}: weight entry {entry!r} is missing from the file") from None
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        # Object arrays need pickle: a file asking for it is refused, never unpickled.
        raise ValueError(f"{path}: weight entry {entry!r} is not a plain numeric array ({exc}); "
                         "refusing to load it") from None


def load_model(filepath, custom_objects=None, safe_mode=True, compile=True):  # noqa: A002
    """Load a model saved with ``model.save(filepath)``.

    Parameters
    ----------
    filepath : str or os.PathLike
    custom_objects : dict, optional
        Name -> class/function for custom layers, activations, initializers,
        regularizers, constraints and ``LuKthu`` functions.
    safe_mode : bool
        Refuse functions stored as Python bytecode (e.g. a ``LuKthu`` lambda)
        and imports of untrusted modules. Set False only for files you trust.
    compile : bool
        Accepted for Keras compatibility; cthulhu models have nothing to compile.

    Returns
    -------
    Pile or Lump
    """
    from cthulhu.engine.functions import safe_mode_scope
    from cthulhu.engine.serialization import custom_object_scope, deserialize_layer

    path = os.fspath(filepath)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model file at {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a cthulhu model file (expected a zip archive with "
                         f"{_CONFIG_ENTRY})")
    with zipfile.ZipFile(path) as archive:
        try:
            meta = json.loads(archive.read(_CONFIG_ENTRY))
        except KeyError:
            raise ValueError(f"{path} is not a cthulhu model file: no {_CONFIG_ENTRY}") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: {_CONFIG_ENTRY} is not valid JSON ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"{path} is not a cthulhu model file (format {meta.get('format')!r})"
                             if isinstance(meta, dict) else f"{path} is not a cthulhu model file")
        if meta.get("version", 0) > VERSION:
            raise ValueError(f"{path} was written by a newer cthulhu (format version "
                             f"{meta.get('version')}); this one reads up to {VERSION}")
        with custom_object_scope(custom_objects), safe_mode_scope(safe_mode):
            model = deserialize_layer(meta["model"], custom_objects)
        for item in meta.get("weights", []):
            layer = model.get_layer(item["layer"])
            layer.set_weights([_read_array(archive, e, path) for e in item["entries"]])
    return model


def model_from_config(config, custom_objects=None, safe_mode=True):
    """A model (or layer) from ``{'class_name', 'config'}`` as returned by ``serialize_layer``."""
    from cthulhu.engine.functions import safe_mode_scope
    from cthulhu.engine.serialization import custom_object_scope, deserialize_layer

    with custom_object_scope(custom_objects), safe_mode_scope(safe_mode):
        return deserialize_layer(config, custom_objects)


def model_from_json(text, custom_objects=None, safe_mode=True):
    """A model from ``model.to_json()``."""
    return model_from_config(json.loads(text), custom_objects, safe_mode)
