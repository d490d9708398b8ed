/* Jobs whose threads keep to their own part of the items (included by kernels.c after
 * pool.h; type-independent).
 *
 * pool.h hands items out one at a time from a shared counter, so which thread runs item
 * i changes from call to call. For the convolution engine that means cache lines moving
 * between cores on every call: a model's next layer reads, on the other core, the rows
 * this one wrote, and a recycled output buffer is written by whichever thread comes
 * first (a 3 -> 32 first layer writes 1.6 MB). Here the items are cut into `parts`
 * contiguous ranges, one per thread; a thread starts on its own range - the same one on
 * every call, from a number it drew once - and then takes what is left of the others,
 * so a late or descheduled thread delays nobody. Each item still runs exactly once and
 * items never share an output: no result depends on which thread ran what.
 */

typedef struct {
    atomic_llong next;          /* next item of the range to take */
    int64_t end;
    char pad[64 - sizeof(atomic_llong) - sizeof(int64_t)];   /* one cache line each */
} affine_range;

typedef struct {
    item_fn fn;
    const void *ctx;
    affine_range *ranges;
    int parts;
} affine_job;

static atomic_int affine_threads_seen;
static _Thread_local int affine_number = -1;

/* One participant: its own range first, then the others' leftovers. */
static void affine_slot(const void *vctx, int64_t slot, void *scratch)
{
    const affine_job *job = vctx;
    (void)slot;
    if (affine_number < 0)
        affine_number = atomic_fetch_add(&affine_threads_seen, 1);
    const int home = affine_number % job->parts;
    for (int k = 0; k < job->parts; k++) {
        affine_range *r = &job->ranges[(home + k) % job->parts];
        for (;;) {
            const int64_t item = atomic_fetch_add(&r->next, 1);
            if (item >= r->end)
                break;
            job->fn(job->ctx, item, scratch);
        }
    }
}

/* run_job's contract (fn(ctx, i, scratch) for i < nitems on `threads` threads), each
 * thread keeping to its own contiguous part of the items. */
static int run_affine_job(item_fn fn, const void *ctx, int64_t nitems, size_t scratch_bytes,
                          int threads)
{
    if (threads > nitems)
        threads = (int)nitems;
    if (threads <= 1)
        return run_job(fn, ctx, nitems, scratch_bytes, threads);
    /* a cache line per range, aligned by hand (aligned_alloc is missing on some C
     * libraries) */
    char *raw = malloc((size_t)threads * sizeof(affine_range) + 63);
    if (raw == NULL)
        return -1;
    affine_range *ranges = (affine_range *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    for (int p = 0; p < threads; p++) {
        atomic_init(&ranges[p].next, nitems * p / threads);
        ranges[p].end = nitems * (p + 1) / threads;
    }
    affine_job job = {fn, ctx, ranges, threads};
    /* one pool item per participant: whoever joins runs affine_slot, which drains
     * every range it can reach */
    const int status = run_job(affine_slot, &job, threads, scratch_bytes, threads);
    free(raw);
    return status;
}
