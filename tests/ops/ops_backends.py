"""Backends the op tests run on: the NumPy plugin, the generic code on NumPy arrays,
and the generic code reached through the registry with array-api-strict arrays."""

import numpy as np
import pytest

from cthulhu import ops

array_api_strict = pytest.importorskip("array_api_strict")


def to_numpy(y):
    return np.from_dlpack(y) if not isinstance(y, np.ndarray) else y


class Backend:
    """Runs an op on one backend; ``call(name, x, *weights, **cfg)`` returns (NumPy result, raw)."""

    def __init__(self, name, convert, module):
        self.name = name
        self.convert = convert
        self.module = module

    def call(self, op, x, *weights, **cfg):
        args = [self.convert(a) if isinstance(a, np.ndarray) else a for a in (x, *weights)]
        if "bias" in cfg and cfg["bias"] is not None:
            cfg["bias"] = self.convert(cfg["bias"])
        raw = getattr(self.module, op)(*args, **cfg)
        return to_numpy(raw), raw

    def __repr__(self):
        return self.name


class _GenericOnNumpy:
    """The generic implementations on the ops' checked arguments (``Op.reference``; no
    bias/activation: applied here like the front-end)."""

    def __getattr__(self, op):
        func = ops.OPS[op].reference

        def call(*args, bias=None, activation=None, **cfg):
            y = func(*args, **cfg)
            if bias is not None:
                shape = [1] * y.ndim
                axis = -1 if cfg.get("data_format", "channels_last") == "channels_last" else 1
                shape[axis] = bias.shape[0]
                y = y + bias.reshape(shape)
            if activation == "relu":
                y = np.maximum(y, 0)
            return y

        return call


BACKENDS = [
    Backend("numpy-plugin", lambda a: a, ops),
    Backend("generic-numpy", lambda a: a, _GenericOnNumpy()),
    Backend("generic-strict", lambda a: array_api_strict.asarray(a), ops),
]
