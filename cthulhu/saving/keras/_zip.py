"""Zip archives (Keras 3 ``.keras``) read as data: bounded entries, clean errors.

Nothing is extracted to disk. An entry is read only after its declared size is checked
against the caller's cap and its compression ratio against ``Limits.max_expansion``; the
read itself stops one byte past the declared size (a header that lies is caught), and
zipfile's CRC check runs at the end of every entry.
"""

from __future__ import annotations

import zipfile
import zlib

from cthulhu.saving.keras._limits import KerasFileError


def open_zip(path, where, budget):
    try:
        archive = zipfile.ZipFile(path)
        infos = archive.infolist()
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError,
            NotImplementedError, RuntimeError) as exc:  # e.g. "zip file version 6.4"
        raise KerasFileError(f"{where}: not a readable zip archive ({exc})") from None
    for _ in infos:
        budget.spend_object()
    return archive


def names(archive):
    return [info.filename for info in archive.infolist()]


def read_entry(archive, name, where, budget, cap, what):
    """The bytes of one entry, at most ``cap`` of them (after the checks above)."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise KerasFileError(f"{where}: the archive has no {name!r}") from None
    if info.flag_bits & 0x1:
        raise KerasFileError(f"{where}: entry {name!r} is encrypted")
    if info.file_size > cap:
        raise KerasFileError(f"{where}: {what} {name!r} declares {info.file_size} bytes, "
                             f"more than the {cap} allowed")
    budget.check_expansion(info.file_size, info.compress_size, f"zip entry {name!r}")
    try:
        with archive.open(info) as handle:
            data = handle.read(info.file_size + 1)
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError,
            NotImplementedError, RuntimeError) as exc:
        raise KerasFileError(f"{where}: entry {name!r} is corrupt ({exc})") from None
    if len(data) != info.file_size:
        raise KerasFileError(f"{where}: entry {name!r} holds {len(data)} bytes, not the "
                             f"{info.file_size} its header declares")
    return data
