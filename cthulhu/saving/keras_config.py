"""A Keras model config (the neutral form of :mod:`cthulhu.saving.keras`) as a cthulhu one.

Every Keras class name goes through the catalog (``Conv2D`` -> ``Cthalpa2D``, ``Dense`` ->
``Daoloth``, ``InputLayer`` -> ``InputLayer``; ``Sequential`` -> ``Pile``, ``Functional``/
``Model`` -> ``Lump``). Every argument either has a cthulhu word (the catalog row's
signature), or is one of the Keras-only arguments listed in :data:`INERT` with a value
that changes nothing at inference (``groups=1``, ``renorm=False``, a dropout ``seed``,
...); anything else is refused with one line naming the layer, its Keras class and what
cthulhu lacks (:class:`KerasTranslationError`): never a silently different model.

Functions and classes named in the file resolve only as the safe loader allows
(``docs/security.md``): activations, initializers, regularizers and constraints by name
through :mod:`cthulhu.names.resolver` (cthulhu's own tables, registered functions,
``custom_objects``); a class from outside Keras only from ``custom_objects`` or the layer
registry; a ``Lambda``'s function from ``custom_objects`` (under the layer's name), or,
with ``safe_mode=False``, from the file's marshalled bytecode (that runs code from the
file).
"""

from __future__ import annotations

import base64
import binascii
import functools
import inspect
import json

from cthulhu.names import lookup_custom, registered_layers
from cthulhu.names.resolver import from_bytecode, resolve
from cthulhu.names.resolver import own_names as _own_names
from cthulhu.shapes.catalog import lookup

MODEL_CLASSES = ("Sequential", "Functional", "Model")
#: arguments every cthulhu layer takes (the base ``Layer``'s)
BASE_ARGS = frozenset({"name", "trainable", "dtype", "batch_input_shape", "input_shape",
                       "batch_size", "input_dim", "weights", "activity_regularizer"})


def _any(value):
    return True


def _is(expected):
    def check(value):
        return value == expected and type(value) is type(expected)
    check.expected = expected
    return check


def _none(value):
    return value is None


_none.expected = None

#: Keras-only arguments that change nothing at inference, when their value passes the check.
INERT = {
    "groups": _is(1),                   # grouped convolution: refused unless 1
    "quantization_config": _none, "lora_rank": _none, "lora_alpha": _any,
    "renorm": _is(False), "renorm_clipping": _any, "renorm_momentum": _any,
    "synchronized": _any, "fused": _any, "virtual_batch_size": _none, "adjustment": _none,
    "mode": _is(0),                     # Keras 1 BatchNormalization: feature-wise
    "time_major": _is(False), "zero_output_for_mask": _is(False),
    "reset_after": _any,
    "seed": _any, "noise_shape": _any,  # dropout masks: training only
    "autocast": _any, "optional": _is(False), "ragged": _is(False), "sparse": _is(False),
    "build_input_shape": _any,
}
# 1D layers whose cthulhu class is channels_last only (no data_format argument)
_ONLY_CHANNELS_LAST = ("channels_last", None)
_KERAS_MODULES = ("keras", "tf_keras", "tensorflow")
_INPUT_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                 "uint64")
_MIXED = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
_OWN_MODULES = {"activation": "cthulhu.activations", "initializer": "cthulhu.initializers",
                "regularizer": "cthulhu.regularizers", "constraint": "cthulhu.constraints"}


own_names = functools.cache(_own_names)  # cthulhu's allow-listed names: fixed once imported


class KerasTranslationError(ValueError):
    """A Keras model cthulhu will not build: one line naming the layer, its Keras class and
    what is missing (or what safe mode refuses, and how to opt in)."""


class Context:
    """What one translation needs: the file's generation, the caller's opt-ins, the code
    and custom classes the reader recorded, and the notes it collects."""

    def __init__(self, kfile, custom_objects=None, safe_mode=True):
        self.generation = kfile.generation
        self.custom_objects = dict(custom_objects or {})
        self.safe_mode = bool(safe_mode)
        self.code = {r.path: r for r in kfile.code}
        self.custom = {}
        for record in kfile.custom:
            self.custom.setdefault(record.path, []).append(record)
        self.notes = list(kfile.notes)
        self.checks = []  # (layer path, what Keras 1 declared) checked once the model is built


