/* Element-wise sums for one element type (included by kernels.c after engine.h, with T
 * and SUFFIX): a residual block's Add and the activation folded into it.
 *
 * y = act(((x0 + x1) + x2) + ...), every input of y's length, summed in input order
 * (NumPy's order for a chain of additions, so the bits are NumPy's), in chunks of
 * ELT_CHUNK elements on the engine's threads. The activation is applied while the chunk
 * is in registers: one pass over the memory where NumPy makes two (the sum, then
 * maximum in place). Each thread keeps to its own part of the array (affinity.h): the
 * rows the convolutions before it wrote there. Chunks never share an output: no result
 * depends on the threads.
 */

#define ELT_CHUNK 8192

typedef struct {
    const T *const *xs;
    int64_t k, n;
    T *y;
    int act;
} CAT(elt_ctx, SUFFIX);

/* NumPy's maximum(y, 0) and minimum(y, 6), bit for bit: a NaN stays a NaN, -0 becomes
 * +0 */
CTHULHU_CLONES static void CAT(elt_act, SUFFIX)(T *restrict y, int64_t i0, int64_t i1, int act)
{
    if (act == ACT_RELU)
        for (int64_t i = i0; i < i1; i++)
            y[i] = y[i] <= (T)0 ? (T)0 : y[i];
    else if (act == ACT_RELU6)
        for (int64_t i = i0; i < i1; i++) {
            const T v = y[i] <= (T)0 ? (T)0 : y[i];
            y[i] = v >= (T)6 ? (T)6 : v;
        }
}

CTHULHU_CLONES static void CAT(elt_sum, SUFFIX)(const T *const *xs, int64_t k, int64_t i0,
                                                int64_t i1, int act, T *restrict y)
{
    const T *restrict a = xs[0], *restrict b = xs[1];
    for (int64_t i = i0; i < i1; i++)
        y[i] = a[i] + b[i];
    for (int64_t j = 2; j < k; j++) {
        const T *restrict c = xs[j];
        for (int64_t i = i0; i < i1; i++)
            y[i] = y[i] + c[i];
    }
    CAT(elt_act, SUFFIX)(y, i0, i1, act);
}

static void CAT(elt_item, SUFFIX)(const void *vctx, int64_t item, void *scratch)
{
    const CAT(elt_ctx, SUFFIX) *ctx = vctx;
    (void)scratch;
    const int64_t i0 = item * ELT_CHUNK;
    const int64_t i1 = i0 + ELT_CHUNK < ctx->n ? i0 + ELT_CHUNK : ctx->n;
    CAT(elt_sum, SUFFIX)(ctx->xs, ctx->k, i0, i1, ctx->act, ctx->y);
}

/* y = act(xs[0] + xs[1] + ... + xs[k-1]), k >= 2 contiguous inputs of n elements (y may
 * be none of them). Returns 0. */
int CAT(cthulhu_add, SUFFIX)(const T *const *xs, int64_t k, T *y, int64_t n, int act,
                             int threads)
{
    if (n <= 0 || k < 2)
        return 0;
    CAT(elt_ctx, SUFFIX) ctx = {xs, k, n, y, act};
    const int64_t items = (n + ELT_CHUNK - 1) / ELT_CHUNK;
    /* an element (k loads, a store) costs about as much as 4 multiply-adds of a tile:
     * 8x32x32x16 float32 (131k elements) gets two threads, 8x8x8x64 one */
    return run_affine_job(CAT(elt_item, SUFFIX), &ctx, items, 0,
                          CAT(useful_threads, SUFFIX)(4.0 * (double)n * (double)k / 2,
                                                      threads, items));
}

/* A per-channel affine map, a batch norm at inference that no producer took in its
 * epilogue: y = x * scale[c] + shift[c] over x of shape (outer, C, inner) (channels_last:
 * inner 1), two roundings as NumPy's `x * scale` then `+= shift` (kernels.c is compiled
 * without FMA contraction), then the activation as in elt_sum. One pass over the memory
 * where NumPy makes two, in chunks of ELT_CHUNK elements on the engine's threads. */
typedef struct {
    const T *x, *scale, *shift;
    T *y;
    int64_t c, inner, n;
    int act;
} CAT(aff_ctx, SUFFIX);

CTHULHU_CLONES static void CAT(aff_range, SUFFIX)(const CAT(aff_ctx, SUFFIX) *ctx,
                                                  int64_t i0, int64_t i1)
{
    const T *restrict x = ctx->x, *restrict s = ctx->scale, *restrict b = ctx->shift;
    T *restrict y = ctx->y;
    const int64_t c = ctx->c, inner = ctx->inner;
    if (inner == 1) {                       /* channels_last: the channel cycles */
        int64_t i = i0;
        int64_t ch = i % c;
        for (; i < i1 && ch != 0 && ch < c; i++, ch++) {
            const T v = x[i] * s[ch];
            y[i] = v + b[ch];
        }
        for (; i + c <= i1; i += c)
            for (int64_t k = 0; k < c; k++) {
                const T v = x[i + k] * s[k];
                y[i + k] = v + b[k];
            }
        for (ch = 0; i < i1; i++, ch++) {
            const T v = x[i] * s[ch];
            y[i] = v + b[ch];
        }
    } else {                                /* a run of `inner` values per channel */
        int64_t i = i0;
        while (i < i1) {
            const int64_t ch = (i / inner) % c;
            const int64_t end = (i / inner + 1) * inner < i1 ? (i / inner + 1) * inner : i1;
            const T sc = s[ch], sh = b[ch];
            for (; i < end; i++) {
                const T v = x[i] * sc;
                y[i] = v + sh;
            }
        }
    }
    CAT(elt_act, SUFFIX)(y, i0, i1, ctx->act);
}

static void CAT(aff_item, SUFFIX)(const void *vctx, int64_t item, void *scratch)
{
    const CAT(aff_ctx, SUFFIX) *ctx = vctx;
    (void)scratch;
    const int64_t i0 = item * ELT_CHUNK;
    const int64_t i1 = i0 + ELT_CHUNK < ctx->n ? i0 + ELT_CHUNK : ctx->n;
    CAT(aff_range, SUFFIX)(ctx, i0, i1);
}

/* y = act(x * scale[c] + shift[c]), x contiguous of outer * c * inner elements, the
 * channel of element i being (i / inner) % c. Returns 0. */
int CAT(cthulhu_affine, SUFFIX)(const T *x, const T *scale, const T *shift, T *y,
                                int64_t outer, int64_t c, int64_t inner, int act,
                                int threads)
{
    const int64_t n = outer * c * inner;
    if (n <= 0)
        return 0;
    CAT(aff_ctx, SUFFIX) ctx = {x, scale, shift, y, c, inner, n, act};
    const int64_t items = (n + ELT_CHUNK - 1) / ELT_CHUNK;
    return run_affine_job(CAT(aff_item, SUFFIX), &ctx, items, 0,
                          CAT(useful_threads, SUFFIX)(4.0 * (double)n, threads, items));
}
