/* Depthwise and separable convolutions, and the few-channel kernel of body.h on the
 * engine's pool; included by engine.h (same element type T, same helpers). */

/* ---- depthwise and separable ---------------------------------------------------- */

/* Depthwise of one row segment into `out` ((q1 - q0) x C*M, contiguous), any M. */
static void CAT(dw_segment, SUFFIX)(const int64_t *g, DW_FN dw, const T *x, const T *w,
                                    int64_t m, const T *mul, const T *add, int act,
                                    int64_t n, int64_t o0, int64_t o1, int64_t q0, int64_t q1,
                                    const T **rows, const T **wrows, int64_t *tap01, T *out)
{
    const int64_t c = g[CG_C], k2 = g[CG_K2];
    const int64_t nk = CAT(valid_rows, SUFFIX)(g, x, n, o0, o1, rows, tap01);
    for (int64_t k = 0; k < nk; k++)
        wrows[k] = w + tap01[k] * k2 * c * m;
    if (m == 1) {
        dw(rows, wrows, nk, k2, g[CG_ST2], g[CG_D2], g[CG_P2], g[CG_S2], c, q0, q1, mul, add,
           act, out);
        return;
    }
    const int64_t cm = c * m;
    for (int64_t o = q0; o < q1; o++) {       /* multiplier > 1: plain loops */
        T *yo = out + (o - q0) * cm;
        for (int64_t j = 0; j < cm; j++)
            yo[j] = 0;
        for (int64_t k = 0; k < nk; k++)
            for (int64_t t2 = 0; t2 < k2; t2++) {
                const int64_t i2 = o * g[CG_ST2] + t2 * g[CG_D2] - g[CG_P2];
                if (i2 < 0 || i2 >= g[CG_S2])
                    continue;
                const T *xs = rows[k] + i2 * c, *ws = wrows[k] + t2 * cm;
                for (int64_t ci = 0; ci < c; ci++)
                    for (int64_t mi = 0; mi < m; mi++)
                        yo[ci * m + mi] += xs[ci] * ws[ci * m + mi];
            }
        for (int64_t j = 0; j < cm; j++) {
            T v = yo[j] * (mul == NULL ? (T)1 : mul[j]) + add[j];
            if (act != ACT_NONE)
                v = v > (T)0 ? v : (v == v ? (T)0 : v);
            if (act == ACT_RELU6)
                v = v < (T)6 ? v : (T)6;
            yo[j] = v;
        }
    }
}

typedef struct {
    int64_t g[CG_LEN];
    const T *x, *w;
    T *y;
    int64_t m, segs, seglen, rows, per_item;
    const T *mul, *add;
    int act;
    DW_FN dw;
    /* separable: the pointwise stage */
    PROBLEM *pw;
    const CONV_CTX *pw_ctx;
    const T *zeros;
} CAT(dw_ctx, SUFFIX);
#define DW_CTX CAT(dw_ctx, SUFFIX)

static void CAT(dw_row_segment, SUFFIX)(const DW_CTX *ctx, int64_t r, int64_t sg,
                                        void *scratch)
{
    const int64_t *g = ctx->g;
    const int64_t n = r / (g[CG_O0] * g[CG_O1]), o0 = (r / g[CG_O1]) % g[CG_O0];
    const int64_t o1 = r % g[CG_O1];
    const int64_t q0 = sg * ctx->seglen;
    const int64_t q1 = q0 + ctx->seglen < g[CG_O2] ? q0 + ctx->seglen : g[CG_O2];
    const int64_t rowsmax = g[CG_K0] * g[CG_K1], cm = g[CG_C] * ctx->m;
    const T **rows = scratch, **wrows = rows + rowsmax;
    int64_t *tap01 = (int64_t *)(wrows + rowsmax);
    T *buf = (T *)(tap01 + rowsmax + 8);
    if (ctx->pw == NULL) {                    /* y: contiguous channels_last rows */
        T *yrow = ctx->y + n * g[CG_YN] + o0 * g[CG_Y0] + o1 * g[CG_Y1] + q0 * g[CG_Y2];
        CAT(dw_segment, SUFFIX)(g, ctx->dw, ctx->x, ctx->w, ctx->m, ctx->mul, ctx->add,
                                ctx->act, n, o0, o1, q0, q1, rows, wrows, tap01, yrow);
        return;
    }
    /* separable: depthwise into buf (whole tiles, zero tail), then the pointwise tiles */
    const PROBLEM *p = ctx->pw;
    const int64_t padded = p->panel_len;
    CAT(dw_segment, SUFFIX)(g, ctx->dw, ctx->x, ctx->w, ctx->m, NULL, ctx->zeros, ACT_NONE,
                            n, o0, o1, q0, q1, rows, wrows, tap01, buf);
    memset(buf + (q1 - q0) * cm, 0, (size_t)((padded - (q1 - q0)) * cm) * sizeof(T));
    const int64_t zero = 0;
    int64_t wo;
    const int64_t *pg = p->g;
    T *yrow = p->y + n * pg[CG_YN] + o0 * pg[CG_Y0] + o1 * pg[CG_Y1];
    CAT(row_tiles, SUFFIX)(p, ctx->pw_ctx, buf, cm, cm, &zero, &zero, &wo, 1, cm, q0, q1, yrow);
}

