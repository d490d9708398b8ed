"""How a stored volume's axes relate to the model's ``(batch, spatial..., channels)``.

A volume on disk may hold the batch axis or not, and the channels axis or not
(a single-channel volume is often stored as plain ``(depth, height, width)``).
:class:`Layout` fits the volume to the model's input rank and channels, with a
clear error when it can't, and translates block indices between the two.
"""

from __future__ import annotations

from dataclasses import dataclass

from cthulhu.shapes.layout import channel_index

__all__ = ["Layout", "fit_layout", "model_input_shape"]


@dataclass(frozen=True)
class Layout:
    """``has_batch``/``has_channels``: whether the stored volume has those axes."""

    has_batch: bool
    has_channels: bool
    data_format: str

    def full_shape(self, stored_shape, channels):
        """The model-side shape (batch and channels axes always present)."""
        shape = list(stored_shape)
        if not self.has_batch:
            shape.insert(0, 1)
        if not self.has_channels:
            shape.insert(channel_index(len(shape) + 1, self.data_format), channels)
        return tuple(shape)

    def stored_index(self, full_index):
        """Model-side index (a tuple over every axis) -> index of the stored volume."""
        index = list(full_index)
        channel_axis = channel_index(len(index), self.data_format)
        if not self.has_channels:
            del index[channel_axis]
        if not self.has_batch:
            del index[0]
        return tuple(index)

    def restore(self, block, full_rank):
        """Add back the axes a stored block lacks (a view, no copy)."""
        if not self.has_batch:
            block = block[None, ...]
        if not self.has_channels:
            axis = channel_index(full_rank, self.data_format)
            block = block[(slice(None),) * axis + (None,)]
        return block

    def stored_shape(self, full_shape):
        return tuple(full_shape[i] for i in self._kept(len(full_shape), full_shape))

    def _kept(self, rank, full_shape):
        channel_axis = channel_index(rank, self.data_format)
        kept = []
        for axis in range(rank):
            if axis == 0 and not self.has_batch:
                continue
            if axis == channel_axis and not self.has_channels and full_shape[axis] == 1:
                continue
            kept.append(axis)
        return kept


def model_input_shape(model, layers):
    """The model's input shape (batch included; ``None`` where free), or ``None`` if unknown."""
    for source in (model, *layers[:1]):
        try:
            shape = source.input_shape
        except (AttributeError, ValueError, TypeError):
            continue
        if isinstance(shape, tuple) and shape:
            return shape
    return None


def fit_layout(stored_shape, model_shape, rank, data_format, what="input"):
    """Find how ``stored_shape`` maps onto a model input of ``rank`` spatial axes.

    ``model_shape`` is the model's input shape or ``None`` (then the volume must
    hold a channels axis, and the batch axis is present iff it has ``rank + 2`` axes).
    Raises ``ValueError`` naming both shapes when the volume does not fit.
    """
    stored_shape = tuple(stored_shape)
    channels = None
    if model_shape is not None:
        channel_axis = channel_index(len(model_shape), data_format)
        channels = model_shape[channel_axis]
    full_rank = rank + 2
    n = len(stored_shape)
    if n == full_rank:
        layout = Layout(True, True, data_format)
    elif n == full_rank - 1:
        layout = Layout(False, True, data_format)
    elif n == rank and (channels in (1, None)):
        if channels is None and model_shape is not None:
            raise ValueError(f"{what} volume of shape {stored_shape} has no channels axis and the "
                             "model's input channels are unknown")
        layout = Layout(False, False, data_format)
    else:
        expected = (f"{full_rank} axes (batch, {rank} spatial, channels) or {full_rank - 1} "
                    f"(no batch)")
        if channels in (1, None):
            expected += f" or {rank} (single channel)"
        raise ValueError(f"{what} volume of shape {stored_shape} does not fit a model of "
                         f"{rank} spatial axes: expected {expected}")
    full = layout.full_shape(stored_shape, 1 if channels is None else channels)
    if channels is not None:
        got = full[channel_index(len(full), data_format)]
        if got != channels:
            raise ValueError(f"{what} volume of shape {stored_shape} has {got} channels, but the "
                             f"model expects {channels} ({data_format})")
    return layout, full
