"""Weight layouts: Keras 1/2 ``layer_names``/``weight_names`` groups and the Keras 3
object-path layout (``layers/<object>/vars/<i>``, also tf-keras 2.13+'s), mapped to layer
paths.
"""

from __future__ import annotations

import re

from cthulhu.saving.keras import _h5
from cthulhu.saving.keras._config import MODEL_CLASSES
from cthulhu.saving.keras._limits import KerasFileError

_INDEX = re.compile(r"^(0|[1-9][0-9]{0,8})$")


def strip_suffix(name):
    return name[:-2] if name.endswith(":0") else name


def resolve(group, relpath, where):
    """group[relpath] following hard links only, one checked component at a time."""
    import h5py

    node = group
    parts = relpath.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise KerasFileError(f"{where}: weight name {relpath!r} is not a plain path")
        try:
            link = node.get(part, getlink=True)
        except (OSError, RuntimeError, ValueError, KeyError):
            link = None
        if link is None:
            raise KerasFileError(f"{where}: weight {relpath!r} named in {group.name!r} is "
                                 "missing from the file")
        if not isinstance(link, h5py.HardLink):
            raise KerasFileError(f"{where}: weight {relpath!r} goes through a "
                                 f"{type(link).__name__}; refusing it")
        node = _h5.subgroup(node, part, where)
    if not isinstance(node, h5py.Dataset):
        raise KerasFileError(f"{where}: weight {relpath!r} in {group.name!r} is not a dataset")
    return node


# ---------------------------------------------------------------------------
# Keras 1/2 (and Keras 3 legacy .h5): layer_names / weight_names
# ---------------------------------------------------------------------------

def read_legacy(group, where, budget, limits):
    """(order, weights, names) of a ``layer_names`` group: per layer name, its arrays in
    ``weight_names`` order (``:0`` stripped from the names)."""
    layer_names = _h5.attr_names(group, "layer_names", where, limits)
    if layer_names is None:
        raise KerasFileError(f"{where}: {group.name!r} has no layer_names attribute")
    order, weights, names = [], {}, {}
    for layer in layer_names:
        budget.spend_object()
        if "/" in layer or layer in ("", ".", ".."):
            raise KerasFileError(f"{where}: layer name {layer!r} is not a plain name")
        sub = resolve_group(group, layer, where)
        weight_names = _h5.attr_names(sub, "weight_names", where, limits) or []
        if not weight_names:
            continue
        for _ in weight_names:
            budget.spend_object()
        key = (layer,)
        if key in weights:
            raise KerasFileError(f"{where}: layer {layer!r} is listed twice in layer_names")
        weights[key] = [_h5.read_array(resolve(sub, w, where), where, budget)
                        for w in weight_names]
        names[key] = [strip_suffix(w) for w in weight_names]
        order.append(key)
    return order, weights, names


def resolve_group(group, name, where):
    import h5py

    try:
        link = group.get(name, getlink=True)
    except (OSError, RuntimeError, ValueError, KeyError):
        link = None
    if link is None:
        raise KerasFileError(f"{where}: layer {name!r} is listed in layer_names but has no "
                             "group")
    if not isinstance(link, h5py.HardLink):
        raise KerasFileError(f"{where}: group {name!r} is a {type(link).__name__}; "
                             "refusing it")
    sub = _h5.subgroup(group, name, where)
    if not isinstance(sub, h5py.Group):
        raise KerasFileError(f"{where}: layer {name!r} is not a group")
    return sub


def split_nested(order, weights, names, model_config, where):
    """Give each leaf layer of a nested model its own entry (legacy layouts store a nested
    model as one group holding all its weights, trainable ones first): a weight goes to
    the inner layer named in its weight name (``inner_bn/gamma`` or ``outer/inner_bn/gamma``)."""
    containers = _containers(model_config)
    new_order, new_weights, new_names = [], {}, {}
    for key in order:
        inner = containers.get(key[-1])
        if inner is None:
            new_order.append(key)
            new_weights[key] = weights[key]
            new_names[key] = names[key]
            continue
        for name, array in zip(names[key], weights[key], strict=True):
            sub = _attribute(key, name, inner, where)
            if sub not in new_weights:
                new_order.append(sub)
                new_weights[sub] = []
                new_names[sub] = []
            new_weights[sub].append(array)
            new_names[sub].append(name)
    return new_order, new_weights, new_names


