"""Argument checks shared by the layers (not shapes: those live in cthulhu.shapes).

Each check raises at construction with a message of the form
``<Layer> '<name>': <argument> must be ..., got <value>``, the same form as
``cthulhu.shapes`` errors, so users read one style of message everywhere.
"""

import math
import numbers
import struct

from cthulhu import config

# The size limit and the label of cthulhu.shapes' errors ("Cthalpa2D 'conv2d_1'"), so that
# layers and shapes refuse the same sizes with messages that read alike.
from cthulhu.shapes._arith import check_size_limit
from cthulhu.shapes.errors import owner_label
from cthulhu.shapes.layout import DEFAULT_DATA_FORMAT, normalize_data_format, spatial_data_format

__all__ = ["positive_int", "rate", "boolean", "non_negative_float", "layer_error", "data_format",
           "floatx", "seed", "noise_shape"]


def layer_error(owner, message, cls=ValueError):
    """Build (not raise) an error whose message starts with the layer's label."""
    label = owner_label(owner)
    return cls(f"{label}: {message}" if label else message)


def positive_int(value, name, owner):
    """``value`` as a positive Python int; bools and non-integers are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise layer_error(owner, f"{name} must be a positive integer, got {value!r}", TypeError)
    if value <= 0:
        raise layer_error(owner, f"{name} must be a positive integer, got {value!r}")
    return check_size_limit(int(value), name, owner)


def rate(value, name, owner):
    """A dropout rate: a real number in ``[0, 1)``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise layer_error(owner, f"{name} must be a float in [0, 1), got {value!r}", TypeError)
    if not 0.0 <= float(value) < 1.0:
        raise layer_error(owner, f"{name} must be a float in [0, 1), got {value!r}")
    return float(value)


def non_negative_float(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise layer_error(owner, f"{name} must be a non-negative float, got {value!r}", TypeError)
    if not float(value) >= 0.0:
        raise layer_error(owner, f"{name} must be a non-negative float, got {value!r}")
    return float(value)


def boolean(value, name, owner):
    if not isinstance(value, bool):
        raise layer_error(owner, f"{name} must be True or False, got {value!r}", TypeError)
    return value


def data_format(value, owner, rank=None):
    """The layer's ``data_format``; ``None`` means the user's ``image_data_format``.

    ``cthulhu.shapes`` reads no configuration file, so the layers resolve the
    configured default (``cthulhu.config``) here and hand it to the shape
    algebra. With ``rank``, the 1D rule of the cropping, padding, up-sampling
    and spatial-dropout layers applies (always channels_last).
    """
    default = config.image_data_format() if value is None else DEFAULT_DATA_FORMAT
    if rank is None:
        return normalize_data_format(value, owner, default=default)
    return spatial_data_format(rank, value, owner, default=default)


def floatx(value, name, owner, minimum=None):
    """A finite real number rounded to float32, as Keras 2 stores such arguments.

    Keras 2 keeps ``LeakyReLU(alpha)``, ``ELU(alpha)``, ``ReLU(...)`` and
    ``ThresholdedReLU(theta)`` as ``backend.cast_to_floatx(value)`` (float32),
    so a float64 input is multiplied by the float32 value; doing the same gives
    Keras' numbers and configs (``0.30000001192092896`` for ``0.3``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise layer_error(owner, f"{name} must be a float, got {value!r}", TypeError)
    value = float(value)
    bound = f" >= {minimum}" if minimum is not None else ""
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        raise layer_error(owner, f"{name} must be a finite float{bound}, got {value!r}")
    try:
        rounded = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        rounded = math.inf
    if math.isinf(rounded):
        raise layer_error(owner, f"{name} must fit in float32 (|{name}| < 3.4e38), "
                                 f"got {value!r}")
    return rounded


def seed(value, owner):
    """A random seed: ``None`` or an int >= 0 (NumPy seeds its generators with those)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise layer_error(owner, f"seed must be an int or None, got {value!r}", TypeError)
    if value is not None and value < 0:
        raise layer_error(owner, f"seed must be a non-negative int, got {value!r}")
    return value


def noise_shape(value, owner):
    """A dropout mask shape: ``None`` or a tuple of positive ints and ``None`` entries."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0)
            for d in value):
        raise layer_error(owner, f"noise_shape must be a tuple of positive ints or None, "
                                 f"got {value!r}")
    return tuple(value)


def resolve_noise_shape(value, shape, owner):
    """The mask shape for an input of ``shape``: ``None`` entries filled in, checked."""
    shape = tuple(shape)
    if value is None:
        return shape
    if len(value) != len(shape):
        raise layer_error(owner, f"noise_shape {value} does not match the rank of the input "
                                 f"shape {shape}")
    out = tuple(n if d is None else d for d, n in zip(value, shape, strict=True))
    for d, n in zip(out, shape, strict=True):
        if d != 1 and d != n:
            raise layer_error(owner, f"noise_shape {value} cannot be broadcast to the input "
                                     f"shape {shape}")
    return out
