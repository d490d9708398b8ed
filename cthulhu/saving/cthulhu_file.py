"""Saving and loading models: one file, JSON config + NumPy weights, no pickle.

The file (conventionally ``*.cthulhu``; no extension is added or required) is
a zip archive holding

- ``cthulhu.json``: ``{"format": "cthulhu-model", "version": 2, "model":
  {"class_name", "config"}, "weights": [{"layer", "names", "entries",
  "shapes", "dtypes"}]}`` (version 1, still read, has no ``shapes``/``dtypes``);
  version 3 adds ``"certificate"``, the test vector's block
  (:mod:`cthulhu.saving.certificate`), and is written only when there is one;
- ``weights/<n>.npy``: one ``.npy`` per weight, written with
  ``allow_pickle=False`` and read by :mod:`cthulhu.saving.model_file`, which
  never unpickles anything and never reads more than the model declares;
- ``certificate/input_<i>.npy``, ``certificate/output_<i>.npy``: the test vector.

The file is written to a temporary file in the same folder (with the user's
umask) and moved into place with ``os.replace``: a reader sees the old file or
the new one, never a half-written one.

Loading builds the model from the config (functions named in it resolve only
through :mod:`cthulhu.names.resolver`; in safe mode nothing named in the file
is imported or called), with weights allocated within the bytes the file can
hold, then reads each weight straight into place. Every problem with the file
raises one ``ValueError`` naming the file (``docs/security.md``).
"""

from __future__ import annotations

import json
import os
import secrets
import zipfile

import numpy as np

from cthulhu.engine.base_layer import WEIGHT_ALLOCATOR
from cthulhu.engine.network import Model
from cthulhu.saving._budget import WeightBudget
from cthulhu.saving.config import deserialize, serialize
from cthulhu.saving.model_file import ModelFile, check_weight_dtype

FORMAT = "cthulhu-model"
VERSION = 3            # the newest version read; written only with a certificate
_PLAIN_VERSION = 2     # what a file without a certificate says (older cthulhu reads it)
_CONFIG_ENTRY = "cthulhu.json"
_CERTIFICATE_PREFIX = "certificate/"


