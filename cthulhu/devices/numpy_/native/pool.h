/* A process-wide pool of worker threads shared by every op call (included by kernels.c).
 *
 * One op call is one job: `nitems` independent items (disjoint parts of the output),
 * taken one at a time from an atomic counter by the calling thread and by up to
 * `threads - 1` helpers from the pool. Items never split a reduction, so which thread
 * runs an item, and how many threads there are, never changes a result.
 *
 * Several Python threads may run jobs at once (Dask's workers do): each job asks for its
 * own helpers, and the pool grows on demand up to POOL_MAX threads; a job that finds no
 * idle helper simply runs with fewer (its caller always works on it). Between jobs a
 * helper watches for the next one for SPIN_NS (a model's next layer comes within
 * microseconds; a futex wake-up costs tens of them, a tenth of a small op), then sleeps
 * on a condition variable: never more than that of a core's time on a shared machine.
 * Likewise a caller whose items are done watches its helpers finish their last ones for
 * up to SPIN_NS before it sleeps: sleeping there put a wake-up on the critical path of
 * every call (0.14 ms 224x224 3->32 convolution, median of 40 timings of back-to-back
 * calls on two threads: 120 -> 111 us).
 *
 * Each participant gets its own scratch buffer of `scratch_bytes` (packed input panels,
 * tiles), allocated when it joins. After fork() the child starts with an empty pool.
 *
 * Placement (Linux): when a job is posted, every helper is kept off the CPU the posting
 * thread runs on (its CPU set becomes the pool's first caller's set less that CPU; one
 * system call per helper, only when the caller has moved since). Left to itself the
 * scheduler often woke a sleeping helper on the waker's own CPU - busy with its items -
 * and on small VMs left it there; pinning each helper to one fixed CPU instead made it
 * collide with an unpinned caller that woke up there. Measured on a 2-vCPU machine,
 * median of 300-40 calls: an 8x32x32x16 add after a 2 ms pause, 141 -> 48-68 us (one
 * thread: 37); a 64->64 conv1d after 10 ms, 0.90-1.13 -> 0.75-1.02 ms (one thread
 * 1.06-1.09). CTHULHU_PIN_THREADS=0 in the environment, or a pool first used from a
 * thread limited to one CPU, leaves placement to the scheduler.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#ifdef __linux__
#include <sched.h>
#endif

#define POOL_MAX 256
#define SPIN_NS 100000

typedef void (*item_fn)(const void *ctx, int64_t item, void *scratch);

typedef struct job {
    item_fn fn;
    const void *ctx;
    int64_t nitems;
    size_t scratch_bytes;
    atomic_llong next;          /* next item to take */
    int helpers;                /* helper slots still open (under pool.lock) */
    atomic_int active;          /* helpers working on it (changed under pool.lock) */
    atomic_int failed;          /* a participant ran out of memory mid-item */
    struct job *link;           /* the pool's list of open jobs */
} job;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work;        /* a job was posted */
    pthread_cond_t done;        /* a helper left a job */
    job *open;                  /* jobs with helper slots */
    int threads, idle;          /* idle: asleep or spinning, ready for a job */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
          NULL, 0, 0};
static atomic_ulong pool_posts;  /* jobs posted so far: spinning helpers watch it */

static int64_t pool_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* One step of watching for something until `until` (ns): pauses, and says whether to
 * go on (the clock is read every 64 steps). */
static int pool_watching(int *spins, int64_t until)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    return ++*spins % 64 != 0 || pool_now_ns() < until;
}

static void pool_after_fork(void)
{
    /* the child has only the forking thread: forget the parent's helpers */
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.work, NULL);
    pthread_cond_init(&pool.done, NULL);
    pool.open = NULL;
    pool.threads = pool.idle = 0;
}

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static void pool_init(void) { pthread_atfork(NULL, NULL, pool_after_fork); }

/* Run items until none is left; returns -1 if the scratch buffer cannot be had. */
static int job_drain(job *j)
{
    void *scratch = NULL;
    if (j->scratch_bytes) {
        scratch = malloc(j->scratch_bytes);
        if (scratch == NULL)
            return -1;
    }
    for (;;) {
        const int64_t item = atomic_fetch_add(&j->next, 1);
        if (item >= j->nitems)
            break;
        j->fn(j->ctx, item, scratch);
    }
    free(scratch);
    return 0;
}

/* Steering (see above): the helpers, and the CPU each was last told to avoid. */
typedef struct {
    pthread_t thread;
    int avoid;                  /* CPU left out of its set; -1: none yet */
} pool_helper;
static pool_helper pool_helpers[POOL_MAX];

#ifdef __linux__
static int pool_steer = -1;     /* -1: not decided; 0: off; 1: on */
static cpu_set_t pool_allowed;  /* the CPUs the pool's first caller could use */

/* Under pool.lock: keep every helper off the CPU the posting thread runs on, so that
 * a woken helper is placed on another one. One system call per helper, only when the
 * caller's CPU changed since the helper's last steering. */
static void pool_steer_off(int cpu)
{
    if (pool_steer < 0) {
        const char *pin = getenv("CTHULHU_PIN_THREADS");
        pool_steer = !(pin != NULL && strcmp(pin, "0") == 0)
                     && pthread_getaffinity_np(pthread_self(), sizeof pool_allowed,
                                               &pool_allowed) == 0
                     && CPU_COUNT(&pool_allowed) >= 2;
    }
    if (!pool_steer || cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &pool_allowed))
        return;
    cpu_set_t others = pool_allowed;
    CPU_CLR(cpu, &others);
    for (int k = 0; k < pool.threads; k++) {
        if (pool_helpers[k].avoid != cpu) {
            pthread_setaffinity_np(pool_helpers[k].thread, sizeof others, &others);
            pool_helpers[k].avoid = cpu;   /* best effort: a refusal changes nothing */
        }
    }
}
#endif

