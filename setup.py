"""The native CPU kernels as an optional extension; the metadata lives in pyproject.toml.

``pip install .`` (or ``-e .``) compiles ``cthulhu/devices/numpy_/native/module.c``
(the kernels plus a Python module whose ``engine`` function calls the convolution
engine without ctypes) into ``cthulhu/devices/numpy_/_kernels*.so``
where a C compiler exists. ``optional=True``: where the build fails - no compiler, a
compiler that rejects the GCC/Clang flags - the install still succeeds, and the
package compiles the kernels at first use instead, or runs without them (see
``cthulhu/devices/numpy_/_native.py`` and ``docs/devices.md``).
"""

import importlib.util
from pathlib import Path

from setuptools import Extension, setup

NATIVE = Path("cthulhu", "devices", "numpy_", "native")


def _native_sources():
    """``native/__init__.py`` (standard library only), read by path: neither cthulhu
    nor NumPy can be imported while the package is being built."""
    here = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location("_cthulhu_native_sources",
                                                  here / NATIVE / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_src = _native_sources()

setup(
    ext_modules=[
        Extension(
            "cthulhu.devices.numpy_._kernels",
            sources=[str(NATIVE / _src.MODULE_SOURCE)],
            depends=[str(NATIVE / name) for name in _src.SOURCES],
            extra_compile_args=list(_src.FLAGS),
            extra_link_args=["-pthread"],
            # the library reports the sources it was built from: a stale build of an
            # edited checkout is never loaded
            define_macros=[("CTHULHU_SOURCE_HASH", f'"{_src.source_hash()}"')],
            optional=True,
        )
    ]
)
