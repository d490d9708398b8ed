"""Turning layers into ``{'class_name', 'config'}`` dicts and back.

Layer classes register themselves by class name::

    from cthulhu.engine.serialization import register_layer

    @register_layer
    class Cthalpa2D(Cthalpa): ...

``deserialize_layer`` looks names up in, first, the ``custom_objects`` given
to it (or to an enclosing :func:`custom_object_scope`, which ``load_model``
opens), then this registry. Activations, initializers, regularizers and
constraints use :func:`lookup_custom` so a custom object passed to
``load_model`` is found wherever the config names it.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib

_LAYERS: dict[str, type] = {}
_CUSTOM: contextvars.ContextVar = contextvars.ContextVar("cthulhu_custom_objects", default=None)


def register_layer(cls=None, *, name=None):
    """Class decorator registering a layer class for deserialization (``@register_layer``)."""
    def deco(klass):
        key = name or klass.__name__
        existing = _LAYERS.get(key)
        if existing is not None and existing is not klass and (
                existing.__module__, existing.__qualname__) != (klass.__module__, klass.__qualname__):
            raise TypeError(f"two layer classes registered as {key!r}: {existing} and {klass}")
        _LAYERS[key] = klass
        return klass
    return deco if cls is None else deco(cls)


def registered_layers() -> dict:
    """A copy of the registry: class name -> class."""
    _load_builtin_layers()
    return dict(_LAYERS)


def _load_builtin_layers():
    # The layer modules register on import; the models and InputLayer live in the engine.
    importlib.import_module("cthulhu.engine.input_layer")
    importlib.import_module("cthulhu.engine.pile")
    importlib.import_module("cthulhu.engine.lump")
    importlib.import_module("cthulhu.layers")


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


def get_layer_class(class_name, custom_objects=None):
    found = lookup_custom(class_name, custom_objects)
    if found is not None:
        return found
    if class_name not in _LAYERS:
        _load_builtin_layers()
    if class_name not in _LAYERS:
        raise ValueError(f"Unknown layer: {class_name!r}. Register it with "
                         "cthulhu.engine.serialization.register_layer or pass it in custom_objects.")
    return _LAYERS[class_name]


def serialize_layer(layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize_layer(config, custom_objects=None):
    """A new layer from ``{'class_name', 'config'}``."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"a layer config must be a dict with 'class_name' and 'config', got {config!r}")
    cls = get_layer_class(config["class_name"], custom_objects)
    with custom_object_scope(custom_objects):
        return cls.from_config(dict(config.get("config") or {}))
