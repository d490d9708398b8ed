"""Names: how a name (in code, or in a file) becomes a cthulhu class or function.

The ground floor above :mod:`cthulhu.shapes`: pure Python, importing nothing
from cthulhu but the shape algebra's catalog. It owns

- the layer registry (:func:`register_layer`, :func:`registered_layers`,
  :func:`get_layer_class`, which finds cthulhu's own classes through the
  catalog rows' module strings) and ``{'class_name', 'config'}`` dicts
  (:func:`serialize_layer`, :func:`deserialize_layer`);
- custom objects (:func:`custom_object_scope`, :func:`lookup_custom`), which
  activations, initializers, regularizers, constraints and layers consult;
- the allow-list of functions named in files (:mod:`cthulhu.names.resolver`:
  :func:`resolve`, :func:`register_function`, :func:`safe_mode_scope`), and
  functions inside configs (:mod:`cthulhu.names.functions`).

It never imports its registrants: layers, models and the activation-like
modules import it and register themselves (``docs/internals.md``).

Examples
--------
>>> from cthulhu import names
>>> @names.register_function(name="docs.names.halve")
... def halve(x):
...     return x / 2
>>> names.resolve("docs.names.halve") is halve
True
"""

from cthulhu.names.functions import deserialize_function, function_arity, serialize_function
from cthulhu.names.registry import (
    BUILTIN_MODELS,
    custom_object_scope,
    deserialize_layer,
    get_layer_class,
    lookup_custom,
    register_layer,
    registered_layers,
    serialize_layer,
)
from cthulhu.names.resolver import (
    in_safe_mode,
    register_function,
    registered_functions,
    resolve,
    safe_mode_scope,
)

__all__ = [
    "BUILTIN_MODELS", "register_layer", "registered_layers", "get_layer_class",
    "custom_object_scope", "lookup_custom", "serialize_layer", "deserialize_layer",
    "register_function", "registered_functions", "resolve", "safe_mode_scope", "in_safe_mode",
    "serialize_function", "deserialize_function", "function_arity",
]
