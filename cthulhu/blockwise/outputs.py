"""What makes a path a ``predict_volume`` output, and writing one so that it survives.

Ownership. An output is a Zarr v3 array whose ``zarr.json`` attributes hold,
under ``"cthulhu"``, ``"format": "cthulhu.predict_volume"`` and
``"format_version"`` (1 today; outputs of earlier releases, without the marker,
count as version 0). ``overwrite`` replaces only such an array, and only if its
folder holds nothing but the files cthulhu writes there (``zarr.json``, chunk
files under ``c/``, block records under ``cthulhu_done/``, temporary files of
those); a plain folder, a file, a symbolic link, a foreign Zarr array or an
output with a file of the user's in it is refused, and nothing is deleted.

Durability. ``fsync_file``/``fsync_dir`` and :func:`write_atomic` (temporary
file, ``fsync``, rename, ``fsync`` of the folder) are the only ways this package
makes writes durable; ``volume.py`` says when it calls them.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path

__all__ = ["FORMAT", "FORMAT_VERSION", "ATTR", "DONE_DIR", "existing_output", "check_apart",
           "remove_output", "remove_strays", "write_atomic", "set_attributes", "fsync_file",
           "fsync_dir"]

FORMAT = "cthulhu.predict_volume"
FORMAT_VERSION = 1
ATTR = "cthulhu"
DONE_DIR = "cthulhu_done"
# The attributes an output carried before the format marker (version 0).
_LEGACY_KEYS = frozenset({"model_name", "model_config", "source", "block_shape", "halo",
                          "fingerprint", "complete"})

_NUMBER = re.compile(r"\d+")
_HEX = r"[0-9a-f]{32}"
_ZARR_TEMP = re.compile(rf"(\d+|zarr)\.{_HEX}\.partial")  # zarr's name for a file being written
_OUR_TEMP = re.compile(rf"\..+\.{_HEX}\.tmp")                # write_atomic's temporary files
_MARKER = re.compile(r"\d+(_\d+)*")
_GENERATION = re.compile(_HEX)
_INPUT_RECORD = re.compile(rf"input-{_HEX}\.txt")


def _ours(parts, is_dir) -> bool:
    """Whether the entry at ``parts`` (relative to the output) is one cthulhu writes."""
    head, depth, name = parts[0], len(parts), parts[-1]
    if depth == 1:
        if is_dir:
            return name in ("c", DONE_DIR)
        return name == "zarr.json" or bool(_ZARR_TEMP.fullmatch(name) or _OUR_TEMP.fullmatch(name))
    if head == "c":
        return bool(_NUMBER.fullmatch(name) or (not is_dir and _ZARR_TEMP.fullmatch(name)))
    if head == DONE_DIR:
        if depth == 2:
            if is_dir:
                return bool(_GENERATION.fullmatch(name))
            return bool(_MARKER.fullmatch(name) or _INPUT_RECORD.fullmatch(name)
                        or _OUR_TEMP.fullmatch(name))
        return depth == 3 and not is_dir and bool(_MARKER.fullmatch(name))
    return False


def _walk(root):
    """``(parts, entry)`` for everything under ``root``, children before their folder."""
    stack = [((), root)]
    folders = []
    while stack:
        parts, folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                sub = (*parts, entry.name)
                if entry.is_dir(follow_symlinks=False):
                    stack.append((sub, entry.path))
                    folders.append((sub, entry))
                else:
                    yield sub, entry
    yield from reversed(folders)


def _foreign(root) -> str | None:
    """The first entry under ``root`` cthulhu did not write (a relative path), else ``None``."""
    for parts, entry in _walk(root):
        if entry.is_symlink() or not _ours(parts, entry.is_dir(follow_symlinks=False)):
            return "/".join(parts)
    return None


def _refusal(target, reason):
    return FileExistsError(f"output {os.fspath(target)!r} exists and is not a cthulhu output "
                           f"({reason}): refusing to write there; cthulhu replaces only its own "
                           "outputs - choose another output, or remove it yourself")


def existing_output(target, to_replace=True):
    """The ``"cthulhu"`` attributes of the output at ``target``, ``None`` if nothing is there.

    Raises ``FileExistsError`` naming the path when something is there that is
    not a cthulhu output (see the module's docstring); every file in the folder
    is looked at only when the output is ``to_replace``. A version-0 output gets
    ``"format_version": 0`` in the returned dict.
    """
    path = Path(target)
    raw = folder_metadata(target)
    if raw is None:
        return None
    info = owner_info(raw, target)
    foreign = _foreign(path) if to_replace else None
    if foreign is not None:
        raise _refusal(target, f"it holds {foreign!r}, which cthulhu did not write")
    return info


def folder_metadata(target):
    """The bytes of ``target/zarr.json``; ``None`` if nothing is at ``target``. Raises
    ``FileExistsError`` naming the path for a link, a file, or a folder whose
    ``zarr.json`` is missing or unreadable (what every local output check starts with)."""
    path = Path(target)
    if path.is_symlink():
        raise _refusal(target, "a symbolic link")
    if not path.exists():
        return None
    if not path.is_dir():
        raise _refusal(target, "a file")
    try:
        return (path / "zarr.json").read_bytes()
    except FileNotFoundError:
        raise _refusal(target, "a folder without zarr.json") from None
    except OSError:
        raise _refusal(target, "its zarr.json cannot be read") from None


def owner_info(raw, target):
    """The ``"cthulhu"`` attributes in the ``zarr.json`` bytes ``raw`` of an output (with
    ``"format_version"``, 0 for outputs of earlier releases); raises ``FileExistsError``
    when they are not a cthulhu output's."""
    try:
        document = json.loads(raw)
    except ValueError:
        raise _refusal(target, "its zarr.json cannot be read") from None
    info = document.get("attributes", {}).get(ATTR) if isinstance(document, dict) else None
    if not (isinstance(info, dict) and document.get("node_type") == "array"):
        raise _refusal(target, "a Zarr array or group cthulhu did not write")
    if info.get("format") == FORMAT and isinstance(info.get("format_version"), int):
        return dict(info)
    if _LEGACY_KEYS <= info.keys() and "format" not in info:
        return dict(info, format_version=0)
    raise _refusal(target, "a Zarr array cthulhu did not write")


def foreign_key(parts) -> bool:
    """Whether a store key (its ``parts`` below the output) is one cthulhu does not write:
    every folder on its way must be one of ours, and the key itself one of our files."""
    return not (all(_ours(parts[:depth], True) for depth in range(1, len(parts)))
                and _ours(parts, False))


def check_apart(target, inputs):
    """Refuse an output that is, lies inside or contains one of the ``inputs`` (paths).

    Paths are compared resolved (absolute, symbolic links followed), so another
    spelling of the input is the input.
    """
    out = Path(os.path.abspath(os.fspath(target))).resolve()
    for given in inputs:
        src = Path(os.path.abspath(os.fspath(given))).resolve()
        if out == src:
            relation = "is the input"
        elif src in out.parents:
            relation = "lies inside the input"
        elif out in src.parents:
            relation = "contains the input"
        else:
            continue
        raise ValueError(f"output {os.fspath(target)!r} {relation} {str(src)!r}; the output "
                         "must be a path apart from the input")


def remove_output(target):
    """Delete the cthulhu output at ``target``: chunks and records first, ``zarr.json`` last.

    Until ``zarr.json`` goes the folder is still recognisably a cthulhu output,
    so an interrupted removal can be retried with ``overwrite``. An entry that
    cthulhu did not write stops the removal (:func:`existing_output` checked
    the whole folder just before, under the output's lock).
    """
    root = Path(target)
    for parts, entry in _walk(root):
        is_dir = entry.is_dir(follow_symlinks=False)
        if entry.is_symlink() or not _ours(parts, is_dir):
            raise _refusal(target, f"it holds {'/'.join(parts)!r}, which cthulhu did not write")
        if parts == ("zarr.json",):
            continue
        os.rmdir(entry.path) if is_dir else os.unlink(entry.path)
    os.unlink(root / "zarr.json")
    os.rmdir(root)
    fsync_dir(root.parent)


def remove_strays(target):
    """Remove temporary files a killed writer left in the output (``*.partial``, ``*.tmp``)."""
    for parts, entry in _walk(Path(target)):
        if not entry.is_dir(follow_symlinks=False) and (_ZARR_TEMP.fullmatch(parts[-1])
                                                        or _OUR_TEMP.fullmatch(parts[-1])):
            os.unlink(entry.path)


def fsync_file(path):
    """Make the data of file ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path):
    """Make the entries of folder ``path`` (files created, renamed, removed) durable."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (PermissionError, IsADirectoryError):  # platforms that cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on a folder; nothing more to do there
        pass
    finally:
        os.close(fd)


def write_atomic(path, data: bytes):
    """Replace file ``path`` by ``data`` so that a crash leaves the old or the new file."""
    path = Path(path)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def set_attributes(target, info):
    """Set the output's ``"cthulhu"`` attributes to ``info``, atomically and durably."""
    path = Path(target) / "zarr.json"
    document = json.loads(path.read_bytes())
    document.setdefault("attributes", {})[ATTR] = info
    write_atomic(path, json.dumps(document, indent=2).encode())
