"""The engine: the ``Layer`` base class and its weights, ``Input``, symbolic tensors, the models.

``Layer`` and ``Input`` are the names layer authors need; the models live in
``cthulhu.models`` (``Pile``, ``Lump``, ``load_model``). The engine owns running
models (``model.graph()``, ``predict``, ``summary``) but not model files:
``model.save`` reaches :mod:`cthulhu.saving` through :mod:`cthulhu.engine.services`.
"""

import importlib

_LAZY = {
    "Layer": ("cthulhu.engine.base_layer", "Layer"),
    "Input": ("cthulhu.engine.input_layer", "Input"),
    "InputLayer": ("cthulhu.engine.input_layer", "InputLayer"),
    "SymbolicTensor": ("cthulhu.engine.node", "SymbolicTensor"),
    "Tensor": ("cthulhu.engine.node", "SymbolicTensor"),
    "Node": ("cthulhu.engine.node", "Node"),
    "Weight": ("cthulhu.engine.weights", "Weight"),
    "ModelGraph": ("cthulhu.engine.graph", "ModelGraph"),
    "GraphNode": ("cthulhu.engine.graph", "GraphNode"),
    "register_layer": ("cthulhu.names", "register_layer"),
    "reset_names": ("cthulhu.engine.base_layer", "reset_names"),
}


def __getattr__(name):
    if name in _LAZY:
        module_name, attr = _LAZY[name]
        return getattr(importlib.import_module(module_name), attr)
    raise AttributeError(f"module 'cthulhu.engine' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_LAZY})
