"""User configuration: ``$CTHULHU_HOME/cthulhu.json`` (default ``~/.cthulhu``), and the cache.

Pure standard library at import, so ``cthulhu.shapes`` may use it without importing
NumPy. Only ``image_data_format`` is read today. A missing file means the defaults; a
malformed file or value means the defaults plus one clear warning, never a crash.
:func:`set_image_data_format` overrides the file for the running process, as Keras's
``set_image_data_format`` does.

The configuration stays where Keras users look for it (``~/.cthulhu``, as ``~/.keras``);
files cthulhu can rebuild (the NumPy plugin's compiled kernels) go to the platform's cache
folder instead (:func:`cache_dir`), which backups skip.
"""

import json
import os
import warnings
from pathlib import Path

DEFAULTS = {"image_data_format": "channels_last"}
_DATA_FORMATS = ("channels_last", "channels_first")
_cache: dict = {}
_override: dict = {}


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
    return out


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
