/* Max and average pooling, and global pooling, for one element type (included by
 * kernels.c with T and SUFFIX after engine.h, whose CAT macros and pool.h's threads it
 * uses).
 *
 * Pooling is memory bound: the input is read once from memory, in the layout it has.
 * Both reductions are separable, and every output is made in one order: the window's
 * input rows (i0, i1) reduced sample by sample ("vertical"), then the window's
 * positions along the last spatial axis in order ("horizontal"), then one division.
 * An output row (batch, [channel,] o0, o1):
 *   - channels_last rows of at least a vector of channels (pool_fused): each output
 *     position's channel vectors read every tap from the input rows directly, the
 *     usual window shapes with their loads unrolled; the outputs of a pooling larger
 *     than a cache stored past the caches;
 *   - channels_first lines of stride 2 or 4 (pool_line_vec): a vector of outputs at a
 *     time, the samples under it split into their phases by shuffles (windows within
 *     one plane read their rows directly, others the vertical pass's line);
 *   - otherwise the vertical pass into a row buffer (the input row itself when the
 *     window has one row), then the horizontal windows over it: channel vectors
 *     (channels_last), or stride-s windows over s phase lines (channels_first).
 * The padding is excluded: windows are clipped to the input, and an average divides
 * by the number of input samples under the window. A window holding a NaN gives NaN
 * (the maximum keeps a NaN it met, as numpy.maximum does).
 *
 * Every loop that vectorises runs across independent outputs, never across one sum, so
 * the result is the same with every instruction set and thread count.
 */

/* Input rows are read with a software prefetch this far ahead: the hardware prefetchers
 * alone left one thread waiting on memory for over half of a 2x2 pooling (measured on
 * EPYC: 24 ms -> 13.5 ms for 32x64x112x112 float32, channels_first). */
#define POOL_PREFETCH_BYTES 4096
/* Outputs of a pooling that reads and writes more than this are stored past the caches. */
#define POOL_STREAM_BYTES ((double)(32 << 20))

static inline T CAT(pool_max, SUFFIX)(T m, T v)
{
    /* v when v is larger or NaN; a NaN already in m stays (v > NaN is false) */
    return ((v > m) | (v != v)) ? v : m;
}

/* 32-byte vectors of GCC/Clang's vector extensions (AVX2 registers in the avx2 clones,
 * two SSE2 ones in the portable build). The maximum is written as a select, not left to
 * the auto-vectoriser: GCC unrolls short loops of it into scalar code with a branch per
 * element, which random data mispredicts (a 2x2 max pooling took 90 ms instead of 12). */
#if defined(__GNUC__) && !defined(__clang__)
/* the vectors never cross a call boundary (every helper is inlined): no ABI to keep */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef T CAT(pool_vec, SUFFIX) __attribute__((vector_size(32)));
typedef __typeof__(_Generic((T)0, float: (int32_t)0, default: (int64_t)0))
    CAT(pool_lane_int, SUFFIX);
typedef CAT(pool_lane_int, SUFFIX) CAT(pool_mask, SUFFIX) __attribute__((vector_size(32)));
#define PVEC CAT(pool_vec, SUFFIX)
#define PMASK CAT(pool_mask, SUFFIX)
#define PLANES ((int64_t)(32 / sizeof(T)))

static inline __attribute__((always_inline)) PVEC CAT(pool_load, SUFFIX)(const T *p)
{
    PVEC v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) void CAT(pool_store, SUFFIX)(T *p, PVEC v) { memcpy(p, &v, sizeof v); }

/* A store that bypasses the caches (two SSE non-temporal stores) where p is 16-byte
 * aligned: a large output is not read again soon, and a normal store first reads its
 * line from memory. */
static inline __attribute__((always_inline)) void CAT(pool_stream, SUFFIX)(T *p, PVEC v)
{
#if defined(__SSE2__)
    if (((uintptr_t)p & 15) == 0) {
        if (sizeof(T) == 4) {
            __m128 a, b;
            memcpy(&a, &v, 16);
            memcpy(&b, (char *)&v + 16, 16);
            _mm_stream_ps((float *)p, a);
            _mm_stream_ps((float *)p + 4, b);
        } else {
            __m128d a, b;
            memcpy(&a, &v, 16);
            memcpy(&b, (char *)&v + 16, 16);
            _mm_stream_pd((double *)p, a);
            _mm_stream_pd((double *)p + 2, b);
        }
        return;
    }
#endif
    CAT(pool_store, SUFFIX)(p, v);
}

static inline __attribute__((always_inline)) PVEC CAT(pool_vmax, SUFFIX)(PVEC m, PVEC v)
{
    const PMASK take = (v > m) | (v != v);
    return (PVEC)((take & (PMASK)v) | (~take & (PMASK)m));
}

/* dst[i] = op(a[i], b[i]) */
static inline void CAT(pool_pair, SUFFIX)(T *dst, const T *a, const T *b, int64_t len, int avg)
{
    int64_t i = 0;
    if (avg) {
        for (; i + PLANES <= len; i += PLANES)
            CAT(pool_store, SUFFIX)(dst + i, CAT(pool_load, SUFFIX)(a + i) +
                                             CAT(pool_load, SUFFIX)(b + i));
        for (; i < len; i++)
            dst[i] = a[i] + b[i];
    } else {
        for (; i + PLANES <= len; i += PLANES)
            CAT(pool_store, SUFFIX)(dst + i, CAT(pool_vmax, SUFFIX)(CAT(pool_load, SUFFIX)(a + i),
                                                                    CAT(pool_load, SUFFIX)(b + i)));
        for (; i < len; i++)
            dst[i] = CAT(pool_max, SUFFIX)(a[i], b[i]);
    }
}

/* dst[i] = op(dst[i], src[i]) */
static inline void CAT(pool_into, SUFFIX)(T *dst, const T *src, int64_t len, int avg)
{
    CAT(pool_pair, SUFFIX)(dst, dst, src, len, avg);
}

