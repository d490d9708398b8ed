"""Model files of every kind, by content on reading and by name on writing.

:func:`load_model` reads a cthulhu file, a Keras ``.keras`` (zip or folder) or a legacy
Keras ``.h5`` of any generation, recognised by its bytes (``cthulhu.saving.keras.sniff``),
never its name. :func:`save_model` (``model.save``) writes by the file name's extension:
``.keras`` (Keras 3's format), ``.h5``/``.hdf5`` (Keras 2's legacy HDF5), anything else
cthulhu's own format. :func:`model_from_json` reads cthulhu's JSON and every Keras
generation's ``model.to_json()``; :func:`load_weights` (``model.load_weights``) reads Keras
weight files and cthulhu files into a model.

Every problem is one ``ValueError`` line starting with the file's path; the safe-mode
rules of ``docs/security.md`` hold for every format.
"""

from __future__ import annotations

import logging
import os

from cthulhu.engine import services
from cthulhu.saving import certificate as _certificate
from cthulhu.saving import cthulhu_file
from cthulhu.saving.config import deserialize
from cthulhu.saving.keras._sniff import KERAS_KINDS
from cthulhu.saving.model_file import parse_json

__all__ = ["load_model", "save_model", "model_from_json", "load_weights", "read_any",
           "KERAS_KINDS"]

log = logging.getLogger(__name__)

_KERAS_MODELS = ("Sequential", "Functional", "Model")
_SAVE_FORMATS = {".keras": "keras", ".h5": "h5", ".hdf5": "h5"}


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

def load_model(filepath, custom_objects=None, safe_mode=True, compile=True,  # noqa: A002
               *, verify=False, original_backend=None, isolate=True):
    """Load a model from a cthulhu file or a Keras file, recognised by content.

    Parameters
    ----------
    filepath : str or os.PathLike
        A cthulhu file (``model.save``), a Keras 3 ``.keras`` zip or folder, a legacy
        ``.h5`` model of Keras 1, 2 or 3.
    custom_objects : dict, optional
        Name -> class or function: custom layers (a Keras file's custom class by its class
        name or registered name), activations, initializers, regularizers, constraints,
        ``LuKthu``/Keras ``Lambda`` functions (a Keras ``Lambda`` by its layer name).
        They are on the safe-mode allow-list.
    safe_mode : bool
        True (default): nothing named or stored in the file is imported, unmarshalled or
        called (``docs/security.md``). False **runs code from the file**: cthulhu files'
        functions named by module are imported and stored lambdas rebuilt; a Keras
        ``Lambda``'s marshalled bytecode is rebuilt (functions a Keras file names by module
        still resolve only through ``custom_objects`` and registered functions).
    compile : bool
        Accepted for Keras compatibility; cthulhu models have nothing to compile.
    verify : bool or str
        Re-run the test vector stored in the file (``cthulhu.saving.certificate``) and
        refuse the model if it disagrees: ``True`` runs it with NumPy, a library name
        (``'cupy'``, ``'dask'``, ``'array_api_strict'``) there. A file without a
        certificate (any file Keras wrote) is refused when ``verify`` is asked for.
    original_backend : str, optional
        ``'theano'`` for a Keras 1 file whose convolution kernels Theano trained (Keras 1
        never recorded it): the kernels are flipped (``docs/keras.md``).
    isolate : bool
        Parse HDF5 (and ``.keras``) files in a child process with a time limit (default),
        so that a damaged file cannot hang or crash this process; False reads in this
        process, for files you trust.

    Returns
    -------
    Pile or Lump

    Raises
    ------
    FileNotFoundError
        No file at ``filepath``.
    ValueError
        Anything wrong with the file (one line naming it), what safe mode refuses, what
        cthulhu cannot build, a certificate that does not reproduce.
    """
    path = os.fspath(filepath)
    model, _ = read_any(path, custom_objects, safe_mode, original_backend=original_backend,
                        isolate=isolate)
    if verify:
        _verify(model, path, "numpy" if verify is True else verify)
    return model


def read_any(path, custom_objects=None, safe_mode=True, *, original_backend=None,
             isolate=True, weights=True):
    """``(model, kind)`` for any model file (``kind``: ``'cthulhu'`` or ``'keras'``)."""
    from cthulhu.saving.keras._sniff import sniff

    kind = sniff(path)
    if kind == "missing":
        raise FileNotFoundError(f"no model file at {path}")
    if kind in KERAS_KINDS:
        return _load_keras(path, custom_objects, safe_mode, original_backend, isolate,
                           weights), "keras"
    if kind == "json":
        raise ValueError(f"{path}: a JSON model config without weights; read it with "
                         "model_from_json(text)")
    if kind == "savedmodel":
        raise ValueError(f"{path}: a TensorFlow SavedModel folder: it holds TensorFlow graphs "
                         "that only TensorFlow can run; save the model as .keras or .h5")
    if not weights:
        return _cthulhu_config_only(path, custom_objects, safe_mode), "cthulhu"
    return cthulhu_file.load_model(path, custom_objects, safe_mode), "cthulhu"