static void *pool_worker(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        job *j = pool.open;
        while (j != NULL && (j->helpers <= 0 || atomic_load(&j->next) >= j->nitems))
            j = j->link;
        if (j == NULL) {
            const unsigned long seen = atomic_load(&pool_posts);
            pool.idle++;
            pthread_mutex_unlock(&pool.lock);
            const int64_t until = pool_now_ns() + SPIN_NS;
            int spins = 0;
            while (atomic_load(&pool_posts) == seen && pool_watching(&spins, until))
                ;
            pthread_mutex_lock(&pool.lock);
            /* posts happen under the lock, so none is missed between check and wait */
            while (atomic_load(&pool_posts) == seen)
                pthread_cond_wait(&pool.work, &pool.lock);
            pool.idle--;
            continue;
        }
        j->helpers--;
        j->active++;
        pthread_mutex_unlock(&pool.lock);
        job_drain(j);            /* no memory: the others take the items */
        pthread_mutex_lock(&pool.lock);
        if (--j->active == 0)
            pthread_cond_broadcast(&pool.done);
    }
    return NULL;
}

/* Run fn(ctx, i, scratch) for i in [0, nitems) on `threads` threads (the caller
 * included). Returns 0, or -1 when the caller's scratch buffer cannot be allocated. */
static int run_job(item_fn fn, const void *ctx, int64_t nitems, size_t scratch_bytes,
                   int threads)
{
    job j;
    j.fn = fn;
    j.ctx = ctx;
    j.nitems = nitems;
    j.scratch_bytes = scratch_bytes;
    atomic_init(&j.next, 0);
    atomic_init(&j.failed, 0);
    atomic_init(&j.active, 0);
    j.link = NULL;
    if (threads > nitems)
        threads = (int)nitems;
    j.helpers = threads > 1 ? threads - 1 : 0;
    const int posted = j.helpers > 0;
    if (posted) {
        pthread_once(&pool_once, pool_init);
        pthread_mutex_lock(&pool.lock);
        j.link = pool.open;
        pool.open = &j;
        int missing = j.helpers - pool.idle;
        while (missing-- > 0 && pool.threads < POOL_MAX) {
            pthread_t t;
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            if (pthread_create(&t, &attr, pool_worker, NULL) == 0) {
                pool_helpers[pool.threads].thread = t;
                pool_helpers[pool.threads].avoid = -1;
                pool.threads++;
            }
            pthread_attr_destroy(&attr);
        }
#ifdef __linux__
        pool_steer_off(sched_getcpu());
#endif
        atomic_fetch_add(&pool_posts, 1);
        pthread_cond_broadcast(&pool.work);
        pthread_mutex_unlock(&pool.lock);
    }
    int status = job_drain(&j);
    if (status != 0)                /* no scratch here: wait for the helpers to finish */
        atomic_store(&j.failed, 1);
    if (posted) {
        pthread_mutex_lock(&pool.lock);
        job **at = &pool.open;      /* unlink: no new helper may join */
        while (*at != NULL && *at != &j)
            at = &(*at)->link;
        if (*at == &j)
            *at = j.link;
        j.helpers = 0;
        if (atomic_load(&j.active) > 0) {
            /* the helpers are finishing their last items: watch for that a while
             * rather than sleep (a futex wake-up costs tens of microseconds) */
            pthread_mutex_unlock(&pool.lock);
            const int64_t until = pool_now_ns() + SPIN_NS;
            int spins = 0;
            while (atomic_load(&j.active) > 0 && pool_watching(&spins, until))
                ;
            pthread_mutex_lock(&pool.lock);   /* the last helper has left the lock */
        }
        while (atomic_load(&j.active) > 0)
            pthread_cond_wait(&pool.done, &pool.lock);
        pthread_mutex_unlock(&pool.lock);
    }
    if (status != 0 && atomic_load(&j.next) < j.nitems)
        return -1;                  /* items left that nobody could run */
    return 0;
}

/* A large buffer kept per calling thread between calls (the planar copy of an input):
 * a fresh one of tens of MiB page-faults on every call, and page faults serialise the
 * threads. Freed when its thread exits; at most KEEP_BYTES kept. */
#define KEEP_BYTES ((size_t)256 << 20)
#define KEEP_HEADER 64                  /* the size, in front of the 64-byte aligned data */

static pthread_key_t keep_key;
static pthread_once_t keep_once = PTHREAD_ONCE_INIT;
static void keep_init(void) { pthread_key_create(&keep_key, free); }

static void *take_buffer(size_t bytes)
{
    pthread_once(&keep_once, keep_init);
    size_t *kept = pthread_getspecific(keep_key);
    if (kept != NULL && kept[0] >= bytes) {
        pthread_setspecific(keep_key, NULL);
        return (char *)kept + KEEP_HEADER;
    }
    size_t *fresh = malloc(bytes + KEEP_HEADER);
    if (fresh == NULL)
        return NULL;
    fresh[0] = bytes;
    return (char *)fresh + KEEP_HEADER;
}

static void give_buffer(void *buf)
{
    if (buf == NULL)
        return;
    size_t *block = (size_t *)((char *)buf - KEEP_HEADER);
    size_t *kept = pthread_getspecific(keep_key);
    if (block[0] > KEEP_BYTES || (kept != NULL && kept[0] >= block[0])) {
        free(block);
        return;
    }
    free(kept);
    pthread_setspecific(keep_key, block);
}