/* pool_pair and pool_into reading from memory (the vertical pass): one prefetch per
 * cache line, outside the loops GCC vectorises (a prefetch inside one stops it). */
#define POOL_LINE (64 / (int64_t)sizeof(T))

static inline void CAT(pool_pair_stream, SUFFIX)(T *dst, const T *a, const T *b, int64_t len,
                                                 int avg)
{
    const int64_t ahead = POOL_PREFETCH_BYTES / (int64_t)sizeof(T);
    int64_t i = 0;
    for (; i + POOL_LINE <= len; i += POOL_LINE) {
        __builtin_prefetch(a + i + ahead, 0, 0);
        __builtin_prefetch(b + i + ahead, 0, 0);
        CAT(pool_pair, SUFFIX)(dst + i, a + i, b + i, POOL_LINE, avg);
    }
    CAT(pool_pair, SUFFIX)(dst + i, a + i, b + i, len - i, avg);
}

static inline void CAT(pool_into_stream, SUFFIX)(T *dst, const T *src, int64_t len, int avg)
{
    const int64_t ahead = POOL_PREFETCH_BYTES / (int64_t)sizeof(T);
    int64_t i = 0;
    for (; i + POOL_LINE <= len; i += POOL_LINE) {
        __builtin_prefetch(src + i + ahead, 0, 0);
        CAT(pool_into, SUFFIX)(dst + i, src + i, POOL_LINE, avg);
    }
    CAT(pool_into, SUFFIX)(dst + i, src + i, len - i, avg);
}

static inline void CAT(pool_divide, SUFFIX)(T *dst, int64_t len, int64_t count)
{
    const T d = (T)count;
    const PVEC dv = (PVEC){0} + d;
    int64_t i = 0;
    for (; i + PLANES <= len; i += PLANES)
        CAT(pool_store, SUFFIX)(dst + i, CAT(pool_load, SUFFIX)(dst + i) / dv);
    for (; i < len; i++)
        dst[i] = dst[i] / d;
}

typedef struct {
    int64_t g[PG_LEN];
    const T *x;
    T *y;
    int avg;
    int64_t cv;             /* values per position of a row: C (channels_last) or 1 */
    int64_t rows, step;     /* output rows, and rows per work item */
    int64_t phase_len;      /* length of one phase line: ceil(S2 / ST2) */
    int stream;             /* outputs stored past the caches (pool_stream) */
} CAT(pool_ctx, SUFFIX);
#define POOL_CTX CAT(pool_ctx, SUFFIX)

/* [lo, hi) of the window o along an axis of n samples, clipped (padding excluded) */
static inline void CAT(pool_window, SUFFIX)(int64_t o, int64_t s, int64_t p, int64_t k,
                                            int64_t n, int64_t *lo, int64_t *hi)
{
    const int64_t a = o * s - p, b = a + k;
    *lo = a > 0 ? a : 0;
    *hi = b < n ? b : n;
}

/* One window of a line (cv == 1) with clipping, for the outputs at the borders. */
static inline T CAT(pool_clipped, SUFFIX)(const T *src, int64_t lo, int64_t hi, int avg)
{
    T acc = src[lo];
    for (int64_t j = lo + 1; j < hi; j++)
        acc = avg ? acc + src[j] : CAT(pool_max, SUFFIX)(acc, src[j]);
    return acc;
}

/* Lanes 0, 2, 4, ... (odd = 0) or 1, 3, 5, ... (odd = 1) of the 2 * PLANES values a:b,
 * in order. GCC's two-vector shuffle (vshufps + vpermpd in the avx2 clone); elsewhere
 * lane by lane. */
static inline __attribute__((always_inline)) PVEC CAT(pool_half, SUFFIX)(PVEC a, PVEC b, int odd)
{
#if defined(__GNUC__) && !defined(__clang__)
    static const CAT(pool_lane_int, SUFFIX) lanes[2][8] = {{0, 2, 4, 6, 8, 10, 12, 14},
                                                           {1, 3, 5, 7, 9, 11, 13, 15}};
    PMASK even, uneven;
    memcpy(&even, lanes[0], sizeof even);      /* the first PLANES of each: constants */
    memcpy(&uneven, lanes[1], sizeof uneven);
    return odd ? __builtin_shuffle(a, b, uneven) : __builtin_shuffle(a, b, even);
#else
    PVEC r;
    for (int64_t l = 0; l < PLANES; l++) {
        const int64_t i = 2 * l + odd;
        r[l] = i < PLANES ? a[i] : b[i - PLANES];
    }
    return r;
#endif
}

/* Sample i of the window's rows reduced in their order (the vertical pass's numbers):
 * a vector from i on, or one value. */
static inline __attribute__((always_inline)) PVEC CAT(pool_rows_load, SUFFIX)(
    const T *const *rows, int64_t nrows, int64_t i, int avg)
{
    PVEC v = CAT(pool_load, SUFFIX)(rows[0] + i);
    for (int64_t r = 1; r < nrows; r++) {
        const PVEC w = CAT(pool_load, SUFFIX)(rows[r] + i);
        v = avg ? v + w : CAT(pool_vmax, SUFFIX)(v, w);
    }
    return v;
}

static inline __attribute__((always_inline)) T CAT(pool_rows_at, SUFFIX)(
    const T *const *rows, int64_t nrows, int64_t i, int avg)
{
    T v = rows[0][i];
    for (int64_t r = 1; r < nrows; r++)
        v = avg ? v + rows[r][i] : CAT(pool_max, SUFFIX)(v, rows[r][i]);
    return v;
}

/* One window [lo, hi) of a line read from the window's rows, as pool_clipped reads the
 * vertical pass's line. */
