/* Native CPU kernels of cthulhu's NumPy plugin (built by setup.py, or at first use by
 * _native.py; loaded with ctypes).
 *
 * The convolution engine (end of this file; engine.h, depthwise.h, micro.h, pool.h): one call per
 * op, threads, packing and register-blocked micro-kernels all inside. Max/average pooling
 * and global pooling (pooling.h) on the same threads, and element-wise sums (eltwise.h).
 *
 * body.h: a direct convolution for inputs with few channels and one or two filters,
 * channels_last and written
 * for rank 3 (lower ranks come in with leading size-1 axes). One call computes the
 * output rows [r0, r1) of the (N*O0*O1) rows of length O2*channels (written from y on,
 * row r0 first); cthulhu_conv_thin_all runs chunks of rows on the engine's threads.
 * They are plain C11 with no FMA contraction (ISO C mode keeps a*b+c as two
 * roundings): every SIMD clone gives the same bits. The engine's micro-kernels use
 * FMA where the CPU has it, so its results may differ in the last bits between
 * instruction sets (never between thread counts).
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE                 /* pthread_setaffinity_np, CPU_SET (pool.h) */
#endif
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L     /* clock_gettime under -std=c11 */
#endif
#include <math.h>
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

/* The hash of the sources this library was built from (native/__init__.py's
 * source_hash), so that a stale build is never loaded. */
#ifndef CTHULHU_SOURCE_HASH
#define CTHULHU_SOURCE_HASH ""
#endif
const char *cthulhu_source_hash(void) { return CTHULHU_SOURCE_HASH; }

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

/* ==== The convolution engine (engine.h): one call per op, threads inside ==== */

#include "pool.h"
#include "affinity.h"

enum { ACT_NONE = 0, ACT_RELU = 1, ACT_RELU6 = 2 };

/* Tile orientations (gemm_entry.planar): filter vectors in the lanes, output positions
 * in the lanes, or 8 filters x 2 positions per vector (micro.h). */
enum { KIND_FILTERS = 0, KIND_PLANAR = 1, KIND_PAIRS = 2 };

/* The geometry vector of the engine's entry points (int64 each): sizes, element
 * strides of x (batch, 3 spatial, channel) and y (batch, 3 spatial, filter), kernel
 * size, strides, dilation, pads before (negative: crop), the depthwise multiplier. */
enum {
    CG_N, CG_C, CG_F, CG_M,
    CG_S0, CG_S1, CG_S2, CG_O0, CG_O1, CG_O2, CG_K0, CG_K1, CG_K2,
    CG_ST0, CG_ST1, CG_ST2, CG_D0, CG_D1, CG_D2, CG_P0, CG_P1, CG_P2,
    CG_XN, CG_X0, CG_X1, CG_X2, CG_XC, CG_YN, CG_Y0, CG_Y1, CG_Y2, CG_YF,
    CG_LEN
};

int cthulhu_engine_geometry_length(void) { return CG_LEN; }

/* Instruction sets of the micro-kernels, chosen once at run time. */
enum { ISA_GENERIC = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };
static const char *const isa_names[] = {"generic", "avx2", "avx512"};

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CTHULHU_X86 1
#include <immintrin.h>
#endif

static int best_isa(void)
{
#ifdef CTHULHU_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
        return ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return ISA_AVX2;
#endif
    return ISA_GENERIC;
}

static atomic_int isa_choice = -1;

static int active_isa(void)
{
    int isa = atomic_load(&isa_choice);
    if (isa < 0) {
        isa = best_isa();
        atomic_store(&isa_choice, isa);
    }
    return isa;
}

/* Use at most `isa` (tests run every instruction set of the machine); returns the one
 * in force. A negative value only reads it. */
int cthulhu_engine_isa(int isa)
{
    const int best = best_isa();
    if (isa >= 0)
        atomic_store(&isa_choice, isa < best ? isa : best);
    return active_isa();
}

const char *cthulhu_engine_isa_name(int isa) { return isa_names[isa]; }

/* gemm micro-kernel signatures and their table entries, per element type */
typedef void (*gemm_fn_f32)(const float *, int64_t, const int64_t *, const int64_t *, int64_t,
                            int64_t, const float *, const float *, const float *, int,
                            float *, int64_t, int64_t, int64_t, int64_t);
typedef void (*gemm_fn_f64)(const double *, int64_t, const int64_t *, const int64_t *, int64_t,
                            int64_t, const double *, const double *, const double *, int,
                            double *, int64_t, int64_t, int64_t, int64_t);
/* mr: output positions per tile; nv: vectors (of filters, or of positions when planar);
 * fb: filters per block */
typedef struct { int mr, nv, lanes; gemm_fn_f32 fn; int planar, fb; } gemm_entry_f32;
typedef struct { int mr, nv, lanes; gemm_fn_f64 fn; int planar, fb; } gemm_entry_f64;

