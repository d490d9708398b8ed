"""How to open a ``predict_volume`` result: Python, napari, neuroglancer (printed after a run)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["how_to_open"]


def _scale_of(array_path):
    """The output's voxel scale over its stored axes (from its ``"coordinates"``), or ``None``."""
    import json

    try:
        document = json.loads((Path(array_path) / "zarr.json").read_bytes())
        scale = document["attributes"]["cthulhu"]["coordinates"]["scale"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return scale if isinstance(scale, list) else None


def how_to_open(output, array, ome) -> list[str]:
    """Lines telling a user how to look at the result at ``output`` (array at ``array``)."""
    output, array = os.fspath(output), os.fspath(array)
    lines = [f"open it in Python: zarr.open_array({array!r})"]
    scheme = output.partition("://")[0] if "://" in output else None
    if scheme is not None or output.startswith("MemoryStore"):
        if scheme in ("s3", "s3a"):
            lines.append(f"view it in napari: napari.imshow(zarr.open_array({array!r}))  "
                         "(pip install napari)")
            lines.append(f"view it in neuroglancer: add the layer zarr3://{output} (a bucket "
                         "neuroglancer can read: public, or through a signed HTTP URL)")
        return lines  # a memory store: only this process can open it
    folder = Path(os.path.abspath(output))
    if ome:
        lines.append(f"view it in napari: napari {output}  (pip install napari napari-ome-zarr; "
                     "the voxel scale comes along)")
    else:
        scale = _scale_of(array)
        shown = "" if not scale or all(s == 1 for s in scale) else \
            f", scale={tuple(round(s, 6) for s in scale)}"
        lines.append(f"view it in napari: napari.imshow(zarr.open_array({array!r}){shown})  "
                     "(pip install napari)")
    lines.append(f"view it in neuroglancer: serve {folder.parent} over HTTP with CORS (e.g. npx "
                 f"http-server {folder.parent} --cors -p 8000) and add the layer "
                 f"zarr3://http://localhost:8000/{folder.name}")
    return lines