static inline __attribute__((always_inline)) T CAT(pool_rows_clipped, SUFFIX)(
    const T *const *rows, int64_t nrows, int64_t lo, int64_t hi, int avg)
{
    T acc = CAT(pool_rows_at, SUFFIX)(rows, nrows, lo, avg);
    for (int64_t j = lo + 1; j < hi; j++) {
        const T v = CAT(pool_rows_at, SUFFIX)(rows, nrows, j, avg);
        acc = avg ? acc + v : CAT(pool_max, SUFFIX)(acc, v);
    }
    return acc;
}

/* Lanes 1, 2, ..., PLANES - 1 of a, then x. */
static inline __attribute__((always_inline)) PVEC CAT(pool_shift, SUFFIX)(PVEC a, T x)
{
#if defined(__GNUC__) && !defined(__clang__)
    static const CAT(pool_lane_int, SUFFIX) lanes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    PMASK next;
    memcpy(&next, lanes, sizeof next);
    return __builtin_shuffle(a, (PVEC){0} + x, next);
#else
    PVEC r;
    for (int64_t l = 0; l + 1 < PLANES; l++)
        r[l] = a[l + 1];
    r[PLANES - 1] = x;
    return r;
#endif
}

/* The interior outputs [olo, ohi) of a line (channels_first) for strides 2 and 4, PLANES
 * outputs at a time: the s vectors of samples under a block split into their s phases
 * by shuffles (ph[r] lane l: sample (o + q + l) * s + r of the line, the window's rows
 * reduced by pool_rows_load), then the taps folded in the order j = 0, 1, ..., k - 1
 * and divided, lane by lane: the numbers of pool_clipped.
 * Every block reads whole phase vectors inside the line; a last block that would not
 * fit is moved back over outputs already done (the same numbers again). Returns how
 * many outputs from olo were done. */
#define POOL_TAPS_MAX 32
static inline __attribute__((always_inline)) int64_t CAT(pool_line_vec, SUFFIX)(
    const T *const *rows, int64_t nrows, T *y, int64_t olo, int64_t ohi, int64_t n,
    int64_t k, int64_t s, int64_t p, int avg, T count)
{
    int64_t tap_r[POOL_TAPS_MAX], tap_q[POOL_TAPS_MAX];
    for (int64_t j = 0; j < k; j++) {
        const int64_t d = j - p, r = ((d % s) + s) % s;
        tap_r[j] = r;
        tap_q[j] = (d - r) / s;
    }
    /* blocks o with (o + PLANES + qmax) * s <= n read inside the line; o + qmin >= 0
     * holds for every interior o (o * s >= p) */
    const int64_t last = n / s - PLANES - tap_q[k - 1];
    /* rows of one plane (pool_rows): twice the row passes' distance (2x2 max pooling of
     * 32x64x112x112 on one EPYC thread: 4.4 ms at 4 KiB ahead, 3.3 at 8 KiB) */
    const int64_t ahead = 2 * POOL_PREFETCH_BYTES / (int64_t)sizeof(T);
    const PVEC dv = (PVEC){0} + count;
    int64_t o = olo, done = olo;
    while (done < ohi) {
        if (o + PLANES > ohi)
            o = ohi - PLANES;            /* the tail: back over outputs already done */
        if (o < olo || o > last)
            break;
        if (nrows > 1)                   /* the rows' samples a prefetch distance ahead */
            for (int64_t r = 0; r < nrows; r++)
                for (int64_t i = 0; i < s * PLANES; i += POOL_LINE)
                    __builtin_prefetch(rows[r] + o * s + i + ahead, 0, 0);
        if (s == 2 && k == 3 && p == 0) {
            /* the 3x3 stride-2 window: its third tap is the first one's phase a sample
             * further on, shifted in instead of loaded and reduced again */
            const int64_t b = o * 2;
            const PVEC v0 = CAT(pool_rows_load, SUFFIX)(rows, nrows, b, avg),
                       v1 = CAT(pool_rows_load, SUFFIX)(rows, nrows, b + PLANES, avg);
            const PVEC e = CAT(pool_half, SUFFIX)(v0, v1, 0), d = CAT(pool_half, SUFFIX)(v0, v1, 1);
            const PVEC f = CAT(pool_shift, SUFFIX)(
                e, CAT(pool_rows_at, SUFFIX)(rows, nrows, b + 2 * PLANES, avg));
            const PVEC acc = avg ? (e + d) + f
                                 : CAT(pool_vmax, SUFFIX)(CAT(pool_vmax, SUFFIX)(e, d), f);
            CAT(pool_store, SUFFIX)(y + o, avg ? acc / dv : acc);
            o += PLANES;
            done = o;
            continue;
        }
        PVEC ph[4], acc = (PVEC){0};
        int64_t at = INT64_MIN;
        for (int64_t j = 0; j < k; j++) {
            if (tap_q[j] != at) {
                at = tap_q[j];
                const int64_t b = (o + at) * s;
                const PVEC v0 = CAT(pool_rows_load, SUFFIX)(rows, nrows, b, avg),
                           v1 = CAT(pool_rows_load, SUFFIX)(rows, nrows, b + PLANES, avg);
                if (s == 2) {
                    ph[0] = CAT(pool_half, SUFFIX)(v0, v1, 0);
                    ph[1] = CAT(pool_half, SUFFIX)(v0, v1, 1);
                } else {
                    const PVEC v2 = CAT(pool_rows_load, SUFFIX)(rows, nrows, b + 2 * PLANES, avg),
                               v3 = CAT(pool_rows_load, SUFFIX)(rows, nrows, b + 3 * PLANES, avg);
                    const PVEC e0 = CAT(pool_half, SUFFIX)(v0, v1, 0),
                               o0 = CAT(pool_half, SUFFIX)(v0, v1, 1),
                               e1 = CAT(pool_half, SUFFIX)(v2, v3, 0),
                               o1 = CAT(pool_half, SUFFIX)(v2, v3, 1);
                    ph[0] = CAT(pool_half, SUFFIX)(e0, e1, 0);
                    ph[1] = CAT(pool_half, SUFFIX)(o0, o1, 0);
                    ph[2] = CAT(pool_half, SUFFIX)(e0, e1, 1);
                    ph[3] = CAT(pool_half, SUFFIX)(o0, o1, 1);
                }
            }
            const PVEC v = ph[tap_r[j]];
            acc = j == 0 ? v : avg ? acc + v : CAT(pool_vmax, SUFFIX)(acc, v);
        }
        CAT(pool_store, SUFFIX)(y + o, avg ? acc / dv : acc);
        o += PLANES;
        done = o;
    }
    return done - olo;
}

