"""What a convolution hands the CuPy kernels: a frozen geometry and an epilogue.

These are local stand-ins for the types of the floor-plan redesign (issue 9,
/work/notes/GEOMETRY.md): same field names, same meaning. The kernels' entry points
(:mod:`._conv`) take exactly this information and never recompute a padding, a size or
an axis; the plugin functions of :mod:`._ops` are thin adapters that build it from the
keyword arguments they receive today (through ``cthulhu.ops._args``, i.e.
:mod:`cthulhu.shapes`). When the redesign lands, its objects replace these (any object
with these attributes works).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KINDS = ("conv", "conv_transpose", "depthwise_conv", "separable_conv")
ACTIVATIONS = (None, "linear", "relu", "relu6", "leaky_relu", "sigmoid", "tanh")


@dataclass(frozen=True)
class ConvGeometry:
    """One convolution, fully resolved (ints only; hashable)."""

    kind: str
    rank: int
    data_format: str
    batch: int
    in_spatial: tuple[int, ...]
    in_channels: int
    out_spatial: tuple[int, ...]
    out_channels: int
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    depth_multiplier: int = 1
    output_padding: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"ConvGeometry: kind must be one of {KINDS}, got {self.kind!r}")
        for name in ("in_spatial", "out_spatial", "kernel_size", "strides", "dilation", "pads"):
            if len(getattr(self, name)) != self.rank:
                raise ValueError(f"ConvGeometry: {name} must have {self.rank} entries, got "
                                 f"{getattr(self, name)!r}")

    @property
    def pads_lo(self) -> tuple[int, ...]:
        return tuple(lo for lo, _ in self.pads)


@dataclass(frozen=True)
class Epilogue:
    """Applied in this order to the op's result: ``+ bias``, ``* scale``, ``+ shift``
    (a folded inference BatchNormalization), ``activation`` (``alpha`` for leaky_relu).
    Arrays are of the input's library, shape ``(out_channels,)``."""

    bias: Any = None
    scale: Any = None
    shift: Any = None
    activation: str | None = None
    alpha: float = 0.0

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"Epilogue: activation must be one of {ACTIVATIONS}, got "
                             f"{self.activation!r}")

    @property
    def flags(self) -> int:
        """CTHULHU_EPI_* bits of the arrays present."""
        return ((self.bias is not None) | (self.scale is not None) << 1
                | (self.shift is not None) << 2)

    @property
    def act(self) -> str | None:
        return None if self.activation == "linear" else self.activation

    @property
    def empty(self) -> bool:
        return self.flags == 0 and self.act is None
