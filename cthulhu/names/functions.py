"""Python functions inside configs (``LuKthu``'s ``function``, ``output_shape``, ``mask``).

A function is stored by *name* when it can be found again without running
code from the file: a function registered with :func:`register_function`
(``{'kind': 'registered', 'name': ...}``) or a module-level function of an
importable module (``{'kind': 'name', 'module': ..., 'name': ...}``). Anything
else (a lambda, a closure, a function defined in ``__main__``) is stored as
*code*: its marshalled bytecode in base64 (``{'kind': 'code', ...}``).

:func:`deserialize_function` turns these back into functions through
:mod:`cthulhu.names.resolver`, the one gate every model-file reader uses: in
safe mode (the default) only allow-listed names resolve (custom objects,
registered functions, cthulhu's own activations, initializers, regularizers
and constraints) and code is refused. ``safe_mode=False`` imports any named
module and rebuilds bytecode: that runs code from the file.

Examples
--------
>>> import math
>>> from cthulhu import activations
>>> from cthulhu.names.functions import serialize_function, deserialize_function
>>> d = serialize_function(activations.relu)
>>> d["kind"], d["module"], d["name"]
('name', 'cthulhu.activations', 'relu')
>>> deserialize_function(d) is activations.relu
True
>>> deserialize_function(serialize_function(math.sqrt))
Traceback (most recent call last):
...
ValueError: function math.sqrt is not on the safe-mode allow-list (cthulhu's activations, initializers, regularizers and constraints, functions registered with register_function, custom_objects); pass it in custom_objects={'sqrt': ...} or register it with cthulhu.names.register_function, or load with safe_mode=False only if you trust the file (that runs code from it)
>>> deserialize_function(serialize_function(math.sqrt), safe_mode=False)(9.0)
3.0
>>> d = serialize_function(lambda x: x + 1)
>>> d["kind"]
'code'
>>> deserialize_function(d)
Traceback (most recent call last):
...
ValueError: refusing to load arbitrary Python code (a lambda) from a config in safe mode; pass safe_mode=False only if you trust the file's source
"""

from __future__ import annotations

import base64
import inspect
import json
import marshal
import sys
import types

from cthulhu.names.registry import lookup_custom
from cthulhu.names.resolver import (  # noqa: F401 - register_function & scopes are public here
    from_bytecode,
    in_safe_mode,
    register_function,
    registered_name,
    require_unsafe,
    resolve,
    safe_mode_scope,
)


def _importable(fn) -> bool:
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        return False
    target = sys.modules.get(module)
    for part in qualname.split("."):
        target = getattr(target, part, None)
    return target is fn


def serialize_function(fn) -> dict:
    """A JSON-safe dict describing ``fn`` (by name when possible, else as marshalled code)."""
    if not callable(fn):
        raise TypeError(f"serialize_function expects a callable, got {fn!r}")
    registered = registered_name(fn)
    if registered is not None:
        return {"kind": "registered", "name": registered}
    if _importable(fn):
        return {"kind": "name", "module": fn.__module__, "name": fn.__qualname__}
    if not isinstance(fn, types.FunctionType):
        raise ValueError(f"cannot serialize {fn!r}: register it with register_function or make it "
                         "a module-level function")
    return _serialize_code(fn)


def _serialize_code(fn) -> dict:
    closure = None
    if fn.__closure__:
        closure = [cell.cell_contents for cell in fn.__closure__]
        _require_json(closure, fn, "closure variables")
    defaults = list(fn.__defaults__) if fn.__defaults__ else None
    _require_json(defaults, fn, "default arguments")
    # Modules the code refers to by global name (``np``, ``math``): re-imported on load.
    modules = {name: fn.__globals__[name].__name__ for name in fn.__code__.co_names
               if isinstance(fn.__globals__.get(name), types.ModuleType)}
    return {"kind": "code", "name": fn.__name__,
            "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
            "code": base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii"),
            "defaults": defaults, "closure": closure, "modules": modules}


def _require_json(value, fn, what):
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise ValueError(f"cannot serialize function {fn.__name__!r}: its {what} are not "
                         "JSON-serialisable; use a module-level function instead") from None


def deserialize_function(config, safe_mode=None, custom_objects=None, what="function"):
    """The function described by ``config`` (see :func:`serialize_function`).

    Parameters
    ----------
    safe_mode : bool, optional
        True: only allow-listed names resolve and code is refused (see
        :mod:`cthulhu.names.resolver`). ``None``: the value set by the
        enclosing ``load_model`` (True by default).
    custom_objects : dict, optional
        Extra name -> function mapping, consulted first.
    what : str
        How error messages name the function (e.g. ``"LuKthu 'scale' function"``).
    """
    if callable(config):
        return config
    if not isinstance(config, dict) or "kind" not in config:
        raise ValueError(f"{what}: not a serialized function: {config!r}")
    kind, name = config["kind"], config.get("name")
    if kind == "registered":
        return resolve(name, None, custom_objects=custom_objects, safe_mode=safe_mode, what=what)
    if kind == "name":
        return resolve(name, config.get("module"), custom_objects=custom_objects,
                       safe_mode=safe_mode, what=what)
    if kind == "code":
        return _from_code(config, safe_mode, custom_objects, what)
    raise ValueError(f"{what}: unknown serialized function kind {kind!r}")


def _from_code(config, safe_mode, custom_objects, what):
    label = config.get("name", "?")
    found = lookup_custom(label, custom_objects) if isinstance(label, str) else None
    if found is not None:  # a custom object of that name replaces the stored code
        return found
    try:
        require_unsafe("a lambda" if label == "<lambda>" else f"function {label!r}", safe_mode)
    except ValueError as exc:
        if what == "function":
            raise
        raise ValueError(f"{what}: {exc}") from None
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if config.get("python") != python:
        raise ValueError(f"function {label!r} was saved by Python {config.get('python')}, "
                         f"this is Python {python}: bytecode can't move between versions")
    return from_bytecode(base64.b64decode(config["code"]), what=f"{what} {label!r}",
                         defaults=config.get("defaults"), closure=config.get("closure"),
                         modules=config.get("modules"), custom_objects=custom_objects,
                         safe_mode=safe_mode)


def function_arity(fn) -> int | None:
    """Number of positional parameters of ``fn`` (None when unknown)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
