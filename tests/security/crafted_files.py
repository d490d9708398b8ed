"""Hand-made model files for the security tests: what an attacker (or a broken disk) could hand us.

Written without ``model.save`` so a test controls every byte: the config, the manifest, each
``.npy`` entry, the compression. ``FORMAT_V1`` files are what every cthulhu release could read.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np


def npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def daoloth(name, units, input_dim=None, dtype="float32"):
    config = {"name": name, "trainable": True, "dtype": dtype, "units": units,
              "activation": "linear", "use_bias": True,
              "kernel_initializer": {"class_name": "Zeros", "config": {}},
              "bias_initializer": {"class_name": "Zeros", "config": {}}}
    if input_dim is not None:
        config["batch_input_shape"] = [None, input_dim]
    return {"class_name": "Daoloth", "config": config}


def lukthu(name, module, function, output_shape=None, arguments=None, batch_input_shape=None):
    config = {"name": name, "trainable": True, "dtype": "float32",
              "function": {"kind": "name", "module": module, "name": function},
              "output_shape": output_shape, "mask": None, "arguments": arguments or {}}
    if batch_input_shape is not None:
        config["batch_input_shape"] = list(batch_input_shape)
    return {"class_name": "LuKthu", "config": config}


def pile(*layers, name="crafted"):
    return {"class_name": "Pile", "config": {"name": name, "layers": list(layers)}}


def write(path, model, weights=(), *, version=1, manifest=None, extra=(), compression=None,
          meta=None):
    """A model file at ``path``.

    ``weights``: ``(layer_name, [array, ...])`` pairs stored as ``weights/<n>.npy``;
    ``manifest``: replaces the manifest written from ``weights``; ``extra``: more
    ``(entry, bytes)`` pairs; ``meta``: replaces the whole ``cthulhu.json`` (bytes or dict).
    """
    entries, items = [], []
    for layer, arrays in weights:
        names = [f"{layer}/{i}" for i in range(len(arrays))]
        paths = []
        for array in arrays:
            paths.append(f"weights/{len(entries)}.npy")
            entries.append((paths[-1], npy_bytes(array)))
        items.append({"layer": layer, "names": names, "entries": paths})
    if meta is None:
        meta = {"format": "cthulhu-model", "version": version, "model": model,
                "weights": items if manifest is None else manifest}
    text = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    method = zipfile.ZIP_STORED if compression is None else compression
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        archive.writestr("cthulhu.json", text)
        for entry, data in [*entries, *extra]:
            archive.writestr(entry, data)
    return path
