"""Python functions inside configs (``LuKthu``'s ``function``, ``output_shape``, ``mask``).

A function is stored by *name* when it can be found again without running
code from the file: a function registered with :func:`register_function`, a
custom object, or a module-level function of an importable module
(``{'kind': 'name', 'module': ..., 'name': ...}``). Anything else (a lambda, a
closure, a function defined in ``__main__``) is stored as *code*: its
marshalled bytecode in base64 (``{'kind': 'code', ...}``).

Loading code runs code from the file, so :func:`deserialize_function` refuses
it unless ``safe_mode=False``. In safe mode a function stored by name is
restored only from the registry, the custom objects, or a module that is
already imported or belongs to a trusted package (``cthulhu``, ``numpy``,
``math``, ``operator``): importing an arbitrary module named in a file would
also run code.

Examples
--------
>>> from cthulhu.engine.functions import serialize_function, deserialize_function
>>> import math
>>> d = serialize_function(math.sqrt)
>>> d["kind"], d["module"], d["name"]
('name', 'math', 'sqrt')
>>> deserialize_function(d)(9.0)
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
import builtins
import contextlib
import contextvars
import importlib
import inspect
import json
import marshal
import sys
import types

_FUNCTIONS: dict[str, object] = {}
_TRUSTED_ROOTS = ("cthulhu", "numpy", "math", "operator", "array_api_compat", "builtins")
_SAFE_MODE: contextvars.ContextVar = contextvars.ContextVar("cthulhu_safe_mode", default=True)


def register_function(fn=None, *, name=None):
    """Register ``fn`` so configs store it (and restore it) by ``name`` (default: its qualified name)."""
    def deco(f):
        _FUNCTIONS[name or f"{f.__module__}.{f.__qualname__}"] = f
        return f
    return deco if fn is None else deco(fn)


@contextlib.contextmanager
def safe_mode_scope(safe_mode: bool):
    """Within this block, ``deserialize_function(..., safe_mode=None)`` uses ``safe_mode``."""
    token = _SAFE_MODE.set(bool(safe_mode))
    try:
        yield
    finally:
        _SAFE_MODE.reset(token)


def in_safe_mode() -> bool:
    return _SAFE_MODE.get()


def _registered_name(fn):
    for key, value in _FUNCTIONS.items():
        if value is fn:
            return key
    return None


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
    registered = _registered_name(fn)
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


def deserialize_function(config, safe_mode=None, custom_objects=None):
    """The function described by ``config`` (see :func:`serialize_function`).

    Parameters
    ----------
    safe_mode : bool, optional
        Refuse marshalled code and imports of untrusted modules. ``None``: the
        value set by the enclosing ``load_model`` (True by default).
    custom_objects : dict, optional
        Extra name -> function mapping, consulted first.
    """
    from cthulhu.engine.serialization import lookup_custom

    safe = in_safe_mode() if safe_mode is None else bool(safe_mode)
    if callable(config):
        return config
    if not isinstance(config, dict) or "kind" not in config:
        raise ValueError(f"not a serialized function: {config!r}")
    kind = config["kind"]
    name = config.get("name")
    found = lookup_custom(name, custom_objects) if name else None
    if found is not None:
        return found
    if kind == "registered":
        if name not in _FUNCTIONS:
            raise ValueError(f"function {name!r} is not registered; register it with "
                             "cthulhu.engine.functions.register_function or pass it in custom_objects")
        return _FUNCTIONS[name]
    if kind == "name":
        return _by_name(config["module"], name, safe)
    if kind == "code":
        return _from_code(config, safe, custom_objects)
    raise ValueError(f"unknown serialized function kind {kind!r}")


def _by_name(module_name, qualname, safe):
    module = sys.modules.get(module_name)
    if module is None:
        if safe and module_name.split(".")[0] not in _TRUSTED_ROOTS:
            raise ValueError(f"refusing to import module {module_name!r} to restore function "
                             f"{qualname!r} in safe mode; import it first, pass the function in "
                             "custom_objects, or load with safe_mode=False if you trust the file")
        module = importlib.import_module(module_name)
    target = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if not callable(target):
        raise ValueError(f"cannot find function {module_name}.{qualname}")
    return target


def _from_code(config, safe, custom_objects):
    label = config.get("name", "?")
    if safe:
        what = "a lambda" if label == "<lambda>" else f"function {label!r}"
        raise ValueError(f"refusing to load arbitrary Python code ({what}) from a config in "
                         "safe mode; pass safe_mode=False only if you trust the file's source")
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if config.get("python") != python:
        raise ValueError(f"function {label!r} was saved by Python {config.get('python')}, "
                         f"this is Python {python}: bytecode can't move between versions")
    code = marshal.loads(base64.b64decode(config["code"]))
    namespace = {"__builtins__": builtins}
    for alias, module_name in (config.get("modules") or {}).items():
        namespace[alias] = importlib.import_module(module_name)
    namespace.update(custom_objects or {})
    closure = None
    if config.get("closure") is not None:
        closure = tuple(types.CellType(v) for v in config["closure"])
    defaults = tuple(config["defaults"]) if config.get("defaults") is not None else None
    return types.FunctionType(code, namespace, code.co_name, defaults, closure)


def function_arity(fn) -> int | None:
    """Number of positional parameters of ``fn`` (None when unknown)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
