"""Model files: cthulhu's own format, configs and JSON, and (``cthulhu.saving.keras``) Keras files.

The floor above the engine and the layers. It owns

- every model file, by content on reading and by name on writing
  (:mod:`cthulhu.saving.files`): :func:`load_model`, :func:`save_model`,
  :func:`model_from_json`, :func:`load_weights`;
- cthulhu's model file (:mod:`cthulhu.saving.cthulhu_file`: one zip of a JSON
  config and ``.npy`` weights, written atomically, read within bounds by
  :mod:`cthulhu.saving.model_file`);
- configs and JSON text (:mod:`cthulhu.saving.config`): :func:`serialize`,
  :func:`deserialize`, :func:`model_from_config`;
- the readers of Keras files (:mod:`cthulhu.saving.keras`, data only), their
  translation into models (:mod:`cthulhu.saving.keras_config`,
  :mod:`cthulhu.saving.keras_model`), Keras weight files
  (:mod:`cthulhu.saving.weights_io`), the Keras writers
  (:mod:`cthulhu.saving.keras_out`) and the certificate
  (:mod:`cthulhu.saving.certificate`).

Every reader follows ``docs/security.md``: names found in a file become
objects only through :mod:`cthulhu.names.resolver`.

The engine does not import this package: :mod:`cthulhu.saving.files`
provides the engine's ``"save_model"`` and ``"load_weights"`` services
(:mod:`cthulhu.engine.services`) when it is imported, and
``"cthulhu.saving:save_model"`` is that service's lazy default, so ``model.save``
finds it either way.

Importing this package is cheap (its names load on first use): the Keras
readers, which read data only, do not pull in the engine.
"""

import importlib

_LAZY = {
    "save_model": "cthulhu.saving.files",
    "load_model": "cthulhu.saving.files",
    "load_weights": "cthulhu.saving.files",
    "model_from_json": "cthulhu.saving.files",
    "serialize": "cthulhu.saving.config",
    "deserialize": "cthulhu.saving.config",
    "model_from_config": "cthulhu.saving.config",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cthulhu.saving' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_LAZY})
