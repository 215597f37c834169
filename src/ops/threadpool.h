/* threadpool.h - a persistent worker pool for the compute kernels.
 *
 * Created once (per session, typically); vlm_pool_run() hands one function to
 * every thread of the pool and returns when all have finished. Workers are
 * never created per call: they spin briefly after a job and then sleep on a
 * condition variable until the next one. The calling thread works too (as
 * ith == 0), so a pool of n threads owns n - 1 workers; n == 1 runs inline.
 *
 * Several pools may live in one process at the same time (one per session);
 * they share nothing. One pool must not be run from two threads at once, and
 * a job must not call vlm_pool_run on its own pool.
 */
#ifndef VLM_OPS_THREADPOOL_H
#define VLM_OPS_THREADPOOL_H

#include "videollm.h"

typedef struct vlm_pool vlm_pool;

/* A job: called once per thread with ith in [0, nth). ctx is shared. */
typedef void (*vlm_pool_fn)(void *ctx, int ith, int nth);

#define VLM_POOL_MAX_THREADS 256

/* Create a pool of n_threads (1..VLM_POOL_MAX_THREADS) threads. */
vlm_status vlm_pool_init(int n_threads, vlm_pool **out);
/* Stop and join the workers. NULL-safe. */
void vlm_pool_free(vlm_pool *pool);
/* Threads a job runs on. 1 for a NULL pool. */
int vlm_pool_n_threads(const vlm_pool *pool);
/* Change the thread count between jobs; grows the pool (starting workers)
 * when needed, shrinking just idles the extra workers. */
vlm_status vlm_pool_set_n_threads(vlm_pool *pool, int n_threads);
/* Run fn(ctx, ith, nth) on every thread and wait. A NULL pool or a pool of
 * one thread calls fn(ctx, 0, 1) directly. */
void vlm_pool_run(vlm_pool *pool, vlm_pool_fn fn, void *ctx);

/* Split [0, n) into nth near-equal contiguous ranges; thread ith gets
 * [*i0, *i1). Ranges are aligned to `align` items (except the last end). */
static inline void vlm_pool_split(int64_t n, int ith, int nth, int64_t align, int64_t *i0, int64_t *i1) {
    if (align < 1) align = 1;
    int64_t nb = (n + align - 1) / align;
    int64_t b0 = nb * ith / nth, b1 = nb * (ith + 1) / nth;
    int64_t a = b0 * align, b = b1 * align;
    *i0 = a < n ? a : n;
    *i1 = b < n ? b : n;
}

#endif