/* Whether a line's interior goes through pool_line_vec (else: the phase lines). */
static inline int CAT(pool_line_vectors, SUFFIX)(const POOL_CTX *ctx)
{
    const int64_t *g = ctx->g;
    const int64_t n = g[PG_S2], m = g[PG_O2], k = g[PG_K2], s = g[PG_ST2], p = g[PG_P2];
    const int64_t olo = (p + s - 1) / s, ohi = n - k + p >= 0 ? (n - k + p) / s + 1 : 0;
    return (s == 2 || s == 4) && k <= POOL_TAPS_MAX && (ohi < m ? ohi : m) - olo >= PLANES;
}

/* Windows along a line of S2 samples (channels_first): y[o], o < O2, contiguous; the
 * line is the window's `nrows` rows reduced, the vertical pass's `src` where nrows is 0. */
static inline __attribute__((always_inline)) void CAT(pool_line, SUFFIX)(
    const POOL_CTX *ctx, const T *const *rows, int64_t nrows, const T *src, T *y,
    int64_t cnt_v, T *phases)
{
    const int64_t *g = ctx->g;
    const int64_t n = g[PG_S2], m = g[PG_O2], k = g[PG_K2], s = g[PG_ST2], p = g[PG_P2];
    const int avg = ctx->avg;
    /* interior outputs: the whole window inside the line */
    int64_t olo = (p + s - 1) / s, ohi = n - k + p >= 0 ? (n - k + p) / s + 1 : 0;
    olo = olo < m ? olo : m;
    ohi = ohi < m ? ohi : m;
    ohi = ohi > olo ? ohi : olo;
    for (int64_t o = 0; o < m; o++) {
        if (o == olo)
            o = ohi;                 /* the interior comes below */
        if (o >= m)
            break;
        int64_t lo, hi;
        CAT(pool_window, SUFFIX)(o, s, p, k, n, &lo, &hi);
        const T v = nrows ? CAT(pool_rows_clipped, SUFFIX)(rows, nrows, lo, hi, avg)
                          : CAT(pool_clipped, SUFFIX)(src, lo, hi, avg);
        y[o] = avg ? v / (T)(cnt_v * (hi - lo)) : v;
    }
    if (nrows == 0) {
        rows = &src;
        nrows = 1;
    }
    if (CAT(pool_line_vectors, SUFFIX)(ctx)) {
        /* the usual windows with constant k, s, p: the taps unrolled, the phases kept
         * in registers */
        const T c = (T)(cnt_v * k);
#define POOL_LINE_VEC(R, K, S, P)                                                       \
    CAT(pool_line_vec, SUFFIX)(rows, R, y, olo, ohi, n, K, S, P, avg, c)
        if (nrows == 1 && s == 4 && k == 4 && p == 0)
            olo += POOL_LINE_VEC(1, 4, 4, 0);
        else if (nrows == 2 && s == 2 && k == 2 && p == 0)
            olo += POOL_LINE_VEC(2, 2, 2, 0);
        else if (nrows == 3 && s == 2 && k == 3 && p == 0)
            olo += POOL_LINE_VEC(3, 3, 2, 0);
        else if (nrows == 2 && s == 2 && k == 3 && p == 0)
            olo += POOL_LINE_VEC(2, 3, 2, 0);
        else if (nrows == 4 && s == 2 && k == 2 && p == 0)
            olo += POOL_LINE_VEC(4, 2, 2, 0);
        else if (nrows == 1 && s == 2 && k == 2 && p == 0)
            olo += POOL_LINE_VEC(1, 2, 2, 0);
        else if (nrows == 1 && s == 2 && k == 3 && p == 0)
            olo += POOL_LINE_VEC(1, 3, 2, 0);
        else
            olo += POOL_LINE_VEC(nrows, k, s, p);
#undef POOL_LINE_VEC
        for (int64_t o = olo; o < ohi; o++) {       /* what no block could read */
            const T v = CAT(pool_rows_clipped, SUFFIX)(rows, nrows, o * s - p, o * s - p + k,
                                                       avg);
            y[o] = avg ? v / (T)(cnt_v * k) : v;
        }
        return;
    }
    const int64_t count = ohi - olo;
    if (count <= 0)
        return;
    T *out = y + olo;
    if (s == 1) {
        /* tap j of output o reads src[o - p + j]: shifted contiguous lines */
        const T *base = src + olo - p;
        if (k == 1) {
            memcpy(out, base, (size_t)count * sizeof(T));
        } else {
            CAT(pool_pair, SUFFIX)(out, base, base + 1, count, avg);
            for (int64_t j = 2; j < k; j++)
                CAT(pool_into, SUFFIX)(out, base + j, count, avg);
        }
    } else {
        /* phases: ph[r][i] = src[i*s + r]; tap j of output o is ph[(j-p) mod s][o + q] */
        const int64_t len = ctx->phase_len;
        if (s == 2) {
            T *e = phases, *d = phases + len;
            const int64_t pairs = n / 2;
            for (int64_t i = 0; i < pairs; i++) {
                e[i] = src[2 * i];
                d[i] = src[2 * i + 1];
            }
            if (n & 1)
                e[pairs] = src[n - 1];
        } else {
            for (int64_t r = 0; r < s; r++) {
                T *ph = phases + r * len;
                for (int64_t i = 0; i * s + r < n; i++)
                    ph[i] = src[i * s + r];
            }
        }
        for (int64_t j = 0; j < k; j++) {
            const int64_t d = j - p, r = ((d % s) + s) % s, q = (d - r) / s;
            const T *base = phases + r * len + q + olo;
            if (j == 0)
                memcpy(out, base, (size_t)count * sizeof(T));
            else
                CAT(pool_into, SUFFIX)(out, base, count, avg);
        }
    }
    if (avg)
        CAT(pool_divide, SUFFIX)(out, count, cnt_v * k);
}