def _containers(model_config):
    """Layer name -> its container config, for the nested models of a top-level model."""
    out = {}
    config = (model_config or {}).get("config")
    if not isinstance(config, dict):
        return out
    for layer in config.get("layers", []):
        if layer.get("class_name") in MODEL_CLASSES and isinstance(layer.get("config"), dict) \
                and "layers" in layer["config"]:
            out[layer.get("name") or layer["config"].get("name")] = layer
    return out


def _attribute(key, weight_name, container, where):
    parts = weight_name.split("/")
    inner = {lay["config"].get("name"): lay for lay in container["config"]["layers"]
             if isinstance(lay.get("config"), dict)}
    for i, part in enumerate(parts[:-1]):
        if part in inner:
            layer = inner[part]
            if layer["class_name"] in MODEL_CLASSES and "layers" in layer["config"]:
                return _attribute(key + (part,), "/".join(parts[i + 1:]), layer, where)
            return key + (part,)
    raise KerasFileError(f"{where}: weight {weight_name!r} of nested model {'/'.join(key)!r} "
                         "names none of its layers")


# ---------------------------------------------------------------------------
# Keras 3 layout: layers/<object>/vars/<i>
# ---------------------------------------------------------------------------

class Node:
    """One object group: its own vars, its name attribute, its child objects."""

    def __init__(self):
        self.vars = {}
        self.name = None
        self.children = {}


def read_object_tree(root, where, budget, limits, tree=None, prefix=()):
    """The object tree under ``root`` (groups named by Keras's object paths), merged into
    ``tree`` (sharded files add to one tree). ``optimizer`` and root ``vars`` are skipped."""
    tree = Node() if tree is None else tree
    _walk(root, tree, where, budget, limits, depth=0, top=True)
    return tree


def _walk(group, node, where, budget, limits, depth, top=False):
    import h5py

    if depth > 64:
        raise KerasFileError(f"{where}: object groups nested more than 64 deep")
    for name, kind in _h5.children(group, where, budget):
        if top and name not in ("layers", "_layer_checkpoint_dependencies"):
            continue  # optimizer state, model-level vars, metrics: not needed for inference
        sub = _h5.subgroup(group, name, where)
        if name == "vars" and not top:
            if not isinstance(sub, h5py.Group):
                raise KerasFileError(f"{where}: {sub.name!r} is not a group")
            tag = _h5.attr_text(sub, "name", where, limits, max_bytes=limits.max_name_bytes)
            if tag is not None:
                node.name = tag
            for var, var_kind in _h5.children(sub, where, budget):
                if var_kind != "dataset" or not _INDEX.match(var):
                    raise KerasFileError(f"{where}: {sub.name}/{var} is not a numbered "
                                         "variable")
                if var in node.vars:
                    raise KerasFileError(f"{where}: variable {sub.name}/{var} appears twice")
                node.vars[var] = _h5.read_array(_h5.subgroup(sub, var, where), where, budget)
            continue
        if kind != "group":
            raise KerasFileError(f"{where}: {sub.name!r} is a dataset where Keras writes "
                                 "object groups")
        if top and name == "_layer_checkpoint_dependencies":
            name = "layers"  # the Keras 2.13 spelling
        child = node.children.setdefault(name, Node())
        _walk(sub, child, where, budget, limits, depth + 1)


def snake_case(name):
    # Keras's naming.to_snake_case: the object paths are built from class names with it
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def object_names(container):
    """Keras's object-path names of a container's layers: snake_case(class) made unique in
    ``model.layers`` order (a Sequential's InputLayer is not one of its layers)."""
    layers = container["config"]["layers"]
    if container["class_name"] == "Sequential" and layers and \
            layers[0]["class_name"] == "InputLayer":
        layers = layers[1:]
    used, out = {}, {}
    for layer in layers:
        base = snake_case(layer["class_name"].split(">")[-1])
        if base in used:
            used[base] += 1
            name = f"{base}_{used[base]}"
        else:
            used[base] = 0
            name = base
        out[name] = layer
    return out


