"""Model configs of every Keras generation, normalised to one Keras-2-like form.

The form (the package docstring has the full contract):

- a model is ``{"class_name": "Sequential" | "Functional" | "Model", "config": {...}}``;
- a Sequential's ``config["layers"]`` starts with an explicit ``InputLayer`` whenever the file
  says the input shape (Keras 1 and early Keras 2 put ``batch_input_shape`` on the first
  layer; it moves to an ``InputLayer`` named ``<first layer>_input``, as Keras 2 did);
- a functional model's layers carry ``name`` and ``inbound_nodes`` as Keras 2 wrote them: a
  list of nodes, a node a list of ``[layer_name, node_index, tensor_index, kwargs]``;
  ``input_layers``/``output_layers`` are lists of ``[layer_name, node_index, tensor_index]``;
- ``InputLayer`` has ``batch_input_shape`` (Keras 3's ``batch_shape``) and ``dtype``;
- a dtype policy (Keras 3 ``DTypePolicy``, tf-keras ``Policy``) becomes its name string;
- ``module``/``registered_name``/``build_config`` are kept as data; ``shared_object_id``,
  ``compile_config`` and training configs are dropped.
"""

from __future__ import annotations

from cthulhu.saving.keras._limits import KerasFileError
from cthulhu.saving.keras._scan import scan_code, scan_custom

MODEL_CLASSES = ("Sequential", "Functional", "Model")
_KERAS_MODULES = ("keras", "tf_keras", "tensorflow")
_POLICY_CLASSES = ("DTypePolicy", "FloatDTypePolicy", "Policy", "QuantizedDTypePolicy",
                   "QuantizedFloat8DTypePolicy", "GPTQDTypePolicy")
# words only Keras 1 wrote (class names and argument names), to recognise unversioned text
KERAS1_CLASSES = {"Convolution1D", "Convolution2D", "Convolution3D", "AtrousConvolution1D",
                  "AtrousConvolution2D", "Deconvolution2D", "SeparableConvolution2D", "Merge",
                  "MaxoutDense", "Highway", "TimeDistributedDense"}
KERAS1_WORDS = {"nb_filter", "border_mode", "dim_ordering", "subsample", "subsample_length",
                "W_regularizer", "W_constraint", "input_dtype", "nb_row", "inner_activation",
                "consume_less", "pool_length"}
# 'output_dim' is Keras 1's only for these (Embedding keeps the word in Keras 2 and 3)
_KERAS1_OUTPUT_DIM = {"Dense", "LSTM", "GRU", "SimpleRNN", "TimeDistributedDense"}


class Findings:
    """Code, custom classes and notes met while normalising (and how nodes are numbered)."""

    def __init__(self):
        self.code = []
        self.custom = []
        self.notes = []
        self.legacy_nodes = False


def expect(value, kind, where, what):
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise KerasFileError(f"{where}: {what} should be a {names}, not "
                             f"{type(value).__name__}")
    return value


def looks_keras1(obj):
    """True if a parsed config uses Keras 1 words anywhere (iterative walk)."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("class_name") in KERAS1_CLASSES:
                return True
            config = item.get("config")
            if isinstance(config, dict) and "class_name" in item and (
                    KERAS1_WORDS & set(config) or ("output_dim" in config and item[
                        "class_name"] in _KERAS1_OUTPUT_DIM)):
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def looks_keras3(obj):
    """True if a config has Keras 3's marks: node dicts with 'args', InputLayer 'batch_shape'."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "args" in item and "kwargs" in item:
                return True
            if item.get("class_name") == "InputLayer" and "batch_shape" in (
                    item.get("config") or {}):
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def normalize_model(obj, where, findings, keras1=False, path=(), legacy_nodes=False):
    """The neutral form of a top-level (or nested) ``{"class_name", "config"}``.

    ``legacy_nodes``: the config numbers nodes as Keras 1/2 did (see ``_renumber``).
    """
    findings.legacy_nodes = legacy_nodes
    expect(obj, dict, where, "the model config")
    class_name = expect(obj.get("class_name"), str, where, "the model's class_name")
    config = obj.get("config")
    out = _keep_keys(obj)
    if class_name in MODEL_CLASSES and (isinstance(config, list) or (
            isinstance(config, dict) and "layers" in config)):
        out["class_name"] = class_name
        out["config"] = _container(class_name, config, where, findings, keras1, path)
        return out
    layer = _layer(obj, where, findings, keras1, path, functional=False)
    return layer


def _keep_keys(entry):
    out = {}
    for key in ("module", "registered_name"):
        if key in entry:
            out[key] = entry[key]
    if "build_config" in entry:
        out["build_config"] = clean(entry["build_config"])
    return out


