"""HDF5 read as data, through h5py, with every object checked before it is read.

- Only hard links are followed: soft links (cycles) and external links (other files on
  disk) are refused, as are committed datatypes and user-defined links.
- A dataset is read only if its dtype is a plain number (bool, int, uint, float; or the
  2-byte opaque type Keras 3 writes for bfloat16), it is not virtual, has no external
  storage, uses only HDF5's built-in filters (no filter plugin is ever loaded), and its
  declared size fits the weight budget and the expansion bound.
- Attributes are read only as strings or small numbers; string arrays are read element by
  element through a fixed-size buffer, so repeated references to one large heap object
  cannot multiply.
"""

from __future__ import annotations

import math

import numpy as np

from cthulhu._extras import install_hint
from cthulhu.saving.keras._limits import KerasFileError

_EXTRA = install_hint("keras")
# HDF5's built-in filters: deflate, shuffle, fletcher32, szip, nbit, scaleoffset; and h5py's lzf.
_BUILTIN_FILTERS = {1, 2, 3, 4, 5, 6, 32000}


def require_h5py(where):
    try:
        import h5py
    except ImportError:
        raise ImportError(f"{where}: reading Keras HDF5 files (.h5, .keras) needs h5py, an "
                          f"optional dependency of cthulhu: {_EXTRA}") from None
    return h5py


def open_file(source, where):
    """An h5py.File for a path or a seekable binary file object, read-only."""
    h5py = require_h5py(where)
    try:
        return h5py.File(source, "r")
    except (OSError, ValueError) as exc:
        raise KerasFileError(f"{where}: not a readable HDF5 file ({_first_line(exc)})") from None


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def children(group, where, budget):
    """[(name, 'group' | 'dataset')] of a group's hard links, in HDF5's name order."""
    import h5py

    out = []
    try:
        names = list(group.keys())
    except (OSError, RuntimeError, ValueError) as exc:
        raise KerasFileError(f"{where}: cannot list {group.name!r} ({_first_line(exc)})") \
            from None
    for name in names:
        budget.spend_object()
        try:
            link = group.get(name, getlink=True)
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise KerasFileError(f"{where}: cannot read link {name!r} in {group.name!r} "
                                 f"({_first_line(exc)})") from None
        if isinstance(link, h5py.ExternalLink):
            raise KerasFileError(f"{where}: {group.name}/{name} is an external link to "
                                 f"{link.filename!r}; refusing to open other files")
        if isinstance(link, h5py.SoftLink):
            raise KerasFileError(f"{where}: {group.name}/{name} is a soft link; Keras never "
                                 "writes them, refusing it")
        if not isinstance(link, h5py.HardLink):
            raise KerasFileError(f"{where}: {group.name}/{name} is a user-defined link; "
                                 "refusing it")
        try:
            kind = group.get(name, getclass=True)
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise KerasFileError(f"{where}: cannot open {group.name}/{name} "
                                 f"({_first_line(exc)})") from None
        if kind is h5py.Group:
            out.append((name, "group"))
        elif kind is h5py.Dataset:
            out.append((name, "dataset"))
        else:
            raise KerasFileError(f"{where}: {group.name}/{name} is a {getattr(kind, '__name__', kind)}, "
                                 "not a group or dataset; refusing it")
    return out


def subgroup(group, name, where):
    try:
        return group[name]
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        raise KerasFileError(f"{where}: cannot open {group.name}/{name} ({_first_line(exc)})") \
            from None


def _attr_id(obj, name, where):
    try:
        if name not in obj.attrs:
            return None
        return obj.attrs.get_id(name)
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        raise KerasFileError(f"{where}: cannot read attribute {name!r} of {obj.name!r} "
                             f"({_first_line(exc)})") from None


def attr_text(obj, name, where, limits, max_bytes=None):
    """A scalar string attribute as ``str`` (None if absent)."""
    from h5py import h5t

    aid = _attr_id(obj, name, where)
    if aid is None:
        return None
    cap = limits.max_config_bytes if max_bytes is None else max_bytes
    tid = aid.get_type()
    if tid.get_class() != h5t.STRING or aid.shape not in ((), (1,)):
        raise KerasFileError(f"{where}: attribute {name!r} of {obj.name!r} is not one string")
    if not tid.is_variable_str() and tid.get_size() > cap:
        raise KerasFileError(f"{where}: attribute {name!r} is {tid.get_size()} bytes, more "
                             f"than {cap} (Limits.max_config_bytes)")
    try:
        value = obj.attrs[name]
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        raise KerasFileError(f"{where}: cannot read attribute {name!r} ({_first_line(exc)})") \
            from None
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0]
    if isinstance(value, (bytes, np.bytes_)):
        if len(value) > cap:
            raise KerasFileError(f"{where}: attribute {name!r} is {len(value)} bytes, more "
                                 f"than {cap}")
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise KerasFileError(f"{where}: attribute {name!r} is not UTF-8 text") from None
    if not isinstance(value, str):
        raise KerasFileError(f"{where}: attribute {name!r} is not a string")
    if len(value) > cap:
        raise KerasFileError(f"{where}: attribute {name!r} is {len(value)} characters, more "
                             f"than {cap}")
    return value


