"""cthulhu models as Keras files: ``.keras`` (Keras 3's zip) and legacy ``.h5`` (Keras 2's).

The config is each layer's ``get_config()`` (cthulhu's arguments are Keras 2's) under the
layer's Keras class from the catalog (``Cthalpa2D`` -> ``Conv2D``; ``Pile`` ->
``Sequential``; ``Lump`` -> a functional ``Model``). What Keras would read as a different
model is refused with one line naming the layer: a ``LuKthu`` (a Python function), a
class outside the catalog, ``'hard_sigmoid'`` in a ``.keras`` file (Keras 3 reads that
word as ``clip(x / 6 + 0.5)``, cthulhu's is Keras 2's ``clip(0.2 x + 0.5)``).

Layout facts both Kerases rely on, written here as they write them:

- a functional model's layers are listed in Keras's own ``model.layers`` order (by depth
  from the outputs, ties by the order a walk from the outputs meets them:
  :func:`keras_layer_order`): legacy ``.h5`` weights load *by that order*, and ``.keras``
  weights sit under names made from the class names *in that order*
  (``layers/conv2d_1/vars/0``);
- a legacy ``.h5`` stores each layer's weights trainable ones first, a nested model's as
  one group (:func:`legacy_records`); node indices of a nested functional model count the
  node Keras 2 makes when it is built (``['inner', 1, 0]`` is its first call), where
  Keras 3's ``.keras`` does not: so a nested functional model loads in tf-keras from
  ``.h5`` and in Keras 3 from ``.keras`` (a nested ``Pile`` is written without an input
  shape, built when the outer model calls it, which both Kerases number alike);
- the ``.keras`` weights of an ``LSTM`` sit on its ``cell``.

Extra entries (the certificate, ``cthulhu.saving.certificate``) go where Keras never
looks: ``cthulhu/`` entries in the zip, a ``cthulhu_certificate`` group in the ``.h5``.
"""

from __future__ import annotations

import contextvars
import datetime
import io
import json
import os
import zipfile

import numpy as np

from cthulhu.engine.input_layer import InputLayer
from cthulhu.engine.lump import Lump
from cthulhu.engine.network import Model
from cthulhu.engine.pile import Pile
from cthulhu.names.resolver import own_names
from cthulhu.shapes.catalog import CATALOG

__all__ = ["keras_config", "keras_layer_order", "legacy_records", "keras_var_records",
           "save_keras", "save_h5", "KerasWriteError", "KERAS2_FORMAT", "KERAS3_FORMAT"]

#: what the written files say about their format (cthulhu writes the formats, not Keras)
KERAS2_FORMAT = "2.15.0"
KERAS3_FORMAT = "3"
# what one generation lacks: a file naming it would not load there (found by
# tests/keras_files/verify_roundtrip.py)
_NO_LAYER = {"keras3": {"ThresholdedReLU": "Keras 3 removed ThresholdedReLU (save as .h5)"}}
_NO_ACTIVATION = {"keras2": {"relu6", "log_softmax"}}
# arguments Keras 3's class does not take, dropped when they hold the value every Keras
# means by their absence: Keras 3's SpatialDropout takes neither noise_shape (the spatial
# mask is its whole point) nor trainable. tf-keras takes and ignores both, so the .h5 drops
# them too, and Keras 3 reads it (it refuses tf-keras's own SpatialDropout .h5 files).
_SPATIAL_DROPOUT = {f"SpatialDropout{n}D": {"noise_shape": None, "trainable": True}
                    for n in (1, 2, 3)}
_NOT_TAKEN = {"keras3": _SPATIAL_DROPOUT, "keras2": _SPATIAL_DROPOUT}
# Keras classes whose weights sit on a sub-object in the .keras layout
_SUBOBJECT = {"LSTM": "cell"}
_OBJECT_MODULES = {"initializer": "keras.initializers", "regularizer": "keras.regularizers",
                   "constraint": "keras.constraints"}
_OWN_MODULES = {"initializer": "cthulhu.initializers", "regularizer": "cthulhu.regularizers",
                "constraint": "cthulhu.constraints"}


_STRICT: contextvars.ContextVar = contextvars.ContextVar("cthulhu_keras_strict", default=True)


class KerasWriteError(ValueError):
    """A model Keras would not read as the same model: one line naming the layer."""


# ---------------------------------------------------------------------------
# Orders
# ---------------------------------------------------------------------------