def save_model(model, filepath, overwrite=True, certificate=None) -> None:
    """Write ``model``'s config and weights to exactly ``filepath``, atomically.

    Parameters
    ----------
    model : Pile or Lump
    filepath : str or os.PathLike
    overwrite : bool
        If False and the file exists, raise ``FileExistsError``.
    certificate : cthulhu.saving.certificate.Certificate, optional
        A test vector to store with the model (format version 3).
    """
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists and overwrite=False")
    model_config = serialize(model)
    try:
        config_text = json.dumps(model_config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot save {model.name!r}: its config is not JSON-serialisable ({exc})") from None
    manifest, arrays = [], []
    for layer in model.layers:
        records = [record for _, record in layer.weight_records()]
        if not records:
            continue
        entries = [f"weights/{len(arrays) + i}.npy" for i in range(len(records))]
        arrays.extend(record.numpy() for record in records)
        manifest.append({"layer": layer.name, "names": [r.name for r in records],
                         "entries": entries, "shapes": [list(r.shape) for r in records],
                         "dtypes": [r.dtype.str for r in records]})
    meta = {"format": FORMAT, "version": _PLAIN_VERSION, "model": json.loads(config_text),
            "weights": manifest}
    extra = {}
    if certificate is not None:
        from cthulhu.saving.certificate import to_entries

        entries = to_entries(certificate)
        meta["version"] = VERSION
        meta["certificate"] = json.loads(entries.pop("certificate.json"))
        extra = {_CERTIFICATE_PREFIX + name: data for name, data in entries.items()}
    handle, tmp = _create_beside(path)
    try:
        with handle:
            with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
                archive.writestr(_CONFIG_ENTRY, json.dumps(meta, indent=1))
                for entry, value in zip((e for m in manifest for e in m["entries"]), arrays,
                                        strict=True):
                    # Streamed into the archive: no in-memory copy of the weight.
                    with archive.open(entry, "w", force_zip64=value.nbytes > 2**30) as stream:
                        np.save(stream, np.ascontiguousarray(value), allow_pickle=False)
                for entry, data in extra.items():
                    archive.writestr(entry, data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _create_beside(path):
    """A new temporary file next to ``path``, created with mode 0o666 minus the umask.

    ``tempfile.mkstemp`` would create it 0600, and ``os.replace`` would keep that: a
    worker running under another uid could then not read the model.
    """
    folder = os.path.dirname(os.path.abspath(path))
    for _ in range(100):
        tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
        except FileExistsError:
            continue
        return os.fdopen(fd, "wb"), tmp
    raise FileExistsError(f"could not create a temporary file in {folder}")


def load_model(filepath, custom_objects=None, safe_mode=True, compile=True,  # noqa: A002
               weights=True):
    """Load a model saved with ``model.save(filepath)``.

    Parameters
    ----------
    filepath : str or os.PathLike
    custom_objects : dict, optional
        Name -> class/function for custom layers, activations, initializers,
        regularizers, constraints and ``LuKthu`` functions. Functions given here
        are on the safe-mode allow-list.
    safe_mode : bool
        True (default): functions named in the file resolve only from the
        allow-list (cthulhu's activations, initializers, regularizers and
        constraints, registered functions, ``custom_objects``), code stored in
        the file is refused, and nothing named in the file is called while
        loading. False **runs code from the file**: use it only for files you trust.
    compile : bool
        Accepted for Keras compatibility; cthulhu models have nothing to compile.
    weights : bool
        False builds the model from the config alone, its weights zero-size read-only
        views (``cthulhu inspect``): nothing is read or allocated for them.

    Returns
    -------
    Pile or Lump

    Raises
    ------
    FileNotFoundError
        No file at ``filepath``.
    ValueError
        Anything wrong with the file (one line naming it), including what safe
        mode refuses.
    """
    path = os.fspath(filepath)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model file at {path}")
    try:
        return _load(path, custom_objects, safe_mode, weights)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - every bad file becomes one ValueError naming it
        raise _load_error(path, exc) from (None if isinstance(exc, ValueError) else exc)


def _load_error(path, exc) -> ValueError:
    message = " ".join(str(exc).split()) or type(exc).__name__
    if not isinstance(exc, ValueError):
        message = f"{type(exc).__name__}: {message}"
    if not message.startswith(f"{path}:"):
        message = f"{path}: {message}"
    return ValueError(message)


def _load(path, custom_objects, safe_mode, weights=True):
    with ModelFile(path, kind="cthulhu model file") as source:
        if _CONFIG_ENTRY not in source.archive.NameToInfo:
            raise ValueError(f"{path}: not a cthulhu model file (no {_CONFIG_ENTRY})")
        meta = source.read_json(_CONFIG_ENTRY)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise ValueError(f"{path}: not a cthulhu model file (format {found!r})")
        version = meta.get("version", 1)
        if not isinstance(version, int) or not 1 <= version <= VERSION:
            raise ValueError(f"{path}: format version {version!r}; this cthulhu reads versions "
                             f"1 to {VERSION} (a newer cthulhu wrote it?)")
        manifest = _manifest(meta.get("weights", []), version, source)
        budget = _budget(path, _weight_bytes(manifest, source))
        token = WEIGHT_ALLOCATOR.set(budget.allocate if weights else _placeholder)
        try:
            model = deserialize(meta.get("model"), custom_objects, safe_mode)
        finally:
            WEIGHT_ALLOCATOR.reset(token)
        if not isinstance(model, Model):
            raise ValueError(f"{path}: holds a {type(model).__name__}, not a model")
        if not weights:
            return model
        _fill_weights(model, manifest, source)
        if meta.get("certificate") is not None:
            from cthulhu.saving.certificate import attach, read_zip

            attach(model, read_zip(source, meta["certificate"], _CERTIFICATE_PREFIX))
    return model


def _manifest(items, version, source):
    """``[(layer name, [(entry, shape or None, dtype or None), ...]), ...]``, checked."""
    path = source.path
    if not isinstance(items, list):
        raise ValueError(f"{path}: the weight manifest must be a list, got {type(items).__name__}")
    out, seen, layers = [], set(), set()
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("layer"), str):
            raise ValueError(f"{path}: malformed weight manifest item {str(item)[:200]}")
        if item["layer"] in layers:
            raise ValueError(f"{path}: the weight manifest lists layer {item['layer']!r} twice")
        layers.add(item["layer"])
        entries = item.get("entries")
        count = len(entries) if isinstance(entries, list) else -1
        shapes, dtypes = item.get("shapes", [None] * count), item.get("dtypes", [None] * count)
        if version >= 2 and ("shapes" not in item or "dtypes" not in item):
            raise ValueError(f"{path}: weight manifest of layer {item['layer']!r} lacks shapes "
                             "or dtypes")
        if (count < 0 or not all(isinstance(e, str) for e in entries)
                or not isinstance(shapes, list) or not isinstance(dtypes, list)
                or len(shapes) != count or len(dtypes) != count):
            raise ValueError(f"{path}: malformed weight manifest for layer {item['layer']!r}")
        weights = []
        for entry, shape, dtype in zip(entries, shapes, dtypes, strict=True):
            if entry in seen:
                raise ValueError(f"{path}: weight entry {entry!r} is listed twice")
            seen.add(entry)
            source.info(entry)  # present and readable
            weights.append((entry, *_declared(shape, dtype, f"{path}: weight entry {entry!r}")))
        out.append((item["layer"], weights))
    return out


def _declared(shape, dtype, where):
    """A manifest's ``(shape, dtype)`` for one entry, checked (both None in version 1)."""
    if (shape is None) != (dtype is None):
        raise ValueError(f"{where} declares a shape or a dtype but not both")
    if shape is None:
        return None, None
    if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise ValueError(f"{where} declares shape {shape!r}")
    if not isinstance(dtype, str):
        raise ValueError(f"{where} declares dtype {dtype!r}")
    return tuple(shape), check_weight_dtype(dtype, where).newbyteorder("=")


def _weight_bytes(manifest, source) -> int:
    """The most weight bytes the file can supply (what the model may allocate while building)."""
    total = 0
    for _, weights in manifest:
        for entry, shape, dtype in weights:
            capacity = source.capacity(entry)
            if shape is None:  # version 1: whatever the entry can hold
                total += capacity
                continue
            declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if declared > capacity:
                raise ValueError(f"{source.path}: weight entry {entry!r} declares shape {shape} "
                                 f"{dtype} ({declared} bytes) but holds at most {capacity} bytes")
            total += declared
    return total


def _placeholder(owner, name, shape, dtype):
    return np.broadcast_to(np.zeros((), dtype), shape)  # no memory: config-only builds


def _budget(path, limit):
    """The weights of the model being loaded, within the bytes the file can supply."""
    def refuse(declared, nbytes, left):
        return ValueError(f"{path}: {declared} ({nbytes} bytes), more than the {left} bytes "
                          "of weights the file can still hold")

    return WeightBudget(limit, refuse)


def _fill_weights(model, manifest, source):
    path = source.path
    stored = set()
    for layer_name, weights in manifest:
        layer = model.get_layer(layer_name)
        records = layer.weight_records()
        if len(records) != len(weights):
            raise ValueError(f"{path}: the file stores {len(weights)} weights for layer "
                             f"{layer_name!r}, the model has {len(records)}")
        for (owner, record), (entry, shape, dtype) in zip(records, weights, strict=True):
            if shape is not None and (shape != record.shape or dtype != record.dtype):
                raise ValueError(f"{path}: weight entry {entry!r} declares shape {shape} {dtype}, "
                                 f"layer {owner.name!r} weight {record.name!r} is "
                                 f"{record.shape} {record.dtype}")
            _read_weight(source, entry, record)
            stored.add(id(record))
    for owner, record in model.weight_records():
        if id(record) not in stored:
            raise ValueError(f"{path}: the file stores no value for weight {record.name!r} of "
                             f"layer {owner.name!r}")


def _read_weight(source, entry, record):
    """Read ``entry`` into ``record``'s home (a NumPy home in place: its bytes, nothing more)."""
    home = record.value
    if isinstance(home, np.ndarray):
        source.read_array_into(entry, home)
        record.changed()
        return
    target = np.empty(record.shape, record.dtype)
    source.read_array_into(entry, target)
    record.assign(target)