def convert_model(config, ctx, path=()):
    """``{'class_name', 'config'}`` in cthulhu's terms for a neutral Keras model config."""
    class_name = config.get("class_name")
    cfg = config.get("config")
    if class_name not in MODEL_CLASSES or not isinstance(cfg, dict) or "layers" not in cfg:
        raise KerasTranslationError(f"the file's top level is a {class_name!r}, not a model "
                                    "(Sequential or functional Model)")
    return _container(class_name, cfg, ctx, path)


def _label(path, class_name):
    return f"layer {'/'.join(path) or 'model'!r} (Keras {class_name})"


def _container(class_name, cfg, ctx, path):
    if class_name == "Sequential":
        out = {"name": cfg.get("name"), "layers": [
            _entry(layer, ctx, path + (_name_of(layer),)) for layer in cfg["layers"]]}
        if cfg.get("build_input_shape") is not None:
            out["build_input_shape"] = cfg["build_input_shape"]
        return {"class_name": "Pile", "config": out}
    layers = []
    for layer in cfg["layers"]:
        entry = _entry(layer, ctx, path + (layer["name"],))
        entry["name"] = layer["name"]
        entry["inbound_nodes"] = [_node(node, layer, ctx, path) for node in layer["inbound_nodes"]]
        layers.append(entry)
    return {"class_name": "Lump", "config": {
        "name": cfg.get("name"), "layers": layers,
        "input_layers": [list(ref[:3]) for ref in cfg["input_layers"]],
        "output_layers": [list(ref[:3]) for ref in cfg["output_layers"]]}}


def _name_of(layer):
    cfg = layer.get("config")
    return layer.get("name") or (cfg.get("name") if isinstance(cfg, dict) else None)


def _node(node, layer, ctx, path):
    out = []
    for name, node_index, tensor_index, kwargs in node:
        # Keras 3 writes the default "mask": None (masks flow between layers implicitly)
        extra = {k: v for k, v in kwargs.items()
                 if k != "training" and not (k == "mask" and v is None)}
        if extra:
            raise KerasTranslationError(
                f"{_label(path + (layer['name'],), layer['class_name'])}: called with "
                f"{sorted(extra)}, which cthulhu's functional models do not pass to a layer")
        training = kwargs.get("training")
        out.append([name, node_index, tensor_index,
                    {"training": True} if training is True else {}])
    return out


def _entry(layer, ctx, path):
    class_name = layer["class_name"]
    cfg = layer["config"]
    if class_name in MODEL_CLASSES and isinstance(cfg, dict) and "layers" in cfg:
        return _container(class_name, cfg, ctx, path)
    label = _label(path, class_name)
    custom = [r for r in ctx.custom.get(path, ()) if r.key == "layer"]
    found = _custom_class(class_name, layer, ctx)
    if found is not None:
        key, cls = found
        return {"class_name": key, "config": _custom_config(cls, _plain(cfg, label))}
    if custom:
        record = custom[0]
        raise KerasTranslationError(
            f"{label} is a custom class ({record.registered_name or record.module}): its code "
            "is not in the file and cthulhu never imports it; pass a cthulhu layer class for "
            f"it in custom_objects={{{class_name!r}: ...}} (or register one with "
            "cthulhu.names.register_layer)")
    if class_name == "Lambda":
        return {"class_name": "LuKthu", "config": _lambda(cfg, ctx, path, label)}
    row = lookup(class_name)
    if row is None or class_name not in row.keras:
        if path in ctx.code:
            raise KerasTranslationError(f"{label} holds Python code ({ctx.code[path].detail}), "
                                        "and cthulhu has no such layer")
        raise KerasTranslationError(f"{label}: cthulhu has no layer for the Keras class "
                                    f"{class_name!r} (not in cthulhu's catalog)")
    return {"class_name": row.name, "config": _arguments(row, cfg, ctx, path, label)}