def _container(class_name, config, where, findings, keras1, path):
    if isinstance(config, list):  # Keras 1 / Keras <= 2.2.4 Sequential: a bare layer list
        config = {"name": "sequential", "layers": config}
        findings.notes.append(f"{'/'.join(path) or 'model'}: Sequential config was a bare "
                              "layer list (Keras 1 / early Keras 2); named 'sequential'")
    expect(config, dict, where, f"{class_name} config")
    layers = expect(config.get("layers"), list, where, f"{class_name} 'layers'")
    functional = class_name != "Sequential"
    out = {key: clean(value) for key, value in config.items()
           if key not in ("layers", "input_layers", "output_layers")}
    normalised = []
    for entry in layers:
        expect(entry, dict, where, f"a layer of {config.get('name')!r}")
        cfg = entry.get("config")
        name = entry.get("name") or (cfg.get("name") if isinstance(cfg, dict) else None)
        expect(name, str, where, f"a layer name in {config.get('name')!r}")
        normalised.append(_layer(entry, where, findings, keras1, path + (name,), functional))
    if not functional:
        normalised = _explicit_input(normalised, findings, path)
    out["layers"] = normalised
    if functional:
        for key in ("input_layers", "output_layers"):
            out[key] = _endpoints(config.get(key), where, key, findings, path)
        if findings.legacy_nodes:
            _renumber(out)
        _check_nodes(out, where, path)
    return out


def _is_container(layer):
    return layer["class_name"] in MODEL_CLASSES and isinstance(layer.get("config"), dict) \
        and "layers" in layer["config"]


def _renumber(config):
    """Keras 1/2 count a nested model's own first node (input to output, made when it was
    built from an Input) in node indices but never write it: ``['inner', 1, 0]`` is the
    first node listed in ``inner``'s ``inbound_nodes``. Keras 3 does not; the neutral form
    indexes the listed nodes (tf-keras ``_should_skip_first_node``)."""
    shifted = {layer["name"] for layer in config["layers"] if _is_container(layer) and (
        layer["class_name"] != "Sequential"
        or (layer["config"]["layers"] and layer["config"]["layers"][0]["class_name"]
            == "InputLayer"))}
    if not shifted:
        return
    references = [item for layer in config["layers"] for node in layer["inbound_nodes"]
                  for item in node]
    references += config["input_layers"] + config["output_layers"]
    for item in references:
        if item[0] in shifted:
            item[1] -= 1


def _check_nodes(config, where, path):
    counts = {layer["name"]: len(layer["inbound_nodes"]) for layer in config["layers"]}
    inputs = {layer["name"] for layer in config["layers"] if layer["class_name"] == "InputLayer"}
    references = [item for layer in config["layers"] for node in layer["inbound_nodes"]
                  for item in node]
    for item in references + config["input_layers"] + config["output_layers"]:
        name, node_index = item[0], item[1]
        if name not in counts:
            raise KerasFileError(f"{where}: {'/'.join(path) or 'the model'} refers to a layer "
                                 f"{name!r} it does not have")
        limit = 1 if name in inputs else counts[name]
        if not 0 <= node_index < limit:
            raise KerasFileError(f"{where}: {'/'.join(path) or 'the model'} refers to node "
                                 f"{node_index} of {name!r}, which has {limit}")


def _explicit_input(layers, findings, path):
    if not layers or layers[0]["class_name"] == "InputLayer":
        return layers
    first = layers[0]
    cfg = first["config"]
    if not isinstance(cfg, dict) or cfg.get("batch_input_shape") is None:
        return layers
    cfg = dict(cfg)
    shape = cfg.pop("batch_input_shape")
    # Keras 1's input_dtype is the input's dtype, not the layer's
    dtype = cfg.pop("input_dtype", None) or cfg.get("dtype", "float32")
    name = f"{cfg.get('name', 'layer')}_input"
    findings.notes.append(f"{'/'.join(path + (cfg.get('name', '?'),))}: batch_input_shape "
                          f"{shape} moved to an InputLayer {name!r}")
    input_layer = {"class_name": "InputLayer",
                   "config": {"batch_input_shape": shape, "dtype": dtype, "sparse": False,
                              "name": name}}
    return [input_layer, {**first, "config": cfg}, *layers[1:]]


