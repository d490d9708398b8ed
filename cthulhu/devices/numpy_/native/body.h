/* The kernels for one element type; included by kernels.c with T and SUFFIX defined. */

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)

static inline void CAT(row_relu, SUFFIX)(T *restrict yr, int64_t len)
{
    for (int64_t j = 0; j < len; j++)
        yr[j] = yr[j] < (T)0 ? (T)0 : yr[j];   /* NaN stays NaN, as in numpy.maximum(y, 0) */
}

/* A GCC/Clang vector of 32 bytes (8 floats, 4 doubles); in the default (non-AVX2)
 * clone it is lowered to pairs of SSE registers. */
typedef T CAT(vec, SUFFIX) __attribute__((vector_size(32)));
#define VEC CAT(vec, SUFFIX)
#define LANES ((int64_t)(sizeof(VEC) / sizeof(T)))

/* Vector loads as macros (a function returning a 32-byte vector draws GCC's ABI note). */
#define LOADV(dst, p) memcpy(&(dst), (p), sizeof(VEC))       /* unaligned */
#define LOADV_STRIDED(dst, p, step)                       \
    do {                                                  \
        T lanes_[LANES];                                  \
        for (int64_t i_ = 0; i_ < LANES; i_++)            \
            lanes_[i_] = (p)[i_ * (step)];                \
        memcpy(&(dst), lanes_, sizeof(VEC));              \
    } while (0)

/* One block of the direct convolution: NV*LANES consecutive outputs of a row and FB
 * filters from f0, summed in FB*NV vector registers over every tap and input
 * channel. `rows` holds the `nrows` planar, zero-padded input rows (c-major, `sp`
 * values per channel) this output row reads; `wrow[k]` the (K2, C, Fp) weights of
 * kernel row k. The sums go to out[fi * NV * LANES + v]. */
#define THIN_BLOCK(NAME, FB, NV)                                                    \
static inline __attribute__((always_inline)) void                                   \
CAT(NAME, SUFFIX)(const T *restrict rows, const T *const *wrow,    \
                                    int64_t nrows, int64_t sp, int64_t C, int64_t Fp, \
                                    int64_t K2, int64_t s2, int64_t d2, int64_t o0,   \
                                    int64_t f0, T *restrict out)                      \
{                                                                                   \
    VEC acc[FB][NV];                                                                \
    for (int fi = 0; fi < FB; fi++)                                                 \
        for (int j = 0; j < NV; j++)                                                \
            acc[fi][j] = (VEC){0};                                                  \
    for (int64_t k = 0; k < nrows; k++) {                                           \
        const T *restrict xk = rows + k * C * sp;                                   \
        for (int64_t t2 = 0; t2 < K2; t2++) {                                       \
            const T *restrict wt = wrow[k] + t2 * C * Fp + f0;                      \
            for (int64_t c = 0; c < C; c++) {                                       \
                const T *restrict xs = xk + c * sp + o0 * s2 + t2 * d2;             \
                VEC xv[NV];                                                         \
                for (int j = 0; j < NV; j++) {                                      \
                    if (s2 == 1)                                                    \
                        LOADV(xv[j], xs + j * LANES);                               \
                    else                                                            \
                        LOADV_STRIDED(xv[j], xs + j * LANES * s2, s2);              \
                }                                                                   \
                for (int fi = 0; fi < FB; fi++) {                                   \
                    const VEC wv = (VEC){0} + wt[c * Fp + fi];                      \
                    for (int j = 0; j < NV; j++)                                    \
                        acc[fi][j] += xv[j] * wv;                                   \
                }                                                                   \
            }                                                                       \
        }                                                                           \
    }                                                                               \
    for (int fi = 0; fi < FB; fi++)                                                 \
        for (int j = 0; j < NV; j++)                                                \
            memcpy(out + (fi * NV + j) * LANES, &acc[fi][j], sizeof(VEC));          \
}

#ifndef THIN_FB
#define THIN_FB 4          /* filters x vectors of outputs per block when F > 1 */
#define THIN_NV 2
#endif
THIN_BLOCK(thin_block_one, 1, 4)
THIN_BLOCK(thin_block_many, THIN_FB, THIN_NV)

/* Direct convolution for few input channels: y[b, o, f] = bias + sum_t sum_c
 * x[b, o*s + t*d - p, c] * w[t, c, f]. x is planar, x[b, i0, i1, c, i2] at the
 * element strides g[G_XB], g[G_X0], g[G_X1], g[G_XC] and 1 (a channels_first input
 * as it is; channels_last ones are transposed once by the caller); w (K0, K1, K2,
 * C, F) and y (N, O0, O1, O2, F) contiguous; g[G_M] holds F.
 *
 * Per output row, the input rows it reads are first copied (one memcpy per
 * channel) and zero-padded along the last axis, so a block of consecutive outputs reads each
 * (tap, channel) as one short vector, with no bounds checks; the sums of a block
 * of outputs and filters stay in registers over all taps and channels (see
 * THIN_BLOCK). Returns 0, or -1 when the buffers cannot be allocated. */
