"""Every kernel of the CuPy plugin by name, per ``.cu`` file: what the tests compile
and emulate, and what warm-up and the GPU check precompile.

Each launch module (:mod:`._launch`, :mod:`._memory`, :mod:`._igemm`,
:mod:`._eltwise`) lists its own kernels; this module, above them all, joins the
lists (so none of them imports another to learn its names).
"""

from __future__ import annotations

from cthulhu.devices.cupy_ import _eltwise, _igemm, _launch, _memory

__all__ = ["all_kernel_names"]


def all_kernel_names() -> dict[str, list[str]]:
    """Every name expression, per source file."""
    names = _launch.launch_kernel_names()
    for file, extra in _memory.all_kernel_names().items():
        names.setdefault(file, [])
        names[file] += extra
    names["igemm.cu"] = _igemm.all_kernel_names()
    names["eltwise.cu"] = _eltwise.all_kernel_names()
    return names
