/* The convolution engine for one element type (included by kernels.c with T and SUFFIX).
 *
 * Every op is a list of "problems": direct convolutions described by a geometry vector
 * (CG_*: sizes, element strides of x and y, kernel size, strides, dilation, pads). A
 * transposed convolution is prod(strides) of them (its sub-pixel phases), each writing a
 * strided slice of the output. Work items are (problem, output row, row segment): for
 * one item the input rows its outputs read are copied once into a zero-padded panel
 * (positions x channels, whatever the input's layout), then the micro-kernel of
 * micro.h computes register tiles of positions x filters over every tap and channel,
 * applies the epilogue and stores them. Items never share an output, and no reduction
 * is ever split: results do not depend on the number of threads.
 */

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define GEMM_FN CAT(gemm_fn, SUFFIX)
#define GEMM_ENTRY_T CAT(gemm_entry, SUFFIX)

typedef struct {
    const GEMM_ENTRY_T *entry;  /* micro-kernel (mr, nv, lanes, kind) */
    int64_t f0, nf, nr;         /* first filter, filters, padded filters */
    int64_t width;              /* packed weights per (tap, channel): nr, 2*nr for pairs */
    int64_t wp;                 /* offset of its packed weights in the problem's buffer */
} CAT(fblock, SUFFIX);

#define FBLOCK CAT(fblock, SUFFIX)

typedef struct {
    int64_t g[CG_LEN];
    const T *x;
    T *y;
    T *wp;                      /* packed weights: [block][tap][c][nr] */
    int64_t nblocks;
    FBLOCK *blocks;
    int64_t segs, seglen, items, panel_len;
    int64_t shift;              /* planar input: stored index of input index 0 */
} CAT(problem, SUFFIX);
#define PROBLEM CAT(problem, SUFFIX)

typedef struct {
    PROBLEM *probs;
    int64_t nprobs;
    const T *mul, *add;         /* epilogue per filter (mul NULL: no scale) */
    const T *mul2, *add2;       /* the same, each value twice (pair tiles' lanes) */
    int act;
    /* separable: the depthwise stage */
    const T *dw_w;
    const T *dw_add;            /* zeros, C*M */
    int64_t dw_m;
} CAT(conv_ctx, SUFFIX);
#define CONV_CTX CAT(conv_ctx, SUFFIX)

/* The table of tile shapes for an ISA, and its depthwise row function. */
typedef void (*CAT(dw_fn, SUFFIX))(const T *const *, const T *const *, int64_t, int64_t,
                                   int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                   int64_t, const T *, const T *, int, T *restrict);
#define DW_FN CAT(dw_fn, SUFFIX)

/* The tables of tile shapes an ISA offers (AVX-512 machines also try the AVX2 tiles,
 * whose 8-lane filter vectors waste less on 8 filters), and its depthwise row. */
static int CAT(isa_tables, SUFFIX)(int isa, const GEMM_ENTRY_T **tables, int64_t *counts,
                                   DW_FN *dw)
{
    int n = 0;
#define PICK(NAME)                                                                    \
    do {                                                                              \
        tables[n] = CAT(NAME, table_all);                                             \
        counts[n++] = (int64_t)(sizeof(CAT(NAME, table_all)) / sizeof(GEMM_ENTRY_T)); \
    } while (0)
#ifdef CTHULHU_X86
    if (isa == ISA_AVX512) {
        PICK(CAT(avx512, SUFFIX));
        PICK(CAT(avx2, SUFFIX));
        *dw = CAT(CAT(avx512, SUFFIX), dw_row);
        return n;
    }
    if (isa == ISA_AVX2) {
        PICK(CAT(avx2, SUFFIX));
        *dw = CAT(CAT(avx2, SUFFIX), dw_row);
        return n;
    }
#endif
    (void)isa;
    PICK(CAT(generic, SUFFIX));
    *dw = CAT(CAT(generic, SUFFIX), dw_row);
    return n;
#undef PICK
}

/* Cycles per (tap, channel) of one tile, roughly: two vector FMAs per cycle, and
 * about 1.5 loads or broadcasts (measured on Zen: one-vector filter tiles, one
 * broadcast per FMA, ran at ~70% of the FMA rate). */
static double CAT(tile_cost, SUFFIX)(const GEMM_ENTRY_T *e)
{
    const double rows = e->planar == KIND_PAIRS ? e->mr / 2 : e->mr;
    const double fmas = e->planar == KIND_PLANAR ? (double)e->fb * e->nv : rows * e->nv;
    const double loads = e->planar == KIND_PLANAR ? (double)e->fb + e->nv : rows + e->nv;
    return fmas / 2 > loads / 1.5 ? fmas / 2 : loads / 1.5;
}

