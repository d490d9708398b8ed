"""Find, build and load the NumPy plugin's native C kernels (``native/*.c``).

Where the library comes from, in this order:

1. **Built at install time.** ``setup.py`` compiles the sources into the extension
   file ``cthulhu/devices/numpy_/_kernels*.so`` when ``pip install`` runs where a C
   compiler exists (an optional extension: without a compiler the install still
   succeeds). It is used when it was built from the sources now in the package
   (the library reports their hash), so an edited checkout never loads a stale one.
2. **Compiled on first use.** Otherwise the sources (package data) are compiled with
   the system C compiler (``$CC``, else sysconfig's ``CC``, else
   ``cc``/``gcc``/``clang`` on the ``PATH``; about 15 s of CPU time with gcc) into
   ``native/`` of :func:`cthulhu.config.cache_dir` (``$CTHULHU_CACHE``, else the
   platform's cache folder: ``~/.cache/cthulhu`` on Linux), named by a hash of the sources, the compiler's
   version line, the flags and the interpreter's ABI. Where Python's headers exist the
   build is the same extension as ``setup.py``'s (``native/module.c``); elsewhere,
   or where that does not compile, ``kernels.c`` alone, a plain shared library. The
   build goes to a temporary file moved into place with ``os.replace``: concurrent
   processes see no file or a complete one.
3. **Neither.** The plugin runs its NumPy/BLAS code paths, and says so once, with a
   :class:`NativeCodeWarning` naming the reason and the expected slowdown.

Flags (both builds): :data:`native.FLAGS`. No ``-march=native``: one build runs on
every x86-64 machine, the engine picking AVX-512, AVX2 + FMA or portable vector code
at run time (``CTHULHU_ISA=avx2`` or ``generic`` caps it, for tests and comparisons).

Every kernel is called through ``ctypes``, but the convolution engine: where the
library is the extension, :attr:`Library.engine` (its ``engine`` function) takes the
arrays themselves and releases the GIL for the call, ~1 us where the ``ctypes`` call
with its pointer extraction costs ~5 us of Python on the calling thread.

``CTHULHU_NATIVE=0`` turns the kernels off (checked at every call; no warning:
the user asked for it); ``CTHULHU_NATIVE=build`` ignores the install-time build.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from importlib import resources
from pathlib import Path

from cthulhu.devices.numpy_ import native as _sources_module

log = logging.getLogger("cthulhu.devices.numpy_.native")

FLAGS = (*_sources_module.FLAGS, "-fPIC", "-shared")
SOURCES = _sources_module.SOURCES
# The body.h kernel: (x, w, bias, y, geometry, r0, r1, relu)
KERNELS = ("cthulhu_conv_thin",)
GEOMETRY_LENGTH = 25
ENGINE_GEOMETRY_LENGTH = 32
POOL_GEOMETRY_LENGTH = 27
ISAS = ("generic", "avx2", "avx512")
PREBUILT = "cthulhu.devices.numpy_._kernels"
_COMPILE_TIMEOUT_S = 180
# What the NumPy paths cost against the native engine (docs/devices.md, one thread)
SLOWDOWN = ("convolutions run on the NumPy/BLAS code paths, 1.4-3.3x slower on one core "
            "and more on several")


class NativeCodeWarning(RuntimeWarning):
    """The native CPU kernels could not be used; the slower NumPy code paths run."""


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


def source_hash() -> str:
    sources = _sources()
    return _sources_module.source_hash(sources.__getitem__)


def build(cc: list[str] | None = None, folder: Path | None = None) -> tuple[Path, str]:
    """Compile the kernels (or find them in the cache): ``(path of the .so, compiler)``.

    Where Python's headers exist, the extension (``module.c``); if that does not
    compile, or without the headers, the plain library (``kernels.c``). Raises
    ``RuntimeError`` when there is no compiler or the plain library does not compile.
    """
    cc = compiler() if cc is None else cc
    if not cc:
        raise RuntimeError("no C compiler found (set CC, or install gcc)")
    version = _version(cc)
    folder = cache_dir() if folder is None else Path(folder)
    include = python_include()
    if include is not None:
        link = ("-undefined", "dynamic_lookup") if sys.platform == "darwin" else ()
        try:
            return _compile(cc, version, folder, _sources_module.MODULE_SOURCE,
                            (f"-I{include}", *link),
                            sysconfig.get_config_var("SOABI") or ""), version
        except RuntimeError as exc:
            log.debug("native kernels: the extension does not build (%s); building the "
                      "plain library, called through ctypes", exc)
    return _compile(cc, version, folder, _sources_module.LIBRARY_SOURCE, (), ""), version


def _compile(cc, version, folder, main, extra, abi) -> Path:
    """``main`` compiled with :data:`FLAGS` and ``extra`` into the cache ``folder``, or the
    file already there (named by the sources, compiler, flags, ``main`` and ``abi``)."""
    sources = _sources()
    stamp = _sources_module.source_hash(sources.__getitem__)
    flags = (*FLAGS, f'-DCTHULHU_SOURCE_HASH="{stamp}"', *extra)
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + sources[name] + b"\0")
    digest.update(version.encode() + b"\0" + " ".join((*cc, *flags)).encode())
    digest.update(b"\0" + main.encode() + b"\0" + abi.encode())
    target = folder / f"kernels-{digest.hexdigest()[:24]}.so"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cthulhu-native-") as src_dir:
        for name, text in sources.items():
            Path(src_dir, name).write_bytes(text)
        fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=folder)
        os.close(fd)
        try:
            cmd = [*cc, *flags, "-o", tmp, os.path.join(src_dir, main)]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True,
                                      timeout=_COMPILE_TIMEOUT_S)
            except (OSError, subprocess.SubprocessError) as exc:
                raise RuntimeError(f"{shlex.join(cmd)} failed: {exc}") from exc
            if done.returncode != 0:
                log.debug("native kernels: %s failed:\n%s", shlex.join(cmd), done.stderr)
                lines = done.stderr.strip().splitlines()
                errors = [line for line in lines if "error" in line] or lines or ["no message"]
                raise RuntimeError(f"{os.path.basename(cc[0])} exited with {done.returncode}: "
                                   f"{errors[0].strip()}")
            os.replace(tmp, target)          # atomic: others see nothing or all of it
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return target


def python_include() -> str | None:
    """The folder of this interpreter's ``Python.h``, or ``None`` (no headers installed:
    the first-use build is then the plain library, called through ``ctypes`` only)."""
    folder = sysconfig.get_paths().get("include")
    if folder and os.path.isfile(os.path.join(folder, "Python.h")):
        return folder
    return None


def prebuilt() -> Path | None:
    """The install-time build (``_kernels*.so`` beside the package), or ``None``."""
    try:
        spec = importlib.util.find_spec(PREBUILT)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        return None
    return Path(spec.origin)


_P, _I64, _INT = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
# (name, extra pointer arguments after w): x, w, [pw], bias, scale, shift, act, y, g, threads
_ENGINE = (("cthulhu_conv", 0), ("cthulhu_conv_transpose", 0), ("cthulhu_depthwise_conv", 0),
           ("cthulhu_separable_conv", 1))
#: The ``kind`` argument of the extension's ``engine`` function (its ``K_*`` in module.c).
ENGINE_KINDS = {name: kind for kind, (name, _) in enumerate(_ENGINE)}


class Library:
    """The loaded kernels: ``func(name, itemsize)`` (a ``ctypes`` function) and
    :attr:`engine`."""

    def __init__(self, path: Path, version: str, origin: str = "compiled"):
        self.path = path
        self.version = version
        self.origin = origin
        self._lib = lib = ctypes.CDLL(str(path))
        if lib.cthulhu_geometry_length() != GEOMETRY_LENGTH \
                or lib.cthulhu_engine_geometry_length() != ENGINE_GEOMETRY_LENGTH \
                or lib.cthulhu_pool_geometry_length() != POOL_GEOMETRY_LENGTH:
            raise RuntimeError(f"{path}: geometry length mismatch")
        lib.cthulhu_source_hash.restype = ctypes.c_char_p
        self.source_hash = lib.cthulhu_source_hash().decode()
        lib.cthulhu_engine_isa.argtypes = [_INT]
        lib.cthulhu_engine_isa.restype = _INT
        lib.cthulhu_engine_isa_name.argtypes = [_INT]
        lib.cthulhu_engine_isa_name.restype = ctypes.c_char_p
        self._funcs = {}
        for name in KERNELS:
            for suffix in ("f32", "f64"):
                func = getattr(lib, f"{name}_{suffix}")
                func.argtypes = [_P, _P, _P, _P, _P, _I64, _I64, _INT]
                func.restype = _INT             # 0, or -1: out of memory
                self._funcs[name, suffix] = func
        for suffix in ("f32", "f64"):
            func = getattr(lib, f"cthulhu_conv_thin_all_{suffix}")
            func.argtypes = [_P, _P, _P, _P, _P, _INT, _INT]
            func.restype = _INT
            self._funcs["cthulhu_conv_thin_all", suffix] = func
            for name, extra in _ENGINE:
                func = getattr(lib, f"{name}_{suffix}")
                func.argtypes = [_P, _P, *[_P] * extra, _P, _P, _P, _INT, _P, _P, _INT]
                func.restype = _INT             # 0; -1: out of memory; -2: declined
                self._funcs[name, suffix] = func
            # pooling.h: (x, y, geometry, avg, threads) and (x, y, outer, positions, inner,
            # avg, threads)
            func = getattr(lib, f"cthulhu_pool_{suffix}")
            func.argtypes = [_P, _P, _P, _INT, _INT]
            func.restype = _INT
            self._funcs["cthulhu_pool", suffix] = func
            func = getattr(lib, f"cthulhu_global_pool_{suffix}")
            func.argtypes = [_P, _P, _I64, _I64, _I64, _INT, _INT]
            func.restype = _INT
            self._funcs["cthulhu_global_pool", suffix] = func
            # eltwise.h: (pointers to the inputs, how many, y, elements, act, threads)
            func = getattr(lib, f"cthulhu_add_{suffix}")
            func.argtypes = [_P, _I64, _P, _I64, _INT, _INT]
            func.restype = _INT
            self._funcs["cthulhu_add", suffix] = func
            # (x, scale, shift, y, outer, channels, inner, act, threads)
            func = getattr(lib, f"cthulhu_affine_{suffix}")
            func.argtypes = [_P, _P, _P, _P, _I64, _I64, _I64, _INT, _INT]
            func.restype = _INT
            self._funcs["cthulhu_affine", suffix] = func
        isa = os.environ.get("CTHULHU_ISA", "").strip().lower()
        if isa:
            self.set_isa(isa)

    @functools.cached_property
    def engine(self):
        """The extension's ``engine(kind, itemsize, x, w, pw, bias, scale, shift, act, y,
        geometry, threads)`` (``kind`` from :data:`ENGINE_KINDS`; arrays, not pointers;
        returns the engine's status), or ``None`` where the library is the plain one or
        does not load as a module: the engine is then called through ``ctypes``."""
        if not hasattr(self._lib, "PyInit__kernels"):
            return None
        try:
            loader = importlib.machinery.ExtensionFileLoader(PREBUILT, str(self.path))
            spec = importlib.util.spec_from_file_location(PREBUILT, str(self.path),
                                                          loader=loader)
            module = importlib.util.module_from_spec(spec)
            loader.exec_module(module)
        except (ImportError, OSError) as exc:
            log.debug("native kernels: %s does not load as a module (%s); the engine is "
                      "called through ctypes", self.path, exc)
            return None
        return getattr(module, "engine", None)     # an older build's empty module: None

    def func(self, name: str, itemsize: int):
        return self._funcs[name, "f32" if itemsize == 4 else "f64"]

    def isa(self) -> str:
        """The instruction set the micro-kernels run with."""
        return self._lib.cthulhu_engine_isa_name(self._lib.cthulhu_engine_isa(-1)).decode()

    def best_isa(self) -> str:
        saved = self._lib.cthulhu_engine_isa(-1)
        best = self._lib.cthulhu_engine_isa(len(ISAS))
        self._lib.cthulhu_engine_isa(saved)
        return ISAS[best]

    def set_isa(self, name: str) -> str:
        """Use at most instruction set ``name`` (``generic``, ``avx2``, ``avx512``)."""
        if name not in ISAS:
            raise ValueError(f"CTHULHU_ISA must be one of {ISAS}, got {name!r}")
        return ISAS[self._lib.cthulhu_engine_isa(ISAS.index(name))]


_failure: list[str] = []


def _open_prebuilt(expected: str) -> Library | None:
    path = prebuilt()
    if path is None or os.environ.get("CTHULHU_NATIVE", "").strip() == "build":
        return None
    try:
        lib = Library(path, "built at install time", "installed")
    except (OSError, RuntimeError, AttributeError) as exc:
        log.debug("native kernels: %s does not load (%s); compiling instead", path, exc)
        return None
    if lib.source_hash != expected:
        log.debug("native kernels: %s was built from other sources; compiling instead", path)
        return None
    return lib


@functools.cache
def _load() -> Library | None:
    try:
        lib = _open_prebuilt(source_hash())
        if lib is not None:
            return lib
        path, version = build()
        return Library(path, version)
    except Exception as exc:                   # any failure means: use the NumPy paths
        _failure.append(str(exc))
        log.debug("native kernels unavailable, using the NumPy code paths: %s", exc)
        warnings.warn(f"cthulhu: native CPU kernels are off ({_reason(str(exc))}); {SLOWDOWN}. "
                      "Install a C compiler (gcc or clang) and reinstall cthulhu, or set "
                      "CTHULHU_NATIVE=0 to choose the NumPy paths without this warning.",
                      NativeCodeWarning, stacklevel=2)
        return None


def _reason(text: str) -> str:
    return text.splitlines()[0][:200] if text else "unavailable"


def library() -> Library | None:
    """The loaded kernels, or ``None`` (disabled, no compiler, build failed)."""
    if not enabled():
        return None
    return _load()


def describe() -> str:
    """``"yes (avx512, installed build, engine calls: direct)"`` or ``"no (reason)"``,
    for ``cthulhu devices``; ``engine calls: ctypes`` where the library is the plain
    one (built without Python's headers)."""
    if not enabled():
        return "no (CTHULHU_NATIVE=0)"
    lib = _load()
    if lib is None:
        return f"no ({_reason(_failure[-1] if _failure else '')})"
    where = "installed build" if lib.origin == "installed" else f"compiled: {lib.version}"
    calls = "ctypes" if lib.engine is None else "direct"
    return f"yes ({lib.isa()}, {where}, engine calls: {calls})"
