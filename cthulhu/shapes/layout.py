"""Data formats: where the channels are. The one home of every ``data_format`` fact.

A shape is ``(batch, *spatial, channels)`` for ``'channels_last'`` and
``(batch, channels, *spatial)`` for ``'channels_first'``. Everything else in
cthulhu (layers, ops, devices, the command line) asks this module where the
channel and spatial axes are instead of comparing ``data_format`` to a string.

The shape algebra never reads the user's configuration file: ``None`` means
``default`` (``DEFAULT_DATA_FORMAT``, Keras' own default, unless the caller
passes another). The layers, the ops front-ends and ``cthulhu shape`` resolve
the user's ``image_data_format`` (``cthulhu.config``) first and pass it as
``default=``, so a configured ``channels_first`` still applies to them.
"""

from ._arith import is_int
from .errors import shape_error

__all__ = [
    "DATA_FORMATS", "DEFAULT_DATA_FORMAT", "normalize_data_format", "spatial_data_format",
    "is_channels_first", "is_channels_last", "channels_axis", "channel_index", "spatial_axes",
    "split_channels", "join_channels", "to_channels_last", "from_channels_last",
]

DATA_FORMATS = ("channels_last", "channels_first")
DEFAULT_DATA_FORMAT = "channels_last"


def normalize_data_format(value, owner=None, default=DEFAULT_DATA_FORMAT):
    """``'channels_last'`` or ``'channels_first'`` (any case); ``None`` means ``default``.

    Parameters
    ----------
    value : str or None
    owner : layer or str, optional
        Named in the error message.
    default : str
        What ``None`` stands for. ``cthulhu.shapes`` itself never reads the
        configuration file: callers that honour the user's ``image_data_format``
        pass ``default=cthulhu.config.image_data_format()``.

    Examples
    --------
    >>> normalize_data_format("Channels_First")
    'channels_first'
    >>> normalize_data_format(None), normalize_data_format(None, default="channels_first")
    ('channels_last', 'channels_first')
    """
    if value is None:
        value = default
    if not isinstance(value, str) or value.lower() not in DATA_FORMATS:
        raise shape_error(owner, "data_format must be 'channels_last' or 'channels_first' "
                                 f"(or None for the configured default), got {value!r}")
    return value.lower()


def spatial_data_format(rank, data_format, owner=None, default=DEFAULT_DATA_FORMAT):
    """The data format of a cropping, padding, up-sampling or spatial-dropout layer.

    Keras 2's 1D versions of these layers have no ``data_format``: they always
    work on ``(batch, steps, features)``, whatever is asked.

    >>> spatial_data_format(1, "channels_first")
    'channels_last'
    >>> spatial_data_format(2, None, default="channels_first")
    'channels_first'
    """
    if rank == 1:
        return "channels_last"
    return normalize_data_format(data_format, owner, default)


def is_channels_first(data_format):
    """Whether a *normalised* data format puts the channels before the spatial axes."""
    return data_format == "channels_first"


def is_channels_last(data_format):
    """Whether a *normalised* data format puts the channels last (``None``: no layout: no)."""
    return data_format == "channels_last"


def channels_axis(rank, data_format):
    """Index of the channels axis: ``1`` for channels_first, ``-1`` for channels_last.

    ``rank`` (the number of axes, or the spatial rank; both work since the
    index is counted from the end) only has to be a positive int. ``None``
    means channels_last.

    >>> channels_axis(4, "channels_first"), channels_axis(4, "channels_last")
    (1, -1)
    """
    if not is_int(rank) or rank < 1:
        raise shape_error(None, f"rank must be a positive integer, got {rank!r}")
    return 1 if normalize_data_format(data_format) == "channels_first" else -1


def channel_index(ndim, data_format):
    """The channels axis of an ``ndim``-axis array, counted from 0: ``1`` or ``ndim - 1``."""
    return 1 if data_format == "channels_first" else ndim - 1


def spatial_axes(ndim, data_format):
    """Indices of the spatial axes of an ``ndim``-axis array (batch and channels excluded).

    >>> spatial_axes(5, "channels_last"), spatial_axes(4, "channels_first")
    ((1, 2, 3), (2, 3))
    """
    first = 2 if data_format == "channels_first" else 1
    return tuple(range(first, first + ndim - 2))


def split_channels(shape, data_format):
    """``(batch, spatial_sizes, channels)`` of a shape.

    >>> split_channels((8, 3, 32, 32), "channels_first")
    (8, (32, 32), 3)
    """
    if data_format == "channels_first":
        return shape[0], tuple(shape[2:]), shape[1]
    return shape[0], tuple(shape[1:-1]), shape[-1]


def join_channels(batch, spatial, channels, data_format):
    """The inverse of :func:`split_channels`.

    >>> join_channels(8, (32, 32), 3, "channels_first")
    (8, 3, 32, 32)
    """
    if data_format == "channels_first":
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def to_channels_last(ndim, data_format):
    """The axis permutation taking an ``ndim``-axis array to channels_last order.

    >>> to_channels_last(4, "channels_first"), to_channels_last(4, "channels_last")
    ((0, 2, 3, 1), (0, 1, 2, 3))
    """
    if data_format == "channels_first":
        return (0, *range(2, ndim), 1)
    return tuple(range(ndim))


def from_channels_last(ndim, data_format):
    """The axis permutation undoing :func:`to_channels_last`.

    >>> from_channels_last(4, "channels_first")
    (0, 3, 1, 2)
    """
    if data_format == "channels_first":
        return (0, ndim - 1, *range(1, ndim - 1))
    return tuple(range(ndim))
