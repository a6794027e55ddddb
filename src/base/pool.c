/* Persistent workers behind cs__pool_for (pool.h). A loop is published under `mu` with a
 * new generation number; each worker runs its slice and the last one to finish signals
 * the caller, which ran slice 0 meanwhile. cs__fork_join, at the end, is the poolless
 * kind: a thread per job, joined. */
#include "base/pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct {
    cs__pool *pool;
    int index;               /* slice number, 1..threads-1 */
} worker_arg;

struct cs__pool {
    int threads;             /* participants, the caller included */
    int started;             /* workers actually running */
    pthread_t *tids;
    worker_arg *args;
    pthread_mutex_t busy;    /* held by the caller of the loop in progress */
    pthread_mutex_t mu;      /* guards everything below */
    pthread_cond_t go, done;
    unsigned long gen;
    bool quit;
    int pending;             /* worker slices not finished */
    cs__pool_fn fn;
    void *ctx;
    int n;
};

static void run_slice(cs__pool_fn fn, void *ctx, int n, int k, int parts)
{
    int begin = (int)((long long)n * k / parts), end = (int)((long long)n * (k + 1) / parts);
    if (begin < end) fn(ctx, begin, end, k);
}

static void *worker(void *arg)
{
    worker_arg *a = arg;
    cs__pool *p = a->pool;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->quit) pthread_cond_wait(&p->go, &p->mu);
        if (p->quit) break;
        seen = p->gen;
        cs__pool_fn fn = p->fn;
        void *ctx = p->ctx;
        int n = p->n, parts = p->started + 1;
        pthread_mutex_unlock(&p->mu);
        run_slice(fn, ctx, n, a->index, parts);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

cs__pool *cs__pool_create(int threads)
{
    if (threads < 1) threads = 1;
    cs__pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = threads;
    p->tids = calloc((size_t)threads, sizeof *p->tids);
    p->args = calloc((size_t)threads, sizeof *p->args);
    if (!p->tids || !p->args) {
        free(p->tids);
        free(p->args);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->busy, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 1; i < threads; i++) {
        p->args[p->started] = (worker_arg){p, p->started + 1};
        if (pthread_create(&p->tids[p->started], NULL, worker, &p->args[p->started]) != 0)
            break; /* fewer workers: loops are split fewer ways */
        p->started++;
    }
    return p;
}

void cs__pool_free(cs__pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++) pthread_join(p->tids[i], NULL);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->busy);
    free(p->tids);
    free(p->args);
    free(p);
}

int cs__pool_threads(const cs__pool *p) { return p ? p->started + 1 : 1; }

void cs__pool_for(cs__pool *p, int n, cs__pool_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (!p || p->started == 0 || n < 2 || pthread_mutex_trylock(&p->busy) != 0) {
        fn(ctx, 0, n, 0);
        return;
    }
    int parts = p->started + 1;
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->pending = p->started;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    run_slice(fn, ctx, n, 0, parts);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->busy);
}

void cs__fork_join(void *(*fn)(void *), void *jobs, size_t size, int n, pthread_t *tids)
{
    char *job = jobs;
    int started = 1;
    while (started < n && !pthread_create(&tids[started], NULL, fn, job + (size_t)started * size))
        started++;
    fn(job);
    for (int i = 1; i < started; i++) pthread_join(tids[i], NULL);
    for (int i = started; i < n; i++) fn(job + (size_t)i * size);
}
