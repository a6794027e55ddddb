/* The thread pool (base/pool.h): every index of a loop is visited exactly once, slices
 * are contiguous and named by a worker index below the thread count, loops from two
 * threads at once both complete (one of them inline), and pools of any size start and stop
 * cleanly. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "base/pool.h"
#include "test.h"

typedef struct {
    atomic_int *hits;
    int threads;
    atomic_int bad_worker;
} loop;

static void visit(void *ctx, int begin, int end, int worker)
{
    loop *l = ctx;
    if (worker < 0 || worker >= l->threads || begin >= end) atomic_fetch_add(&l->bad_worker, 1);
    for (int i = begin; i < end; i++) atomic_fetch_add(&l->hits[i], 1);
}

static int run_loop(cs__pool *p, int n)
{
    loop l = {calloc((size_t)n + 1, sizeof(atomic_int)), cs__pool_threads(p), 0};
    cs__pool_for(p, n, visit, &l);
    int bad = atomic_load(&l.bad_worker);
    for (int i = 0; i < n; i++) bad += atomic_load(&l.hits[i]) != 1;
    free(l.hits);
    return bad;
}

typedef struct {
    cs__pool *p;
    int bad;
} caller;

static void *hammer(void *arg)
{
    caller *c = arg;
    for (int it = 0; it < 300; it++) c->bad += run_loop(c->p, 1 + it % 97);
    return NULL;
}

int main(void)
{
    CHECK(run_loop(NULL, 10) == 0);
    CHECK(cs__pool_threads(NULL) == 1);
    for (int t = 0; t <= 9; t++) {
        cs__pool *p = cs__pool_create(t);
        CHECK(p != NULL);
        CHECK(cs__pool_threads(p) == (t < 1 ? 1 : t));
        for (int n = 0; n <= 40; n++) CHECK_MSG(run_loop(p, n) == 0, "threads %d n %d", t, n);
        CHECK(run_loop(p, 100000) == 0);
        cs__pool_free(p);
    }
    /* Two callers share one pool: both loops finish, each index once. */
    cs__pool *p = cs__pool_create(3);
    caller a = {p, 0}, b = {p, 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, hammer, &a);
    pthread_create(&tb, NULL, hammer, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(a.bad == 0 && b.bad == 0);
    cs__pool_free(p);
    cs__pool_free(NULL);
    return TEST_RESULT();
}