/* Windows along a row of S2 positions of cv channels (channels_last): y[o*cv + c]. */
static inline __attribute__((always_inline)) void CAT(pool_vectors, SUFFIX)(const POOL_CTX *ctx, const T *src, T *y,
                                             int64_t cnt_v)
{
    const int64_t *g = ctx->g;
    const int64_t n = g[PG_S2], m = g[PG_O2], k = g[PG_K2], s = g[PG_ST2], p = g[PG_P2];
    const int64_t cv = ctx->cv;
    const int avg = ctx->avg;
    for (int64_t o = 0; o < m; o++) {
        int64_t lo, hi;
        CAT(pool_window, SUFFIX)(o, s, p, k, n, &lo, &hi);
        T *yo = y + o * cv;
        const T *first = src + lo * cv;
        if (hi - lo == 1) {
            memcpy(yo, first, (size_t)cv * sizeof(T));
        } else {
            CAT(pool_pair, SUFFIX)(yo, first, first + cv, cv, avg);
            for (int64_t j = lo + 2; j < hi; j++)
                CAT(pool_into, SUFFIX)(yo, src + j * cv, cv, avg);
        }
        if (avg)
            CAT(pool_divide, SUFFIX)(yo, cv, cnt_v * (hi - lo));
    }
}

/* One channel vector of one window (channels_last), every tap read from the input:
 * each of the `taps` window columns from `at` on reduced over the `nrows` input rows in
 * their order (the numbers of the vertical pass), then the columns in order. */
static inline __attribute__((always_inline)) PVEC CAT(pool_fused_vec, SUFFIX)(
    const T *const *rows, int64_t nrows, int64_t at, int64_t taps, int64_t c, int avg)
{
    PVEC acc = (PVEC){0};
    for (int64_t j = 0; j < taps; j++, at += c) {
        const PVEC v = CAT(pool_rows_load, SUFFIX)(rows, nrows, at, avg);
        acc = j == 0 ? v : avg ? acc + v : CAT(pool_vmax, SUFFIX)(acc, v);
    }
    return acc;
}

static inline __attribute__((always_inline)) void CAT(pool_put, SUFFIX)(const POOL_CTX *ctx,
                                                                       T *p, PVEC v)
{
    if (ctx->stream)
        CAT(pool_stream, SUFFIX)(p, v);
    else
        CAT(pool_store, SUFFIX)(p, v);
}

/* Channels [ch, C) of the window [lo, hi) of output position yo (channels_last), every
 * tap read from the input (pool_fused_vec), divided: pool_vectors's numbers without the
 * row buffer's store and reload. Any window: out of line, for the windows pool_fused
 * has no constant shape for (clipped at a border, unusual sizes) and the channels left
 * over by its vectors. */
CTHULHU_CLONES __attribute__((noinline)) static void CAT(pool_fused_window, SUFFIX)(
    const POOL_CTX *ctx, const T *const *rows, int64_t nrows, T *yo, int64_t lo, int64_t hi,
    int64_t ch, int64_t cnt_v)
{
    const int64_t c = ctx->cv;
    const int avg = ctx->avg;
    const T count = (T)(cnt_v * (hi - lo));
    const PVEC dv = (PVEC){0} + count;
    for (; ch + PLANES <= c; ch += PLANES) {
        const PVEC acc = CAT(pool_fused_vec, SUFFIX)(rows, nrows, lo * c + ch, hi - lo, c, avg);
        CAT(pool_put, SUFFIX)(ctx, yo + ch, avg ? acc / dv : acc);
    }
    for (; ch < c; ch++) {
        T acc = 0;
        for (int64_t j = lo; j < hi; j++) {
            const T v = CAT(pool_rows_at, SUFFIX)(rows, nrows, j * c + ch, avg);
            acc = j == lo ? v : avg ? acc + v : CAT(pool_max, SUFFIX)(acc, v);
        }
        yo[ch] = avg ? acc / count : acc;
    }
}

/* Windows along rows of positions of C >= PLANES channels (channels_last) read from the
 * input: those of `nrows` rows and kk columns (constants: the loads unrolled) here, any
 * other through pool_fused_window (kk = 0: all). */
#define POOL_ROWS_MAX 64
static inline __attribute__((always_inline)) void CAT(pool_fused, SUFFIX)(
    const POOL_CTX *ctx, const T *const *rows, int64_t nrows, int64_t kk, T *y,
    int64_t cnt_v, int avg)
{
    const int64_t *g = ctx->g;
    const int64_t n = g[PG_S2], m = g[PG_O2], k = g[PG_K2], s = g[PG_ST2], p = g[PG_P2];
    const int64_t c = ctx->cv;
    /* half the distance of the row passes: each of the window's rows is one stream
     * here (2x2x2 max pooling of 1x128^3x32 on one EPYC thread: 9.5 ms at 4 KiB ahead,
     * 8.7 at 2 KiB, 9.2 at 1 KiB, 12.6 at 12 KiB) */
    const int64_t ahead = POOL_PREFETCH_BYTES / 2 / (int64_t)sizeof(T);
    const PVEC dv = (PVEC){0} + (T)(cnt_v * kk);
    for (int64_t o = 0; o < m; o++) {
        int64_t lo, hi;
        CAT(pool_window, SUFFIX)(o, s, p, k, n, &lo, &hi);
        /* the next s positions of each row, a prefetch distance ahead */
        const int64_t next = (o * s - p + k) * c + ahead;
        for (int64_t r = 0; r < nrows; r++)
            for (int64_t i = 0; i < s * c; i += POOL_LINE)
                __builtin_prefetch(rows[r] + next + i, 0, 0);
        T *yo = y + o * c;
        int64_t ch = 0;
        if (kk > 0 && hi - lo == kk)
            for (; ch + PLANES <= c; ch += PLANES) {
                const PVEC acc = CAT(pool_fused_vec, SUFFIX)(rows, nrows, lo * c + ch, kk, c,
                                                             avg);
                CAT(pool_put, SUFFIX)(ctx, yo + ch, avg ? acc / dv : acc);
            }
        if (ch < c)
            CAT(pool_fused_window, SUFFIX)(ctx, rows, nrows, yo, lo, hi, ch, cnt_v);
    }
}

