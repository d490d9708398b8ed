"""Hand-made model files for the security tests: what an attacker (or a broken disk) could hand us.

Written without ``model.save`` so a test controls every byte: the config, the manifest, each
``.npy`` entry, the compression. ``FORMAT_V1`` files are what every cthulhu release could read.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib

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


# ---------------------------------------------------------------- raw zip writing
# ``zipfile`` refuses to write lies; these write exactly what a test asks for.

def npy_header(shape, dtype="<f4", fortran=False) -> bytes:
    """A .npy version 1.0 header declaring ``shape``/``dtype`` (no data)."""
    header = {"descr": dtype, "fortran_order": fortran, "shape": tuple(shape)}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def zero_bomb(prefix: bytes, zeros: int):
    """A raw DEFLATE stream of ``prefix`` then ``zeros`` zero bytes, built without holding them.

    Returns ``(chunks, compressed size, crc32, uncompressed size)``. A full flush makes each
    1 MiB block byte-aligned and self-contained, so one compressed block is reused.
    """
    mib = bytes(2**20)
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = head.compress(prefix) + head.flush(zlib.Z_FULL_FLUSH)
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    repeated = block.compress(mib) + block.flush(zlib.Z_FULL_FLUSH)
    count, rest = divmod(zeros, 2**20)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    last = tail.compress(bytes(rest)) + tail.flush()
    crc = zlib.crc32(prefix)
    for _ in range(count):
        crc = zlib.crc32(mib, crc)
    crc = zlib.crc32(bytes(rest), crc)
    chunks = [first, *([repeated] * count), last]
    return chunks, sum(map(len, chunks)), crc, len(prefix) + zeros


def raw_zip(path, entries, *, entry_count=None):
    """Write a zip of ``entries``: dicts with ``name``, ``data`` (bytes) or ``chunks`` + sizes.

    Optional keys lie on purpose: ``method`` (0 stored, 8 deflated, 12 bzip2), ``crc``,
    ``size`` (uncompressed size claimed), ``csize`` (compressed size claimed).
    ``entry_count`` replaces the count in the end-of-directory record.
    """
    directory = []
    with open(path, "wb") as out:
        for entry in entries:
            name = entry["name"].encode()
            method = entry.get("method", 0)
            if "data" in entry:
                data = entry["data"]
                if method == 8:
                    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
                    chunks = [packer.compress(data) + packer.flush()]
                else:
                    chunks = [data]
                crc, size = zlib.crc32(data), len(data)
                csize = sum(map(len, chunks))
            else:
                chunks, csize, crc, size = entry["chunks"], entry["csize"], entry["crc"], entry["size"]
            crc, size, csize = entry.get("crc", crc), entry.get("size", size), entry.get("csize", csize)
            offset = out.tell()
            out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21,
                                  crc, csize, size, len(name), 0) + name)
            for chunk in chunks:
                out.write(chunk)
            directory.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0,
                                         0x21, crc, csize, size, len(name), 0, 0, 0, 0, 0,
                                         offset) + name)
        start = out.tell()
        for record in directory:
            out.write(record)
        count = len(directory) if entry_count is None else entry_count
        out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count,
                              out.tell() - start, start, 0))
    return path


def model_entries(model, weights=(), version=1):
    """``raw_zip`` entries of a well-formed file: ``cthulhu.json`` then ``weights/<n>.npy``."""
    items, entries = [], []
    for layer, arrays in weights:
        paths = [f"weights/{len(entries) + i}.npy" for i in range(len(arrays))]
        entries.extend({"name": p, "data": npy_bytes(a)} for p, a in zip(paths, arrays, strict=True))
        item = {"layer": layer, "names": [str(i) for i in range(len(arrays))], "entries": paths}
        if version >= 2:
            item["shapes"] = [list(np.shape(a)) for a in arrays]
            item["dtypes"] = [np.asarray(a).dtype.str for a in arrays]
        items.append(item)
    meta = {"format": "cthulhu-model", "version": version, "model": model, "weights": items}
    return [{"name": "cthulhu.json", "data": json.dumps(meta).encode()}, *entries]