/* An item: `per_item` consecutive output rows (segment sg of each). Consecutive rows
 * share all but one input row: a thread that takes them together reads each input row
 * into its cache about once, where rows dealt out one by one to the threads would make
 * every thread read most of the input. */
static void CAT(dw_item, SUFFIX)(const void *vctx, int64_t item, void *scratch)
{
    const DW_CTX *ctx = vctx;
    const int64_t block = item / ctx->segs, sg = item % ctx->segs;
    const int64_t r0 = block * ctx->per_item;
    const int64_t r1 = r0 + ctx->per_item < ctx->rows ? r0 + ctx->per_item : ctx->rows;
    for (int64_t r = r0; r < r1; r++)
        CAT(dw_row_segment, SUFFIX)(ctx, r, sg, scratch);
}

static int CAT(run_depthwise, SUFFIX)(const T *x, const T *wd, const T *wpw, const T *bias,
                                      const T *scale, const T *shift, int act, T *y,
                                      const int64_t *g, int threads)
{
    const int64_t c = g[CG_C], m = g[CG_M], cm = c * m, f = g[CG_F];
    const int separable = wpw != NULL;
    const GEMM_ENTRY_T *tables[2];
    int64_t counts[2];
    DW_FN dw;
    const int ntables = CAT(isa_tables, SUFFIX)(active_isa(), tables, counts, &dw);
    DW_CTX ctx;
    memcpy(ctx.g, g, sizeof(ctx.g));
    ctx.x = x;
    ctx.w = wd;
    ctx.y = y;
    ctx.m = m;
    ctx.dw = dw;
    ctx.act = act;
    ctx.pw = NULL;
    ctx.pw_ctx = NULL;
    const int64_t rows = g[CG_N] * g[CG_O0] * g[CG_O1], o2 = g[CG_O2];
    const int64_t taps = g[CG_K0] * g[CG_K1] * g[CG_K2];
    T *mul = NULL, *add = NULL, *zeros = NULL, *wp = NULL;
    FBLOCK *blocks = NULL;
    PROBLEM pw;
    CONV_CTX pw_ctx;
    int status = -1;
    /* epilogue of the last stage; the separable depthwise stage adds zeros */
    const int64_t ep = separable ? f + 64 : cm;
    if (CAT(epilogue_vectors, SUFFIX)(separable ? f : cm, ep, bias, scale, shift, &mul, &add))
        return -1;
    ctx.mul = mul;
    ctx.add = add;
    /* rows split into segments when there are few rows (1D, small batches) */
    int64_t segs = rows >= 64 ? 1 : (64 + rows - 1) / rows;
    const int64_t most = o2 / 64 > 1 ? o2 / 64 : 1;
    segs = segs < most ? segs : most;
    int64_t seglen = (o2 + segs - 1) / segs;
    size_t scratch = (size_t)(2 * g[CG_K0] * g[CG_K1]) * sizeof(T *) +
                     (size_t)(g[CG_K0] * g[CG_K1] + 8) * 8;
    if (separable) {
        /* the pointwise stage: a 1x1 convolution of the depthwise rows (C*M -> F) */
        const int64_t nb = f;
        zeros = calloc((size_t)(cm + 64), sizeof(T));
        blocks = malloc((size_t)nb * sizeof(FBLOCK));
        if (zeros == NULL || blocks == NULL)
            goto out;
        memcpy(pw.g, g, sizeof(pw.g));
        pw.g[CG_C] = cm;
        pw.g[CG_K0] = pw.g[CG_K1] = pw.g[CG_K2] = 1;
        pw.y = y;
        pw.blocks = blocks;
        pw.nblocks = CAT(plan_blocks, SUFFIX)(tables, counts, ntables, f, seglen, 1, cm, 0,
                                              KIND_FILTERS, blocks);
        int64_t mr = 1;
        for (int64_t b = 0; b < pw.nblocks; b++)
            mr = blocks[b].entry->mr > mr ? blocks[b].entry->mr : mr;
        seglen = (seglen + mr - 1) / mr * mr;
        int64_t padded = 0;
        for (int64_t b = 0; b < pw.nblocks; b++) {
            const int64_t mb = blocks[b].entry->mr, need = (seglen + mb - 1) / mb * mb;
            padded = need > padded ? need : padded;
        }
        pw.panel_len = padded;
        const FBLOCK *last = &blocks[pw.nblocks - 1];
        wp = malloc((size_t)(last->wp + cm * last->width) * sizeof(T));
        if (wp == NULL)
            goto out;
        pw.wp = wp;
        const int64_t zero = 0;
        CAT(pack_weights, SUFFIX)(wp, wpw, &zero, 1, cm, 0, f, 1, blocks, pw.nblocks);
        pw_ctx = (CONV_CTX){&pw, 1, mul, add, NULL, NULL, act, NULL, NULL, 0};
        ctx.pw = &pw;
        ctx.pw_ctx = &pw_ctx;
        ctx.zeros = zeros;
        scratch += (size_t)((padded + 1) * cm + 64) * sizeof(T);
    }
    segs = (o2 + seglen - 1) / seglen;
    ctx.segs = segs;
    ctx.seglen = seglen;
    ctx.rows = rows;
    /* whole rows: blocks of up to 8, still 64 or more items (work for many threads) */
    ctx.per_item = segs > 1 || rows < 128 ? 1 : rows / 64 < 8 ? rows / 64 : 8;
    const int64_t items = (rows + ctx.per_item - 1) / ctx.per_item * segs;
    const double work = (double)rows * o2 * cm * taps + (separable ? (double)rows * o2 * cm * f : 0);
    status = items == 0 ? 0 : run_job(CAT(dw_item, SUFFIX), &ctx, items, scratch,
                                      CAT(useful_threads, SUFFIX)(work * 4, threads, items));
out:
    free(mul);
    free(add);
    free(zeros);
    free(wp);
    free(blocks);
    return status;
}