CTHULHU_CLONES static void CAT(pool_rows, SUFFIX)(const POOL_CTX *ctx, int64_t r0, int64_t r1,
                                                  T *scratch)
{
    const int64_t *g = ctx->g;
    const int64_t cv = ctx->cv, len = g[PG_S2] * cv;
    T *row = scratch, *phases = scratch + len;
    /* row r is (b, [c,] o0, o1), counted on from r0 (a division per row cost as much
     * as a short channels_first row's pooling) */
    int64_t t = r0 / g[PG_O1];
    int64_t o1 = r0 % g[PG_O1], o0 = t % g[PG_O0];
    t /= g[PG_O0];
    int64_t c = 0, b = t;
    if (cv == 1) {
        c = t % g[PG_C];
        b = t / g[PG_C];
    }
    for (int64_t r = r0; r < r1; r++) {
        if (r > r0 && ++o1 == g[PG_O1]) {
            o1 = 0;
            if (++o0 == g[PG_O0]) {
                o0 = 0;
                if (cv > 1 || ++c == g[PG_C]) {
                    c = 0;
                    b++;
                }
            }
        }
        const T *xb = ctx->x + b * g[PG_XN] + c * g[PG_XC];
        T *y = ctx->y + b * g[PG_YN] + c * g[PG_YC] + o0 * g[PG_Y0] + o1 * g[PG_Y1];
        int64_t a0, b0, a1, b1;
        CAT(pool_window, SUFFIX)(o0, g[PG_ST0], g[PG_P0], g[PG_K0], g[PG_S0], &a0, &b0);
        CAT(pool_window, SUFFIX)(o1, g[PG_ST1], g[PG_P1], g[PG_K1], g[PG_S1], &a1, &b1);
        const int64_t cnt_v = (b0 - a0) * (b1 - a1);
        const T *src = xb + a0 * g[PG_X0] + a1 * g[PG_X1];
        /* channels_first windows within one plane read their rows directly; rows of
         * several planes, read line by line, kept the memory busier than the vertical
         * pass's runs (2x2x2 pooling of 1x32x128^3 on one EPYC thread: 8.7 ms, 10.5
         * directly) */
        const int direct = cnt_v <= POOL_ROWS_MAX &&
                           (cv >= PLANES ||
                            (cv == 1 && b0 - a0 == 1 && CAT(pool_line_vectors, SUFFIX)(ctx)));
        const T *rows[POOL_ROWS_MAX];
        int64_t nrows = 0;
        if (direct)
            for (int64_t i0 = a0; i0 < b0; i0++)
                for (int64_t i1 = a1; i1 < b1; i1++)
                    rows[nrows++] = xb + i0 * g[PG_X0] + i1 * g[PG_X1];
        if (direct && cv > 1) {
#define POOL_FUSED(R, K, A) CAT(pool_fused, SUFFIX)(ctx, rows, R, K, y, cnt_v, A)
#define POOL_FUSED_K(R, A)                                                              \
    if (k == 2)                                                                         \
        POOL_FUSED(R, 2, A);                                                            \
    else if (k == 3)                                                                    \
        POOL_FUSED(R, 3, A);                                                            \
    else if (k == 4)                                                                    \
        POOL_FUSED(R, 4, A);                                                            \
    else                                                                                \
        POOL_FUSED(nrows, 0, A)
#define POOL_FUSED_ALL(A)                                                               \
    switch (nrows) {                                                                    \
    case 1: POOL_FUSED_K(1, A); break;                                                  \
    case 2: POOL_FUSED_K(2, A); break;                                                  \
    case 3: POOL_FUSED_K(3, A); break;                                                  \
    case 4: POOL_FUSED_K(4, A); break;                                                  \
    default: POOL_FUSED(nrows, 0, A);                                                   \
    }
            const int64_t k = g[PG_K2];
            if (ctx->avg) {
                POOL_FUSED_ALL(1);
            } else {
                POOL_FUSED_ALL(0);
            }
#undef POOL_FUSED_ALL
#undef POOL_FUSED_K
#undef POOL_FUSED
            continue;
        }
        if (cnt_v > 1 && !direct) {
            /* vertical pass: the window's rows reduced into `row`, in (i0, i1) order */
            const T *prev = NULL;
            int started = 0;
            for (int64_t i0 = a0; i0 < b0; i0++)
                for (int64_t i1 = a1; i1 < b1; i1++) {
                    const T *in = xb + i0 * g[PG_X0] + i1 * g[PG_X1];
                    if (prev == NULL) {
                        prev = in;
                    } else if (!started) {
                        CAT(pool_pair_stream, SUFFIX)(row, prev, in, len, ctx->avg);
                        started = 1;
                    } else {
                        CAT(pool_into_stream, SUFFIX)(row, in, len, ctx->avg);
                    }
                }
            src = row;
        }
        if (cv == 1)
            CAT(pool_line, SUFFIX)(ctx, rows, nrows, src, y, cnt_v, phases);
        else
            CAT(pool_vectors, SUFFIX)(ctx, src, y, cnt_v);
    }
}

static void CAT(pool_item, SUFFIX)(const void *vctx, int64_t item, void *scratch)
{
    const POOL_CTX *ctx = vctx;
    const int64_t r0 = item * ctx->step;
    const int64_t r1 = r0 + ctx->step < ctx->rows ? r0 + ctx->step : ctx->rows;
    CAT(pool_rows, SUFFIX)(ctx, r0, r1, scratch);
#if defined(__SSE2__)
    _mm_sfence();               /* the streamed stores out before the item counts as done */
#endif
}

