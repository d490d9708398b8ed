"""The one gate between a function *named in a model file* and a Python object.

Every reader of model files (cthulhu's own files, ``model_from_json`` and
``model_from_config``, and the Keras ``.keras``/``.h5``/JSON readers) turns a
name found in a file into a function only through :func:`resolve`, and rebuilds
a function stored as code only through :func:`from_bytecode`. Readers never
import a module, walk an attribute path or call ``eval``/``exec`` on text from a
file themselves.

Contract
--------
In **safe mode** (the default: ``load_model(..., safe_mode=True)`` opens
:func:`safe_mode_scope`):

1. A name resolves only from this allow-list, in this order:

   a. the custom objects passed to the reader (``custom_objects=``) or active
      in a ``custom_object_scope``, under the name the file stores (or its
      qualified form ``module.name``);
   b. functions registered with :func:`register_function`, under their
      registered name;
   c. cthulhu's own activations, initializers, regularizers and constraints,
      under the names their ``get`` accepts, qualified with their module
      (``module="cthulhu.activations", name="relu"``).

   Nothing else: no import, no attribute path (``"ndarray.tofile"``), nothing
   from ``builtins``, NumPy, ``os`` or any other module, whether or not it is
   already imported. Any other name raises ``ValueError`` naming it and saying
   how to opt in.
2. Code stored in a file (marshalled bytecode, a Keras lambda) is refused.
3. This module never calls what it resolves. Readers must not call anything
   named in a file while loading either (see ``LuKthu.from_config``).

Layer classes (:func:`cthulhu.names.get_layer_class`) and the activation,
initializer, regularizer and constraint names inside layer configs (each
module's ``deserialize``) are looked up the same way: custom objects first,
then cthulhu's own tables, which are also the tables (c) above is built from.

With ``safe_mode=False`` (a file you trust) a name that is not on the
allow-list is imported and looked up along its attribute path, and bytecode is
rebuilt into a function: **this runs code from the file**.

Examples
--------
>>> from cthulhu import activations
>>> from cthulhu.names.resolver import resolve
>>> resolve("relu", "cthulhu.activations") is activations.relu
True
>>> resolve("system", "os")
Traceback (most recent call last):
...
ValueError: function os.system is not on the safe-mode allow-list (cthulhu's activations, initializers, regularizers and constraints, functions registered with register_function, custom_objects); pass it in custom_objects={'system': ...} or register it with cthulhu.names.register_function, or load with safe_mode=False only if you trust the file (that runs code from it)
"""

from __future__ import annotations

import builtins
import contextlib
import contextvars
import functools
import importlib
import sys
import types

from cthulhu.names.registry import lookup_custom

# cthulhu's own modules whose public names are on the allow-list, and the tables
# (module attribute names) that list the names their ``get`` accepts. These modules sit
# above this floor: they are imported by these strings, which this module owns (never a
# name read from a file), on the first lookup, as get_layer_class imports a catalog row's
# module.
_OWN_TABLES = {
    "cthulhu.activations": ("_BUILTIN", "_ALIASES"),
    "cthulhu.initializers": ("_BY_NAME",),
    "cthulhu.regularizers": ("_BY_NAME",),
    "cthulhu.constraints": ("_BY_NAME",),
}
_ALLOW_LIST_TEXT = ("cthulhu's activations, initializers, regularizers and constraints, "
                    "functions registered with register_function, custom_objects")

_REGISTERED: dict[str, object] = {}
_SAFE_MODE: contextvars.ContextVar = contextvars.ContextVar("cthulhu_safe_mode", default=True)


def register_function(fn=None, *, name=None):
    """Put ``fn`` on the allow-list under ``name`` (default: ``module.qualname``).

    Configs then store the function by that name, and every reader restores it
    in safe mode. Usable as ``@register_function`` or ``@register_function(name=...)``.
    """
    def deco(f):
        _REGISTERED[name or f"{f.__module__}.{f.__qualname__}"] = f
        return f
    return deco if fn is None else deco(fn)


def registered_functions() -> dict:
    """A copy of the registry: name -> function."""
    return dict(_REGISTERED)