def attr_names(obj, name, where, limits):
    """A list-of-names attribute (``layer_names``, ``weight_names``), None if absent.

    Keras splits a long list over ``name0``, ``name1``, ... (HDF5's 64 KiB header limit);
    an empty Python list was written as an empty float array.
    """
    if _attr_id(obj, name, where) is not None:
        return _read_names(obj, name, where, limits)
    if _attr_id(obj, f"{name}0", where) is None:
        return None
    names = []
    chunk = 0
    while _attr_id(obj, f"{name}{chunk}", where) is not None:
        names.extend(_read_names(obj, f"{name}{chunk}", where, limits))
        if len(names) > limits.max_names:
            raise KerasFileError(f"{where}: more than {limits.max_names} {name}")
        chunk += 1
    return names


def _read_names(obj, name, where, limits):
    from h5py import h5t

    aid = _attr_id(obj, name, where)
    tid = aid.get_type()
    shape = aid.shape
    count = int(np.prod(shape)) if shape else 1
    if count > limits.max_names:
        raise KerasFileError(f"{where}: attribute {name!r} holds {count} names, more than "
                             f"{limits.max_names} (Limits.max_names)")
    if tid.get_class() == h5t.FLOAT and count == 0:
        return []  # h5py wrote Keras's empty list as float64[0]
    if tid.get_class() != h5t.STRING or len(shape) > 1:
        raise KerasFileError(f"{where}: attribute {name!r} of {obj.name!r} is not a list of "
                             "names")
    width = limits.max_name_bytes
    if not tid.is_variable_str():
        if tid.get_size() > width:
            raise KerasFileError(f"{where}: attribute {name!r} has names of {tid.get_size()} "
                                 f"bytes, more than {width} (Limits.max_name_bytes)")
        width = tid.get_size()
    # Read through a fixed-width buffer: HDF5 converts each variable-length string into it,
    # so memory is count * width whatever the heap holds.
    out = np.zeros(shape if shape else (), dtype=f"S{width + 1}")
    try:
        aid.read(out, mtype=h5t.py_create(out.dtype))
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        raise KerasFileError(f"{where}: cannot read attribute {name!r} ({_first_line(exc)})") \
            from None
    names = []
    for raw in np.atleast_1d(out):
        if len(raw) > width:
            raise KerasFileError(f"{where}: a name in attribute {name!r} is longer than "
                                 f"{width} bytes (Limits.max_name_bytes)")
        try:
            names.append(bytes(raw).decode("utf-8"))
        except UnicodeDecodeError:
            raise KerasFileError(f"{where}: attribute {name!r} holds a name that is not "
                                 "UTF-8") from None
    return names


def read_array(dataset, where, budget):
    """A weight dataset as a NumPy array, after every check (see the module docstring)."""
    from h5py import h5t

    path = dataset.name
    try:
        dtype = dataset.dtype
        shape = dataset.shape
        virtual = dataset.is_virtual
        plist = dataset.id.get_create_plist()
        externals = plist.get_external_count()
        filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
        stored = dataset.id.get_storage_size()
        type_class = dataset.id.get_type().get_class()
    except (OSError, RuntimeError, ValueError, TypeError, KeyError) as exc:
        raise KerasFileError(f"{where}: cannot inspect dataset {path!r} ({_first_line(exc)})") \
            from None
    if virtual:
        raise KerasFileError(f"{where}: dataset {path!r} is a virtual dataset (it maps other "
                             "files); refusing it")
    if externals:
        raise KerasFileError(f"{where}: dataset {path!r} keeps its data in external files; "
                             "refusing it")
    unknown = sorted(set(filters) - _BUILTIN_FILTERS)
    if unknown:
        raise KerasFileError(f"{where}: dataset {path!r} needs HDF5 filter plugin(s) {unknown}; "
                             "refusing to load plugins")
    if shape is None:
        raise KerasFileError(f"{where}: dataset {path!r} has no data (null dataspace)")
    bfloat16 = False
    if type_class == h5t.OPAQUE and dtype.itemsize == 2 and _is_bfloat16(dataset, where):
        bfloat16 = True
    elif dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biuf":
        raise KerasFileError(f"{where}: dataset {path!r} has dtype {dtype}, not a plain "
                             "numeric type; refusing it")
    if len(shape) > 32 or any(d < 0 for d in shape):
        raise KerasFileError(f"{where}: dataset {path!r} has shape {shape}")
    declared = math.prod(shape) * dtype.itemsize
    budget.spend_weights(declared, f"dataset {path!r} (shape {shape}, {dtype})")
    budget.check_expansion(declared, stored, f"dataset {path!r}")
    try:
        if bfloat16:
            raw = np.empty(shape, dtype="<u2")
            dataset.id.read(_all(), _all(), raw, mtype=dataset.id.get_type())
            return (raw.astype("<u4") << 16).view("<f4")
        return np.asarray(dataset[()])
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        raise KerasFileError(f"{where}: cannot read dataset {path!r} ({_first_line(exc)})") \
            from None


def _all():
    from h5py import h5s

    return h5s.ALL


def _is_bfloat16(dataset, where):
    # Keras 3 stores bfloat16 as 2-byte opaque data tagged with a 'dtype' attribute
    from cthulhu.saving.keras._limits import Limits

    try:
        tag = attr_text(dataset, "dtype", where, Limits(), max_bytes=64)
    except KerasFileError:
        return False
    return tag == "bfloat16"
