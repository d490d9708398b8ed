"""User configuration: ``$CTHULHU_HOME/cthulhu.json`` (default ``~/.cthulhu``), and the cache.

Pure standard library at import (the layers, ops and the command line read it;
``cthulhu.shapes`` never does). Keys: ``image_data_format`` and ``float32_precision``. A
missing file means the defaults; a malformed file or value means the defaults plus one
clear warning, never a crash. :func:`set_image_data_format` overrides the file for the
running process, as Keras's ``set_image_data_format`` does.

The configuration stays where Keras users look for it (``~/.cthulhu``, as ``~/.keras``);
files cthulhu can rebuild (the NumPy plugin's compiled kernels) go to the platform's cache
folder instead (:func:`cache_dir`), which backups skip.

``float32_precision`` says what arithmetic convolutions and dense layers may use on
float32 inputs: ``"float32"`` (the default, as Keras: true float32), ``"tf32"``
(tensor cores, operands rounded to 10 mantissa bits) or ``"bfloat16"`` (operands
rounded to 8 bits); float32 accumulation always. In force, from the strongest: the
innermost :func:`float32_precision_scope` of the calling thread (``ops.conv(...,
precision=...)`` opens one for its call), then :func:`set_float32_precision`, then the
file. Devices without such hardware (NumPy, Dask on NumPy) compute in float32 anyway.
"""

import contextlib
import contextvars
import json
import os
import warnings
from pathlib import Path

DEFAULTS = {"image_data_format": "channels_last", "float32_precision": "float32"}
_DATA_FORMATS = ("channels_last", "channels_first")
FLOAT32_PRECISIONS = ("float32", "tf32", "bfloat16")
_cache: dict = {}
_override: dict = {}  # set_image_data_format's value
_process: dict = {}  # set_float32_precision's value
_scoped = contextvars.ContextVar("cthulhu_float32_precision", default=None)


def config_dir() -> Path:
    """The folder holding ``cthulhu.json``: ``$CTHULHU_HOME`` or ``~/.cthulhu``."""
    home = os.environ.get("CTHULHU_HOME")
    return Path(home) if home else Path.home() / ".cthulhu"


def config_path() -> Path:
    return config_dir() / "cthulhu.json"


def _read(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        warnings.warn(f"cthulhu: cannot read {path} ({exc}); using the defaults", stacklevel=3)
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        warnings.warn(f"cthulhu: {path} is not valid JSON ({exc}); using the defaults", stacklevel=3)
        return {}
    if not isinstance(data, dict):
        warnings.warn(f"cthulhu: {path} must hold a JSON object, got {type(data).__name__}; "
                      "using the defaults", stacklevel=3)
        return {}
    return data


def load() -> dict:
    """The configuration in force, re-read when the file or ``CTHULHU_HOME`` changes."""
    path = config_path()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    key = (str(path), stamp)
    if _cache.get("key") != key:
        _cache["key"] = key
        _cache["value"] = _validated(_read(path), path)
    return dict(_cache["value"])


def _validated(data: dict, path: Path) -> dict:
    out = dict(DEFAULTS)
    fmt = data.get("image_data_format", DEFAULTS["image_data_format"])
    if fmt in _DATA_FORMATS:
        out["image_data_format"] = fmt
    else:
        warnings.warn(f"cthulhu: {path}: image_data_format must be one of {_DATA_FORMATS}, "
                      f"got {fmt!r}; using 'channels_last'", stacklevel=4)
    precision = data.get("float32_precision", DEFAULTS["float32_precision"])
    if precision in FLOAT32_PRECISIONS:
        out["float32_precision"] = precision
    else:
        warnings.warn(f"cthulhu: {path}: float32_precision must be one of "
                      f"{FLOAT32_PRECISIONS}, got {precision!r}; using 'float32'", stacklevel=4)
    return out


def check_float32_precision(value, owner: str = "cthulhu.config") -> str:
    """``value`` if it is one of :data:`FLOAT32_PRECISIONS`, else a ``ValueError``
    naming ``owner``."""
    if value not in FLOAT32_PRECISIONS:
        raise ValueError(f"{owner}: precision must be one of {FLOAT32_PRECISIONS}, "
                         f"got {value!r}")
    return value


def float32_precision() -> str:
    """The float32 precision in force for the calling thread (see the module doc)."""
    scoped = _scoped.get()
    if scoped is not None:
        return scoped
    if "value" in _process:
        return _process["value"]
    return load()["float32_precision"]


def set_float32_precision(value) -> None:
    """Set the float32 precision for the whole process (``None``: back to the file's).

    Examples
    --------
    >>> from cthulhu import config
    >>> config.set_float32_precision("tf32")
    >>> config.float32_precision()
    'tf32'
    >>> config.set_float32_precision(None)
    >>> config.float32_precision()
    'float32'
    """
    if value is None:
        _process.pop("value", None)
    else:
        _process["value"] = check_float32_precision(value, "cthulhu.config.set_float32_precision")


@contextlib.contextmanager
def float32_precision_scope(value):
    """Use ``value`` as the float32 precision inside a ``with`` block, in this thread
    (and asyncio task) only; worker threads started inside keep the process setting.

    Examples
    --------
    >>> from cthulhu import config
    >>> with config.float32_precision_scope("bfloat16"):
    ...     config.float32_precision()
    'bfloat16'
    """
    token = _scoped.set(check_float32_precision(value, "cthulhu.config.float32_precision_scope"))
    try:
        yield value
    finally:
        _scoped.reset(token)


def image_data_format() -> str:
    """``'channels_last'`` or ``'channels_first'``: what ``data_format=None`` means.

    The value set by :func:`set_image_data_format`, else the file's, else
    ``'channels_last'``.
    """
    if "image_data_format" in _override:
        return _override["image_data_format"]
    return load()["image_data_format"]


def set_image_data_format(data_format) -> None:
    """Set what ``data_format=None`` means for layers made from now on, in this process.

    ``'channels_last'`` or ``'channels_first'`` (as Keras's ``set_image_data_format``);
    ``None`` forgets the setting, so the configuration file counts again. The file
    itself is not changed.

    Examples
    --------
    >>> from cthulhu import config
    >>> config.set_image_data_format("channels_first")
    >>> config.image_data_format()
    'channels_first'
    >>> config.set_image_data_format(None)
    """
    if data_format is None:
        _override.pop("image_data_format", None)
        return
    if data_format not in _DATA_FORMATS:
        raise ValueError(f"set_image_data_format: data_format must be one of {_DATA_FORMATS} "
                         f"(or None to use the configuration file again), got {data_format!r}")
    _override["image_data_format"] = data_format


def cache_dir() -> Path:
    """Where cthulhu keeps files it can rebuild: ``$CTHULHU_CACHE``, else the platform's
    cache folder (``$XDG_CACHE_HOME/cthulhu`` or ``~/.cache/cthulhu`` on Linux,
    ``~/Library/Caches/cthulhu`` on macOS, ``%LOCALAPPDATA%\\cthulhu\\Cache`` on Windows)."""
    root = os.environ.get("CTHULHU_CACHE")
    if root:
        return Path(root)
    import platformdirs

    return Path(platformdirs.user_cache_dir("cthulhu", appauthor=False))
