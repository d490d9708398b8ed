"""Keras files as cthulhu models: a ``KerasFile`` (what :mod:`cthulhu.saving.keras` read)
built into a ``Pile``/``Lump`` with its weights, and Keras weight files into a model.

The config goes through :mod:`cthulhu.saving.keras_config` (the catalog, the safe-mode
rules); the model is built with its weights allocated within the bytes the file holds
(``WEIGHT_ALLOCATOR``, as for cthulhu's own files), then each layer's arrays are
installed in Keras's ``get_weights()`` order, which is cthulhu's (``docs/models.md``).
"""

from __future__ import annotations

import numpy as np

from cthulhu.engine.base_layer import WEIGHT_ALLOCATOR
from cthulhu.engine.network import Model
from cthulhu.names import custom_object_scope, deserialize_layer, safe_mode_scope
from cthulhu.saving._budget import WeightBudget
from cthulhu.saving.keras_config import Context, KerasTranslationError, convert_model

__all__ = ["model_from_keras", "leaf_layers", "install_weights", "check_all_filled",
           "placeholder", "KerasTranslationError"]

_SLACK = 1 << 16  # bytes a model may allocate beyond the file's (a clearer error follows)


def model_from_keras(kfile, custom_objects=None, safe_mode=True, weights=True,
                     placeholders=False):
    """The cthulhu model a ``KerasFile`` describes, with its weights when ``weights``
    (else initialised by the layers, or, with ``placeholders``, zero-size read-only
    views of the right shapes: enough for a summary, nothing allocated).

    Returns ``(model, notes)``. Raises :class:`KerasTranslationError` (a ``ValueError``)
    with one line naming what cthulhu will not build.
    """
    if kfile.model_config is None:
        raise KerasTranslationError(
            "a weights file without a model config: build the model and call "
            "model.load_weights(path)")
    ctx = Context(kfile, custom_objects, safe_mode)
    config = convert_model(kfile.model_config, ctx)
    allocate = (WeightBudget(kfile.weight_bytes() + _SLACK, _refuse).allocate if weights
                else placeholder if placeholders else None)
    token = WEIGHT_ALLOCATOR.set(allocate) if allocate is not None else None
    try:
        with custom_object_scope(ctx.custom_objects), safe_mode_scope(safe_mode):
            model = deserialize_layer(config, ctx.custom_objects)
    finally:
        if token is not None:
            WEIGHT_ALLOCATOR.reset(token)
    if not isinstance(model, Model):
        raise KerasTranslationError(f"the config builds a {type(model).__name__}, not a model")
    layers = leaf_layers(model)
    _check_keras1_shapes(layers, ctx)
    if weights:
        install_weights(layers, kfile.weights, kfile.model_config)
        check_all_filled(layers, kfile.weights, kfile.model_config)
    return model, ctx.notes


def leaf_layers(model, prefix=()):
    """``{path: layer}`` of a model's leaf layers (nested models by their path), in order;
    a ``Pile``'s own ``InputLayer`` is not one of its layers (as in Keras)."""
    out = {}
    for layer in model.layers:
        path = prefix + (layer.name,)
        if isinstance(layer, Model):
            out.update(leaf_layers(layer, path))
        else:
            out[path] = layer
    return out


def _keras_classes(model_config, prefix=()):
    out = {}
    config = (model_config or {}).get("config") or {}
    for layer in config.get("layers", []):
        cfg = layer.get("config")
        name = layer.get("name") or (cfg.get("name") if isinstance(cfg, dict) else None)
        if isinstance(cfg, dict) and "layers" in cfg:
            out.update(_keras_classes(layer, prefix + (name,)))
        else:
            out[prefix + (name,)] = layer.get("class_name")
    return out


def _describe(path, layer, keras_classes):
    keras = keras_classes.get(path)
    kind = f"Keras {keras}, cthulhu {type(layer).__name__}" if keras else type(layer).__name__
    return f"layer {'/'.join(path)!r} ({kind})"


def install_weights(layers, weights, model_config=None, skip_mismatch=False):
    """Put ``weights`` (``{path: [arrays in get_weights order]}``) into ``layers``
    (``{path: layer}``): every array's shape checked, every layer that has weights filled.

    Returns the paths skipped (``skip_mismatch=True``: a shape or count that does not fit
    is skipped instead of refused).
    """
    classes = _keras_classes(model_config)
    skipped = []
    for path, arrays in weights.items():
        layer = layers.get(path)
        if layer is None:
            raise KerasTranslationError(f"the file stores weights for layer {'/'.join(path)!r}, "
                                        "which the model does not have")
        records = layer.weight_records()
        problem = None
        if len(records) != len(arrays):
            problem = (f"the file stores {len(arrays)} weights for it, the layer has "
                       f"{len(records)} ({[r.name for _, r in records]})")
        else:
            for (_, record), array in zip(records, arrays, strict=True):
                if tuple(np.shape(array)) != record.shape:
                    problem = (f"weight {record.name!r} is {record.shape} in the layer, "
                               f"{tuple(np.shape(array))} in the file")
                    break
        if problem is not None:
            if skip_mismatch:
                skipped.append(path)
                continue
            raise KerasTranslationError(f"{_describe(path, layer, classes)}: {problem}")
        for (_, record), array in zip(records, arrays, strict=True):
            _assign(record, array)
    return skipped


def check_all_filled(layers, weights, model_config=None):
    classes = _keras_classes(model_config)
    for path, layer in layers.items():
        if layer.weight_records() and path not in weights:
            raise KerasTranslationError(f"the file stores no weights for "
                                        f"{_describe(path, layer, classes)}")


def _assign(record, array):
    home = record.value
    array = np.asarray(array)
    if isinstance(home, np.ndarray) and home.flags.writeable:
        np.copyto(home, array, casting="unsafe")
        record.changed()
    else:
        record.assign(array.astype(record.dtype, copy=False))


def placeholder(owner, name, shape, dtype):
    """A weight that takes no memory: a read-only zero view of the right shape."""
    return np.broadcast_to(np.zeros((), dtype), shape)


def _refuse(declared, nbytes, left):
    return KerasTranslationError(f"{declared} ({nbytes} bytes), more than the weights the "
                                 "file holds")


def _check_keras1_shapes(layers, ctx):
    """Keras 1's Deconvolution2D stated its output shape, which Keras 2 dropped (it follows
    from the strides and padding): a file whose statement disagrees is refused."""
    for path, label, declared in ctx.checks:
        layer = layers.get(path)
        if layer is None or not isinstance(declared, list):
            continue
        try:
            got = tuple(layer.output_shape)
        except (AttributeError, ValueError):
            continue
        if len(got) != len(declared) or any(
                isinstance(d, int) and isinstance(g, int) and d != g
                for d, g in zip(declared, got, strict=True)):
            raise KerasTranslationError(f"{label}: Keras 1 declared output_shape "
                                        f"{tuple(declared)}, but its arguments give {got}")
