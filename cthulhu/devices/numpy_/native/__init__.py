"""C sources of the NumPy plugin's native CPU kernels (package data).

``setup.py`` builds them into the extension ``cthulhu.devices.numpy_._kernels`` when
the package is installed where a C compiler exists; otherwise
:mod:`cthulhu.devices.numpy_._native` compiles them on first use (as that extension
where Python's headers exist, as a plain shared library elsewhere). Either way they
are loaded with ``ctypes``, and the extension's ``engine`` function calls the
convolution engine without it. This module imports only the standard library:
setup.py reads it by path, before cthulhu or NumPy can be imported.
"""

import hashlib
from pathlib import Path

# Every file the build reads; their hash names a build (see source_hash).
SOURCES = ("kernels.c", "body.h", "pool.h", "micro.h", "engine.h", "depthwise.h",
           "pooling.h", "eltwise.h", "affinity.h", "module.c")
# The extension's translation unit (kernels.c plus the module and its `engine`), and
# the plain library's (kernels.c alone: no Python headers needed).
MODULE_SOURCE = "module.c"
LIBRARY_SOURCE = "kernels.c"
# Compiler flags of both builds: no -march=native (one build runs on every x86-64:
# the micro-kernels pick AVX-512, AVX2 or portable code at run time), no -ffast-math.
FLAGS = ("-O3", "-std=c11", "-pthread")


def source_hash(read=None) -> str:
    """A short hash of the kernel sources; ``read(name) -> bytes`` reads one file
    (default: from this folder). The built library reports the hash it was built
    from, so a stale build of an edited checkout is never loaded."""
    if read is None:
        folder = Path(__file__).parent

        def read(name):
            return (folder / name).read_bytes()

    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + read(name) + b"\0")
    return digest.hexdigest()[:24]
