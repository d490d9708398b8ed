"""Layer specs: the plain dicts the chain and graph functions understand.

A *spec* describes one layer by what matters to shapes, e.g.::

    {"kind": "conv", "rank": 3, "filters": 8, "kernel_size": (3, 3, 3),
     "strides": (1, 1, 1), "padding": "same", "dilation_rate": (1, 1, 1),
     "data_format": "channels_last", "name": "conv3d_1", "class_name": "Cthalpa3D"}

``"kind"`` names a :class:`~cthulhu.shapes.kinds.Kind` of :data:`~cthulhu.shapes.kinds.KINDS`,
which says what the other keys are (``kind.keys``; the spatial kinds also have
``rank`` and ``data_format``; ``name`` and ``class_name`` are optional
everywhere) and checks them: see the table in :mod:`cthulhu.shapes.kinds`.

:func:`spec_from_config` builds a spec from a layer class name (cthulhu's, or
the Keras name it stands for; see :mod:`cthulhu.shapes.catalog`) and a
``get_config()``-style dict, filling in the documented defaults;
:func:`layer_spec` does the same for a layer object.

:func:`normalize_spec` checks every argument once (through the kind) and adds
``normalized``, ``shape_key`` (a hashable summary) and ``fast_shape``: the
formula function and its prepared arguments, which
:func:`~cthulhu.shapes.chain.chain` calls without validating the arguments
again (edit a spec's arguments only before normalising it).
"""

from .catalog import CATALOG, REQUIRED, keras_names, lookup
from .errors import ShapeError, ShapeTypeError, owner_label, shape_error
from .kinds import KINDS, get_kind
from .layout import DEFAULT_DATA_FORMAT

__all__ = ["spec_from_config", "layer_spec", "normalize_spec", "spec_owner",
           "LAYER_SIGNATURES", "KEYWORD_ONLY", "KERAS_NAMES", "SPATIAL_KINDS"]

# Views of the catalog and the kinds, kept for readers of the tables they replaced.
#: class name -> (kind, spatial rank, ((parameter, default), ...)); REQUIRED marks no default.
LAYER_SIGNATURES = {row.name: (row.kind, row.rank, row.signature) for row in CATALOG.values()}
#: class name -> keyword-only ((parameter, default), ...) beyond the documented signature.
KEYWORD_ONLY = {row.name: row.keyword_only for row in CATALOG.values() if row.keyword_only}
#: Keras 2 class name -> cthulhu name, where they differ.
KERAS_NAMES = keras_names()
#: The kinds a block-wise runner can run on blocks (whatever the layout).
SPATIAL_KINDS = tuple(name for name, kind in KINDS.items()
                      if kind.role in ("pointwise", "window", "pad", "crop", "resample"))


def spec_owner(spec):
    """The label errors use for a spec: ``"Cthalpa2D 'conv_1'"``, or its kind."""
    return owner_label(spec)


def spec_from_config(class_name, config=None, *, default_data_format=DEFAULT_DATA_FORMAT):
    """The normalised spec of layer ``class_name`` with the given ``get_config()`` values.

    Parameters
    ----------
    class_name : str
        A cthulhu layer name (``"Cthalpa2D"``) or its Keras name (``"Conv2D"``).
    config : dict, optional
        Constructor arguments; missing ones take the documented defaults.
    default_data_format : str
        What a ``data_format`` of ``None`` stands for. ``cthulhu.shapes`` reads
        no configuration file: ``cthulhu shape`` passes the user's
        ``image_data_format`` here.

    Returns
    -------
    dict
        A spec as described in this module's docstring, with tuples and an
        explicit ``data_format``.

    Raises
    ------
    ShapeError
        Unknown class, a missing required argument, or a bad argument value
        (the message names the layer, the argument and the value).

    Examples
    --------
    >>> spec = spec_from_config("Cthalpa2D", {"filters": 64, "kernel_size": 3, "strides": 2})
    >>> spec["kind"], spec["kernel_size"], spec["strides"], spec["padding"]
    ('conv', (3, 3), (2, 2), 'valid')
    """
    config = dict(config or {})
    row = lookup(class_name)
    if row is None:
        known = ", ".join(sorted(CATALOG))
        raise ShapeError(f"unknown layer {class_name!r}; known layers: {known}")
    name = config.get("name")
    owner = f"{row.name} {name!r}" if name else row.name
    kind = get_kind(row.kind)
    spec = {"kind": kind.name, "class_name": row.name}
    if name:
        spec["name"] = name
    if row.rank is not None:
        spec["rank"] = row.rank
    for param, default in row.signature + row.keyword_only:
        if param in config:
            value = config[param]
        elif default is REQUIRED:
            raise shape_error(owner, f"missing required argument {param!r}")
        else:
            value = default
        if param in kind.keys:
            spec[param] = value
    if spec.get("data_format", "") is None:
        spec["data_format"] = default_data_format
    return normalize_spec(spec)


