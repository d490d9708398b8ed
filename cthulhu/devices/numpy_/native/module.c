/* The native kernels as a CPython extension module: kernels.c plus one function,
 * `engine`, the convolution engine's call without ctypes.
 *
 * setup.py builds this file at install time; _native.py compiles it on first use where
 * Python's headers exist (kernels.c alone where they do not). cthulhu loads the same
 * shared library with ctypes as well (cthulhu/devices/numpy_/_native.py): every other
 * kernel, and the engine too when this module is absent, is called through ctypes.
 *
 * Why: a ctypes call of the engine costs ~5 us of Python (a `.ctypes.data` object per
 * array, argument conversion); a convolution on a 224x224 image takes ~60 us on two
 * threads, and those microseconds run on the calling thread alone.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "kernels.c"

/* The engine's functions, in the order of ENGINE_KINDS in _native.py. */
enum { K_CONV, K_CONV_TRANSPOSE, K_DEPTHWISE, K_SEPARABLE, K_COUNT };

typedef int (*engine_f32)(const float *, const float *, const float *, const float *,
                          const float *, int, float *, const int64_t *, int);
typedef int (*engine_f64)(const double *, const double *, const double *, const double *,
                          const double *, int, double *, const int64_t *, int);

static const engine_f32 ENGINE_F32[] = {cthulhu_conv_f32, cthulhu_conv_transpose_f32,
                                        cthulhu_depthwise_conv_f32};
static const engine_f64 ENGINE_F64[] = {cthulhu_conv_f64, cthulhu_conv_transpose_f64,
                                        cthulhu_depthwise_conv_f64};

/* The arrays of one call: x, w, pw, bias, scale, shift, y, geometry. */
enum { A_X, A_W, A_PW, A_BIAS, A_SCALE, A_SHIFT, A_Y, A_GEOM, A_COUNT };
static const char *const ARRAY_NAMES[A_COUNT] = {"x", "w", "pw", "bias", "scale", "shift",
                                                 "y", "geometry"};

static PyObject *engine_error(const char *message, const char *name)
{
    PyErr_Format(PyExc_TypeError, "_kernels.engine: %s %s", name, message);
    return NULL;
}

/* engine(kind, itemsize, x, w, pw, bias, scale, shift, act, y, geometry, threads) -> status
 *
 * The arrays are buffer-protocol objects (pw, bias, scale and shift may be None; pw is
 * used by K_SEPARABLE only); the same checks as the ctypes path's argtypes, and the
 * item sizes. The exports are held while the GIL is released, so no array can be
 * resized or freed under the engine. Returns the engine's status (0; -1: no memory;
 * -2: declined). */
static PyObject *engine(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 12) {
        PyErr_Format(PyExc_TypeError, "_kernels.engine takes 12 arguments, got %zd", nargs);
        return NULL;
    }
    const long kind = PyLong_AsLong(args[0]);
    const long itemsize = PyLong_AsLong(args[1]);
    const long act = PyLong_AsLong(args[8]);
    const long threads = PyLong_AsLong(args[11]);
    if (PyErr_Occurred())
        return NULL;
    if (kind < 0 || kind >= K_COUNT || (itemsize != 4 && itemsize != 8)
            || act < 0 || act > 2 || threads < 1 || threads > INT_MAX)
        return PyErr_Format(PyExc_ValueError, "_kernels.engine: kind %ld, itemsize %ld, "
                            "activation %ld, threads %ld out of range",
                            kind, itemsize, act, threads);
    PyObject *const objects[A_COUNT] = {args[2], args[3], args[4], args[5], args[6],
                                        args[7], args[9], args[10]};
    Py_buffer views[A_COUNT];
    void *data[A_COUNT] = {NULL};
    int held = 0;
    PyObject *result = NULL;
    for (; held < A_COUNT; held++) {
        PyObject *obj = objects[held];
        const int optional = held == A_PW || held == A_BIAS || held == A_SCALE
                             || held == A_SHIFT;
        if (obj == Py_None && optional) {
            views[held].obj = NULL;
            continue;
        }
        const int flags = PyBUF_STRIDES | (held == A_Y ? PyBUF_WRITABLE : 0);
        if (PyObject_GetBuffer(obj, &views[held], flags) != 0)
            goto release;
        data[held] = views[held].buf;
        const Py_ssize_t want = held == A_GEOM ? (Py_ssize_t)sizeof(int64_t) : itemsize;
        if (views[held].itemsize != want) {
            PyBuffer_Release(&views[held]);
            engine_error("has the wrong item size", ARRAY_NAMES[held]);
            goto release;
        }
    }
    if ((kind == K_SEPARABLE) != (data[A_PW] != NULL)) {
        engine_error(kind == K_SEPARABLE ? "is needed" : "is only for the separable engine",
                     ARRAY_NAMES[A_PW]);
        goto release;
    }
    int status;
    void *const *d = data;
    const int64_t *g = data[A_GEOM];
    const int n = (int)threads, a = (int)act;
    /* the engine's argument order, once for both element types (void * converts) */
#define RUN_ENGINE(SUFFIX, TABLE)                                                            \
    (kind == K_SEPARABLE                                                                     \
         ? cthulhu_separable_conv_##SUFFIX(d[A_X], d[A_W], d[A_PW], d[A_BIAS], d[A_SCALE],   \
                                           d[A_SHIFT], a, d[A_Y], g, n)                      \
         : TABLE[kind](d[A_X], d[A_W], d[A_BIAS], d[A_SCALE], d[A_SHIFT], a, d[A_Y], g, n))
    Py_BEGIN_ALLOW_THREADS
    status = itemsize == 4 ? RUN_ENGINE(f32, ENGINE_F32) : RUN_ENGINE(f64, ENGINE_F64);
    Py_END_ALLOW_THREADS
#undef RUN_ENGINE
    result = PyLong_FromLong(status);
release:
    for (int i = 0; i < held; i++)
        if (views[i].obj != NULL)
            PyBuffer_Release(&views[i]);
    return result;
}

static PyMethodDef engine_methods[] = {
    {"engine", (PyCFunction)(void (*)(void))engine, METH_FASTCALL,
     "engine(kind, itemsize, x, w, pw, bias, scale, shift, act, y, geometry, threads)"},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot engine_slots[] = {
#if PY_VERSION_HEX >= 0x030D0000
    /* `engine` holds its buffers across the call and touches no shared Python state */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef engine_module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "cthulhu's native CPU kernels: `engine` here, the rest through ctypes "
    "(cthulhu.devices.numpy_._native)",
    0, engine_methods, engine_slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModuleDef_Init(&engine_module); }