/* Max (avg = 0) or average (avg = 1) pooling; g: the PG_* vector (ranks 1-2 with leading
 * axes of size 1), element strides of x and y. x and y are read and written in place:
 * channels_last needs each input row contiguous over (position, channel) (X2 == C,
 * XC == 1) and the same of y; channels_first needs contiguous positions along the last
 * axis (X2 == 1, Y2 == 1). Returns 0, -1 (no memory) or -2 (other strides: declined). */
int CAT(cthulhu_pool, SUFFIX)(const T *x, T *y, const int64_t *g, int avg, int threads)
{
    POOL_CTX ctx;
    memcpy(ctx.g, g, sizeof(ctx.g));
    ctx.x = x;
    ctx.y = y;
    ctx.avg = avg;
    const int64_t c = g[PG_C];
    if (g[PG_X2] == 1 && g[PG_Y2] == 1)
        ctx.cv = 1;
    else if (g[PG_XC] == 1 && g[PG_X2] == c && g[PG_YC] == 1 && g[PG_Y2] == c)
        ctx.cv = c;
    else
        return -2;
    ctx.rows = g[PG_N] * g[PG_O0] * g[PG_O1] * (ctx.cv == 1 ? c : 1);
    if (ctx.rows <= 0 || g[PG_O2] <= 0 || c <= 0)
        return 0;
    ctx.phase_len = (g[PG_S2] + g[PG_ST2] - 1) / g[PG_ST2];
    /* a pooling that moves more than a last-level cache holds (POOL_STREAM_BYTES: the
     * size is not known reliably: a virtual machine reports its host's) leaves little of
     * its output there for the next layer: store it past the caches (channels_last rows;
     * a line of channels_first ends mid cache line, where streamed and normal stores to
     * one line cost more than they save) */
    const double moved = ((double)g[PG_N] * g[PG_C] * g[PG_S0] * g[PG_S1] * g[PG_S2] +
                          (double)g[PG_N] * g[PG_C] * g[PG_O0] * g[PG_O1] * g[PG_O2]) *
                         (double)sizeof(T);
    ctx.stream = moved > POOL_STREAM_BYTES;
    const int64_t len = g[PG_S2] * ctx.cv;
    const int64_t per_row = g[PG_K0] * g[PG_K1] * len;     /* input values a row reads */
    /* items of ~64K values read, and enough items to share among the threads */
    int64_t step = 65536 / (per_row > 0 ? per_row : 1);
    const int64_t spread = ctx.rows / (4 * (int64_t)(threads > 0 ? threads : 1));
    step = step < spread ? step : spread;
    ctx.step = step > 1 ? step : 1;
    const int64_t items = (ctx.rows + ctx.step - 1) / ctx.step;
    const size_t scratch = (size_t)(len + g[PG_ST2] * ctx.phase_len + 64) * sizeof(T);
    const double work = (double)ctx.rows * (double)per_row;
    return run_job(CAT(pool_item, SUFFIX), &ctx, items, scratch,
                   CAT(useful_threads, SUFFIX)(work, threads, items));
}

/* ---- global pooling ---------------------------------------------------------------- */

/* Positions are reduced in blocks of a fixed size (never chosen from the thread count):
 * each block's lanes, then the blocks in order, so the sum is the same on any number
 * of threads. A block holds at least GLOBAL_BLOCK_VALUES values and GLOBAL_MIN_POSITIONS
 * positions: every float accumulator (lane) takes at most 256 additions, and a block of
 * wide channels (512 x 256 positions) is an item large enough that the partial sums
 * (one double per channel and block) stay a small fraction of the traffic. Blocks of
 * 16 positions for 512 channels wrote 12% of the input again as partials, and their
 * single-threaded combine took half of the time. */
#define GLOBAL_BLOCK_VALUES 8192
#define GLOBAL_MIN_POSITIONS 256
#define GLOBAL_LANES 32
#define GLOBAL_ITEM_VALUES 131072

typedef struct {
    const T *x;
    double *part;               /* [outer][blocks][inner] */
    int64_t outer, positions, inner, block, blocks, lanes;
    int64_t group;              /* blocks per item (consecutive in [outer][blocks]) */
    int avg;
} CAT(global_ctx, SUFFIX);
#define GLOBAL_CTX CAT(global_ctx, SUFFIX)

