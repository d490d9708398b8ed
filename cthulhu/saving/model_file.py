"""Reading a model file within bounds: its zip directory, its JSON config, each ``.npy`` weight.

Everything a file claims is checked before it costs memory: the number of zip
entries and the size of the zip directory, the config's size and nesting
depth, and each weight's ``.npy`` header against the shape and dtype the built
model declares. A weight is read straight into the array that will hold it,
never more than its declared size plus one byte (zip headers can lie), so a
load needs about the model's real weight bytes plus a small constant.

Every problem raises ``ValueError`` whose message starts with the file's path.
The limits below are documented in ``docs/security.md``.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile

import numpy as np

MAX_CONFIG_BYTES = 16 * 2**20    # cthulhu.json (and model_from_json text)
MAX_JSON_DEPTH = 100             # nesting of [] and {}; a real config stays under ~40
MAX_ENTRIES = 65_000             # zip entries (below zip64's 0xFFFF sentinel)
MAX_DIRECTORY_BYTES = 16 * 2**20  # the zip central directory
MAX_NPY_HEADER = 10_000          # numpy's own default limit
# DEFLATE expands at most 1032:1; anything claiming more is lying.
MAX_DEFLATE_RATIO = 1032
WEIGHT_DTYPE_KINDS = "biufc"     # bool, integers, floats, complex: never objects or records
_CHUNK = 2**20
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def parse_json(data, source):
    """The JSON value of ``data`` (bytes or str) after checking its size and nesting depth."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if len(data) > MAX_CONFIG_BYTES:
        raise ValueError(f"{source}: the config is {len(data)} bytes, more than the limit of "
                         f"{MAX_CONFIG_BYTES}")
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"{source}: the config is nested {depth} levels deep, more than the "
                         f"limit of {MAX_JSON_DEPTH}")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise ValueError(f"{source}: the config is not valid JSON ({exc})") from None


def json_depth(data: bytes) -> int:
    """Deepest nesting of ``[``/``{`` outside strings, found without parsing (no recursion)."""
    bare = _STRING.sub(b"", data)
    deltas = np.zeros(256, np.int8)
    deltas[[ord("["), ord("{")]] = 1
    deltas[[ord("]"), ord("}")]] = -1
    deepest = level = 0
    for start in range(0, len(bare), _CHUNK):  # chunks keep the scan's memory constant
        steps = deltas[np.frombuffer(bare, np.uint8, min(_CHUNK, len(bare) - start), start)]
        running = level + np.cumsum(steps, dtype=np.int64)
        if running.size:
            deepest, level = max(deepest, int(running.max())), int(running[-1])
    return deepest


