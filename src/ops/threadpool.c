/* threadpool.c - persistent pthread pool (see threadpool.h).
 *
 * Protocol: the caller publishes (fn, ctx, nth), sets `pending` to the number
 * of workers and bumps the generation counter under the mutex, then
 * broadcasts. Each worker notices the new generation (spinning for a short
 * while, then sleeping on work_cv), runs its share if ith < nth, and
 * decrements `pending`; the last one signals done_cv. The caller runs ith 0
 * itself, then waits (spin, then sleep) for pending == 0. */
#include "ops/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* Spin iterations before sleeping: about 0.1 ms (a pause is ~40-140 cycles), enough to
 * bridge the gaps between the kernels of one forward pass without burning a
 * core when idle. */
#define SPIN_ITERS 2000

typedef struct {
    vlm_pool *pool;
    int ith;
    uint_fast64_t gen0; /* generation at creation: the first job is newer */
    pthread_t tid;
} worker;

struct vlm_pool {
    int n_threads; /* threads a job runs on (caller included) */
    int n_workers; /* started workers (== capacity - 1) */
    worker *workers[VLM_POOL_MAX_THREADS]; /* each allocated on its own: workers keep their pointer */

    pthread_mutex_t mu;
    pthread_cond_t work_cv;
    pthread_cond_t done_cv;

    /* the current job */
    vlm_pool_fn fn;
    void *ctx;
    int nth;
    atomic_uint_fast64_t gen;
    atomic_int pending;
    atomic_int stop;
};

static void *worker_main(void *arg) {
    worker *w = arg;
    vlm_pool *p = w->pool;
    uint_fast64_t seen = w->gen0;
    for (;;) {
        for (int i = 0; i < SPIN_ITERS && atomic_load_explicit(&p->gen, memory_order_acquire) == seen; i++)
            cpu_relax();
        if (atomic_load(&p->gen) == seen) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->work_cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) break;
        seen = atomic_load(&p->gen);
        if (w->ith < p->nth) p->fn(p->ctx, w->ith, p->nth);
        if (atomic_fetch_sub(&p->pending, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

static vlm_status pool_grow(vlm_pool *p, int n_workers) {
    /* Called between jobs only: no job is in flight. */
    for (int i = p->n_workers; i < n_workers; i++) {
        worker *w = calloc(1, sizeof *w);
        if (!w) return VLM_ERR_OOM;
        w->pool = p;
        w->ith = i + 1;
        w->gen0 = atomic_load(&p->gen);
        if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
            free(w);
            return VLM_ERR_OOM;
        }
        p->workers[i] = w;
        p->n_workers = i + 1;
    }
    return VLM_OK;
}

vlm_status vlm_pool_init(int n_threads, vlm_pool **out) {
    *out = NULL;
    if (n_threads < 1 || n_threads > VLM_POOL_MAX_THREADS) return VLM_ERR_INVALID_ARG;
    vlm_pool *p = calloc(1, sizeof *p);
    if (!p) return VLM_ERR_OOM;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return VLM_ERR_OOM;
    }
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, 0);
    p->n_threads = 1;
    vlm_status st = vlm_pool_set_n_threads(p, n_threads);
    if (st != VLM_OK) {
        vlm_pool_free(p);
        return st;
    }
    *out = p;
    return VLM_OK;
}

void vlm_pool_free(vlm_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_workers; i++) {
        pthread_join(p->workers[i]->tid, NULL);
        free(p->workers[i]);
    }
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->done_cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int vlm_pool_n_threads(const vlm_pool *p) { return p ? p->n_threads : 1; }

vlm_status vlm_pool_set_n_threads(vlm_pool *p, int n_threads) {
    if (!p || n_threads < 1 || n_threads > VLM_POOL_MAX_THREADS) return VLM_ERR_INVALID_ARG;
    vlm_status st = pool_grow(p, n_threads - 1);
    if (st != VLM_OK) return st;
    p->n_threads = n_threads;
    return VLM_OK;
}

void vlm_pool_run(vlm_pool *p, vlm_pool_fn fn, void *ctx) {
    if (!p || p->n_threads <= 1 || p->n_workers == 0) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->nth = p->n_threads;
    atomic_store(&p->pending, p->n_workers);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);

    fn(ctx, 0, p->nth);

    for (int i = 0; i < SPIN_ITERS && atomic_load_explicit(&p->pending, memory_order_acquire) != 0; i++)
        cpu_relax();
    if (atomic_load(&p->pending) != 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending) != 0) pthread_cond_wait(&p->done_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}
