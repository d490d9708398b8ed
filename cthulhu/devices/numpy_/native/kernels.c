/* Native CPU kernels of cthulhu's NumPy plugin (see _native.py, which builds this file).
 *
 * Memory-bound convolutions that NumPy cannot fuse: a depthwise convolution and a
 * direct convolution for inputs with few channels, both channels_last and written
 * for rank 3 (lower ranks come in with leading size-1 axes). One call computes the
 * output rows [r0, r1) of the (N*O0*O1) rows of length O2*channels (written from y on,
 * row r0 first), so that Python
 * can hand rows to its thread pool; ctypes releases the GIL during the call.
 *
 * Plain C11, no compiler-specific maths: results are the same on every machine and
 * every SIMD clone (ISO C mode keeps a*b+c as two roundings: no FMA contraction).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* -DCTHULHU_CLONES= builds the baseline ISA only (the tests compare the two bitwise) */
#ifndef CTHULHU_CLONES
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CTHULHU_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CTHULHU_CLONES
#endif
#endif

/* The geometry vector Python passes (int64 each). */
enum {
    G_N, G_S0, G_S1, G_S2, G_C, G_O0, G_O1, G_O2,
    G_K0, G_K1, G_K2, G_ST0, G_ST1, G_ST2, G_D0, G_D1, G_D2, G_P0, G_P1, G_P2,
    G_M,
    /* conv_thin only: element strides of its planar input x[b, i0, i1, c, i2] (i2: 1) */
    G_XB, G_X0, G_X1, G_XC,
    G_LEN
};

int cthulhu_geometry_length(void) { return G_LEN; }

/* Outputs o in [*a, *e) of an axis of length `out` whose input index o*s + off is
 * within [0, n). */
static inline void valid_range(int64_t n, int64_t out, int64_t s, int64_t off,
                               int64_t *a, int64_t *e)
{
    int64_t lo = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t hi = n - 1 - off < 0 ? 0 : (n - 1 - off) / s + 1;
    if (hi > out)
        hi = out;
    if (lo > hi)
        lo = hi;
    *a = lo;
    *e = hi;
}

#define T float
#define SUFFIX f32
#include "body.h"
#undef T
#undef SUFFIX

#define T double
#define SUFFIX f64
#include "body.h"
#undef T
#undef SUFFIX