CTHULHU_CLONES static void CAT(global_block, SUFFIX)(const GLOBAL_CTX *ctx, int64_t o,
                                                     int64_t b, T *acc)
{
    const int64_t inner = ctx->inner, lanes = ctx->lanes;
    const int64_t p0 = b * ctx->block;
    const int64_t p1 = p0 + ctx->block < ctx->positions ? p0 + ctx->block : ctx->positions;
    const T *src = ctx->x + (o * ctx->positions + p0) * inner;
    const int64_t total = (p1 - p0) * inner;          /* values, position-major */
    const int avg = ctx->avg;
    /* lane l collects values l, l + lanes, ...: channel l % inner (lanes % inner == 0) */
    const T start = avg ? (T)0 : -(T)INFINITY;
    for (int64_t l = 0; l < lanes; l++)
        acc[l] = start;
    int64_t i = 0;
    if (lanes == GLOBAL_LANES) {
        /* the 32 lanes in registers: a pass through memory (acc) per 32 values would
         * chain every addition through a store and a load */
        enum { NV = GLOBAL_LANES / PLANES };
        PVEC v[NV];
        for (int k = 0; k < NV; k++)
            v[k] = (PVEC){0} + start;
        /* with a software prefetch, as the pooling rows (without: 6.8 ms instead of 5.6
         * for an average over 32x512 channels_first lines of 56x56, one EPYC thread) */
        const int64_t ahead = POOL_PREFETCH_BYTES / (int64_t)sizeof(T);
        if (avg) {
            for (; i + GLOBAL_LANES <= total; i += GLOBAL_LANES) {
                for (int64_t l = 0; l < GLOBAL_LANES; l += POOL_LINE)
                    __builtin_prefetch(src + i + ahead + l, 0, 0);
                for (int k = 0; k < NV; k++)
                    v[k] += CAT(pool_load, SUFFIX)(src + i + k * PLANES);
            }
        } else {
            /* NaNs are flagged beside the maximum, off its dependency chain, and put in
             * at the end: pool_vmax's select per value made a 128^3x32 maximum compute
             * bound (8.4 ms instead of 6.9 on one thread) */
            PMASK nan[NV];
            for (int k = 0; k < NV; k++)
                nan[k] = (PMASK){0};
            for (; i + GLOBAL_LANES <= total; i += GLOBAL_LANES) {
                for (int64_t l = 0; l < GLOBAL_LANES; l += POOL_LINE)
                    __builtin_prefetch(src + i + ahead + l, 0, 0);
                for (int k = 0; k < NV; k++) {
                    const PVEC x = CAT(pool_load, SUFFIX)(src + i + k * PLANES);
                    const PMASK take = x > v[k];
                    nan[k] |= x != x;
                    v[k] = (PVEC)((take & (PMASK)x) | (~take & (PMASK)v[k]));
                }
            }
            for (int k = 0; k < NV; k++)
                v[k] = (PVEC)(((PMASK)((PVEC){0} + (T)NAN) & nan[k]) | (~nan[k] & (PMASK)v[k]));
        }
        for (int k = 0; k < NV; k++)
            CAT(pool_store, SUFFIX)(acc + k * PLANES, v[k]);
    }
    for (; i + lanes <= total; i += lanes)
        CAT(pool_into_stream, SUFFIX)(acc, src + i, lanes, avg);
    for (int64_t l = 0; i + l < total; l++)
        acc[l] = avg ? acc[l] + src[i + l] : CAT(pool_max, SUFFIX)(acc[l], src[i + l]);
    double *out = ctx->part + (o * ctx->blocks + b) * inner;
    for (int64_t c = 0; c < inner; c++) {
        double v = (double)acc[c];
        for (int64_t l = c + inner; l < lanes; l += inner) {
            const double w = (double)acc[l];
            v = avg ? v + w : ((w > v) | (w != w) ? w : v);
        }
        out[c] = v;
    }
}

static void CAT(global_item, SUFFIX)(const void *vctx, int64_t item, void *scratch)
{
    const GLOBAL_CTX *ctx = vctx;
    const int64_t end = (item + 1) * ctx->group < ctx->outer * ctx->blocks
                            ? (item + 1) * ctx->group : ctx->outer * ctx->blocks;
    for (int64_t k = item * ctx->group; k < end; k++)
        CAT(global_block, SUFFIX)(ctx, k / ctx->blocks, k % ctx->blocks, scratch);
}

/* Max (avg = 0) or average over the positions of x [outer][positions][inner] (C-contiguous)
 * into y [outer][inner]: channels_last is (N, P, C), channels_first (N*C, P, 1). */
int CAT(cthulhu_global_pool, SUFFIX)(const T *x, T *y, int64_t outer, int64_t positions,
                                     int64_t inner, int avg, int threads)
{
    if (outer <= 0 || inner <= 0 || positions <= 0)
        return 0;
    GLOBAL_CTX ctx;
    ctx.x = x;
    ctx.positions = positions;
    ctx.inner = inner;
    ctx.avg = avg;
    ctx.block = GLOBAL_BLOCK_VALUES / inner > GLOBAL_MIN_POSITIONS ? GLOBAL_BLOCK_VALUES / inner
                                                                   : GLOBAL_MIN_POSITIONS;
    ctx.blocks = (positions + ctx.block - 1) / ctx.block;
    ctx.lanes = inner >= GLOBAL_LANES ? inner
                                      : inner * ((GLOBAL_LANES + inner - 1) / inner);
    ctx.part = malloc((size_t)(outer * ctx.blocks * inner) * sizeof(double));
    if (ctx.part == NULL)
        return -1;
    /* items of ~GLOBAL_ITEM_VALUES values (runs of whole blocks, so no sum changes):
     * blocks of 8K values taken one at a time kept a second thread from reading any
     * faster than one */
    const int64_t per_block = (ctx.block < positions ? ctx.block : positions) * inner;
    ctx.outer = outer;
    ctx.group = GLOBAL_ITEM_VALUES / per_block > 1 ? GLOBAL_ITEM_VALUES / per_block : 1;
    const int64_t items = (outer * ctx.blocks + ctx.group - 1) / ctx.group;
    const double work = (double)outer * (double)positions * (double)inner;
    const int status = run_job(CAT(global_item, SUFFIX), &ctx, items,
                               (size_t)(ctx.lanes + 16) * sizeof(T),
                               CAT(useful_threads, SUFFIX)(work, threads, items));
    if (status == 0) {
        /* the blocks in order, into block 0's row: rows are walked in memory order (one
         * channel's column of blocks, a page apart for 512 channels, thrashed one cache
         * set), and the loop over channels vectorises without reordering any sum */
        for (int64_t o = 0; o < outer; o++) {
            double *v = ctx.part + o * ctx.blocks * inner;
            for (int64_t b = 1; b < ctx.blocks; b++) {
                const double *w = v + b * inner;
                if (avg)
                    for (int64_t c = 0; c < inner; c++)
                        v[c] += w[c];
                else
                    for (int64_t c = 0; c < inner; c++)
                        v[c] = (w[c] > v[c]) | (w[c] != w[c]) ? w[c] : v[c];
            }
            for (int64_t c = 0; c < inner; c++)
                y[o * inner + c] = (T)(avg ? v[c] / (double)positions : v[c]);
        }
    }
    free(ctx.part);
    return status;
}
