"""The plugin interface every device implements, and what crosses into it.

A plugin serves one or more array namespaces (its ``keys``: ``"numpy"``,
``"cupy"``, ``"dask.array"``, ...). For each heavy operation of
:mod:`cthulhu.ops` it either hands back a callable or ``None``; the callable
may itself return ``NotImplemented`` for a particular call (a dtype, a
dilation, a layout it does not handle), and the op then runs the generic
Array API implementation instead.

An op callable receives ``(x, *weights, geometry=..., epilogue=...)``:

* ``geometry``: the frozen, resolved geometry of the call (a
  :class:`cthulhu.shapes.ConvGeometry`, :class:`~cthulhu.shapes.UpsampleGeometry`,
  :class:`~cthulhu.shapes.MatmulGeometry`, or :class:`BlockwiseGeometry` below):
  every size, pad and axis, computed once by the op. A plugin never derives one.
* ``epilogue``: an :class:`Epilogue` holding the parts the callable declared with
  :func:`fuses` (empty when it declared none); the op applies the rest afterwards.

This module is light on purpose (no NumPy): the registry imports it to list
plugins without importing any array library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

#: The heavy operations a plugin may provide, by the name ``Plugin.get`` receives.
OPS = (
    "conv",
    "conv_transpose",
    "depthwise_conv",
    "separable_conv",
    "matmul",
    "upsample",
    "blockwise",  # run a function of one block per chunk (chunked libraries: Dask)
)

#: The parts of an :class:`Epilogue`, in the order they are applied.
EPILOGUE_PARTS = ("bias", "scale", "shift", "activation")

#: The activations an :class:`Epilogue` may hold (``None``: none).
ACTIVATIONS = (None, "relu", "relu6", "leaky_relu", "sigmoid", "tanh")


class Epilogue(NamedTuple):
    """What follows an op's product, per output channel, applied in this order:
    ``y + bias``, ``y * scale``, ``y + shift`` (``scale`` and ``shift``: a folded
    inference batch normalization, ``gamma / sqrt(var + eps)`` and
    ``beta - mean * scale``), then ``activation`` (one of :data:`ACTIVATIONS`;
    ``leaky_relu`` uses ``alpha``).

    Arrays are of the input's library and dtype, shape ``(out_channels,)``; absent
    parts are ``None``. ``Epilogue()`` is the empty epilogue.
    """

    bias: Any = None
    scale: Any = None
    shift: Any = None
    activation: str | None = None
    alpha: float = 0.0

    @property
    def empty(self) -> bool:
        return (self.bias is None and self.scale is None and self.shift is None
                and self.activation is None)

    def parts(self) -> tuple[str, ...]:
        """The parts present, in :data:`EPILOGUE_PARTS` order."""
        return tuple(p for p in EPILOGUE_PARTS if getattr(self, p) is not None)

    def split(self, fusion: Fusion | None) -> tuple[Epilogue, Epilogue]:
        """``(fused, rest)``: what a callable marked with ``fusion`` applies, and what
        the caller applies after it.

        The parts run in order, so a callable takes the present parts up to the first
        one it cannot fuse; that one and every later one are left to the caller.
        """
        if fusion is None:
            return NO_EPILOGUE, self
        bias, scale, shift, activation, _ = self
        names = fusion.parts
        if ((bias is None or "bias" in names) and (scale is None or "scale" in names)
                and (shift is None or "shift" in names)
                and (activation is None or activation in fusion.activations)):
            return self, NO_EPILOGUE                  # all of it (the common case)
        cut = None
        for part in EPILOGUE_PARTS:
            value = getattr(self, part)
            if value is None:
                continue
            if part not in names or (part == "activation"
                                     and value not in fusion.activations):
                cut = part
                break
        if cut is None:
            return self, NO_EPILOGUE
        first = EPILOGUE_PARTS.index(cut)
        keep = {p: getattr(self, p) for p in EPILOGUE_PARTS[:first]}
        rest = {p: getattr(self, p) for p in EPILOGUE_PARTS[first:]}
        alpha = {"alpha": self.alpha}
        return (Epilogue(**keep), Epilogue(**rest, **alpha))


#: The empty epilogue (what a callable that fuses nothing receives).
NO_EPILOGUE = Epilogue()


class Fusion(NamedTuple):
    """What :func:`fuses` records on a callable: the epilogue parts it applies itself
    and, when ``"activation"`` is one of them, which activations."""

    parts: frozenset
    activations: frozenset


def fuses(*parts: str, activations=("relu",)) -> Callable[[Callable], Callable]:
    """Mark an op implementation as applying some of the :class:`Epilogue` itself.

    Without the mark the op calls the implementation with an empty epilogue and
    applies the whole epilogue to its result. With it, the op passes the parts the
    implementation fuses (see :meth:`Epilogue.split`) and applies only the rest.

    Parameters
    ----------
    *parts : {"bias", "scale", "shift", "activation"}
        What the implementation applies itself.
    activations : sequence of str
        With ``"activation"``: the activations it applies (default ``("relu",)``, the
        one the public ops take besides none).
    """
    unknown = set(parts) - set(EPILOGUE_PARTS)
    if unknown:
        raise ValueError(f"fuses(): unknown part(s) {sorted(unknown)}; use "
                         f"{', '.join(map(repr, EPILOGUE_PARTS))}")
    bad = set(activations) - set(ACTIVATIONS[1:])
    if bad:
        raise ValueError(f"fuses(): unknown activation(s) {sorted(bad)}; use "
                         f"{', '.join(map(repr, ACTIVATIONS[1:]))}")
    fusion = Fusion(frozenset(parts), frozenset(activations) if "activation" in parts
                    else frozenset())

    def mark(func: Callable) -> Callable:
        func.cthulhu_fuses = fusion
        return func

    return mark


def fusion_of(func: Callable) -> Fusion | None:
    """What ``func`` declared with :func:`fuses` (``None``: nothing)."""
    return getattr(func, "cthulhu_fuses", None)


class BlockwiseGeometry(NamedTuple):
    """What the ``"blockwise"`` op hands a chunked library's callable
    ``impl(x, fn, geometry=..., epilogue=...)``: ``fn`` maps a block of ``x`` to the
    block of the result, whose dtype is ``dtype``; it appends an axis of ``new_axis``
    entries (``None``: none), or reduces along ``whole_axis``, which each block must
    then hold whole."""

    dtype: Any
    new_axis: int | None = None
    whole_axis: int | None = None


def default_to_numpy(x):
    """``x`` as a NumPy array through ``numpy.asarray``, else DLPack."""
    import numpy as np

    try:
        return np.asarray(x)
    except (TypeError, ValueError, RuntimeError):
        return np.from_dlpack(x)


class Plugin:
    """Base class of a device plugin.

    Subclasses set ``name`` and ``keys`` and override :meth:`get` (and
    :meth:`available` when the plugin needs something that may be missing,
    such as a GPU; :meth:`to_numpy` when ``numpy.asarray`` cannot read its arrays).

    Attributes
    ----------
    name : str
        A short human-readable name (``"numpy"``, ``"cupy"``, ``"my-tpu"``).
    keys : tuple of str
        The namespace keys this plugin serves (see
        :func:`cthulhu.devices.registry.namespace_key`).
    """

    name: str = "unnamed"
    keys: tuple[str, ...] = ()

    def available(self) -> tuple[bool, str]:
        """Whether the plugin can run here, and why (a one-line reason)."""
        return True, "ok"

    def get(self, op: str) -> Callable | None:
        """The implementation of ``op`` (one of :data:`OPS`), or ``None`` to decline it.

        An op callable receives ``(x, *weights, geometry=..., epilogue=...)`` (see the
        module docstring): the weights in Keras layouts, cast to ``x``'s dtype and
        library; the op's resolved geometry; the epilogue parts it declared with
        :func:`fuses`. It returns an array of the input's library, device and dtype
        with ``geometry``'s output shape, or ``NotImplemented`` to hand this one call
        over to the generic code.
        """
        return None

    def to_numpy(self, x):
        """A host copy of ``x`` (one of this plugin's arrays) as a NumPy array.

        The default is ``numpy.asarray`` (then DLPack); a device whose arrays refuse
        implicit host copies (CuPy) overrides it.
        """
        return default_to_numpy(x)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} keys={self.keys}>"