def keras_layer_order(model):
    """The layers of ``model`` in Keras's ``model.layers`` order.

    A ``Pile``: its layers. A ``Lump``: Keras 2's and 3's ``_map_graph_network`` (each
    node's depth is its longest distance to an output; layers by decreasing depth, a tie
    broken by the order a depth-first walk from the outputs first meets them).
    """
    if not isinstance(model, Lump):
        return list(model.layers)
    nodes, indices = [], {}
    finished, in_progress = set(), set()

    def visit(tensor):
        node = tensor.node
        if id(node) in finished:
            return
        indices.setdefault(id(node.layer), len(indices))
        in_progress.add(id(node))
        for t in node.inputs:
            visit(t)
        finished.add(id(node))
        in_progress.discard(id(node))
        nodes.append(node)

    for t in model.outputs:
        visit(t)
    node_depth, layer_depth, layer_of = {}, {}, {}
    for node in reversed(nodes):
        depth = node_depth.setdefault(id(node), 0)
        depth = max(depth, layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        layer_of[id(node.layer)] = node.layer
        node_depth[id(node)] = depth
        for t in node.inputs:
            node_depth[id(t.node)] = max(depth + 1, node_depth.get(id(t.node), 0))
    for t in model.inputs:  # inputs the outputs do not use
        if id(t.layer) not in layer_depth:
            layer_depth[id(t.layer)] = 0
            indices[id(t.layer)] = -1
            layer_of[id(t.layer)] = t.layer
    return sorted(layer_of.values(), key=lambda layer: (-layer_depth[id(layer)],
                                                       indices[id(layer)]))


def _leaves(layer):
    if isinstance(layer, Model):
        for inner in keras_layer_order(layer):
            yield from _leaves(inner)
    else:
        yield layer


def legacy_records(layer):
    """``(leaf layer, Weight)`` of ``layer`` in the order a legacy ``.h5`` keeps them
    (Keras 2's ``trainable_weights + non_trainable_weights``): a nested model's weights
    as one list, every trainable one first."""
    pairs = [(leaf, record) for leaf in _leaves(layer) for _, record in leaf.weight_records()]
    first = [(leaf, r) for leaf, r in pairs if leaf.trainable and r.trainable]
    return first + [(leaf, r) for leaf, r in pairs if not (leaf.trainable and r.trainable)]


def keras_var_records(layer):
    """A leaf layer's weights in Keras 3's variable order (``.keras``): those created
    trainable, then the others."""
    records = [r for _, r in layer.weight_records()]
    return [r for r in records if r.trainable] + [r for r in records if not r.trainable]


# ---------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------

def keras_config(model, style="keras2", strict=True):
    """``{"class_name", "config"}`` of ``model`` as Keras reads it: ``style='keras2'`` (a
    legacy ``.h5``'s ``model_config``, tf-keras's words) or ``'keras3'`` (``.keras``).

    ``strict=False`` never refuses: a layer Keras could not read keeps only its name and
    class (enough to match weight files to the model's structure)."""
    if not isinstance(model, Model):
        raise KerasWriteError(f"{type(model).__name__} {getattr(model, 'name', '?')!r}: only "
                              "models (Pile, Lump) are written to Keras files")
    token = _STRICT.set(strict)
    try:
        return _model_entry(model, style, top=True)
    finally:
        _STRICT.reset(token)


def _label(layer):
    return f"layer {layer.name!r} ({type(layer).__name__})"


def _model_entry(model, style, top=False):
    if isinstance(model, Pile):
        return _sequential(model, style, top)
    if isinstance(model, Lump):
        return _functional(model, style, top)
    raise KerasWriteError(f"{_label(model)}: a model class Keras has no counterpart for")


def _sequential(model, style, top):
    try:
        batch_shape = model.input_shape
    except AttributeError:
        if top or _STRICT.get():
            raise KerasWriteError(f"{_label(model)}: not built (no input shape); build it "
                                  "before saving it to a Keras file") from None
        batch_shape = None
    layers = []
    first = model._stack[0] if model._stack else None
    if top:
        name = first.name if isinstance(first, InputLayer) else f"{model.layers[0].name}_input"
        dtype = first.dtype if isinstance(first, InputLayer) else "float32"
        layers.append(_input_entry(name, batch_shape, dtype, style))
    layers += [_entry(layer, style) for layer in model.layers]
    # a nested Sequential is written without its input shape: it is built when the outer
    # model calls it, and both Kerases then count its calls from 0 (with an input shape,
    # tf-keras counts a first node of its own, Keras 3 does not)
    config = {"name": model.name, "layers": layers}
    entry = {"class_name": "Sequential", "config": config}
    if style == "keras3":
        entry = {"module": "keras", **entry, "registered_name": None}
    return entry


def _input_entry(name, batch_shape, dtype, style):
    entry = {"class_name": "InputLayer", "config": {
        "batch_input_shape": list(batch_shape), "dtype": dtype, "sparse": False, "name": name}}
    if style == "keras3":
        entry = {"module": "keras.layers", **entry, "registered_name": None}
    return entry


def _functional(model, style, top):
    order = keras_layer_order(model)
    layers = []
    for layer in order:
        if isinstance(layer, InputLayer):
            entry = _input_entry(layer.name, layer.batch_input_shape, layer.dtype, style)
        else:
            entry = _entry(layer, style)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [
            [[*_ref(model, t, style), {"training": True} if node.call_kwargs.get("training")
              else {}] for t in node.inputs]
            for node in model._model_nodes(layer) if node.inputs]
        layers.append(entry)
    config = {"name": model.name, "layers": layers,
              "input_layers": [_ref(model, t, style) for t in model.inputs],
              "output_layers": [_ref(model, t, style) for t in model.outputs]}
    if style == "keras3":
        module, name = ("keras", "Model") if top else ("keras.src.models.functional",
                                                       "Functional")
        return {"module": module, "class_name": name, "config": config, "registered_name": None}
    return {"class_name": "Functional", "config": config}


def _ref(model, tensor, style):
    name, index, tensor_index = model._ref(tensor)
    if style == "keras2" and isinstance(tensor.layer, Lump):
        index += 1  # Keras 2 counts the nested model's own first node (never written)
    return [name, index, tensor_index]


def _entry(layer, style):
    if isinstance(layer, Model):
        return _model_entry(layer, style)
    try:
        return _leaf_entry(layer, style)
    except KerasWriteError:
        if _STRICT.get():
            raise
        row = CATALOG.get(type(layer).__name__)
        name = row.keras[0] if row is not None and row.keras else type(layer).__name__
        return {"class_name": name, "config": {"name": layer.name}}


def _leaf_entry(layer, style):
    row = CATALOG.get(type(layer).__name__)
    if row is None or not row.keras:
        raise KerasWriteError(f"{_label(layer)}: not one of cthulhu's catalog layers, so no "
                              "Keras class reads it")
    if type(layer).__name__ == "LuKthu":
        raise KerasWriteError(f"{_label(layer)}: a LuKthu runs a Python function, which a "
                              "Keras file can only carry as bytecode; Keras files are written "
                              "without it (save the model as .cthulhu)")
    keras_class = row.keras[0]
    if keras_class in _NO_LAYER.get(style, {}):
        raise KerasWriteError(f"{_label(layer)}: {_NO_LAYER[style][keras_class]}")
    config = {}
    not_taken = _NOT_TAKEN.get(style, {}).get(keras_class, {})
    for key, value in layer.get_config().items():
        if key == "batch_input_shape":
            continue
        if key in not_taken and value == not_taken[key]:
            continue
        config[key] = _value(key, value, layer, style)
    entry = {"class_name": keras_class, "config": config}
    if style == "keras3":
        entry = {"module": "keras.layers", **entry, "registered_name": None}
        try:
            entry["build_config"] = {"input_shape": _shape_json(layer.input_shape)}
        except AttributeError:
            pass
    return entry


def _shape_json(shape):
    if isinstance(shape, list):
        return [_shape_json(s) for s in shape]
    return [d if isinstance(d, int) else None for d in shape]


def _value(key, value, layer, style):
    if key in ("activation", "recurrent_activation"):
        if not isinstance(value, str) or ("cthulhu.activations", value) not in own_names():
            raise KerasWriteError(f"{_label(layer)}: {key} {value!r} is not a Keras activation")
        if value in _NO_ACTIVATION.get(style, ()):
            raise KerasWriteError(f"{_label(layer)}: {key} {value!r} is not an activation of "
                                  "tf-keras 2.15, which reads .h5 files; save as .keras")
        if value == "hard_sigmoid" and style == "keras3":
            raise KerasWriteError(
                f"{_label(layer)}: {key} 'hard_sigmoid' is Keras 2's clip(0.2 x + 0.5), which "
                "Keras 3 reads as clip(x / 6 + 0.5): save as .h5 (Keras 2's format) or use "
                "another activation")
        return value
    for kind in ("initializer", "regularizer", "constraint"):
        if key.endswith("_" + kind):
            return _object(kind, key, value, layer, style)
    if key == "dtype" and not isinstance(value, str):
        return str(value)
    return _plain(value)


def _object(kind, key, value, layer, style):
    if value is None:
        return None
    name = value if isinstance(value, str) else (value.get("class_name")
                                                 if isinstance(value, dict) else None)
    if not isinstance(name, str) or (_OWN_MODULES[kind], name) not in own_names():
        raise KerasWriteError(f"{_label(layer)}: {key} {value!r} is not a Keras {kind}")
    if isinstance(value, str) or style != "keras3":
        return _plain(value)
    return {"module": _OBJECT_MODULES[kind], "class_name": name,
            "config": _plain(value.get("config") or {}), "registered_name": None}


def _plain(value):
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------

def _require_h5py(path):
    from cthulhu.saving.keras._h5 import require_h5py

    return require_h5py(path)


def save_h5(model, filepath, overwrite=True, certificate=None):
    """Write ``model`` as a legacy HDF5 model file, Keras 2's format (tf-keras's
    ``model.save('m.h5')``), atomically."""
    from cthulhu.saving.cthulhu_file import _create_beside

    path = os.fspath(filepath)
    h5py = _require_h5py(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists and overwrite=False")
    config = json.dumps(keras_config(model, "keras2"))
    handle, tmp = _create_beside(path)
    handle.close()
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["keras_version"] = KERAS2_FORMAT.encode()
            f.attrs["backend"] = b"tensorflow"
            f.attrs["model_config"] = config.encode()
            group = f.create_group("model_weights")
            _legacy_weights(group, model, h5py)
            if certificate is not None:
                _h5_certificate(f.create_group("cthulhu_certificate"), certificate)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _names_attr(obj, key, names):
    obj.attrs[key] = np.array([n.encode("utf8") for n in names], dtype="S") if names \
        else np.zeros((0,), dtype="float64")


def _legacy_weights(group, model, h5py):
    layers = keras_layer_order(model)  # a Sequential's input layer is not among them
    _names_attr(group, "layer_names", [layer.name for layer in layers])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = KERAS2_FORMAT.encode()
    for layer in layers:
        sub = group.create_group(layer.name)
        pairs = legacy_records(layer)
        weight_names = [f"{leaf.name}/{record.name}:0" for leaf, record in pairs]
        _names_attr(sub, "weight_names", weight_names)
        for name, (_, record) in zip(weight_names, pairs, strict=True):
            sub.create_dataset(name, data=np.ascontiguousarray(record.numpy()))


def save_keras(model, filepath, overwrite=True, certificate=None):
    """Write ``model`` as a Keras 3 ``.keras`` zip (``config.json``, ``metadata.json``,
    ``model.weights.h5``), atomically."""
    from cthulhu import __version__
    from cthulhu.saving.cthulhu_file import _create_beside

    path = os.fspath(filepath)
    h5py = _require_h5py(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists and overwrite=False")
    config = keras_config(model, "keras3")
    config["build_config"] = {"input_shape": _shape_json(model.input_shape)} \
        if not isinstance(model.input_shape, list) else None
    config["compile_config"] = None
    metadata = {"keras_version": KERAS3_FORMAT, "written_by": f"cthulhu {__version__}",
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        _object_weights(f, model, config)
    handle, tmp = _create_beside(path)
    try:
        with handle:
            with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
                archive.writestr("metadata.json", json.dumps(metadata))
                archive.writestr("config.json", json.dumps(config))
                archive.writestr("model.weights.h5", buffer.getvalue())
                if certificate is not None:
                    _zip_certificate(archive, certificate)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _object_weights(root, model, config):
    """Keras 3's object tree: ``vars`` of every object (named), ``layers/<name>`` below."""
    root.create_group("vars").attrs["name"] = model.name
    _container_weights(root.create_group("layers"), model, config)


def _container_weights(group, model, config):
    from cthulhu.saving.keras._weights import object_names

    names = object_names(config)  # Keras's naming rule: the one the reader uses
    by_name = {layer.name: layer for layer in model.layers}
    if isinstance(model, Pile) and model._stack and isinstance(model._stack[0], InputLayer):
        by_name[model._stack[0].name] = model._stack[0]
    for obj_name, entry in names.items():
        layer_name = entry.get("name") or entry["config"].get("name")
        layer = by_name[layer_name]
        sub = group.create_group(obj_name)
        sub.create_group("vars").attrs["name"] = layer.name
        if isinstance(layer, Model):
            _container_weights(sub.create_group("layers"), layer, entry)
            continue
        holder = sub
        inner = _SUBOBJECT.get(entry["class_name"])
        if inner is not None:
            holder = sub.create_group(inner)
            holder.create_group("vars").attrs["name"] = f"{layer.name}_{inner}"
        store = holder["vars"]
        for i, record in enumerate(keras_var_records(layer)):
            store.create_dataset(str(i), data=np.ascontiguousarray(record.numpy()))


def _zip_certificate(archive, certificate):
    from cthulhu.saving.certificate import to_entries

    for name, data in to_entries(certificate).items():
        archive.writestr(f"cthulhu/{name}", data)


def _h5_certificate(group, certificate):
    from cthulhu.saving.certificate import to_entries

    entries = to_entries(certificate)
    group.attrs["certificate"] = entries.pop("certificate.json")
    for name, data in entries.items():
        array = np.load(io.BytesIO(data), allow_pickle=False)
        group.create_dataset(name[: -len(".npy")], data=array)


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