def _one_line(path, exc):
    message = " ".join(str(exc).split()) or type(exc).__name__
    if not message.startswith(f"{path}:"):
        message = f"{path}: {message}"
    return ValueError(message)


def _load_keras(path, custom_objects, safe_mode, original_backend, isolate, weights):
    from cthulhu.saving.keras import read_keras
    from cthulhu.saving.keras_model import model_from_keras

    kfile = read_keras(path, original_backend=original_backend, isolate=isolate,
                       weights=weights)
    try:
        model, notes = model_from_keras(kfile, custom_objects, safe_mode, weights=weights,
                                        placeholders=not weights)
    except MemoryError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise _one_line(path, exc) from None
    for note in notes:
        log.info("%s: %s", path, note)
    if kfile.certificate is not None:
        text, arrays = kfile.certificate
        try:
            meta = parse_json(text, f"{path}: certificate")
            _certificate.attach(model, _certificate.from_entries(meta, arrays, path))
        except ValueError as exc:
            raise _one_line(path, exc) from None
    return model


def _cthulhu_config_only(path, custom_objects, safe_mode):
    """A cthulhu file's model built from its config alone (weights as zero-size views)."""
    return cthulhu_file.load_model(path, custom_objects, safe_mode, weights=False)


def _verify(model, path, device):
    found = _certificate.attached(model)
    if found is None:
        raise ValueError(f"{path}: verify was asked for, but the file holds no certificate "
                         "(files written by Keras have none: convert the file with "
                         "'cthulhu convert', which records one)")
    try:
        report = _certificate.check(model, found, device)
    except _certificate.CertificateError as exc:
        raise _one_line(path, exc) from None
    log.info("%s: %s", path, report)
    return report


# ---------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------

def save_format_of(filepath, save_format=None):
    """``'keras'``, ``'h5'`` or ``'cthulhu'``: ``save_format`` if given, else by extension."""
    if save_format is not None:
        if save_format not in ("keras", "h5", "cthulhu"):
            raise ValueError(f"save_format must be 'keras', 'h5' or 'cthulhu', got "
                             f"{save_format!r}")
        return save_format
    suffix = os.path.splitext(os.fspath(filepath))[1].lower()
    return _SAVE_FORMATS.get(suffix, "cthulhu")


def save_model(model, filepath, overwrite=True, *, save_format=None, certificate=True):
    """Save ``model`` to ``filepath``: ``.keras`` as Keras 3's zip, ``.h5``/``.hdf5`` as
    Keras 2's legacy HDF5, any other name as a cthulhu file (``save_format`` overrides the
    extension).

    ``certificate``: True (default) runs the model once on a small seeded input and
    stores that test vector in the file (``load_model(..., verify=True)`` re-runs it);
    an array (or list of arrays) is used as that input; False stores none.
    """
    fmt = save_format_of(filepath, save_format)
    vector = _make_certificate(model, certificate)
    if fmt == "cthulhu":
        cthulhu_file.save_model(model, filepath, overwrite=overwrite, certificate=vector)
        return
    from cthulhu.saving import keras_out

    writer = keras_out.save_keras if fmt == "keras" else keras_out.save_h5
    keras_out.keras_config(model, "keras3" if fmt == "keras" else "keras2")  # refuse early
    writer(model, filepath, overwrite=overwrite, certificate=vector)


def _make_certificate(model, certificate):
    if certificate is False or certificate is None:
        return None
    if isinstance(certificate, _certificate.Certificate):
        return certificate
    return _certificate.make(model, None if certificate is True else certificate)


services.provide("save_model", save_model)  # what model.save() calls (cthulhu.engine.services)


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------

def model_from_json(text, custom_objects=None, safe_mode=True):
    """A model from ``model.to_json()`` text: cthulhu's, or any Keras generation's (Keras 1,
    2, 3: their class names go through the catalog; the weights are initialised)."""
    obj = parse_json(text, "model_from_json")
    if _is_keras_config(obj):
        from cthulhu.saving.keras import read_keras_json
        from cthulhu.saving.keras_model import model_from_keras

        try:
            kfile = read_keras_json(text)
            model, notes = model_from_keras(kfile, custom_objects, safe_mode, weights=False)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError(f"model_from_json: {' '.join(str(exc).split())}") from None
        for note in notes:
            log.info("model_from_json: %s", note)
        return model
    return deserialize(obj, custom_objects, safe_mode)


def _is_keras_config(obj):
    return isinstance(obj, dict) and (obj.get("class_name") in _KERAS_MODELS
                                      or "keras_version" in obj)


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------

def load_weights(model, filepath, by_name=False, skip_mismatch=False, *,
                 original_backend=None, isolate=True):
    """Fill ``model``'s weights from a file (``model.load_weights``); see
    :func:`cthulhu.saving.weights_io.load_weights`."""
    from cthulhu.saving.weights_io import load_weights as _load

    return _load(model, filepath, by_name=by_name, skip_mismatch=skip_mismatch,
                 original_backend=original_backend, isolate=isolate)


services.provide("load_weights", load_weights)
