"""``model.load_weights(path)``: weights from Keras weight files, Keras model files and
cthulhu files, into a model built in code.

How layers are matched, as Keras does it:

- ``by_name=False`` (default): **by topological order**, as Keras 2 did. A legacy weights
  file (``save_weights('w.h5')``: ``layer_names``) gives its layers in the order Keras
  listed them; they are paired with the model's layers that have weights in Keras's
  ``model.layers`` order (``keras_out.keras_layer_order``), a nested model as one unit
  holding its weights trainable ones first, as Keras 2 stored it. A model file
  (``.keras``, ``.h5``, cthulhu's) pairs its leaf layers with the model's in that order.
- ``by_name=True``: layers with the same name (a nested model's layers by their path);
  layers the file does not have keep their weights, layers the model does not have are
  ignored.
- Keras 3's weight files (``.weights.h5``, sharded ``.weights.json``) are matched by
  structure when they do not name their layers (tf-keras writes them so: the object paths
  are renamed through the model's own Keras config), else by layer name.

``skip_mismatch=True`` skips (with a warning) a layer whose weight count or shapes do not
fit instead of refusing the file. Keras 1 weight files get the Keras 1 conversions of the
layer they are loaded into (``convert_weights``: transposed kernels, LSTM gates; a Theano
flip with ``original_backend='theano'``).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from cthulhu.engine.network import Model
from cthulhu.saving.keras_model import KerasTranslationError, leaf_layers

__all__ = ["load_weights"]


def load_weights(model, filepath, by_name=False, skip_mismatch=False, *,
                 original_backend=None, isolate=True):
    """Fill ``model``'s weights from ``filepath`` (see the module docstring).

    Returns the list of layer paths skipped (``skip_mismatch=True``), else ``[]``.
    Raises ``ValueError`` (one line starting with the path) for a file that does not fit.
    """
    from cthulhu.saving.keras._sniff import KERAS_KINDS, sniff

    if not isinstance(model, Model):
        raise TypeError(f"load_weights: expected a model (Pile or Lump), got "
                        f"{type(model).__name__}")
    path = os.fspath(filepath)
    kind = sniff(path)
    if kind == "missing":
        raise FileNotFoundError(f"no weights file at {path}")
    try:
        if kind in KERAS_KINDS or kind == "json":
            return _from_keras(model, path, by_name, skip_mismatch, original_backend, isolate)
        return _from_cthulhu(model, path, by_name, skip_mismatch)
    except (KerasTranslationError, TypeError, KeyError, IndexError) as exc:
        message = " ".join(str(exc).split())
        raise ValueError(message if message.startswith(f"{path}:")
                         else f"{path}: {message}") from None


def _target_leaves(model):
    """``[(path, layer)]`` of the model's leaf layers that have weights, in Keras's order."""
    from cthulhu.saving.keras_out import keras_layer_order

    out = []

    def walk(m, prefix):
        for layer in keras_layer_order(m):
            path = prefix + (layer.name,)
            if isinstance(layer, Model):
                walk(layer, path)
            elif layer.weight_records():
                out.append((path, layer))

    walk(model, ())
    return out


def _from_cthulhu(model, path, by_name, skip_mismatch):
    from cthulhu.saving import cthulhu_file

    source = cthulhu_file.load_model(path)
    leaves = _target_leaves(source)
    weights = {p: layer.get_weights() for p, layer in leaves}
    return _install(model, [p for p, _ in leaves], weights, by_name, skip_mismatch, None, path)


def _from_keras(model, path, by_name, skip_mismatch, original_backend, isolate):
    from cthulhu.saving.keras import read_keras, with_model_config
    from cthulhu.saving.keras_out import keras_config

    kfile = read_keras(path, original_backend=original_backend, isolate=isolate)
    target_config = keras_config(model, "keras2", strict=False)
    if kfile.format == "hdf5_weights" and not by_name:
        return _by_unit(model, kfile, target_config, skip_mismatch, path)
    if kfile.keyed_by == "object_path" or kfile.format == "hdf5_weights":
        kfile = with_model_config(kfile, target_config)
        by_name = True  # now keyed by the model's own layer paths
    elif kfile.format in ("hdf5_object_weights", "sharded_weights"):
        by_name = True  # Keras 3 named its layers in the file
    return _install(model, list(kfile.layer_order), kfile.weights, by_name, skip_mismatch,
                    kfile, path, target_config)


def _keras_layer_configs(target_config, prefix=()):
    out = {}
    for layer in (target_config or {}).get("config", {}).get("layers", []):
        cfg = layer.get("config") or {}
        name = layer.get("name") or cfg.get("name")
        if "layers" in cfg:
            out.update(_keras_layer_configs(layer, prefix + (name,)))
        else:
            out[prefix + (name,)] = layer
    return out


def _converted(kfile, keras_layer, arrays, label):
    """Keras 1 (and Theano-trained) weights in the Keras 2 layout of the target layer."""
    if kfile is None or kfile.weights_converted or keras_layer is None:
        return arrays
    from cthulhu.saving.keras import convert_weights

    arrays, _ = convert_weights(keras_layer["class_name"], keras_layer["config"], arrays,
                                kfile.keras_version, kfile.backend, label)
    return arrays


def _install(model, order, weights, by_name, skip_mismatch, kfile, path, target_config=None):
    targets = _target_leaves(model)
    configs = _keras_layer_configs(target_config)
    if by_name:
        by_path = dict(targets)
        pairs = [(by_path[p], p, weights[p]) for p in order if p in by_path]
        if not pairs and targets:
            raise KerasTranslationError(
                f"no layer of the file ({sorted('/'.join(p) for p in order)[:6]}...) has the "
                "name of a layer of the model; load by order (by_name=False)")
    else:
        if len(order) != len(targets):
            raise KerasTranslationError(
                f"the file holds weights for {len(order)} layers, the model has "
                f"{len(targets)} layers with weights (matched by order; by_name=True matches "
                "by name)")
        pairs = [(layer, target_path, weights[p])
                 for (target_path, layer), p in zip(targets, order, strict=True)]
    skipped = []
    for layer, target_path, arrays in pairs:
        label = "/".join(target_path)
        arrays = _converted(kfile, configs.get(target_path), list(arrays), label)
        if not _fill(layer, label, [r for _, r in layer.weight_records()], arrays,
                     skip_mismatch):
            skipped.append(target_path)
    return skipped


def _fill(layer, label, records, arrays, skip_mismatch):
    problem = None
    if len(records) != len(arrays):
        problem = (f"the file stores {len(arrays)} weights for layer {label!r} "
                   f"({type(layer).__name__}), the layer has {len(records)}")
    else:
        for record, array in zip(records, arrays, strict=True):
            if tuple(np.shape(array)) != record.shape:
                problem = (f"layer {label!r} ({type(layer).__name__}) weight {record.name!r} is "
                           f"{record.shape}, the file's is {tuple(np.shape(array))}")
                break
    if problem is not None:
        if skip_mismatch:
            warnings.warn(f"load_weights: skipped: {problem}", stacklevel=4)
            return False
        raise KerasTranslationError(problem)
    for record, array in zip(records, arrays, strict=True):
        record.assign(np.asarray(array).astype(record.dtype, copy=False))
    return True


def _by_unit(model, kfile, target_config, skip_mismatch, path):
    """Keras 2's topological loading of a legacy weights file: top-level layers in order,
    a nested model's group as one list (trainable weights first)."""
    from cthulhu.saving.keras_out import keras_layer_order, legacy_records

    units = [layer for layer in keras_layer_order(model) if legacy_records(layer)]
    order = list(kfile.layer_order)
    if len(order) != len(units):
        raise KerasTranslationError(
            f"the file holds weights for {len(order)} layers, the model has {len(units)} "
            "layers with weights (Keras 2 loads a weights file by order; by_name=True "
            "matches by name)")
    configs = _keras_layer_configs(target_config)
    skipped = []
    for unit, key in zip(units, order, strict=True):
        arrays = list(kfile.weights[key])
        if not isinstance(unit, Model):
            arrays = _converted(kfile, configs.get((unit.name,)), arrays, unit.name)
            records = [r for _, r in legacy_records(unit)]
            if not _fill(unit, unit.name, records, arrays, skip_mismatch):
                skipped.append((unit.name,))
            continue
        pairs = legacy_records(unit)
        if not kfile.weights_converted and len(arrays) == len(pairs):
            arrays = _convert_nested(kfile, unit, pairs, arrays, configs)
        if not _fill(unit, unit.name, [r for _, r in pairs], arrays, skip_mismatch):
            skipped.append((unit.name,))
    return skipped


def _convert_nested(kfile, unit, pairs, arrays, configs):
    """Keras 1 conversions per inner layer of a nested model's group (count-preserving)."""
    paths = {id(layer): path for path, layer in leaf_layers(unit, (unit.name,)).items()}
    out = list(arrays)
    for leaf in {id(leaf): leaf for leaf, _ in pairs}.values():
        where = [i for i, (owner, _) in enumerate(pairs) if owner is leaf]
        converted = _converted(kfile, configs.get(paths[id(leaf)]),
                               [arrays[i] for i in where], leaf.name)
        if len(converted) != len(where):
            raise KerasTranslationError(f"layer {leaf.name!r}: its Keras 1 weights inside a "
                                        "nested model change count when converted; load "
                                        "them with by_name=True")
        for i, value in zip(where, converted, strict=True):
            out[i] = value
    return out
