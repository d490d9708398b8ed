"""CUDA C++ sources of the CuPy device, shipped as package data.

The files here are read with ``importlib.resources`` by ``cthulhu.devices.cupy_._loader``
and compiled by NVRTC through ``cupy.RawModule``. Each ``.cu`` includes only
``cthulhu_common.cuh`` from this folder; host headers are never needed.
"""
