/* The decoding memory budget: requests that fit run together, a request that does not
 * fit waits until enough is given back, and one larger than the whole budget runs alone
 * (never forever blocked). Threads coordinate through the budget itself (a waiter
 * cannot get in while the budget is full), no sleeps. */
#include <pthread.h>
#include <stdatomic.h>

#include "base/budget.h"
#include "test.h"

typedef struct {
    cs__budget *b;
    uint64_t bytes;
    atomic_int got;
} waiter;

static void *acquire_main(void *arg)
{
    waiter *w = arg;
    uint64_t t = cs__budget_acquire(w->b, w->bytes);
    atomic_store(&w->got, 1);
    cs__budget_release(w->b, t);
    return NULL;
}

/* Whether w is still blocked: it holds nothing yet, so `holders` excludes it. */
static int holders(cs__budget *b)
{
    pthread_mutex_lock(&b->lock);
    int h = b->holders;
    pthread_mutex_unlock(&b->lock);
    return h;
}

int main(void)
{
    cs__budget b;
    cs__budget_init(&b, 100);
    uint64_t a = cs__budget_acquire(&b, 40), c = cs__budget_acquire(&b, 60);
    CHECK(b.used == 100 && b.peak == 100 && holders(&b) == 2);

    /* 10 more does not fit: the waiter blocks until 40 is given back. */
    waiter w = {&b, 10, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, acquire_main, &w) == 0);
    /* It cannot have got in while 100 of 100 are held; give back 40 and it must. */
    CHECK(atomic_load(&w.got) == 0);
    cs__budget_release(&b, a);
    pthread_join(t, NULL);
    CHECK(atomic_load(&w.got) == 1);
    CHECK(b.peak == 100);

    /* Larger than everything: waits for the last holder, then runs alone. */
    waiter big = {&b, 500, 0};
    CHECK(pthread_create(&t, NULL, acquire_main, &big) == 0);
    CHECK(atomic_load(&big.got) == 0 || holders(&b) <= 1);
    cs__budget_release(&b, c);
    pthread_join(t, NULL);
    CHECK(atomic_load(&big.got) == 1);
    CHECK(b.used == 0 && holders(&b) == 0 && b.peak == 500);

    /* Alone from the start: admitted at once. */
    uint64_t x = cs__budget_acquire(&b, 1000);
    CHECK(x == 1000);
    cs__budget_release(&b, x);
    CHECK(cs__budget_default_bytes() >= ((uint64_t)256 << 20));
    cs__budget_destroy(&b);
    return TEST_RESULT();
}
