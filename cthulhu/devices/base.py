"""The plugin interface every device implements.

A plugin serves one or more array namespaces (its ``keys``: ``"numpy"``,
``"cupy"``, ``"dask.array"``, ...). For each heavy operation of
:mod:`cthulhu.ops` it either hands back a callable or ``None``; the callable
may itself return ``NotImplemented`` for a particular call (a dtype, a
dilation, a layout it does not handle), and the op then runs the generic
Array API implementation instead.

This module is light on purpose (no NumPy): the registry imports it to list
plugins without importing any array library.
"""

from __future__ import annotations

from collections.abc import Callable

#: The heavy operations a plugin may provide, by the name ``Plugin.get`` receives.
OPS = (
    "conv",
    "conv_transpose",
    "depthwise_conv",
    "separable_conv",
    "matmul",
    "upsample",
    "model",  # a whole model's predict(x): the Dask device routes models, not only ops
    "to_numpy",  # copy an array to host memory as NumPy, where np.asarray cannot (GPU arrays)
    "blockwise",  # run a function of one block per chunk (chunked libraries: Dask)
)


def fuses(*parts: str) -> Callable[[Callable], Callable]:
    """Mark an op implementation as applying ``bias`` and/or ``activation`` itself.

    Without the mark the op front-end calls the implementation with
    ``bias=None, activation=None`` and adds the bias and applies the
    activation afterwards. With ``@fuses("bias", "activation")`` it passes
    them through, and the implementation must apply both.

    Parameters
    ----------
    *parts : {"bias", "activation"}
        What the implementation applies itself.
    """
    unknown = set(parts) - {"bias", "activation"}
    if unknown:
        raise ValueError(f"fuses(): unknown part(s) {sorted(unknown)}; use 'bias' and 'activation'")

    def mark(func: Callable) -> Callable:
        func.cthulhu_fuses = frozenset(parts)
        return func

    return mark


class Plugin:
    """Base class of a device plugin.

    Subclasses set ``name`` and ``keys`` and override :meth:`get` (and
    :meth:`available` when the plugin needs something that may be missing,
    such as a GPU).

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

        The callable receives the op's arguments as the public front-end in
        :mod:`cthulhu.ops` received them, already checked and normalised
        (tuples for ``strides``/``dilation``, a lower-case padding string or
        a tuple of ``(lo, hi)`` pairs, an explicit ``data_format``). It returns
        an array of the input's library, device and dtype, or
        ``NotImplemented`` to hand this one call over to the generic code.
        """
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} keys={self.keys}>"
