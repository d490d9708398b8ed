"""Layer classes by name: the registry, custom objects, and ``{'class_name', 'config'}`` dicts.

Layer classes register themselves by class name::

    from cthulhu.names import register_layer

    @register_layer
    class Cthalpa2D(Cthalpa): ...

:func:`get_layer_class` looks a name up in, first, the ``custom_objects``
given to it (or to an enclosing :func:`custom_object_scope`, which
``load_model`` opens), then this registry, then cthulhu's own classes: a
public layer's catalog row (:mod:`cthulhu.shapes.catalog`) names the module
that defines it, and the models have the small table :data:`BUILTIN_MODELS`.
Importing that module (``importlib``, a lookup of cthulhu's own modules by a
string it owns, never a name read from a file) registers the class. This
module imports no registrant: the layers and models import it.

Activations, initializers, regularizers and constraints use
:func:`lookup_custom`, so a custom object passed to ``load_model`` is found
wherever a config names it.

Examples
--------
>>> from cthulhu.names import get_layer_class, deserialize_layer, serialize_layer
>>> get_layer_class("Daoloth").__module__
'cthulhu.layers.core'
>>> layer = deserialize_layer({"class_name": "Azatoth", "config": {"activation": "relu"}})
>>> serialize_layer(layer)["class_name"]
'Azatoth'
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib

from cthulhu.shapes.catalog import CATALOG

#: cthulhu's models, which are not layers of the catalog: class name -> defining module.
BUILTIN_MODELS = {"Pile": "cthulhu.engine.pile", "Lump": "cthulhu.engine.lump"}

_LAYERS: dict[str, type] = {}
_CUSTOM: contextvars.ContextVar = contextvars.ContextVar("cthulhu_custom_objects", default=None)


def register_layer(cls=None, *, name=None):
    """Class decorator registering a layer class for deserialization (``@register_layer``).

    ``name`` defaults to the class name. Registering a different class under a
    name already taken raises ``TypeError`` (re-registering the same class, e.g.
    on a module reload, is allowed).
    """
    def deco(klass):
        key = name or klass.__name__
        existing = _LAYERS.get(key)
        if existing is not None and existing is not klass and (
                existing.__module__, existing.__qualname__) != (klass.__module__, klass.__qualname__):
            raise TypeError(f"two layer classes registered as {key!r}: {existing} and {klass}")
        _LAYERS[key] = klass
        return klass
    return deco if cls is None else deco(cls)


def _builtin_modules():
    """The modules defining cthulhu's own layer and model classes, from the catalog and the models."""
    return dict.fromkeys([*(row.module for row in CATALOG.values()), *BUILTIN_MODELS.values()])


def registered_layers() -> dict:
    """A copy of the registry, cthulhu's own classes included: class name -> class."""
    for module in _builtin_modules():
        importlib.import_module(module)
    return dict(_LAYERS)


@contextlib.contextmanager
def custom_object_scope(objects):
    """Within this block, ``objects`` (name -> class/function) are found by every deserializer."""
    merged = {**(_CUSTOM.get() or {}), **dict(objects or {})}
    token = _CUSTOM.set(merged)
    try:
        yield merged
    finally:
        _CUSTOM.reset(token)


def lookup_custom(name, custom_objects=None):
    """The custom object called ``name`` (explicit dict first, then the active scope), or None."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return (_CUSTOM.get() or {}).get(name)


def _builtin_module_of(class_name):
    row = CATALOG.get(class_name)
    if row is not None:
        return row.module
    return BUILTIN_MODELS.get(class_name)


def get_layer_class(class_name, custom_objects=None):
    """The class a config's ``class_name`` names: custom objects, registered classes, cthulhu's own.

    Raises ``ValueError`` naming ``class_name`` when none of them has it.
    """
    found = lookup_custom(class_name, custom_objects)
    if found is not None:
        return found
    if class_name not in _LAYERS:
        module = _builtin_module_of(class_name) if isinstance(class_name, str) else None
        if module is not None:
            importlib.import_module(module)  # the class registers itself on import
    if class_name not in _LAYERS:
        raise ValueError(f"Unknown layer: {class_name!r}. Register it with "
                         "cthulhu.names.register_layer or pass it in custom_objects.")
    return _LAYERS[class_name]


def serialize_layer(layer) -> dict:
    """``{'class_name', 'config'}`` of a layer or model (Keras 2's format)."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize_layer(config, custom_objects=None):
    """A new layer (or model) from ``{'class_name', 'config'}``."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"a layer config must be a dict with 'class_name' and 'config', got {config!r}")
    cls = get_layer_class(config["class_name"], custom_objects)
    with custom_object_scope(custom_objects):
        return cls.from_config(dict(config.get("config") or {}))