def flatten_tree(tree, model_config, where):
    """(order, weights, names, keyed_by) of an object tree: keys are layer-name paths when
    the file names its objects or a model config is given, else the object paths."""
    order, weights, names = [], {}, {}
    layers = tree.children.get("layers")
    if layers is None:
        return order, weights, names, "layer_name"
    named = _all_named(layers)
    keyed_by = "layer_name" if (named or model_config is not None) else "object_path"
    _flatten(layers, model_config if not named else None, (), order, weights, names, where)
    if model_config is not None:  # the file's groups are in name order: use the model's
        rank = {path: i for i, path in enumerate(leaf_paths(model_config))}
        order.sort(key=lambda key: rank.get(key, len(rank)))
    return order, weights, names, keyed_by


def leaf_paths(model_config, prefix=()):
    """The paths of a normalised model's leaf layers, in the model's layer order."""
    out = []
    config = (model_config or {}).get("config")
    if not isinstance(config, dict):
        return out
    for layer in config.get("layers", []):
        cfg = layer.get("config")
        name = layer.get("name") or (cfg.get("name") if isinstance(cfg, dict) else None)
        if layer.get("class_name") in MODEL_CLASSES and isinstance(cfg, dict) and "layers" in cfg:
            out.extend(leaf_paths(layer, prefix + (name,)))
        else:
            out.append(prefix + (name,))
    return out


def _all_named(layers_node):
    return bool(layers_node.children) and all(
        child.name is not None for child in layers_node.children.values())


def _flatten(layers_node, container, prefix, order, weights, names, where):
    mapping = object_names(container) if container is not None else {}
    for obj_name, node in layers_node.children.items():
        layer = mapping.get(obj_name)
        if node.name is not None:
            layer_name = node.name
        elif container is not None:
            if layer is None:
                raise KerasFileError(f"{where}: weights group 'layers/{obj_name}' matches no "
                                     "layer of the model config")
            layer_name = layer["config"].get("name") if isinstance(layer["config"], dict) \
                else obj_name
        else:
            layer_name = obj_name
        key = prefix + (layer_name,)
        if "layers" in node.children:  # a nested model
            inner = layer if layer is not None and layer["class_name"] in MODEL_CLASSES \
                else None
            _flatten(node.children["layers"], inner, key, order, weights, names, where)
            continue
        arrays, labels = [], []
        _collect(node, "", arrays, labels)
        if arrays:
            order.append(key)
            weights[key] = arrays
            names[key] = labels
    return order


def _collect(node, prefix, arrays, labels):
    """A leaf layer's arrays: its own vars in index order, then its sub-objects' (an LSTM's
    ``cell``) in the file's name order."""
    for index in sorted(node.vars, key=int):
        arrays.append(node.vars[index])
        labels.append(f"{prefix}vars/{index}")
    for name in sorted(node.children):
        _collect(node.children[name], f"{prefix}{name}/", arrays, labels)


def rename_object_paths(order, weights, names, model_config, where):
    """Object-path keys (``('sequential', 'dense_1')``) -> layer-name keys, through a
    model config (normalised), by Keras's object naming rule."""
    renamed = {}
    for key in order:
        container = model_config
        out = []
        for i, part in enumerate(key):
            if container is None or container.get("class_name") not in MODEL_CLASSES:
                raise KerasFileError(f"{where}: weights of {'/'.join(key)!r} sit below a "
                                     "layer that is not a model in the config")
            layer = object_names(container).get(part)
            if layer is None:
                raise KerasFileError(f"{where}: weights group {'/'.join(key[:i + 1])!r} "
                                     "matches no layer of the model config")
            out.append(layer.get("name") or layer["config"].get("name"))
            container = layer if i + 1 < len(key) else None
        renamed[key] = tuple(out)
    return ([renamed[k] for k in order], {renamed[k]: v for k, v in weights.items()},
            {renamed[k]: v for k, v in names.items()})
