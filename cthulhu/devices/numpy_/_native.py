"""Build, cache and load the NumPy plugin's native C kernels (``native/*.c``).

The C sources ship as package data and are compiled on first use with the
system C compiler (``$CC``, else sysconfig's ``CC``, else ``cc``/``gcc`` on the
``PATH``) into ``native/`` of :func:`cthulhu.config.cache_dir` (``$CTHULHU_CACHE``, else
the platform's cache folder: ``~/.cache/cthulhu`` on Linux, ``$XDG_CACHE_HOME`` honoured). The file name is a hash of the sources, the
compiler's version line and the flags, so a changed source or compiler builds
anew and a shared cache never serves a stale or foreign binary. The build goes
to a temporary file in the same folder and is moved into place with
``os.replace``: concurrent processes either see no file or a complete one.

Flags: ``-O3 -fPIC -shared -std=c11``. No ``-march=native`` (a cache may be
shared by different machines; SIMD comes from GCC's ``target_clones``, chosen
at load time), no ``-ffast-math`` (ISO C mode also keeps ``a*b + c`` as two
roundings): results are the same everywhere.

Anything that goes wrong - no compiler, a failed build, a library that won't
load - is logged once at debug level and :func:`library` returns ``None``; the
plugin then runs its NumPy code paths. ``CTHULHU_NATIVE=0`` turns the kernels
off (checked at every call).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
from importlib import resources
from pathlib import Path

log = logging.getLogger("cthulhu.devices.numpy_.native")

FLAGS = ("-O3", "-fPIC", "-shared", "-std=c11")
SOURCES = ("kernels.c", "body.h")
_MAIN = "kernels.c"
# The exported functions and their element types: (x, w, bias, y, geometry, r0, r1, relu)
KERNELS = ("cthulhu_depthwise", "cthulhu_conv_thin")
GEOMETRY_LENGTH = 25
_COMPILE_TIMEOUT_S = 120


def enabled() -> bool:
    """Whether the user allows native kernels (``CTHULHU_NATIVE`` is not ``0``)."""
    return os.environ.get("CTHULHU_NATIVE", "1").strip() != "0"


def compiler() -> list[str] | None:
    """The C compiler command (a list: ``CC`` may carry flags), or ``None``."""
    env = os.environ.get("CC")
    if env:
        return shlex.split(env) or None        # the user's choice, even if it fails
    configured = shlex.split(sysconfig.get_config_var("CC") or "")
    if configured and shutil.which(configured[0]):
        return configured
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return [path]
    return None


def _version(cc: list[str]) -> str:
    try:
        done = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(f"{cc[0]} --version failed: {exc}") from exc
    line = (done.stdout or done.stderr).strip().splitlines()
    if done.returncode != 0 or not line:
        raise RuntimeError(f"{cc[0]} --version exited with {done.returncode}")
    return line[0]


def cache_dir() -> Path:
    from cthulhu import config

    return config.cache_dir() / "native"


def _sources() -> dict[str, bytes]:
    folder = resources.files("cthulhu.devices.numpy_.native")
    return {name: folder.joinpath(name).read_bytes() for name in SOURCES}


def build(cc: list[str] | None = None, folder: Path | None = None) -> tuple[Path, str]:
    """Compile the kernels (or find them in the cache): ``(path of the .so, compiler)``.

    Raises ``RuntimeError`` when there is no compiler or the build fails.
    """
    cc = compiler() if cc is None else cc
    if not cc:
        raise RuntimeError("no C compiler found (set CC, or install gcc)")
    version = _version(cc)
    sources = _sources()
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + sources[name] + b"\0")
    digest.update(version.encode() + b"\0" + " ".join((*cc, *FLAGS)).encode())
    folder = cache_dir() if folder is None else Path(folder)
    target = folder / f"kernels-{digest.hexdigest()[:24]}.so"
    if target.exists():
        return target, version
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cthulhu-native-") as src_dir:
        for name, text in sources.items():
            Path(src_dir, name).write_bytes(text)
        fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=folder)
        os.close(fd)
        try:
            cmd = [*cc, *FLAGS, "-o", tmp, os.path.join(src_dir, _MAIN)]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True,
                                      timeout=_COMPILE_TIMEOUT_S)
            except (OSError, subprocess.SubprocessError) as exc:
                raise RuntimeError(f"{shlex.join(cmd)} failed: {exc}") from exc
            if done.returncode != 0:
                log.debug("native kernels: %s failed:\n%s", shlex.join(cmd), done.stderr)
                errors = done.stderr.strip().splitlines() or ["no message"]
                raise RuntimeError(f"{os.path.basename(cc[0])} exited with {done.returncode}: "
                                   f"{errors[-1]}")
            os.replace(tmp, target)          # atomic: others see nothing or all of it
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return target, version


class Library:
    """The loaded kernels: ``func(name, dtype)`` and a one-line description."""

    def __init__(self, path: Path, version: str):
        self.path = path
        self.version = version
        self._lib = ctypes.CDLL(str(path))
        if self._lib.cthulhu_geometry_length() != GEOMETRY_LENGTH:
            raise RuntimeError(f"{path}: geometry length mismatch")
        self._funcs = {}
        ptr, i64 = ctypes.c_void_p, ctypes.c_int64
        for name in KERNELS:
            for suffix in ("f32", "f64"):
                func = getattr(self._lib, f"{name}_{suffix}")
                func.argtypes = [ptr, ptr, ptr, ptr, ptr, i64, i64, ctypes.c_int]
                func.restype = ctypes.c_int         # 0, or -1: out of memory
                self._funcs[name, suffix] = func

    def func(self, name: str, itemsize: int):
        return self._funcs[name, "f32" if itemsize == 4 else "f64"]


_failure: list[str] = []


@functools.cache
def _load() -> Library | None:
    try:
        path, version = build()
        return Library(path, version)
    except Exception as exc:                   # any failure means: use the NumPy paths
        _failure.append(str(exc))
        log.debug("native kernels unavailable, using the NumPy code paths: %s", exc)
        return None


def library() -> Library | None:
    """The loaded kernels, or ``None`` (disabled, no compiler, build failed)."""
    if not enabled():
        return None
    return _load()


def describe() -> str:
    """``"yes (gcc ...)"`` or ``"no (reason)"``, for the plugin's ``available()`` reason."""
    if not enabled():
        return "no (CTHULHU_NATIVE=0)"
    lib = _load()
    if lib is None:
        reason = _failure[-1] if _failure else "unavailable"
        return f"no ({reason.splitlines()[0][:200]})"
    return f"yes ({lib.version})"
