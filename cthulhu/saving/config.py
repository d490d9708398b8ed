"""Layers and models as ``{'class_name', 'config'}`` dicts and JSON text, and back.

:func:`serialize` and :func:`deserialize` are :func:`cthulhu.names.serialize_layer`
and :func:`cthulhu.names.deserialize_layer` (which the models use for their
own layers) for a whole layer or model, as a reader of untrusted text needs
them: :func:`deserialize` opens the custom-object scope and the safe-mode scope
of :mod:`cthulhu.names.resolver` around the build (in safe mode nothing named
in the config is imported or called), and :func:`model_from_json` parses the
text within the size and nesting limits of :mod:`cthulhu.saving.model_file`.

Examples
--------
>>> from cthulhu.layers import Daoloth
>>> from cthulhu.models import Pile
>>> from cthulhu.saving import model_from_json
>>> model = Pile([Daoloth(2, input_shape=(3,), name="dense")], name="tiny")
>>> again = model_from_json(model.to_json())
>>> again.name, again.output_shape, [layer.name for layer in again.layers]
('tiny', (None, 2), ['dense'])
"""

from __future__ import annotations

import numpy as np

from cthulhu.names import custom_object_scope, deserialize_layer, safe_mode_scope, serialize_layer
from cthulhu.saving.model_file import parse_json


def _jsonable(value):
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def serialize(layer) -> dict:
    """``{'class_name', 'config'}`` of a layer or model, with JSON types (lists, Python numbers)."""
    return _jsonable(serialize_layer(layer))


def deserialize(config, custom_objects=None, safe_mode=True):
    """A new layer or model from ``{'class_name', 'config'}``.

    Parameters
    ----------
    custom_objects : dict, optional
        Name -> class or function, looked up before cthulhu's own.
    safe_mode : bool
        True (default): functions named in the config resolve only from the
        allow-list, stored code is refused (``docs/security.md``).
    """
    with custom_object_scope(custom_objects), safe_mode_scope(safe_mode):
        return deserialize_layer(config, custom_objects)


def model_from_config(config, custom_objects=None, safe_mode=True):
    """A model (or layer) from ``{'class_name', 'config'}`` as ``serialize`` returns it."""
    return deserialize(config, custom_objects, safe_mode)


def model_from_json(text, custom_objects=None, safe_mode=True):
    """A model from ``model.to_json()`` (size and nesting limited as in ``load_model``)."""
    return deserialize(parse_json(text, "model_from_json"), custom_objects, safe_mode)
