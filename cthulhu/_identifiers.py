"""Name and config-dict lookup shared by ``initializers``, ``regularizers`` and ``constraints``.

The three modules turn the same kinds of identifier into objects, the Keras 2
way: a name (``'l2'``), a ``{'class_name', 'config'}`` dict, an instance or a
plain callable. Only their tables, their word for the object (``kind``, used in
error messages) and what ``get(None)`` means differ; those stay in each module.
"""

from __future__ import annotations

from cthulhu.names import lookup_custom


class Configurable:
    """The shared base of initializers, regularizers and constraints: an object is
    rebuilt from its ``get_config()`` by passing it to the constructor as keywords."""

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def serialize(obj, base) -> dict | str:
    """``{'class_name', 'config'}`` for an instance of ``base``; otherwise the object's name."""
    if isinstance(obj, base):
        return {"class_name": type(obj).__name__, "config": obj.get_config()}
    return getattr(obj, "__name__", repr(obj))


def from_name(name, custom_objects, kind, table):
    """The object a plain-string identifier names: a custom object first, then ``table``.

    A class found is instantiated with its defaults; a custom non-class is returned as is.
    """
    found = lookup_custom(name, custom_objects)
    if found is not None:
        return found() if isinstance(found, type) else found
    factory = table.get(name)
    if factory is None:
        raise ValueError(f"Unknown {kind}: {name!r}")
    return factory()


def class_for(config, custom_objects, kind, table):
    """``(class, config)`` from a ``{'class_name', 'config'}`` dict: a custom object first, then ``table``."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret {kind} identifier: {config!r}")
    name = config["class_name"]
    cls = lookup_custom(name, custom_objects) or table.get(name)
    if cls is None:
        raise ValueError(f"Unknown {kind}: {name!r}")
    return cls, dict(config.get("config") or {})


def get(identifier, deserialize, kind):
    """An object from a name or config dict (via ``deserialize``), or a callable as is."""
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret {kind} identifier: {identifier!r}")
