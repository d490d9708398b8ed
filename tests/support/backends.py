"""The array libraries the tests run on: one ``Backend`` enum, and what the ``xp`` fixture gives.

``Backend`` lists every library (and device) cthulhu promises to serve: NumPy,
array-api-strict on its default device and on a second one
(``array_api_strict.Device("device1")``: a result that lands on the wrong device
fails there), Dask and CuPy. A backend whose library is missing is skipped with
the reason.

The ``xp`` fixture (``tests/conftest.py``) is parametrised over ``Backend`` and
gives an :class:`XP`: the namespace (``xp.float32``, ``xp.concat``, ... are the
library's own) plus ``xp.asarray(numpy_array)``, which makes an array of that
library on that device, and ``xp.to_numpy(y)``, which brings a result back and
checks that it is of the library and device it should be.

For the ops, :func:`call_op` runs ``cthulhu.ops.<op>`` on a backend's arrays, and
:func:`call_generic` runs the generic Array API implementation directly on NumPy
(bias and activation applied as the front-end does): :func:`op_runners` lists
both, for tests that check one example everywhere.
"""

from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np


class Backend(enum.Enum):
    """An array library (and device) the tests run on."""

    NUMPY = "numpy"
    STRICT = "array_api_strict"
    STRICT_DEVICE1 = "array_api_strict-device1"
    DASK = "dask"
    CUPY = "cupy"

    def __repr__(self):
        return self.value

    @property
    def library(self) -> str:
        """The package the arrays' types come from."""
        return self.value.partition("-")[0]

    @property
    def namespace_name(self) -> str:
        """The module ``array_api_compat.array_namespace`` gives for these arrays."""
        return {"numpy": "array_api_compat.numpy", "dask": "array_api_compat.dask.array",
                "cupy": "array_api_compat.cupy"}.get(self.library, self.library)

    @property
    def eager(self) -> bool:
        """Computes at once (Dask builds a task graph)."""
        return self is not Backend.DASK

    def skip_reason(self) -> str | None:
        """Why this backend cannot run here, or None."""
        try:
            module = importlib.import_module("dask.array" if self is Backend.DASK
                                             else self.library)
        except ImportError as exc:
            return f"{self.library} is not installed ({exc})"
        if self is Backend.CUPY:
            try:
                if module.cuda.runtime.getDeviceCount() < 1:
                    return "cupy finds no GPU"
            except Exception as exc:  # noqa: BLE001 - no driver, no device: all mean "skip"
                return f"cupy cannot reach a GPU ({type(exc).__name__}: {exc})"
        return None

    def xp(self) -> XP:
        """The :class:`XP` of this backend (it must be available)."""
        module = importlib.import_module(self.namespace_name)
        device = module.Device("device1") if self is Backend.STRICT_DEVICE1 else None
        return XP(self, module, device)


@dataclass(frozen=True)
class XP:
    """A backend's namespace, with conversions from and to NumPy for the tests."""

    backend: Backend
    namespace: Any
    device: Any = None

    def __getattr__(self, name):
        return getattr(self.namespace, name)

    def __repr__(self):
        return repr(self.backend)

    def asarray(self, a, dtype=None):
        """A NumPy array (or nested list) as an array of this backend, on its device."""
        a = np.asarray(a, dtype=dtype)
        if self.backend is Backend.DASK:
            # Odd chunks on the first axis: blocks must not be assumed to be whole or equal.
            chunks = (max(1, (a.shape[0] + 1) // 2),) + a.shape[1:] if a.ndim else ()
            return self.namespace.from_array(a, chunks=chunks)
        if self.device is not None:
            return self.namespace.asarray(a, device=self.device)
        return self.namespace.asarray(a)

    def to_numpy(self, y) -> np.ndarray:
        """``y`` as NumPy, after checking it is an array of this backend on its device."""
        if isinstance(y, np.ndarray) and self.backend is Backend.NUMPY:
            return y
        module = type(y).__module__.partition(".")[0]
        expected = self.backend.library
        assert module == expected, f"{self!r}: expected a {expected} array, got {type(y)}"
        if self.device is not None:
            assert y.device == self.device, f"{self!r}: result on {y.device}, not {self.device}"
        if self.backend is Backend.DASK:
            return np.asarray(y.compute())
        if self.backend is Backend.CUPY:
            return y.get()
        return np.from_dlpack(y)


def available() -> list[Backend]:
    """The backends that can run here."""
    return [backend for backend in Backend if backend.skip_reason() is None]


def eager_xps() -> list[XP]:
    """An :class:`XP` per available eager backend (Hypothesis tests loop over these)."""
    return [backend.xp() for backend in available() if backend.eager]


def _convert_args(xp, args):
    return [xp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]


def call_op(xp, op, x, *weights, **cfg):
    """``cthulhu.ops.<op>`` on ``xp``'s arrays (NumPy arguments converted): (NumPy result, raw)."""
    from cthulhu import ops

    args = _convert_args(xp, (x, *weights))
    if cfg.get("bias") is not None:
        cfg["bias"] = xp.asarray(cfg["bias"])
    raw = getattr(ops, op)(*args, **cfg)
    return xp.to_numpy(raw), raw


def call_generic(op, x, *weights, bias=None, activation=None, **cfg):
    """The generic implementation of ``op`` on the op's checked arguments
    (``Op.reference``), on NumPy arrays: (result, result).

    Bias and activation are applied here as the op front-end applies them.
    """
    from cthulhu import ops

    y = ops.OPS[op].reference(x, *weights, **cfg)
    if bias is not None:
        shape = [1] * y.ndim
        axis = -1 if cfg.get("data_format", "channels_last") == "channels_last" else 1
        shape[axis] = bias.shape[0]
        y = y + bias.reshape(shape)
    if activation == "relu":
        y = np.maximum(y, 0)
    return y, y


class _Runner:
    """``runner(op, x, *weights, **cfg) -> (NumPy result, raw)`` with a readable name."""

    def __init__(self, name, fn):
        self.name, self._fn = name, fn

    def __call__(self, op, *args, **cfg):
        return self._fn(op, *args, **cfg)

    def __repr__(self):
        return self.name


def op_runners() -> list:
    """The generic code on NumPy, then ``cthulhu.ops`` on every available eager backend."""
    runners = [_Runner("generic-numpy", call_generic)]
    runners.extend(_Runner(repr(xp), partial(call_op, xp)) for xp in eager_xps())
    return runners