def normalize_spec(spec):
    """A copy of ``spec`` with every argument in canonical form (tuples, lower-case strings).

    Accepts the loose forms a user may write (``kernel_size=3``,
    ``padding="SAME"``, ``data_format=None`` for channels_last) and checks them
    with the kind's rules (:meth:`~cthulhu.shapes.kinds.Kind.normalize`).
    """
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ShapeTypeError(f"a layer spec must be a dict with a 'kind', got {spec!r}")
    kind = get_kind(spec["kind"])
    out = kind.normalize(spec, spec_owner(spec))
    # chain() trusts a spec carrying this mark and skips normalising it again; the key
    # (everything that determines the output shape) lets callers memoise shapes.
    out["normalized"] = True
    out["shape_key"] = None if kind.role == "opaque" else _shape_key(out)
    out["fast_shape"] = kind.fast(out)
    return out


_NOT_SHAPE = {"name", "class_name", "normalized", "shape_key", "fast_shape", "layer",
              "interpolation"}


def _shape_key(spec):
    """A hashable summary of a normalised spec, or None when it holds unhashable values."""
    key = tuple(sorted((k, v) for k, v in spec.items() if k not in _NOT_SHAPE))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def layer_spec(layer, *, default_data_format=DEFAULT_DATA_FORMAT):
    """The spec of a layer object (or a spec dict, or a Keras-style ``{"class_name", "config"}``).

    Uses ``layer.shape_spec()`` when the layer provides it; otherwise the class
    name and ``layer.get_config()`` through :func:`spec_from_config` (with
    ``default_data_format``, for configs that leave ``data_format`` to it).
    """
    if isinstance(layer, dict):
        if "kind" in layer:
            return normalize_spec(layer)
        if "class_name" in layer:
            return spec_from_config(layer["class_name"], layer.get("config", {}),
                                    default_data_format=default_data_format)
        raise ShapeTypeError(f"a layer spec must be a dict with a 'kind', got {layer!r}")
    shape_spec = getattr(layer, "shape_spec", None)
    if callable(shape_spec):
        spec = shape_spec()
        if spec is not None:
            spec = normalize_spec(spec)
            spec.setdefault("class_name", type(layer).__name__)
            if getattr(layer, "name", None):
                spec.setdefault("name", layer.name)
            if spec["kind"] == "opaque" and "layer" not in spec:
                spec["layer"] = layer
            return spec
    get_config = getattr(layer, "get_config", None)
    if not callable(get_config):
        raise ShapeTypeError(f"cannot describe {layer!r}: it is neither a spec dict nor a layer "
                             "with shape_spec() or get_config()")
    class_name = type(layer).__name__
    if lookup(class_name) is None:
        if callable(getattr(layer, "compute_output_shape", None)):
            # A layer this module does not know: its own shape method, and the end of
            # the spatial analysis.
            return {"kind": "opaque", "layer": layer, "class_name": class_name,
                    "name": getattr(layer, "name", None), "normalized": True}
    spec = spec_from_config(class_name, get_config(), default_data_format=default_data_format)
    if spec["kind"] == "opaque":
        spec["layer"] = layer
    return spec