/* -- portable: GCC/Clang vector extensions, 16 bytes (SSE2 on x86-64, NEON on arm64) */
typedef float gv_f32 __attribute__((vector_size(16)));
typedef double gv_f64 __attribute__((vector_size(16)));
typedef int32_t gi_f32 __attribute__((vector_size(16)));
typedef int64_t gi_f64 __attribute__((vector_size(16)));
#define GEN_OPS(S)                                                                       \
    static inline gv_##S gen_ld_##S(const void *p) { gv_##S v; memcpy(&v, p, 16); return v; } \
    static inline void gen_st_##S(void *p, gv_##S v) { memcpy(p, &v, 16); }              \
    static inline gv_##S gen_max_##S(gv_##S a, gv_##S b)                               \
    { gi_##S m = a > b; return (gv_##S)((m & (gi_##S)a) | (~m & (gi_##S)b)); }          \
    static inline gv_##S gen_min_##S(gv_##S a, gv_##S b)                               \
    { gi_##S m = a < b; return (gv_##S)((m & (gi_##S)a) | (~m & (gi_##S)b)); }
GEN_OPS(f32)
GEN_OPS(f64)

#define TARGET
#define VLOAD(p) gen_ld_f32(p)
#define VSTORE(p, v) gen_st_f32((p), (v))
#define VSET1(s) ((gv_f32){0, 0, 0, 0} + (float)(s))
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VMAX(a, b) gen_max_f32((a), (b))
#define VMIN(a, b) gen_min_f32((a), (b))
#define VZERO ((gv_f32){0, 0, 0, 0})
#define T float
#define VT gv_f32
#define LANES 4
#define PFX generic_f32
#define GEMM_ENTRY gemm_entry_f32
#define MK_SHAPES(X) X(4, 2) X(6, 2) X(8, 1) X(12, 1)
#define MK_PLANAR_SHAPES(X) X(8, 1) X(4, 2) X(2, 4) X(1, 6)
#include "micro.h"
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VMAX
#undef VMIN
#undef VZERO
#undef T
#undef VT
#undef LANES
#undef PFX
#undef GEMM_ENTRY

#define VLOAD(p) gen_ld_f64(p)
#define VSTORE(p, v) gen_st_f64((p), (v))
#define VSET1(s) ((gv_f64){0, 0} + (double)(s))
#define VMAX(a, b) gen_max_f64((a), (b))
#define VMIN(a, b) gen_min_f64((a), (b))
#define VZERO ((gv_f64){0, 0})
#define T double
#define VT gv_f64
#define LANES 2
#define PFX generic_f64
#define GEMM_ENTRY gemm_entry_f64
#include "micro.h"
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VFMA
#undef VMAX
#undef VMIN
#undef VZERO
#undef T
#undef VT
#undef LANES
#undef PFX
#undef GEMM_ENTRY
#undef MK_SHAPES
#undef MK_PLANAR_SHAPES
#undef TARGET

#ifdef CTHULHU_X86
/* -- AVX2 + FMA: 16 ymm registers */
#define TARGET __attribute__((target("avx2,fma")))
#define MK_SHAPES(X) X(4, 2) X(6, 2) X(8, 1) X(12, 1)
#define MK_PLANAR_SHAPES(X) X(8, 1) X(4, 2) X(2, 4) X(1, 6)
#define VFMA(a, b, c) VFMA_(a, b, c)
#define T float
#define VT __m256
#define LANES 8
#define PFX avx2_f32
#define GEMM_ENTRY gemm_entry_f32
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps((p), (v))
#define VSET1(s) _mm256_set1_ps(s)
#define VFMA_(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VMAX(a, b) _mm256_max_ps((a), (b))
#define VMIN(a, b) _mm256_min_ps((a), (b))
#define VZERO _mm256_setzero_ps()
#include "micro.h"
#undef T
#undef VT
#undef LANES
#undef PFX
#undef GEMM_ENTRY
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VFMA_
#undef VMAX
#undef VMIN
#undef VZERO
#define T double
#define VT __m256d
#define LANES 4
#define PFX avx2_f64
#define GEMM_ENTRY gemm_entry_f64
#define VLOAD(p) _mm256_loadu_pd(p)
#define VSTORE(p, v) _mm256_storeu_pd((p), (v))
#define VSET1(s) _mm256_set1_pd(s)
#define VFMA_(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define VMAX(a, b) _mm256_max_pd((a), (b))
#define VMIN(a, b) _mm256_min_pd((a), (b))
#define VZERO _mm256_setzero_pd()
#include "micro.h"
#undef T
#undef VT
#undef LANES
#undef PFX
#undef GEMM_ENTRY
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VFMA_
#undef VMAX
#undef VMIN
#undef VZERO
#undef TARGET
#undef MK_SHAPES
#undef MK_PLANAR_SHAPES

/* -- AVX-512: 32 zmm registers */
#define TARGET __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))
#define MK_SHAPES(X) X(8, 2) X(12, 2) X(14, 2) X(16, 1) X(24, 1) X(28, 1)
#define MK_PLANAR_SHAPES(X) X(8, 2) X(8, 3) X(4, 4) X(4, 6) X(2, 8) X(1, 8) X(1, 12)
#define MK_PAIR_SHAPES(X) X(8, 2) X(12, 2) X(14, 2)
#define VSET1_PAIR(p) avx512_pair(p)
__attribute__((target("avx512f"))) static inline __m512 avx512_pair(const float *p)
{
    double d;
    memcpy(&d, p, sizeof d);
    return _mm512_castpd_ps(_mm512_set1_pd(d));
}
/* lanes (f, p) of a pair tile -> 8 filters of position 2i, then of 2i + 1 */
#define PAIR_STORE(y0, y1, v) avx512_pair_store((y0), (y1), (v))
__attribute__((target("avx512f,avx512dq"))) static inline void
avx512_pair_store(float *y0, float *y1, __m512 v)
{
    const __m512i order = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14,
                                            1, 3, 5, 7, 9, 11, 13, 15);
    const __m512 w = _mm512_permutexvar_ps(order, v);
    _mm256_storeu_ps(y0, _mm512_castps512_ps256(w));
    _mm256_storeu_ps(y1, _mm512_extractf32x8_ps(w, 1));
}
#define T float
#define VT __m512
#define LANES 16
#define PFX avx512_f32
#define GEMM_ENTRY gemm_entry_f32
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VSET1(s) _mm512_set1_ps(s)
#define VFMA_(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VMAX(a, b) _mm512_max_ps((a), (b))
#define VMIN(a, b) _mm512_min_ps((a), (b))
#define VZERO _mm512_setzero_ps()
#include "micro.h"
#undef VSET1_PAIR
#undef PAIR_STORE
#undef T
#undef VT
#undef LANES
#undef PFX
#undef GEMM_ENTRY
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VFMA_
#undef VMAX
#undef VMIN
#undef VZERO
#define T double
#define VT __m512d
#define LANES 8
#define PFX avx512_f64
#define GEMM_ENTRY gemm_entry_f64
#define VLOAD(p) _mm512_loadu_pd(p)
#define VSTORE(p, v) _mm512_storeu_pd((p), (v))
#define VSET1(s) _mm512_set1_pd(s)
#define VFMA_(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define VMAX(a, b) _mm512_max_pd((a), (b))
#define VMIN(a, b) _mm512_min_pd((a), (b))
#define VZERO _mm512_setzero_pd()
#include "micro.h"
#undef T
#undef VT
#undef LANES
#undef PFX
#undef GEMM_ENTRY
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VFMA_
#undef VMAX
#undef VMIN
#undef VZERO
#undef TARGET
#undef MK_SHAPES
#undef MK_PLANAR_SHAPES
#undef VFMA

/* dst[b*len + a] = src[a*step + b] for a, b < 8: an 8 x 8 float transpose in registers
 * (engine.h's planar copy of a channels_last input; scalar code stalls on its tiles) */
__attribute__((target("avx2"))) static void transpose8_avx2(const float *src, int64_t step,
                                                              float *dst, int64_t len)
{
    __m256 r[8], t[8];
    for (int a = 0; a < 8; a++)
        r[a] = _mm256_loadu_ps(src + a * step);
    for (int a = 0; a < 8; a += 2) {
        t[a] = _mm256_unpacklo_ps(r[a], r[a + 1]);
        t[a + 1] = _mm256_unpackhi_ps(r[a], r[a + 1]);
    }
    for (int a = 0; a < 8; a += 4) {
        r[a] = _mm256_shuffle_ps(t[a], t[a + 2], 0x44);
        r[a + 1] = _mm256_shuffle_ps(t[a], t[a + 2], 0xEE);
        r[a + 2] = _mm256_shuffle_ps(t[a + 1], t[a + 3], 0x44);
        r[a + 3] = _mm256_shuffle_ps(t[a + 1], t[a + 3], 0xEE);
    }
    for (int b = 0; b < 4; b++) {
        _mm256_storeu_ps(dst + b * len, _mm256_permute2f128_ps(r[b], r[b + 4], 0x20));
        _mm256_storeu_ps(dst + (b + 4) * len, _mm256_permute2f128_ps(r[b], r[b + 4], 0x31));
    }
}
#endif

#define AVX512_LANES_f32 16
#define AVX512_LANES_f64 8

/* The geometry vector of the pooling entry points (int64 each, pooling.h): sizes (ranks
 * 1-2 with leading axes of size 1), window, strides, pads before, element strides of x
 * (batch, 3 spatial, channel) and y. */
enum {
    PG_N, PG_C, PG_S0, PG_S1, PG_S2, PG_O0, PG_O1, PG_O2, PG_K0, PG_K1, PG_K2,
    PG_ST0, PG_ST1, PG_ST2, PG_P0, PG_P1, PG_P2,
    PG_XN, PG_X0, PG_X1, PG_X2, PG_XC, PG_YN, PG_Y0, PG_Y1, PG_Y2, PG_YC,
    PG_LEN
};

int cthulhu_pool_geometry_length(void) { return PG_LEN; }

#define T float
#define SUFFIX f32
#include "engine.h"
#include "pooling.h"
#include "eltwise.h"
#undef T
#undef SUFFIX

#define T double
#define SUFFIX f64
#include "engine.h"
#include "pooling.h"
#include "eltwise.h"
#undef T
#undef SUFFIX
