"""What a file is, from its content (never its name)."""

from __future__ import annotations

import os
import zipfile

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")

#: the kinds a Keras reader reads as a model or weights file (``json`` may be a config or
#: a sharded-weights index)
KERAS_KINDS = ("keras_zip", "keras_dir", "hdf5")
KINDS = ("cthulhu", "keras_zip", "keras_dir", "hdf5", "json", "npz", "zip", "savedmodel",
         "directory", "empty", "missing", "unknown")


def sniff(path):
    """The kind of a model file, from its bytes.

    Returns one of ``'cthulhu'`` (cthulhu's own zip), ``'keras_zip'`` (a Keras ``.keras``
    zip: ``config.json`` inside), ``'keras_dir'`` (an unzipped Keras 3 model folder),
    ``'hdf5'`` (any HDF5 file: legacy Keras model or weights, Keras 3 weights),
    ``'json'`` (text starting with ``{``: a Keras config or a sharded-weights index),
    ``'npz'`` (a zip of ``.npy`` files), ``'zip'`` (another zip), ``'savedmodel'``
    (a TensorFlow SavedModel folder, which needs TensorFlow), ``'directory'``,
    ``'empty'``, ``'missing'`` or ``'unknown'``.

    Examples
    --------
    >>> import tempfile, os
    >>> from cthulhu.saving.keras import sniff
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "model.txt"), "w") as f:
    ...     _ = f.write('  {"class_name": "Sequential", "config": {"layers": []}}')
    >>> sniff(os.path.join(folder, "model.txt"))
    'json'
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        entries = set(os.listdir(path))
        if "config.json" in entries and ({"model.weights.h5", "model.weights.npz"} & entries
                                         or "metadata.json" in entries):
            return "keras_dir"
        if "saved_model.pb" in entries or "saved_model.pbtxt" in entries:
            return "savedmodel"
        return "directory"
    if not os.path.isfile(path):
        return "missing"
    size = os.path.getsize(path)
    if size == 0:
        return "empty"
    with open(path, "rb") as handle:
        head = handle.read(8)
        if head == HDF5_SIGNATURE:
            return "hdf5"
        # an HDF5 superblock may follow a user block of 512, 1024, 2048, ... bytes
        offset = 512
        while offset + 8 <= size and offset <= (1 << 24):
            handle.seek(offset)
            if handle.read(8) == HDF5_SIGNATURE:
                return "hdf5"
            offset *= 2
        handle.seek(0)
        start = handle.read(4096)
    if start[:4] in _ZIP_SIGNATURES:
        return _zip_kind(path)
    text = start[3:] if start.startswith(b"\xef\xbb\xbf") else start
    if text.lstrip()[:1] == b"{":
        return "json"
    return "unknown"


def _zip_kind(path):
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError,
            RuntimeError):
        return "zip"  # a zip signature over a broken archive: the reader says what broke
    if "cthulhu.json" in names:
        return "cthulhu"
    if "config.json" in names:
        return "keras_zip"
    if names and all(name.endswith(".npy") for name in names):
        return "npz"
    return "zip"
