"""OME-NGFF (0.5) outputs: an image group around the ``predict_volume`` array.

With ``ome=True`` the output ``OUT`` is a Zarr v3 *group* whose ``zarr.json``
holds the OME-NGFF ``multiscales`` metadata of one level (axes, scale,
translation), and the result array is ``OUT/0``. The array is an ordinary
``predict_volume`` output: its ownership, lock (``OUT/0.cthulhu-lock``, beside
it), records, resume and durability are those of ``docs/out-of-core.md``,
unchanged. The group is cthulhu's too: its ``zarr.json`` carries
``"cthulhu": {"format": "cthulhu.predict_volume.ome", ...}``, and it may hold
nothing but that file, the array ``0`` and the array's lock files; anything
else makes the run refuse, and nothing is deleted.

OME-NGFF orders axes ``[time,] [channel or custom,] space...``: an output with
a channels axis after its spatial axes (a channels-last model with several
output channels), or with both a batch and a channels axis, cannot be written
this way and is refused.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from . import outputs
from .lock import LOCK_SUFFIX

__all__ = ["FORMAT", "ARRAY", "check_group", "write_group", "multiscales", "check_axes"]

FORMAT = "cthulhu.predict_volume.ome"
FORMAT_VERSION = 1
ARRAY = "0"
_LOCKS = re.compile(re.escape(ARRAY + LOCK_SUFFIX) + r"(\.steal-[0-9a-f]{16})?")
_TEMP = re.compile(r"\.zarr\.json\.[0-9a-f]{32}\.tmp")


def array_path(target) -> Path:
    return Path(target) / ARRAY


def check_group(target):
    """``None`` if nothing is at ``target``, ``True`` if it is cthulhu's OME group; raises
    ``FileExistsError`` for anything else (nothing is deleted)."""
    path = Path(target)
    raw = outputs.folder_metadata(target)
    if raw is None:
        return None
    try:
        document = json.loads(raw)
    except ValueError:
        raise _refusal(target, "its zarr.json cannot be read") from None
    info = (document.get("attributes") or {}).get(outputs.ATTR) if isinstance(document, dict) \
        else None
    if not (document.get("node_type") == "group" and isinstance(info, dict)
            and info.get("format") == FORMAT):
        raise _refusal(target, "a Zarr array or group cthulhu did not write as an OME-NGFF "
                               "output")
    for entry in os.scandir(path):
        name = entry.name
        ok = ((name == ARRAY and entry.is_dir(follow_symlinks=False))
              or (not entry.is_dir(follow_symlinks=False) and not entry.is_symlink()
                  and (name == "zarr.json" or _LOCKS.fullmatch(name) or _TEMP.fullmatch(name))))
        if not ok:
            raise _refusal(target, f"it holds {name!r}, which cthulhu did not write")
    return True


def _refusal(target, reason):
    return FileExistsError(f"output {os.fspath(target)!r} exists and is not a cthulhu OME-NGFF "
                           f"output ({reason}): refusing to write there; cthulhu replaces only "
                           "its own outputs - choose another output, or remove it yourself")


def check_axes(axes, target):
    """Refuse stored output axes that OME-NGFF cannot describe (see the module doc)."""
    kinds = [a.get("type") for a in axes]
    spatial = [i for i, k in enumerate(kinds) if k == "space"]
    others = [i for i, k in enumerate(kinds) if k != "space"]
    names = ", ".join(a["name"] for a in axes)
    if not 2 <= len(spatial) <= 3:
        raise ValueError(f"output {os.fspath(target)!r}: OME-NGFF images have 2 or 3 spatial "
                         f"axes, this output has {len(spatial)} ({names}); write it without ome")
    if len(others) > 1 or (others and others[0] > spatial[0]):
        raise ValueError(f"output {os.fspath(target)!r}: OME-NGFF needs at most one channel "
                         f"(or batch) axis, before the spatial ones; this output's axes are "
                         f"({names}) - use a channels_first model or a single-channel output, "
                         "or write it without ome")


def multiscales(coordinates, name):
    """The group's ``"ome"`` attribute: one multiscale image of one level, ``ARRAY``."""
    axes = []
    for axis in coordinates["axes"]:
        entry = dict(axis)
        if entry.get("type") not in ("space", "time", "channel"):
            entry.pop("type", None)  # a batch axis: a custom axis without a type
        axes.append(entry)
    return {"version": "0.5", "multiscales": [{
        "name": name, "axes": axes,
        "datasets": [{"path": ARRAY, "coordinateTransformations": [
            {"type": "scale", "scale": list(coordinates["scale"])},
            {"type": "translation", "translation": list(coordinates["translation"])}]}]}]}


def write_group(target, coordinates, name):
    """Create (or rewrite) cthulhu's OME group at ``target``, durably."""
    path = Path(target)
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    document = {"zarr_format": 3, "node_type": "group", "attributes": {
        "ome": multiscales(coordinates, name),
        outputs.ATTR: {"format": FORMAT, "format_version": FORMAT_VERSION, "array": ARRAY}}}
    outputs.write_atomic(path / "zarr.json", json.dumps(document, indent=2).encode())
    if created:
        outputs.fsync_dir(path.parent)