def _layer(entry, where, findings, keras1, path, functional):
    class_name = expect(entry.get("class_name"), str, where, f"{'/'.join(path)} class_name")
    config = entry.get("config")
    if ">" in class_name:
        # legacy HDF5/JSON name a registered class 'package>Name'; .keras splits the two
        entry = {**entry, "registered_name": entry.get("registered_name") or class_name}
        class_name = class_name.split(">")[-1]
    if keras1:
        from cthulhu.saving.keras._keras1 import translate_layer

        class_name, config = translate_layer(class_name, config, where, findings, path)
    scan_custom(entry, class_name, path, findings)
    if class_name in MODEL_CLASSES and (isinstance(config, list) or (
            isinstance(config, dict) and "layers" in config)):
        out = _keep_keys(entry)
        out["class_name"] = class_name
        out["config"] = _container(class_name, config, where, findings, keras1, path)
    else:
        expect(config, dict, where, f"the config of layer {'/'.join(path)!r}")
        scan_code(class_name, config, path, findings)
        out = _keep_keys(entry)
        out["class_name"] = class_name
        out["config"] = _input_layer(config) if class_name == "InputLayer" else clean(config)
    if functional:
        out["name"] = path[-1]
        out["inbound_nodes"] = _nodes(entry.get("inbound_nodes", []), where, path, findings)
    return out


def _input_layer(config):
    config = clean(config)
    if "batch_shape" in config and "batch_input_shape" not in config:
        config["batch_input_shape"] = config.pop("batch_shape")
    if "input_dtype" in config and "dtype" not in config:  # Keras 1
        config["dtype"] = config.pop("input_dtype")
    return config


def clean(value):
    """Policies to names, ``shared_object_id`` dropped; everything else kept as data."""
    if isinstance(value, dict):
        if value.get("class_name") in _POLICY_CLASSES and isinstance(value.get("config"), dict) \
                and isinstance(value["config"].get("name"), str):
            return value["config"]["name"]
        out = {}
        for key, item in value.items():
            if key == "shared_object_id":
                continue
            out[key] = clean(item)
        return out
    if isinstance(value, list):
        return [clean(item) for item in value]
    return value


def _is_keras_tensor(value):
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _history(tensor, where, path):
    history = (tensor.get("config") or {}).get("keras_history")
    if not (isinstance(history, list) and len(history) == 3 and isinstance(history[0], str)
            and all(isinstance(i, int) for i in history[1:])):
        raise KerasFileError(f"{where}: layer {'/'.join(path)!r} has an input tensor without "
                             "a valid keras_history")
    return list(history)


def _tensors_in(value, where, path):
    """The Keras 3 tensors of a node's args, in order, and the non-tensor leaves."""
    tensors, others = [], []
    stack = [value]
    while stack:
        item = stack.pop(0)
        if _is_keras_tensor(item):
            tensors.append(_history(item, where, path))
        elif isinstance(item, list):
            stack[:0] = item
        else:
            others.append(item)
    return tensors, others


def _kwargs(value, where, path):
    def convert(item):
        if _is_keras_tensor(item):
            return _history(item, where, path)
        if isinstance(item, dict):
            return {k: convert(v) for k, v in item.items()}
        if isinstance(item, list):
            return [convert(v) for v in item]
        return item

    return convert(clean(value)) if isinstance(value, dict) else {}


def _nodes(nodes, where, path, findings):
    expect(nodes, list, where, f"inbound_nodes of {'/'.join(path)!r}")
    out = []
    for node in nodes:
        if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
            tensors, others = _tensors_in(node.get("args", []), where, path)
            kwargs = _kwargs(node.get("kwargs", {}), where, path)
            if others:
                kwargs["_positional_args"] = others
                findings.notes.append(f"{'/'.join(path)}: called with non-tensor positional "
                                      f"arguments {others!r}")
            out.append([[*t, kwargs] for t in tensors])
            continue
        expect(node, list, where, f"an inbound node of {'/'.join(path)!r}")
        entries = []
        for item in node:
            if not (isinstance(item, list) and len(item) in (3, 4) and isinstance(item[0], str)):
                raise KerasFileError(f"{where}: layer {'/'.join(path)!r} has a malformed "
                                     f"inbound node entry {str(item)[:80]!r}")
            kwargs = item[3] if len(item) == 4 else {}
            entries.append([item[0], item[1], item[2], _kwargs(kwargs, where, path)])
        out.append(entries)
    return out


def _endpoints(value, where, key, findings, path):
    if isinstance(value, dict):  # Keras 3 named inputs/outputs
        findings.notes.append(f"{'/'.join(path) or 'model'}: {key} given by name "
                              f"{list(value)}; kept in that order")
        value = list(value.values())
    expect(value, list, where, key)
    if len(value) == 3 and isinstance(value[0], str):  # Keras 3: one endpoint, not a list
        value = [value]
    out = []
    stack = list(value)
    while stack:
        item = stack.pop(0)
        if isinstance(item, list) and len(item) == 3 and isinstance(item[0], str):
            out.append(list(item))
        elif isinstance(item, list):
            stack[:0] = item
        else:
            raise KerasFileError(f"{where}: {key} holds {str(item)[:80]!r}, not "
                                 "[layer, node, tensor]")
    return out