static int64_t CAT(ceil_div, SUFFIX)(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* The tile height of `nv` vectors wide that wastes the fewest positions on `len`. */
static const GEMM_ENTRY_T *CAT(best_entry, SUFFIX)(const GEMM_ENTRY_T *table, int64_t count,
                                                    int nv, int64_t len)
{
    const GEMM_ENTRY_T *best = NULL;
    int64_t best_cost = 0;
    for (int64_t i = 0; i < count; i++) {
        if (table[i].planar || table[i].nv != nv)
            continue;
        const int64_t cost = CAT(ceil_div, SUFFIX)(len, table[i].mr) * table[i].mr;
        if (best == NULL || cost < best_cost || (cost == best_cost && table[i].mr > best->mr)) {
            best = &table[i];
            best_cost = cost;
        }
    }
    return best;
}

/* Filter blocks and their kernels for `f` filters over rows of `len` positions: filter
 * vectors in the lanes (blocks of two vectors, one for an odd last one), or - where
 * `planar` is allowed (stride 1 along the last axis) and the cost model says so -
 * planar or pair tiles, blocks of fb filters. `kind` >= 0 imposes the tile kind (the
 * phases of a transposed convolution share one input layout). Returns the number of
 * blocks. */
static int64_t CAT(plan_blocks, SUFFIX)(const GEMM_ENTRY_T *const *tables,
                                        const int64_t *counts, int ntables, int64_t f,
                                        int64_t len, int64_t taps, int64_t c, int planar,
                                        int kind, FBLOCK *blocks)
{
    /* the cheapest plan with filter vectors in the lanes, over the tables */
    const GEMM_ENTRY_T *lanes_table = NULL, *best_planar = NULL;
    int64_t best_count = 0;
    double lanes_cost = 0, planar_cost = 0;
    for (int k = 0; k < ntables; k++) {
        const int64_t lanes = tables[k][0].lanes;
        double cost = 0;
        for (int64_t f0 = 0; f0 < f; f0 += 2 * lanes) {
            const int nv = f - f0 > lanes ? 2 : 1;
            const GEMM_ENTRY_T *e = CAT(best_entry, SUFFIX)(tables[k], counts[k], nv, len);
            cost += (double)CAT(ceil_div, SUFFIX)(len, e->mr) * CAT(tile_cost, SUFFIX)(e);
        }
        if (lanes_table == NULL || cost < lanes_cost) {
            lanes_table = tables[k];
            best_count = counts[k];
            lanes_cost = cost;
        }
    }
    /* the cheapest planar or pair tile (of `kind`, when imposed). Planar loads sit at
     * every tap's offset (cache-line splits): only where a filter vector would be at
     * least half idle (3D 16->16: 61 GMAC/s planar against 75 in filter vectors;
     * 1->8: 13 ms against 23); pairs up to 24 filters (16 -> 16: 96 GMAC/s) */
    for (int k = 0; planar && kind != KIND_FILTERS && k < ntables; k++)
        for (int64_t i = 0; i < counts[k]; i++) {
            const GEMM_ENTRY_T *e = &tables[k][i];
            if (e->planar == KIND_FILTERS || (kind >= 0 && e->planar != kind)
                || (e->planar == KIND_PLANAR && 2 * f > tables[0][0].lanes)
                || (e->planar == KIND_PAIRS && f > 24))
                continue;
            const double cost = (double)CAT(ceil_div, SUFFIX)(f, e->fb) *
                CAT(ceil_div, SUFFIX)(len, e->mr) * CAT(tile_cost, SUFFIX)(e);
            if (best_planar == NULL || cost < planar_cost) {
                best_planar = e;
                planar_cost = cost;
            }
        }
    if (best_planar != NULL && kind < 0 && planar_cost >= lanes_cost)
        best_planar = NULL;
    int64_t n = 0, f0 = 0, wp = 0;
    while (f0 < f) {
        FBLOCK *b = &blocks[n++];
        if (best_planar != NULL) {
            b->entry = best_planar;
            b->nr = best_planar->fb;
        } else {
            const int64_t lanes = lanes_table[0].lanes;
            const int nv = f - f0 > lanes ? 2 : 1;
            b->entry = CAT(best_entry, SUFFIX)(lanes_table, best_count, nv, len);
            b->nr = nv * lanes;
        }
        b->f0 = f0;
        b->nf = f - f0 < b->nr ? f - f0 : b->nr;
        b->width = b->entry->planar == KIND_PAIRS ? 2 * b->nr : b->nr;
        b->wp = wp;
        wp += taps * c * b->width;
        f0 += b->nr;
    }
    return n;
}

/* Pack weights: dst[block][tap v][c][f] = src[tapmap[v]*ts + c*cs + (f0 + f)*fs], zero
 * past the last filter. */
static void CAT(pack_weights, SUFFIX)(T *dst, const T *src, const int64_t *tapmap,
                                      int64_t taps, int64_t c, int64_t ts, int64_t cs,
                                      int64_t fs, const FBLOCK *blocks, int64_t nblocks)
{
    for (int64_t b = 0; b < nblocks; b++) {
        T *d = dst + blocks[b].wp;
        const int64_t width = blocks[b].width, nf = blocks[b].nf, f0 = blocks[b].f0;
        const int64_t copies = width / blocks[b].nr;     /* pairs: each weight twice */
        for (int64_t v = 0; v < taps; v++)
            for (int64_t ci = 0; ci < c; ci++) {
                const T *s = src + tapmap[v] * ts + ci * cs + f0 * fs;
                T *o = d + (v * c + ci) * width;
                /* no division per weight: this runs on every call, serially, before
                 * the threads start (64 -> 64 3x3: 60 us with one, 4 without) */
                if (copies == 1 && fs == 1) {
                    memcpy(o, s, (size_t)nf * sizeof(T));
                    memset(o + nf, 0, (size_t)(width - nf) * sizeof(T));
                    continue;
                }
                for (int64_t l = 0; l < nf; l++)
                    for (int64_t k = 0; k < copies; k++)
                        o[l * copies + k] = s[l * fs];
                memset(o + nf * copies, 0, (size_t)(width - nf * copies) * sizeof(T));
            }
    }
}

/* Rows (t0, t1) of the kernel that fall inside the input for output row (o0, o1), with
 * pointers to their input rows. Returns how many. */
static inline int64_t CAT(valid_rows, SUFFIX)(const int64_t *g, const T *x, int64_t n,
                                              int64_t o0, int64_t o1, const T **rows,
                                              int64_t *tap01)
{
    int64_t nk = 0;
    for (int64_t t0 = 0; t0 < g[CG_K0]; t0++) {
        const int64_t i0 = o0 * g[CG_ST0] + t0 * g[CG_D0] - g[CG_P0];
        if (i0 < 0 || i0 >= g[CG_S0])
            continue;
        for (int64_t t1 = 0; t1 < g[CG_K1]; t1++) {
            const int64_t i1 = o1 * g[CG_ST1] + t1 * g[CG_D1] - g[CG_P1];
            if (i1 < 0 || i1 >= g[CG_S1])
                continue;
            rows[nk] = x + n * g[CG_XN] + i0 * g[CG_X0] + i1 * g[CG_X1];
            tap01[nk++] = t0 * g[CG_K1] + t1;
        }
    }
    return nk;
}

/* panel[j][c] = row[(b0 + j)*x2 + c*xc] for b0 + j in [0, s2), else 0; j < len. */
static inline void CAT(pack_row, SUFFIX)(T *restrict panel, const T *restrict row,
                                         int64_t b0, int64_t len, int64_t s2, int64_t c,
                                         int64_t x2, int64_t xc)
{
    int64_t lo = b0 < 0 ? -b0 : 0, hi = s2 - b0;
    if (lo > len)
        lo = len;
    if (hi > len)
        hi = len;
    if (hi < lo)
        hi = lo;
    memset(panel, 0, (size_t)(lo * c) * sizeof(T));
    memset(panel + hi * c, 0, (size_t)((len - hi) * c) * sizeof(T));
    const T *src = row + (b0 + lo) * x2;
    T *dst = panel + lo * c;
    const int64_t count = hi - lo;
    if (xc == 1 && x2 == c) {
        memcpy(dst, src, (size_t)(count * c) * sizeof(T));
    } else if (xc == 1) {
        for (int64_t j = 0; j < count; j++)
            memcpy(dst + j * c, src + j * x2, (size_t)c * sizeof(T));
    } else {
        for (int64_t ci = 0; ci < c; ci++)         /* channels_first: read along positions */
            for (int64_t j = 0; j < count; j++)
                dst[j * c + ci] = src[j * x2 + ci * xc];
    }
}

/* Scratch per thread: the panel, then the tap tables. */
static size_t CAT(conv_scratch, SUFFIX)(const PROBLEM *p)
{
    const int64_t rows = p->g[CG_K0] * p->g[CG_K1], taps = rows * p->g[CG_K2];
    const int64_t panel = rows * p->panel_len * p->g[CG_C];
    return (size_t)(panel + 64 / sizeof(T)) * sizeof(T) + (size_t)(3 * taps + 2 * rows + 8) * 8;
}

/* The gemm tiles of one output row segment [q0, q1): input from `a`, tile i at
 * a + i*step; ps is the kernel's stride (positions apart, or channels apart when
 * planar); taps xo/tapidx. */
static inline void CAT(row_tiles, SUFFIX)(const PROBLEM *p, const CONV_CTX *ctx,
                                          const T *a, int64_t step, int64_t ps,
                                          const int64_t *xo,
                                          const int64_t *tapidx, int64_t *wo,
                                          int64_t ntaps, int64_t c, int64_t q0, int64_t q1,
                                          T *yrow)
{
    const int64_t *g = p->g;
    for (int64_t b = 0; b < p->nblocks; b++) {
        const FBLOCK *blk = &p->blocks[b];
        const int64_t mr = blk->entry->mr;
        for (int64_t t = 0; t < ntaps; t++)
            wo[t] = tapidx[t] * c * blk->width;
        const int pairs = blk->entry->planar == KIND_PAIRS;
        const T *mul = ctx->mul == NULL ? NULL
            : pairs ? ctx->mul2 + 2 * blk->f0 : ctx->mul + blk->f0;
        const T *add = pairs ? ctx->add2 + 2 * blk->f0 : ctx->add + blk->f0;
        for (int64_t q = q0; q < q1; q += mr) {
            const int64_t m = q1 - q < mr ? q1 - q : mr;
            blk->entry->fn(a + (q - q0) * step, ps, xo, wo, ntaps, c, p->wp + blk->wp, mul,
                           add, ctx->act, yrow + q * g[CG_Y2] + blk->f0 * g[CG_YF],
                           g[CG_Y2], g[CG_YF], m, blk->nf);
        }
    }
}

static inline void CAT(locate, SUFFIX)(const CONV_CTX *ctx, int64_t item, const PROBLEM **pp,
                                       int64_t *n, int64_t *o0, int64_t *o1, int64_t *q0,
                                       int64_t *q1)
{
    const PROBLEM *p = ctx->probs;
    while (item >= p->items) {
        item -= p->items;
        p++;
    }
    const int64_t *g = p->g;
    const int64_t r = item / p->segs, sg = item % p->segs;
    *n = r / (g[CG_O0] * g[CG_O1]);
    *o0 = (r / g[CG_O1]) % g[CG_O0];
    *o1 = r % g[CG_O1];
    *q0 = sg * p->seglen;
    *q1 = *q0 + p->seglen < g[CG_O2] ? *q0 + p->seglen : g[CG_O2];
    *pp = p;
}

static void CAT(conv_item, SUFFIX)(const void *vctx, int64_t item, void *scratch)
{
    const CONV_CTX *ctx = vctx;
    const PROBLEM *p;
    int64_t n, o0, o1, q0, q1;
    CAT(locate, SUFFIX)(ctx, item, &p, &n, &o0, &o1, &q0, &q1);
    const int64_t *g = p->g;
    const int64_t c = g[CG_C], k2 = g[CG_K2], rowsmax = g[CG_K0] * g[CG_K1];
    T *panel = scratch;
    int64_t *ints = (int64_t *)((char *)scratch + (size_t)(rowsmax * p->panel_len * c +
                                                            64 / sizeof(T)) * sizeof(T));
    int64_t *xo = ints, *tapidx = xo + rowsmax * k2, *wo = tapidx + rowsmax * k2;
    int64_t *tap01 = wo + rowsmax * k2;
    const T **rows = (const T **)(tap01 + rowsmax + 1);
    const int64_t nk = CAT(valid_rows, SUFFIX)(g, p->x, n, o0, o1, rows, tap01);
    /* positions of the panel: every tile's reads, the last tile's past q1 included */
    const int64_t s2 = g[CG_ST2], d2 = g[CG_D2];
    const int64_t b0 = q0 * s2 - g[CG_P2];
    T *yrow = p->y + n * g[CG_YN] + o0 * g[CG_Y0] + o1 * g[CG_Y1];
    if (p->blocks[0].entry->planar != KIND_FILTERS) {
        /* the zero-padded planar copy, read in place (stride 1 along the last axis) */
        for (int64_t k = 0; k < nk; k++)
            for (int64_t t2 = 0; t2 < k2; t2++) {
                xo[k * k2 + t2] = (rows[k] - p->x) + q0 + t2 * d2 + p->shift;
                tapidx[k * k2 + t2] = tap01[k] * k2 + t2;
            }
        CAT(row_tiles, SUFFIX)(p, ctx, p->x, 1, g[CG_XC], xo, tapidx, wo, nk * k2, c, q0, q1,
                               yrow);
        return;
    }
    for (int64_t k = 0; k < nk; k++) {
        CAT(pack_row, SUFFIX)(panel + k * p->panel_len * c, rows[k], b0, p->panel_len,
                              g[CG_S2], c, g[CG_X2], g[CG_XC]);
        for (int64_t t2 = 0; t2 < k2; t2++) {
            xo[k * k2 + t2] = k * p->panel_len * c + t2 * d2 * c;
            tapidx[k * k2 + t2] = tap01[k] * k2 + t2;
        }
    }
    CAT(row_tiles, SUFFIX)(p, ctx, panel, s2 * c, s2 * c, xo, tapidx, wo, nk * k2, c, q0, q1,
                           yrow);
}

/* Segments and panel length of a problem, for its kernels' tile heights. */
static void CAT(plan_items, SUFFIX)(PROBLEM *p, int64_t min_items)
{
    const int64_t *g = p->g;
    const int64_t rows = g[CG_N] * g[CG_O0] * g[CG_O1], o2 = g[CG_O2];
    int64_t mr = 1;
    for (int64_t b = 0; b < p->nblocks; b++)
        mr = p->blocks[b].entry->mr > mr ? p->blocks[b].entry->mr : mr;
    int64_t segs = 1;
    if (rows < min_items) {
        segs = (min_items + rows - 1) / rows;
        const int64_t most = o2 / (4 * mr) > 1 ? o2 / (4 * mr) : 1;   /* >= 4 tiles each */
        segs = segs < most ? segs : most;
    }
    int64_t seglen = (o2 + segs - 1) / segs;
    seglen = (seglen + mr - 1) / mr * mr;                  /* whole tiles of the tallest */
    p->seglen = seglen;
    p->segs = (o2 + seglen - 1) / seglen;
    p->items = rows * p->segs;
    int64_t positions = 0;                                 /* tiles may read past q1 */
    for (int64_t b = 0; b < p->nblocks; b++) {
        const int64_t m = p->blocks[b].entry->mr;
        const int64_t need = (seglen + m - 1) / m * m;
        positions = need > positions ? need : positions;
    }
    p->panel_len = (positions - 1) * g[CG_ST2] + (g[CG_K2] > 0 ? g[CG_K2] - 1 : 0) * g[CG_D2] + 1;
}

/* Threads worth using for `work` multiply-adds (each thread at least ~0.1 ms of it). */
static int CAT(useful_threads, SUFFIX)(double work, int threads, int64_t items)
{
    const double per_thread = 2e5;
    int most = (int)(work / per_thread);
    most = most < 1 ? 1 : most;
    threads = threads < most ? threads : most;
    return threads < items ? threads : (int)(items > 0 ? items : 1);
}

/* mul/add per filter (padded to `fp` + one vector) from bias, scale, shift. */
static int CAT(epilogue_vectors, SUFFIX)(int64_t f, int64_t fp, const T *bias, const T *scale,
                                         const T *shift, T **mul, T **add)
{
    const int64_t len = fp + 64;
    *add = calloc((size_t)len, sizeof(T));
    *mul = scale == NULL ? NULL : calloc((size_t)len, sizeof(T));
    if (*add == NULL || (scale != NULL && *mul == NULL)) {
        free(*add);
        free(*mul);
        return -1;
    }
    for (int64_t i = 0; i < f; i++) {
        const T s = scale == NULL ? (T)1 : scale[i];
        (*add)[i] = (bias == NULL ? (T)0 : bias[i]) * s + (shift == NULL ? (T)0 : shift[i]);
        if (scale != NULL)
            (*mul)[i] = s;
    }
    return 0;
}

/* The input once in planar order, x[n][i0][i1][c][j] (each channel's row contiguous,
 * `lo` zeros before and zeros up to `len` after), for planar and pair tiles, which then
 * read it in place: copying 9 or 27 input rows per output row cost more than the tiles
 * of a 16 -> 1 or 16 -> 16 convolution. */
typedef struct {
    const T *x;
    T *xt;
    const int64_t *g;
    int64_t lo, len;
    int isa;
} CAT(planar_ctx, SUFFIX);

static void CAT(planar_item, SUFFIX)(const void *vctx, int64_t r, void *scratch)
{
    const CAT(planar_ctx, SUFFIX) *ctx = vctx;
    const int64_t *g = ctx->g;
    (void)scratch;
    const int64_t s0 = g[CG_S0], s1 = g[CG_S1], s2 = g[CG_S2], c = g[CG_C];
    const int64_t n = r / (s0 * s1), i0 = (r / s1) % s0, i1 = r % s1;
    const T *src = ctx->x + n * g[CG_XN] + i0 * g[CG_X0] + i1 * g[CG_X1];
    T *dst = ctx->xt + r * c * ctx->len;
    for (int64_t ci = 0; ci < c; ci++) {    /* a few zeros each: no memset call */
        T *d = dst + ci * ctx->len;
        for (int64_t k = 0; k < ctx->lo; k++)
            d[k] = (T)0;
        for (int64_t k = ctx->lo + s2; k < ctx->len; k++)
            d[k] = (T)0;
    }
    if (g[CG_X2] == 1) {
        for (int64_t ci = 0; ci < c; ci++)
            memcpy(dst + ci * ctx->len + ctx->lo, src + ci * g[CG_XC], (size_t)s2 * sizeof(T));
        return;
    }
    const int64_t step = g[CG_X2], len = ctx->len;
    int64_t c0 = 0;
#ifdef CTHULHU_X86
    /* channels_last float: 8 x 8 transposes in registers (8x32x32x16, one thread:
     * 44 us with scalar copies, 24 us) */
    if (g[CG_XC] == 1 && sizeof(T) == 4 && ctx->isa >= ISA_AVX2)
        for (; c0 + 8 <= c; c0 += 8) {
            T *d = dst + c0 * len + ctx->lo;
            int64_t j = 0;
            for (; j + 8 <= s2; j += 8)
                transpose8_avx2((const float *)(src + j * step + c0), step, (float *)(d + j),
                                len);
            for (; j < s2; j++)
                for (int64_t b = 0; b < 8; b++)
                    d[b * len + j] = src[j * step + c0 + b];
        }
#endif
    for (int64_t ci = c0; ci < c; ci++) {    /* contiguous writes; the row is in L1 */
        T *restrict d = dst + ci * len + ctx->lo;
        const T *restrict from = src + ci * g[CG_XC];
        for (int64_t j = 0; j < s2; j++)
            d[j] = from[j * step];
    }
}

/* Plan, pack and run a list of problems (same C and F, weights from `w` through each
 * problem's tap map). */
static int CAT(run_problems, SUFFIX)(PROBLEM *probs, int64_t nprobs, const T *w,
                                     int64_t **tapmaps, int64_t ts, int64_t cs, int64_t fs,
                                     const T *bias, const T *scale, const T *shift, int act,
                                     int threads)
{
    const int64_t c = probs[0].g[CG_C], f = probs[0].g[CG_F];
    const GEMM_ENTRY_T *tables[2];
    int64_t counts[2];
    DW_FN dw;
    const int ntables = CAT(isa_tables, SUFFIX)(active_isa(), tables, counts, &dw);
    const int64_t nb = f;             /* blocks never outnumber the filters */
    int64_t packed = 0, items = 0;
    size_t scratch = 0;
    double work = 0;
    FBLOCK *blocks = malloc((size_t)(nb * nprobs) * sizeof(FBLOCK));
    if (blocks == NULL)
        return -1;
    for (int64_t i = 0; i < nprobs; i++) {
        PROBLEM *p = &probs[i];
        const int64_t taps = p->g[CG_K0] * p->g[CG_K1] * p->g[CG_K2];
        p->blocks = blocks + i * nb;
        p->nblocks = CAT(plan_blocks, SUFFIX)(tables, counts, ntables, f, p->g[CG_O2], taps, c,
                                              p->g[CG_ST2] == 1,
                                              i == 0 ? -1 : probs[0].blocks[0].entry->planar,
                                              p->blocks);
        const FBLOCK *last = &p->blocks[p->nblocks - 1];
        for (int64_t b = 0; b < p->nblocks; b++)
            p->blocks[b].wp += packed;
        packed += last->wp - packed + taps * c * last->width;
        CAT(plan_items, SUFFIX)(p, 64);
        items += p->items;
        const size_t s = CAT(conv_scratch, SUFFIX)(p);
        scratch = s > scratch ? s : scratch;
        work += (double)p->items * p->seglen * taps * c * f;
    }
    T *wp = malloc((size_t)(packed > 0 ? packed : 1) * sizeof(T));
    T *mul = NULL, *add = NULL;
    if (wp == NULL || CAT(epilogue_vectors, SUFFIX)(f, f + 64, bias, scale, shift, &mul,
                                                    &add) != 0) {
        free(wp);
        free(blocks);
        return -1;
    }
    for (int64_t i = 0; i < nprobs; i++) {
        PROBLEM *p = &probs[i];
        const int64_t taps = p->g[CG_K0] * p->g[CG_K1] * p->g[CG_K2];
        p->wp = wp;
        CAT(pack_weights, SUFFIX)(wp, w, tapmaps[i], taps, c, ts, cs, fs, p->blocks,
                                  p->nblocks);
    }
    T *mul2 = NULL, *add2 = NULL;          /* pair tiles: each filter's values twice */
    if (probs[0].nblocks > 0 && probs[0].blocks[0].entry->planar == KIND_PAIRS) {
        add2 = calloc((size_t)(2 * f + 128), sizeof(T));
        mul2 = mul == NULL ? NULL : calloc((size_t)(2 * f + 128), sizeof(T));
        if (add2 == NULL || (mul != NULL && mul2 == NULL)) {
            free(add2);
            free(mul2);
            free(mul);
            free(add);
            free(wp);
            free(blocks);
            return -1;
        }
        for (int64_t i = 0; i < 2 * f; i++) {
            add2[i] = add[i / 2];
            if (mul2 != NULL)
                mul2[i] = mul[i / 2];
        }
    }
    T *xt = NULL;
    size_t xt_bytes = 0;
    const int64_t *g0 = probs[0].g;
    if (items > 0 && probs[0].blocks[0].entry->planar != KIND_FILTERS) {
        /* zeros before: the largest pad; after: what the last tiles read */
        int64_t lo = 0, len = 0;
        for (int64_t i = 0; i < nprobs; i++)
            lo = probs[i].g[CG_P2] > lo ? probs[i].g[CG_P2] : lo;
        len = lo + g0[CG_S2];
        for (int64_t i = 0; i < nprobs; i++) {
            const int64_t *g = probs[i].g;
            int64_t mr = 1;
            for (int64_t b = 0; b < probs[i].nblocks; b++)
                mr = probs[i].blocks[b].entry->mr > mr ? probs[i].blocks[b].entry->mr : mr;
            const int64_t reach = probs[i].segs * probs[i].seglen + mr +
                (g[CG_K2] > 0 ? g[CG_K2] - 1 : 0) * g[CG_D2] + lo - g[CG_P2] + 2;
            len = reach > len ? reach : len;
            probs[i].shift = lo - g[CG_P2];
            probs[i].panel_len = 0;         /* read in place: no panel */
        }
        const int64_t rows = g0[CG_N] * g0[CG_S0] * g0[CG_S1];
        xt_bytes = (size_t)(rows * g0[CG_C] * len) * sizeof(T);
        xt = take_buffer(xt_bytes);
        CAT(planar_ctx, SUFFIX) pc = {probs[0].x, xt, g0, lo, len, active_isa()};
        /* an element of this copy costs several multiply-adds of the tiles (8x32x32,
         * 16 channels: 24 us on one thread, 44 without the register transposes); small
         * copies stay on the calling thread: a helper woken for them and then preempted
         * on a busy machine would hold the caller up (seen at 200 us) */
        if (xt == NULL || run_affine_job(CAT(planar_item, SUFFIX), &pc, rows, 0,
                                  CAT(useful_threads, SUFFIX)(8.0 * rows * g0[CG_C] * len,
                                                              threads, rows)) != 0) {
            give_buffer(xt);
            free(mul2);
            free(add2);
            free(mul);
            free(add);
            free(wp);
            free(blocks);
            return -1;
        }
        for (int64_t i = 0; i < nprobs; i++) {   /* every problem reads the same input */
            int64_t *g = probs[i].g;
            probs[i].x = xt;
            g[CG_X2] = 1;
            g[CG_XC] = len;
            g[CG_X1] = g[CG_C] * len;
            g[CG_X0] = g[CG_S1] * g[CG_X1];
            g[CG_XN] = g[CG_S0] * g[CG_X0];
        }
    }
    CONV_CTX ctx = {probs, nprobs, mul, add, mul2, add2, act, NULL, NULL, 0};
    /* each thread on its own rows (affinity.h): the planar copy's rows it wrote, and the
     * same part of a recycled output buffer on every call */
    const int status = items == 0 ? 0
        : run_affine_job(CAT(conv_item, SUFFIX), &ctx, items, scratch,
                         CAT(useful_threads, SUFFIX)(work, threads, items));
    free(mul2);
    free(add2);
    give_buffer(xt);
    free(mul);
    free(add);
    free(wp);
    free(blocks);
    return status;
}

static void CAT(load_geometry, SUFFIX)(PROBLEM *p, const int64_t *g, const T *x, T *y)
{
    memcpy(p->g, g, sizeof(p->g));
    p->x = x;
    p->y = y;
}

static int64_t *CAT(identity_taps, SUFFIX)(int64_t taps)
{
    int64_t *map = malloc((size_t)(taps > 0 ? taps : 1) * sizeof(int64_t));
    if (map != NULL)
        for (int64_t t = 0; t < taps; t++)
            map[t] = t;
    return map;
}

/* Direct convolution: y = act(((x (*) w) + bias) * scale + shift); w (K0, K1, K2, C, F). */
int CAT(cthulhu_conv, SUFFIX)(const T *x, const T *w, const T *bias, const T *scale,
                              const T *shift, int act, T *y, const int64_t *g, int threads)
{
    PROBLEM p;
    CAT(load_geometry, SUFFIX)(&p, g, x, y);
    const int64_t taps = g[CG_K0] * g[CG_K1] * g[CG_K2];
    int64_t *map = CAT(identity_taps, SUFFIX)(taps);
    if (map == NULL)
        return -1;
    const int status = CAT(run_problems, SUFFIX)(&p, 1, w, &map, g[CG_C] * g[CG_F], g[CG_F],
                                                 1, bias, scale, shift, act, threads);
    free(map);
    return status;
}

/* Transposed convolution as its sub-pixel phases. g: the transposed op's input (S, C)
 * and output (O, F) sizes and strides, kernel size, strides, dilation and the pads lo of
 * the equivalent stride-1 convolution over the zero-stuffed input; w (K0, K1, K2, F, C).
 * Axes with a stride above 1 need dilation 1 (returns -2 otherwise). */
int CAT(cthulhu_conv_transpose, SUFFIX)(const T *x, const T *w, const T *bias,
                                        const T *scale, const T *shift, int act, T *y,
                                        const int64_t *g, int threads)
{
    int64_t r_count[3], phases = 1;
    for (int ax = 0; ax < 3; ax++) {
        if (g[CG_ST0 + ax] > 1 && g[CG_D0 + ax] != 1)
            return -2;
        r_count[ax] = g[CG_ST0 + ax];
        phases *= r_count[ax];
    }
    PROBLEM *probs = calloc((size_t)phases, sizeof(PROBLEM));
    int64_t **maps = calloc((size_t)phases, sizeof(int64_t *));
    int64_t used = 0;
    int status = -1;
    if (probs == NULL || maps == NULL)
        goto out;
    for (int64_t ph = 0; ph < phases; ph++) {
        int64_t r[3] = {ph / (r_count[1] * r_count[2]), (ph / r_count[2]) % r_count[1],
                        ph % r_count[2]};
        int64_t pg[CG_LEN], t0[3], u[3];
        memcpy(pg, g, sizeof(pg));
        int empty = 0;
        int64_t yoff = 0;
        for (int ax = 0; ax < 3; ax++) {
            const int64_t k = g[CG_K0 + ax], s = g[CG_ST0 + ax], len = g[CG_O0 + ax];
            const int64_t lo = g[CG_P0 + ax];
            /* input i, tap t land on output i*s + t*d - P, P = d*(k-1) - lo (the forward
             * conv's padding); output q*s + r meets taps t = t0 + v*s only (d = 1). */
            const int64_t fwd = g[CG_D0 + ax] * (k - 1) - lo;
            const int64_t cnt = r[ax] < len ? (len - r[ax] + s - 1) / s : 0;
            if (cnt == 0)
                empty = 1;
            t0[ax] = (((r[ax] + fwd) % s) + s) % s;
            u[ax] = t0[ax] < k ? (k - t0[ax] + s - 1) / s : 0;
            const int64_t e = (r[ax] + fwd - t0[ax]) / s;
            pg[CG_O0 + ax] = cnt;
            pg[CG_K0 + ax] = u[ax];
            pg[CG_ST0 + ax] = 1;
            /* stride 1: the flipped kernel with the same dilation and pads */
            pg[CG_P0 + ax] = s == 1 ? lo : -(e - u[ax] + 1);
            pg[CG_Y0 + ax] = g[CG_Y0 + ax] * s;
            yoff += r[ax] * g[CG_Y0 + ax];
        }
        if (empty)
            continue;
        PROBLEM *p = &probs[used];
        CAT(load_geometry, SUFFIX)(p, pg, x, y + yoff);
        const int64_t taps = u[0] * u[1] * u[2];
        int64_t *map = maps[used] = malloc((size_t)(taps > 0 ? taps : 1) * sizeof(int64_t));
        if (map == NULL)
            goto out;
        used++;
        for (int64_t v = 0; v < taps; v++) {
            const int64_t v3[3] = {v / (u[1] * u[2]), (v / u[2]) % u[1], v % u[2]};
            int64_t orig = 0;
            for (int ax = 0; ax < 3; ax++)
                orig = orig * g[CG_K0 + ax] + t0[ax] + (u[ax] - 1 - v3[ax]) * g[CG_ST0 + ax];
            map[v] = orig;
        }
    }
    status = used == 0 ? 0
        : CAT(run_problems, SUFFIX)(probs, used, w, maps, g[CG_F] * g[CG_C], 1, g[CG_C],
                                    bias, scale, shift, act, threads);
out:
    if (maps != NULL)
        for (int64_t i = 0; i < used; i++)
            free(maps[i]);
    free(maps);
    free(probs);
    return status;
}

#include "depthwise.h"

#undef DW_CTX
#undef DW_FN
#undef CONV_CTX
#undef PROBLEM
#undef FBLOCK
#undef GEMM_ENTRY_T
#undef GEMM_FN