def registered_name(fn):
    """The name ``fn`` is registered under, or None."""
    for key, value in _REGISTERED.items():
        if value is fn:
            return key
    return None


@contextlib.contextmanager
def safe_mode_scope(safe_mode: bool):
    """Within this block, readers resolve names with ``safe_mode`` (True: allow-list only)."""
    token = _SAFE_MODE.set(bool(safe_mode))
    try:
        yield
    finally:
        _SAFE_MODE.reset(token)


def in_safe_mode() -> bool:
    return _SAFE_MODE.get()


def _safe(safe_mode) -> bool:
    return in_safe_mode() if safe_mode is None else bool(safe_mode)


@functools.cache
def _own_names() -> dict:
    own = {}
    for module_name, tables in _OWN_TABLES.items():
        module = importlib.import_module(module_name)
        for table in tables:
            for name, value in getattr(module, table).items():
                # The module-level object of that name when there is one (``regularizers.l1_l2``
                # the function, not the table's factory), so a saved function comes back as itself.
                attr = vars(module).get(name)
                own[(module_name, name)] = attr if callable(attr) else value
    return own


def own_names() -> dict:
    """cthulhu's allow-listed functions and classes: ``(module, name) -> object``."""
    return dict(_own_names())


def resolve(name, module=None, *, custom_objects=None, safe_mode=None, what="function"):
    """The object a file names ``module`` + ``name`` (``module`` None: an unqualified name).

    ``what`` labels the error message (e.g. ``"LuKthu 'scale' function"``).
    Never calls the object it returns.
    """
    if not isinstance(name, str) or not name or not (module is None or isinstance(module, str)):
        raise ValueError(f"{what}: a function name must be a non-empty string, got "
                         f"{module!r}, {name!r}")
    qualified = name if module is None else f"{module}.{name}"
    for key in dict.fromkeys((name, qualified)):
        found = lookup_custom(key, custom_objects)
        if found is not None:
            return found
        if key in _REGISTERED:
            return _REGISTERED[key]
    if module in _OWN_TABLES:
        found = _own_names().get((module, name))
        if found is not None:
            return found
    if _safe(safe_mode):
        raise ValueError(f"{what} {qualified} is not on the safe-mode allow-list "
                         f"({_ALLOW_LIST_TEXT}); pass it in custom_objects={{{name!r}: ...}} or "
                         "register it with cthulhu.names.register_function, or load "
                         "with safe_mode=False only if you trust the file (that runs code from it)")
    if module is None:
        raise ValueError(f"{what} {name!r} is not registered; register it with "
                         "cthulhu.names.register_function or pass it in custom_objects")
    return _import_path(module, name, what)


def _import_path(module_name, qualname, what):
    """Unsafe mode only: import ``module_name`` and walk ``qualname`` (this runs code)."""
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    target = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if not callable(target):
        raise ValueError(f"{what}: cannot find function {module_name}.{qualname}")
    return target


def require_unsafe(what, safe_mode=None) -> None:
    """Refuse, in safe mode, to rebuild ``what`` (code stored in a file)."""
    if _safe(safe_mode):
        raise ValueError(f"refusing to load arbitrary Python code ({what}) from a config in "
                         "safe mode; pass safe_mode=False only if you trust the file's source")


def from_bytecode(code, *, what, defaults=None, closure=None, modules=None,
                  custom_objects=None, safe_mode=None):
    """A function from marshalled ``code`` bytes (unsafe mode only: this runs code from the file).

    ``modules``: global name -> module name, imported for the function's globals;
    ``closure``: the values of its free variables.
    """
    import marshal

    require_unsafe(what, safe_mode)
    compiled = marshal.loads(code)
    if not isinstance(compiled, types.CodeType):
        raise ValueError(f"{what}: the stored code is not a Python code object")
    namespace = {"__builtins__": builtins}
    for alias, module_name in (modules or {}).items():
        namespace[alias] = importlib.import_module(module_name)
    namespace.update(custom_objects or {})
    cells = None if closure is None else tuple(types.CellType(v) for v in closure)
    args = None if defaults is None else tuple(defaults)
    return types.FunctionType(compiled, namespace, compiled.co_name, args, cells)
