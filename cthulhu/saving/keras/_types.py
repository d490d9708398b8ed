"""The neutral structure every Keras reader returns (see the package docstring)."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class CodeRecord:
    """Python code stored in the file, never decoded or run: a Lambda's marshalled bytecode
    (``kind='lambda'``) or a function named by module and name (``kind='function'``).

    ``path`` is the layer's path (nested model names, then the layer name); ``detail`` says
    where in the config the code sits and, for named functions, ``module.name``.
    """

    path: tuple
    class_name: str
    kind: str
    detail: str


@dataclasses.dataclass(frozen=True)
class CustomRecord:
    """A class from outside Keras (a user's layer, initializer, ...), never imported.

    Detected from what the file says: a ``registered_name`` like ``'package>Name'`` or a
    ``module`` outside Keras/TensorFlow. Older files (Keras 1, Keras 2 before 2.13) carry
    neither, so their custom classes are caught only by the catalog's unknown-name refusal.
    """

    path: tuple
    class_name: str
    module: str | None
    registered_name: str | None
    key: str


@dataclasses.dataclass(frozen=True)
class KerasFile:
    """What a Keras file (or JSON text) holds, as plain data; nothing from it was imported
    or called. See ``cthulhu.saving.keras`` for the full contract."""

    source: str
    format: str
    generation: str
    keras_version: str | None
    backend: str | None
    model_config: dict | None
    weights: dict
    weight_names: dict
    layer_order: tuple
    keyed_by: str
    weights_converted: bool
    code: tuple
    custom: tuple
    notes: tuple
    certificate: tuple | None = None

    def weight_bytes(self):
        return sum(int(np.asarray(a).nbytes) for arrays in self.weights.values()
                   for a in arrays)