def _custom_class(class_name, layer, ctx):
    """``(name, class)`` the caller supplied for a class: ``custom_objects`` under the
    Keras class name or its registered name, then classes registered with
    ``register_layer`` (never cthulhu's own classes: those go through the catalog)."""
    registered_name = layer.get("registered_name")
    for key in dict.fromkeys(k for k in (class_name, registered_name) if isinstance(k, str)):
        found = lookup_custom(key, ctx.custom_objects)
        if found is not None:
            return key, found
    if lookup(class_name) is None and class_name not in ("Lambda",):
        user = {k: v for k, v in registered_layers().items()
                if not v.__module__.startswith("cthulhu.")}
        for key in (class_name, registered_name):
            if isinstance(key, str) and key in user:
                return key, user[key]
    return None


def _custom_config(cls, cfg):
    """A custom class's config without the Keras base layer's inert arguments (``autocast``
    and the like, which every Keras layer's config holds) that the class does not name."""
    named = _accepted(cls) or ()
    return {key: value for key, value in cfg.items()
            if key in named or key in BASE_ARGS or not (key in INERT and INERT[key](value))}


def _plain(cfg, label):
    """A custom class's config, as data (checked to be plain JSON)."""
    try:
        return json.loads(json.dumps(cfg))
    except (TypeError, ValueError):
        raise KerasTranslationError(f"{label}: its config is not plain data") from None


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------

def _arguments(row, cfg, ctx, path, label):
    params = set(row.params) | {name for name, _ in row.keyword_only} | BASE_ARGS
    defaults = row.defaults()
    out = {}
    for key, value in cfg.items():
        if key == "keras1_dropped":
            if "output_shape" in value:
                ctx.checks.append((path, label, value["output_shape"]))
            continue
        if key in params:
            out[key] = _value(key, value, ctx, label, defaults.get(key))
            continue
        check = INERT.get(key)
        if check is not None:
            if not check(value):
                wanted = getattr(check, "expected", None)
                raise KerasTranslationError(
                    f"{label}: {key}={value!r} changes what the layer computes and cthulhu's "
                    f"{row.name} has no such argument (only {key}={wanted!r} is supported)")
            continue
        if key == "data_format" and value in _ONLY_CHANNELS_LAST:
            continue  # cthulhu's 1D layer of this kind is channels_last only
        if key.endswith(("_initializer", "_regularizer", "_constraint")):
            # Keras keeps some for weights the layer does not have (SeparableConv1D's
            # kernel_*): nothing uses them
            continue
        raise KerasTranslationError(f"{label}: argument {key}={_short(value)} has no "
                                    f"equivalent in cthulhu's {row.name}")
    if row.name == "Laldagorth" and out.get("implementation") == 0:
        out["implementation"] = 1  # Keras 1's consume_less='cpu': the same computation
    return out


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _value(key, value, ctx, label, default):
    if key == "dtype":
        return _dtype(value, ctx, label, input_layer=label.endswith("(Keras InputLayer)"))
    if key in ("activation", "recurrent_activation"):
        return _activation(value, ctx, label, key)
    for kind in ("initializer", "regularizer", "constraint"):
        if key.endswith("_" + kind):
            return _object(kind, value, ctx, label, key, default)
    return value


def _dtype(value, ctx, label, input_layer=False):
    if value is None or value in ("float32", "float64", "float16"):
        return value
    if input_layer and value in _INPUT_DTYPES:  # the input's dtype (token ids, masks)
        return value
    if value == "bfloat16" or value in _MIXED:
        ctx.notes.append(f"{label}: dtype policy {value!r}: weights kept and computed in "
                         "float32 (NumPy has no bfloat16; Keras computed in "
                         f"{_MIXED.get(value, value)}, so outputs differ by its rounding)")
        return "float32"
    raise KerasTranslationError(f"{label}: dtype {value!r} is not one cthulhu keeps weights in")