class ModelFile:
    """An open model file (a zip archive), read only within the limits above."""

    def __init__(self, path, kind="model file"):
        self.path, self.kind = path, kind
        self._handle = open(path, "rb")  # noqa: SIM115 - closed by close()
        try:
            self.size = self._handle.seek(0, 2)
            self._check_directory()
            self.archive = zipfile.ZipFile(self._handle)
        except BaseException:
            self._handle.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.archive.close()
        self._handle.close()

    def _check_directory(self):
        """Refuse a zip directory too big to parse cheaply, before ``zipfile`` reads it."""
        tail_size = min(self.size, 22 + 0xFFFF)
        self._handle.seek(self.size - tail_size)
        tail = self._handle.read(tail_size)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            raise ValueError(f"{self.path}: not a {self.kind} (not a zip archive)")
        entries, directory_bytes = struct.unpack("<HL", tail[at + 10:at + 16])
        if entries > MAX_ENTRIES or directory_bytes > MAX_DIRECTORY_BYTES:
            raise ValueError(f"{self.path}: the zip directory lists {entries} entries in "
                             f"{directory_bytes} bytes, more than the limits of {MAX_ENTRIES} "
                             f"entries and {MAX_DIRECTORY_BYTES} bytes")

    # ------------------------------------------------------------------ entries
    def info(self, name) -> zipfile.ZipInfo:
        """The zip entry ``name``, if it is one we can read (stored or deflated, not encrypted)."""
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise ValueError(f"{self.path}: entry {name!r} is missing from the file") from None
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"{self.path}: entry {name!r} uses compression method "
                             f"{info.compress_type}; only stored and deflated entries are read")
        if info.flag_bits & 0x1:
            raise ValueError(f"{self.path}: entry {name!r} is encrypted")
        return info

    def capacity(self, name) -> int:
        """The most bytes entry ``name`` can inflate to, whatever its header claims."""
        info = self.info(name)
        raw = min(info.compress_size, self.size)
        if info.compress_type == zipfile.ZIP_STORED:
            return min(info.file_size, raw)
        return min(info.file_size, raw * MAX_DEFLATE_RATIO)

    def read_json(self, name):
        """Entry ``name`` parsed as JSON, within ``MAX_CONFIG_BYTES`` and ``MAX_JSON_DEPTH``."""
        info = self.info(name)
        if info.file_size > MAX_CONFIG_BYTES:
            raise ValueError(f"{self.path}: {name} is {info.file_size} bytes, more than the "
                             f"limit of {MAX_CONFIG_BYTES}")
        with self.archive.open(info) as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)
        return parse_json(data, f"{self.path}: {name}")

    def read_array_into(self, name, target: np.ndarray) -> None:
        """Fill ``target`` from the ``.npy`` entry ``name``; its header must match ``target``."""
        where = f"{self.path}: weight entry {name!r}"
        if target.nbytes > self.capacity(name):
            raise ValueError(f"{where} holds at most {self.capacity(name)} bytes, the model "
                             f"needs {target.nbytes} (shape {target.shape}, {target.dtype})")
        with self.archive.open(self.info(name)) as stream:
            shape, fortran, dtype = _read_header(stream, where)
            check_weight_dtype(dtype, where)
            if tuple(shape) != target.shape or dtype.newbyteorder("=") != target.dtype:
                raise ValueError(f"{where} holds shape {tuple(shape)} {dtype}, the model "
                                 f"declares shape {target.shape} {target.dtype}")
            # Fortran order stores the transpose: read it as such, then copy (one extra weight).
            if fortran:
                dest = np.empty(target.shape[::-1], target.dtype)
            elif not target.flags.c_contiguous:
                dest = np.empty(target.shape, target.dtype)
            else:
                dest = target
            _read_exact(stream, dest, where)
            if stream.read(1):  # one byte past the declared size, never more
                raise ValueError(f"{where} holds more data than its header declares")
        if dest is not target:
            target[...] = dest.T if fortran else dest
        if not dtype.isnative and dtype.itemsize > 1:
            target.byteswap(inplace=True)


def check_weight_dtype(dtype, where) -> np.dtype:
    """``dtype`` as a NumPy dtype, if it is a plain numeric one (never objects or records)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in WEIGHT_DTYPE_KINDS or dtype.hasobject or dtype.fields or dtype.subdtype:
        raise ValueError(f"{where} has dtype {dtype}, not a plain numeric dtype; refusing to "
                         "load it (object arrays would need pickle)")
    return dtype


def _read_header(stream, where):
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream, max_header_size=MAX_NPY_HEADER)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(stream, max_header_size=MAX_NPY_HEADER)
    raise ValueError(f"{where} is .npy format version {version}; versions 1.0 and 2.0 are read")


def _read_exact(stream, dest, where):
    """Read exactly ``dest.nbytes`` into ``dest``'s memory, in chunks (no whole-entry copy)."""
    if dest.nbytes == 0:
        return
    view = memoryview(dest).cast("B")
    done = 0
    while done < dest.nbytes:
        chunk = stream.read(min(_CHUNK, dest.nbytes - done))
        if not chunk:
            raise ValueError(f"{where} is truncated: {done} of {dest.nbytes} bytes")
        view[done:done + len(chunk)] = chunk
        done += len(chunk)
