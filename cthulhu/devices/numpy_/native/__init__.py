"""C sources of the NumPy plugin's native CPU kernels (package data).

They are compiled on first use by :mod:`cthulhu.devices.numpy_._native` with the
system C compiler and loaded with ``ctypes``; nothing here is imported at run time.
"""