CTHULHU_CLONES
int CAT(cthulhu_conv_thin, SUFFIX)(const T *restrict x, const T *restrict w,
                                   const T *restrict bias, T *restrict y,
                                   const int64_t *g, int64_t r0, int64_t r1, int relu)
{
    const int64_t C = g[G_C], F = g[G_M], S2 = g[G_S2];
    const int64_t O0 = g[G_O0], O1 = g[G_O1], O2 = g[G_O2];
    const int64_t K0 = g[G_K0], K1 = g[G_K1], K2 = g[G_K2];
    const int64_t s2 = g[G_ST2], d2 = g[G_D2], p2 = g[G_P2];
    const int64_t FB = F == 1 ? 1 : THIN_FB, VL = (F == 1 ? 4 : THIN_NV) * LANES;
    const int64_t Fp = (F + FB - 1) / FB * FB;
    const int64_t blocks = (O2 + VL - 1) / VL;
    /* padded row: index i + p2 holds input i; long enough for the last block's reads */
    const int64_t sp = (blocks * VL - 1) * s2 + d2 * (K2 - 1) + 1 + (p2 < 0 ? -p2 : 0);
    const int64_t taps = K0 * K1 * K2;
    T *rows = malloc((size_t)(K0 * K1 * C * sp + taps * C * Fp) * sizeof(T));
    const T **wrow = malloc((size_t)(K0 * K1) * sizeof(T *));
    if (rows == NULL || wrow == NULL) {
        free(rows);
        free((void *)wrow);
        return -1;
    }
    T *wp = rows + K0 * K1 * C * sp;
    for (int64_t t = 0; t < taps; t++)            /* weights, filters padded to Fp */
        for (int64_t c = 0; c < C; c++)
            for (int64_t f = 0; f < Fp; f++)
                wp[(t * C + c) * Fp + f] = f < F ? w[(t * C + c) * F + f] : (T)0;
    T out[(THIN_FB * THIN_NV > 4 ? THIN_FB * THIN_NV : 4) * 32 / sizeof(T)];   /* FB * VL */
    for (int64_t r = r0; r < r1; r++) {
        const int64_t b = r / (O0 * O1), o0 = (r / O1) % O0, o1 = r % O1;
        int64_t nrows = 0;
        for (int64_t t0 = 0; t0 < K0; t0++) {
            const int64_t i0 = o0 * g[G_ST0] + t0 * g[G_D0] - g[G_P0];
            if (i0 < 0 || i0 >= g[G_S0])
                continue;
            for (int64_t t1 = 0; t1 < K1; t1++) {
                const int64_t i1 = o1 * g[G_ST1] + t1 * g[G_D1] - g[G_P1];
                if (i1 < 0 || i1 >= g[G_S1])
                    continue;
                const T *xr = x + b * g[G_XB] + i0 * g[G_X0] + i1 * g[G_X1];
                T *dst = rows + nrows * C * sp;
                /* planar row: plane[i] = x[i - p2], zero outside the input */
                const int64_t lo = p2 > 0 ? p2 : 0;
                const int64_t first = p2 > 0 ? 0 : -p2;             /* first input read */
                int64_t count = S2 - first;
                if (count > sp - lo)
                    count = sp - lo;
                if (count < 0)
                    count = 0;
                for (int64_t c = 0; c < C; c++) {
                    T *restrict plane = dst + c * sp;
                    memset(plane, 0, (size_t)lo * sizeof(T));
                    memcpy(plane + lo, xr + c * g[G_XC] + first, (size_t)count * sizeof(T));
                    memset(plane + lo + count, 0, (size_t)(sp - lo - count) * sizeof(T));
                }
                wrow[nrows++] = wp + (t0 * K1 + t1) * K2 * C * Fp;
            }
        }
        T *restrict yr = y + (r - r0) * O2 * F;
        for (int64_t f0 = 0; f0 < F; f0 += FB) {
            for (int64_t ob = 0; ob < O2; ob += VL) {
                if (FB == 1)
                    CAT(thin_block_one, SUFFIX)(rows, wrow, nrows, sp, C, Fp, K2, s2, d2,
                                                ob, f0, out);
                else
                    CAT(thin_block_many, SUFFIX)(rows, wrow, nrows, sp, C, Fp, K2, s2, d2,
                                                ob, f0, out);
                const int64_t nv = O2 - ob < VL ? O2 - ob : VL;
                const int64_t nf = F - f0 < FB ? F - f0 : FB;
                for (int64_t v = 0; v < nv; v++)
                    for (int64_t fi = 0; fi < nf; fi++) {
                        const T sum = out[fi * VL + v];
                        yr[(ob + v) * F + f0 + fi] = sum + (bias != NULL ? bias[f0 + fi] : (T)0);
                    }
            }
        }
        if (relu)
            CAT(row_relu, SUFFIX)(yr, O2 * F);
    }
    free(rows);
    free((void *)wrow);
    return 0;
}

#undef LOADV
#undef LOADV_STRIDED
#undef LANES
#undef VEC
#undef CAT
#undef CAT_
