"""cthulhu: Keras-2-style layers written once against the Python Array API.

Importing ``cthulhu`` is cheap: the models, layers and devices are loaded on
first use, so ``import cthulhu.shapes`` never pulls in NumPy.
"""

import importlib
import logging

__version__ = "0.1.0"

# Library logging: the 'cthulhu' logger and its children ('cthulhu.devices', 'cthulhu.engine',
# 'cthulhu.cli', ...) print nothing unless the application configures logging (the
# command line does, with -v/-q).
logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY_ATTRS = {
    "Pile": ("cthulhu.models", "Pile"),
    "Lump": ("cthulhu.models", "Lump"),
    "predict_volume": ("cthulhu.blockwise", "predict_volume"),
    "plan_volume": ("cthulhu.blockwise", "plan_volume"),
}
_SUBMODULES = {
    "activations", "blockwise", "catalog", "cli", "config", "constraints", "devices", "engine",
    "initializers", "layers", "models", "names", "ops", "regularizers", "saving", "shapes",
    "utils",
}


def __getattr__(name):
    if name in _LAZY_ATTRS:
        module_name, attr = _LAZY_ATTRS[name]
        return getattr(importlib.import_module(module_name), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"cthulhu.{name}")
    raise AttributeError(f"module 'cthulhu' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_LAZY_ATTRS, *_SUBMODULES})
