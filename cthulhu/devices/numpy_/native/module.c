/* The native kernels as a CPython extension module, for setup.py's build: the module
 * itself is empty; cthulhu loads the same shared library with ctypes
 * (cthulhu/devices/numpy_/_native.py), which finds it next to the package. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "kernels.c"

static struct PyModuleDef engine_module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "cthulhu's native CPU kernels; loaded with ctypes by cthulhu.devices.numpy_._native",
    -1, NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&engine_module); }