/* Depthwise: x channels_last with contiguous positions and channels; w (K0, K1, K2, C, M);
 * y (N, O0, O1, O2, C*M) channels_last, positions contiguous (g's Y2 == C*M, YF == 1). */
int CAT(cthulhu_depthwise_conv, SUFFIX)(const T *x, const T *w, const T *bias, const T *scale,
                                        const T *shift, int act, T *y, const int64_t *g,
                                        int threads)
{
    /* (no channels: an empty array's strides say nothing) */
    if (g[CG_C] > 0 && (g[CG_XC] != 1 || g[CG_X2] != g[CG_C] || g[CG_YF] != 1
                        || g[CG_Y2] != g[CG_C] * g[CG_M]))
        return -2;
    return CAT(run_depthwise, SUFFIX)(x, w, NULL, bias, scale, shift, act, y, g, threads);
}

/* Separable: the depthwise stage as above, then pw (C*M, F) on each segment in cache;
 * y may have any strides (g's Y*). */
int CAT(cthulhu_separable_conv, SUFFIX)(const T *x, const T *w, const T *pw, const T *bias,
                                        const T *scale, const T *shift, int act, T *y,
                                        const int64_t *g, int threads)
{
    if (g[CG_C] > 0 && (g[CG_XC] != 1 || g[CG_X2] != g[CG_C]))
        return -2;
    return CAT(run_depthwise, SUFFIX)(x, w, pw, bias, scale, shift, act, y, g, threads);
}

/* ---- the few-channel direct kernel of body.h, on the pool ------------------------- */

typedef struct {
    const T *x, *w, *bias;
    T *y;
    const int64_t *g;
    int64_t rows, step, row_len;
    int relu;
} CAT(thin_ctx, SUFFIX);

static void CAT(thin_item, SUFFIX)(const void *vctx, int64_t item, void *scratch)
{
    const CAT(thin_ctx, SUFFIX) *ctx = vctx;
    (void)scratch;
    const int64_t r0 = item * ctx->step;
    const int64_t r1 = r0 + ctx->step < ctx->rows ? r0 + ctx->step : ctx->rows;
    CAT(cthulhu_conv_thin, SUFFIX)(ctx->x, ctx->w, ctx->bias, ctx->y + r0 * ctx->row_len,
                                   ctx->g, r0, r1, ctx->relu);
}

/* cthulhu_conv_thin over every output row, chunks of rows on the pool. */
int CAT(cthulhu_conv_thin_all, SUFFIX)(const T *x, const T *w, const T *bias, T *y,
                                       const int64_t *g, int relu, int threads)
{
    CAT(thin_ctx, SUFFIX) ctx = {x, w, bias, y, g, 0, 0, 0, relu};
    ctx.rows = g[G_N] * g[G_O0] * g[G_O1];
    ctx.row_len = g[G_O2] * g[G_M];
    const int64_t want = 8 * 64;              /* chunks: plenty for any thread count */
    ctx.step = ctx.rows / want > 1 ? ctx.rows / want : 1;
    const int64_t items = (ctx.rows + ctx.step - 1) / ctx.step;
    const double work = (double)ctx.rows * ctx.row_len * g[G_C] * g[G_K0] * g[G_K1] * g[G_K2];
    return items == 0 ? 0 : run_job(CAT(thin_item, SUFFIX), &ctx, items, 0,
                                    CAT(useful_threads, SUFFIX)(work, threads, items));
}