def _activation(value, ctx, label, key):
    if value is None:
        return "linear"
    if isinstance(value, dict):  # Keras 3: {"module", "class_name": "function", "config": name}
        name, module = value.get("config"), value.get("module")
        if value.get("class_name") != "function" or not isinstance(name, str):
            raise KerasTranslationError(f"{label}: {key} {_short(value)} is not a function "
                                        "cthulhu can name")
        if not (isinstance(module, str) and module.split(".")[0] in _KERAS_MODULES):
            return _named_function(name, module, ctx, label, key)
        value = name
    if not isinstance(value, str):
        raise KerasTranslationError(f"{label}: {key} {_short(value)} is not an activation name")
    if value == "hard_sigmoid" and ctx.generation == "keras3":
        raise KerasTranslationError(
            f"{label}: {key} 'hard_sigmoid' written by Keras 3 is clip(x / 6 + 0.5); cthulhu's "
            "'hard_sigmoid' is Keras 1 and 2's clip(0.2 x + 0.5), a different function")
    found = lookup_custom(value, ctx.custom_objects)
    if found is not None:
        return found
    if ("cthulhu.activations", value) in own_names():
        return value
    raise KerasTranslationError(f"{label}: {key} {value!r} is not one of cthulhu's "
                                "activations; pass a function for it in "
                                f"custom_objects={{{value!r}: ...}}")


def _named_function(name, module, ctx, label, what):
    try:
        return resolve(name, module, custom_objects=ctx.custom_objects, safe_mode=True,
                       what=f"{label}: {what}")
    except ValueError as exc:
        # Keras files never get an import of what they name, even with safe_mode=False
        raise KerasTranslationError(str(exc).replace(
            ", or load with safe_mode=False only if you trust the file (that runs code from "
            "it)", "")) from None


def _is_custom_entry(value):
    registered = value.get("registered_name")
    module = value.get("module")
    return (isinstance(registered, str) and ">" in registered) or (
        isinstance(module, str) and module.split(".")[0] not in _KERAS_MODULES)


def _object(kind, value, ctx, label, key, default):
    """An initializer, regularizer or constraint, as cthulhu's name or config dict.

    None of them changes what a loaded model computes (the weights come from the file;
    regularizers and constraints act in training), so a Keras object cthulhu does not
    have is replaced by the argument's default, with a note; a custom class is refused
    unless ``custom_objects`` gives it, like every custom class."""
    if value is None:
        return None
    module = _OWN_MODULES[kind]
    if isinstance(value, str):
        found = lookup_custom(value, ctx.custom_objects)
        if found is not None or (module, value) in own_names():
            return value
        ctx.notes.append(f"{label}: {key} {value!r} is not one of cthulhu's {kind}s; "
                         f"{default!r} kept instead (no effect on a loaded model)")
        return default
    if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
        raise KerasTranslationError(f"{label}: {key} {_short(value)} is not a {kind} cthulhu "
                                    "can read")
    class_name = value["class_name"]
    config = value.get("config") or {}
    registered = value.get("registered_name")
    for name in (class_name, registered):
        if isinstance(name, str) and lookup_custom(name, ctx.custom_objects) is not None:
            return {"class_name": name, "config": _plain(config, label)}
    if _is_custom_entry(value):
        raise KerasTranslationError(
            f"{label}: {key} is a custom class ({registered or value.get('module')}); cthulhu "
            f"never imports it: pass it in custom_objects={{{class_name!r}: ...}}")
    cls = own_names().get((module, class_name))
    if cls is None or not isinstance(config, dict):
        ctx.notes.append(f"{label}: {key} {class_name!r} is not one of cthulhu's {kind}s; "
                         f"{default!r} kept instead (no effect on a loaded model)")
        return default
    accepted = _accepted(cls)
    kept = {k: v for k, v in config.items() if accepted is None or k in accepted}
    if len(kept) != len(config):
        ctx.notes.append(f"{label}: {key} {class_name}: Keras-only settings "
                         f"{sorted(set(config) - set(kept))} dropped (no effect on a loaded "
                         "model)")
    return {"class_name": class_name, "config": kept}


def _accepted(cls):
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


# ---------------------------------------------------------------------------
# Lambda
# ---------------------------------------------------------------------------

