"""Co-registered outputs: the input's axis names, attributes and voxel scale, carried over.

What is read from the input (:func:`read_input`):

* axis names: a Zarr v3 array's ``dimension_names``, xarray's ``_ARRAY_DIMENSIONS``
  attribute (Zarr v2), HDF5 dimension labels, or the ``axes`` of an OME-NGFF image
  the array belongs to;
* its user attributes (JSON);
* the voxel scale, translation and units: the OME-NGFF ``multiscales`` of the group
  holding the array (0.4 and 0.5, dataset and multiscale transforms composed), or an
  HDF5 ``element_size_um`` attribute (the ImageJ/ilastik convention).

What the output gets (:func:`for_output`): the same axis names (a channels axis the
input lacked is ``"c"``), the attributes (less cthulhu's own and OME's, which describe
the input), and per spatial axis a scale of ``input scale * jump`` (jump: input
samples between two output samples) and a translation that puts each output sample
at the centre of the input samples it is computed from (for a chain that up-samples,
the centre of its share of the input sample). The output then overlays the input in
a viewer.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

from cthulhu import shapes

__all__ = ["InputMetadata", "read_input", "for_output", "ome_axes"]

# attributes that describe the input's own storage, not its content: never copied
_NOT_COPIED = ("cthulhu", "ome", "multiscales", "omero", "_ARRAY_DIMENSIONS")
_SPACE_NAMES = ("z", "y", "x")


class InputMetadata:
    """``names`` (per stored axis or ``None``), ``attributes`` (dict), ``scale``,
    ``translation`` and ``units`` (per stored axis, or ``None`` where unknown)."""

    def __init__(self, names=None, attributes=None, scale=None, translation=None, units=None):
        self.names = None if names is None else tuple(str(n) for n in names)
        self.attributes = dict(attributes or {})
        self.scale = None if scale is None else tuple(float(s) for s in scale)
        self.translation = None if translation is None else tuple(float(t) for t in translation)
        self.units = None if units is None else tuple(units)

    def __repr__(self):
        return (f"InputMetadata(names={self.names}, scale={self.scale}, "
                f"translation={self.translation}, units={self.units}, "
                f"attributes={sorted(self.attributes)})")


def read_input(source) -> InputMetadata:
    """What ``source`` (a ``stores.Source``) says about its axes, attributes and scale."""
    array = source._open() if source.kind in ("zarr", "hdf5", "store") else source._array
    rank = len(source.shape)
    if source.kind == "hdf5":
        return _hdf5(array, rank)
    if source.kind not in ("zarr", "array", "store") or not hasattr(array, "metadata"):
        return InputMetadata()  # NumPy, .npy, a lazy Dask array: nothing to read
    attrs = _json_attributes(array)
    names = getattr(array.metadata, "dimension_names", None)
    if names is None and isinstance(attrs.get("_ARRAY_DIMENSIONS"), list):
        names = attrs["_ARRAY_DIMENSIONS"]
    meta = InputMetadata(names if names and len(names) == rank and all(names) else None,
                         {k: v for k, v in attrs.items() if k not in _NOT_COPIED})
    ome = _ome_of(source, rank)
    if ome is not None:
        names_ome, meta.scale, meta.translation, meta.units = ome
        meta.names = meta.names or names_ome
    return meta


def _json_attributes(array):
    try:
        attrs = dict(array.attrs)
        json.dumps(attrs)
    except (TypeError, ValueError):
        return {}
    return attrs


def _hdf5(dataset, rank):
    attrs = {}
    for key, value in dataset.attrs.items():
        value = value.tolist() if hasattr(value, "tolist") else value
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        attrs[key] = value
    names = [dim.label for dim in dataset.dims] if hasattr(dataset, "dims") else []
    scale = units = None
    size = attrs.get("element_size_um")
    if isinstance(size, list) and len(size) in (rank, rank - 1) and all(
            isinstance(s, (int, float)) for s in size):
        scale = [*size, 1.0] if len(size) == rank - 1 else size  # no size for channels
        units = ["micrometer" if i < len(size) else None for i in range(rank)]
    return InputMetadata(names if len(names) == rank and all(names) else None, attrs, scale,
                         None, units)


def _ome_of(source, rank):
    """``(names, scale, translation, units)`` from an OME-NGFF group holding the input."""
    if source.kind != "zarr" or source.path is None:
        return None
    path = Path(source.path)
    group = _attributes_of(path.parent)
    multiscales = (group.get("ome") or {}).get("multiscales") or group.get("multiscales")
    if not isinstance(multiscales, list):
        return None
    for image in multiscales:
        axes = image.get("axes") if isinstance(image, dict) else None
        if not (isinstance(axes, list) and len(axes) == rank):
            continue
        for dataset in image.get("datasets") or ():
            if isinstance(dataset, dict) and dataset.get("path") == path.name:
                scale, translation = [1.0] * rank, [0.0] * rank
                for transforms in (dataset.get("coordinateTransformations"),
                                   image.get("coordinateTransformations")):
                    _apply(transforms, scale, translation)
                names = [a.get("name") if isinstance(a, dict) else a for a in axes]
                units = [a.get("unit") if isinstance(a, dict) else None for a in axes]
                return names, scale, translation, units
    return None


def _apply(transforms, scale, translation):
    """Compose OME-NGFF ``scale`` then ``translation`` transforms onto ``scale``/``translation``."""
    for t in transforms or ():
        if not isinstance(t, dict):
            continue
        values = t.get("scale") if t.get("type") == "scale" else t.get("translation")
        if not (isinstance(values, list) and len(values) == len(scale)):
            continue
        for i, v in enumerate(values):
            if t.get("type") == "scale":
                scale[i] *= v
                translation[i] *= v
            elif t.get("type") == "translation":
                translation[i] += v


def _attributes_of(folder):
    for name, key in (("zarr.json", "attributes"), (".zattrs", None)):
        try:
            document = json.loads((Path(folder) / name).read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(document, dict):
            found = document.get(key, {}) if key else document
            return found if isinstance(found, dict) else {}
    return {}


def _centre(axis_info):
    """Where output sample 0 sits, in input samples (pixel centres): see the module doc."""
    jump = Fraction(axis_info.jump)
    if axis_info.offset is None:
        return None
    centre = axis_info.offset + Fraction(axis_info.receptive_field - 1, 2)
    if jump < 1:  # up-sampling: the output sample's own share of the input sample
        centre -= (1 - jump) / 2
    return float(centre)


def for_output(meta, layout, out_layout, program, out_full):
    """``(dimension_names, attributes, ome)`` for the output.

    ``ome`` is ``{"axes": [...], "scale": [...], "translation": [...]}`` over the
    output's stored axes, in OME-NGFF terms (:func:`ome_axes`).
    """
    full_rank = len(out_full)
    spatial = program.spatial_axes
    channel_axis = shapes.channel_index(full_rank, program.data_format)
    in_kept = _kept(layout, full_rank)
    out_kept = out_layout._kept(full_rank, out_full)
    full_names = [None] * full_rank
    full_scale = [1.0] * full_rank
    full_shift = [0.0] * full_rank
    full_units = [None] * full_rank
    for stored, axis in enumerate(in_kept):
        if meta.names:
            full_names[axis] = meta.names[stored]
        if meta.scale:
            full_scale[axis] = meta.scale[stored]
        if meta.translation:
            full_shift[axis] = meta.translation[stored]
        if meta.units:
            full_units[axis] = meta.units[stored]
    for info, axis in zip(program.axis_info, spatial, strict=True):
        centre = _centre(info)
        full_shift[axis] += full_scale[axis] * (centre or 0.0)
        full_scale[axis] *= float(Fraction(info.jump))
    defaults = _default_names(len(spatial), program.data_format, full_rank)
    names = [full_names[a] or defaults[a] for a in out_kept]
    if len(set(names)) != len(names):  # clashing names: cthulhu's own for every axis
        names = [defaults[a] for a in out_kept]
    kinds = ["space" if a in spatial else "channel" if a == channel_axis else None
             for a in out_kept]
    ome = {"axes": ome_axes(names, kinds, [full_units[a] for a in out_kept]),
           "scale": [full_scale[a] for a in out_kept],
           "translation": [full_shift[a] for a in out_kept]}
    return names, dict(meta.attributes), ome


def _kept(layout, full_rank):
    """The model-side axes a stored input keeps (its channels axis is kept iff it has one)."""
    channel_axis = shapes.channel_index(full_rank, layout.data_format)
    return [a for a in range(full_rank)
            if not (a == 0 and not layout.has_batch)
            and not (a == channel_axis and not layout.has_channels)]


def _default_names(rank, data_format, full_rank):
    spatial = list(_SPACE_NAMES[-rank:]) if rank <= 3 else [f"s{i}" for i in range(rank)]
    return list(shapes.join_channels("b", spatial, "c", data_format))[:full_rank]


def ome_axes(names, kinds, units):
    """OME-NGFF ``axes`` entries: ``{"name", "type", "unit"}`` (type/unit where known)."""
    axes = []
    for name, kind, unit in zip(names, kinds, units, strict=True):
        entry = {"name": name}
        if kind is not None:
            entry["type"] = kind
        if unit and kind == "space":
            entry["unit"] = unit
        axes.append(entry)
    return axes
