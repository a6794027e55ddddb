/* A small pool of persistent worker threads for data-parallel loops: the caller and the
 * workers each take one contiguous slice of [0, n). Creating a thread per loop costs tens
 * of microseconds, which a text query (hundreds of short loops) cannot afford; a woken
 * worker costs a few. One loop runs at a time: a second caller that finds the pool busy
 * (another thread using the same model) runs its loop alone instead of waiting. */
#ifndef CS_BASE_POOL_H
#define CS_BASE_POOL_H

#include <pthread.h>
#include <stddef.h>

typedef struct cs__pool cs__pool;

/* fn(ctx, begin, end, worker): slice [begin, end) of the loop, worker in [0, threads). */
typedef void (*cs__pool_fn)(void *ctx, int begin, int end, int worker);

/* A pool running loops on `threads` threads in all (the caller counts as one, so
 * threads - 1 workers are started; threads <= 1 gives a pool that runs loops inline).
 * Returns NULL when out of memory or threads; cs__pool_for(NULL, ...) runs inline too. */
cs__pool *cs__pool_create(int threads);
void cs__pool_free(cs__pool *p);

/* Threads a loop on this pool uses (1 for NULL). */
int cs__pool_threads(const cs__pool *p);

/* Runs fn over [0, n) split into cs__pool_threads(p) slices and returns when all are done.
 * Each index must be independent of the others, so results never depend on the split. */
void cs__pool_for(cs__pool *p, int n, cs__pool_fn fn, void *ctx);

/* Runs fn on each of the n jobs (an array of `size`-byte elements): job 0 on the caller's
 * thread, each other job on a thread of its own (tids: room for n), and returns when all
 * are done. A job whose thread cannot start runs on the caller's thread afterwards: the
 * same results, later. For work done once per call (a scan, a batch of inserts), where a
 * thread per job costs little next to the job and no pool is at hand. */
void cs__fork_join(void *(*fn)(void *), void *jobs, size_t size, int n, pthread_t *tids);

#endif