def _lambda(cfg, ctx, path, label):
    name = path[-1]
    out = {"name": cfg.get("name", name), "trainable": cfg.get("trainable", True)}
    if cfg.get("dtype") is not None:
        out["dtype"] = _dtype(cfg["dtype"], ctx, label)
    given = lookup_custom(name, ctx.custom_objects)
    if given is not None:
        out["function"] = given
    else:
        out["function"] = _stored_function(cfg, "function", ctx, label, name)
    out["output_shape"] = _output_shape(cfg, ctx, label)
    if cfg.get("mask") is not None:
        out["mask"] = _stored_function(cfg, "mask", ctx, label, None)
    arguments = cfg.get("arguments") or {}
    if not isinstance(arguments, dict):
        raise KerasTranslationError(f"{label}: arguments should be a dict")
    out["arguments"] = _plain(arguments, label)
    return out


def _output_shape(cfg, ctx, label):
    value = cfg.get("output_shape")
    kind = cfg.get("output_shape_type", "raw")
    if value is None:
        return None
    if kind == "raw" and isinstance(value, list) and all(
            d is None or isinstance(d, int) for d in value):
        return tuple(value)
    if kind == "raw" and isinstance(value, list) and value and all(
            isinstance(s, list) for s in value):
        raise KerasTranslationError(f"{label}: a list of output shapes is not supported by "
                                    "cthulhu's LuKthu")
    return _stored_function(cfg, "output_shape", ctx, label, None)


def _stored_function(cfg, key, ctx, label, layer_name):
    """A function a Keras Lambda stores under ``key``: by name through the resolver, or as
    marshalled bytecode (refused in safe mode; rebuilt with ``safe_mode=False``)."""
    value = cfg.get(key)
    kind = cfg.get(f"{key}_type")
    if isinstance(value, dict):
        if value.get("class_name") == "__lambda__":
            code = (value.get("config") or {})
            return _bytecode(code.get("code"), code.get("defaults"), code.get("closure"),
                             ctx, label, key, layer_name)
        if value.get("class_name") == "function" and isinstance(value.get("config"), str):
            return _named_function(value["config"], value.get("module"), ctx, label, key)
    if kind == "function" and isinstance(value, str):
        module = cfg.get(f"{key}_module") or cfg.get("module")
        return _named_function(value, module, ctx, label, key)
    if kind == "lambda" or (isinstance(value, list) and len(value) == 3):
        code, defaults, closure = (list(value) + [None, None, None])[:3] if isinstance(
            value, list) else (value, None, None)
        return _bytecode(code, defaults, closure, ctx, label, key, layer_name)
    raise KerasTranslationError(f"{label}: {key} {_short(value)} is not a function cthulhu can "
                                "read")


def _bytecode(code, defaults, closure, ctx, label, key, layer_name):
    if ctx.safe_mode:
        how = (f"pass the function yourself (custom_objects={{{layer_name!r}: function}}) or "
               if layer_name else "")
        raise KerasTranslationError(
            f"{label}: its {key} is Python bytecode stored in the file, and loading it would "
            f"run code from the file; refused in safe mode: {how}load with safe_mode=False "
            "only if you trust the file (that runs code from it)")
    if not isinstance(code, str):
        raise KerasTranslationError(f"{label}: its {key} holds no bytecode")
    try:  # Keras 2/3 write base64; Keras 1.2 wrote raw_unicode_escape text
        raw = base64.b64decode(code.encode("ascii"), validate=False)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raw = code.encode("raw_unicode_escape")
    try:
        return from_bytecode(raw, what=f"{label}: {key}", safe_mode=False,
                             defaults=None if defaults is None else list(defaults),
                             closure=None if closure is None else list(closure),
                             custom_objects=ctx.custom_objects)
    except (ValueError, EOFError, TypeError) as exc:
        raise KerasTranslationError(f"{label}: its {key} bytecode cannot be rebuilt by this "
                                    f"Python ({type(exc).__name__}: {exc}); Keras files do "
                                    "not say which Python wrote them, and bytecode moves "
                                    "between versions only by chance") from None
