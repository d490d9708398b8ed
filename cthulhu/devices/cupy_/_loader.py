"""Compile the CUDA sources with NVRTC (``cupy.RawModule``) lazily, once per kernel,
option set and device.

A module is built for a single name expression, so the first call of an op compiles
only the instantiation it needs (about a second); CuPy's own disk cache then keeps the
binary between runs. The sources include ``cthulhu_common.cuh`` from the kernels folder,
which CuPy's cache key does not see, so the header's hash is passed as a ``-D`` option:
editing the header changes the key and forces a rebuild.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from pathlib import Path

from cthulhu.devices.cupy_ import kernels as _kernels

#: Options every kernel is compiled with (NVRTC syntax).
BASE_OPTIONS = ("-std=c++17",)


@functools.cache
def kernel_dir() -> Path:
    """The folder holding the ``.cu``/``.cuh`` files (an installed package folder)."""
    return Path(str(resources.files(_kernels)))


@functools.cache
def source(file: str) -> str:
    """The text of one kernel source file."""
    return (kernel_dir() / file).read_text()


@functools.cache
def headers_digest() -> str:
    """Short hash of the shared headers, part of the compile options (see module doc)."""
    h = hashlib.sha256()
    for header in sorted(kernel_dir().glob("*.cuh")):
        h.update(header.read_bytes())
    return h.hexdigest()[:16]


def compile_options(extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The full NVRTC option tuple for a kernel (include path and header hash added)."""
    return (*BASE_OPTIONS, f"-I{kernel_dir()}", f"-DCTHULHU_HEADERS_SHA={headers_digest()}",
            *extra)


@functools.cache
def _module(file: str, name: str, options: tuple[str, ...], device_id: int):
    import cupy

    return cupy.RawModule(code=source(file), options=options, name_expressions=(name,))


def kernel(file: str, name: str, extra_options: tuple[str, ...] = ()):
    """The ``cupy.RawKernel`` of name expression ``name`` in ``file``, for the current device."""
    import cupy

    device_id = cupy.cuda.Device().id
    return _module(file, name, compile_options(tuple(extra_options)), device_id).get_function(name)


def clear_cache() -> None:
    """Forget the compiled modules (tests; CuPy's disk cache is untouched)."""
    _module.cache_clear()
