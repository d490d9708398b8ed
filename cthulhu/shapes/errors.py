"""The one exception type of the shape algebra, and how messages name their owner.

Every message has the form ``<owner>: <argument> <problem>, got <value>``, e.g.
``Cthalpa2D 'conv2d_1': kernel_size must be positive integers, got (3, 0)``, so a
user can tell which layer, which argument and which value went wrong.
"""

__all__ = ["ShapeError", "ShapeTypeError", "owner_label", "shape_error"]


class ShapeError(ValueError):
    """A size, shape or shape-related argument that cannot be accepted."""


class ShapeTypeError(ShapeError, TypeError):
    """A shape argument of the wrong type (catchable as ``ValueError`` or ``TypeError``)."""


def owner_label(owner) -> str:
    """``"Cthalpa2D 'conv2d_1'"`` for a layer, the string itself for a string, ``""`` for None.

    A layer spec (a dict, see :mod:`cthulhu.shapes.spec`) is named by its
    ``class_name`` (else its ``kind``) and ``name``: the chains pass specs as
    owners, so that the label is only built when an error is raised.
    """
    if owner is None:
        return ""
    if isinstance(owner, str):
        return owner
    if isinstance(owner, dict):
        label = owner.get("class_name") or owner.get("kind", "layer")
        name = owner.get("name")
        return f"{label} {name!r}" if name else label
    cls = type(owner).__name__
    name = getattr(owner, "name", None)
    return f"{cls} {name!r}" if name else cls


def shape_error(owner, message: str, cls=ShapeError) -> ShapeError:
    """Build (not raise) a ``ShapeError`` whose message starts with the owner's label."""
    label = owner_label(owner)
    return cls(f"{label}: {message}" if label else message)
