#include "clip/parallel.h"

#include <pthread.h>

typedef struct {
    void (*fn)(void *, int, int, int);
    void *ctx;
    int begin, end;
} half;

static void *run_half(void *arg)
{
    half *h = arg;
    h->fn(h->ctx, h->begin, h->end, 1);
    return NULL;
}

void cs_parallel_for(int threads, int n, size_t work,
                     void (*fn)(void *ctx, int begin, int end, int worker), void *ctx)
{
    /* A thread per call costs tens of microseconds: only worth it for large loops, which
     * happen a few dozen times per forward pass. */
    if (n >= 2 && work >= CS_PARALLEL_MIN_WORK && threads > 1) {
        int mid = n / 2;
        half h = {fn, ctx, mid, n};
        pthread_t t;
        if (pthread_create(&t, NULL, run_half, &h) == 0) {
            fn(ctx, 0, mid, 0);
            pthread_join(t, NULL);
            return;
        }
    }
    fn(ctx, 0, n, 0);
}
