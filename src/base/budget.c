#include "base/budget.h"

#include <unistd.h>

void cs__budget_init(cs__budget *b, uint64_t total)
{
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->freed, NULL);
    b->total = total ? total : 1;
    b->used = b->peak = 0;
    b->holders = 0;
}

void cs__budget_destroy(cs__budget *b)
{
    pthread_cond_destroy(&b->freed);
    pthread_mutex_destroy(&b->lock);
}

uint64_t cs__budget_acquire(cs__budget *b, uint64_t bytes)
{
    pthread_mutex_lock(&b->lock);
    /* Fits, or is alone: an oversized request waits for the others to finish, then runs
     * by itself (and blocks everyone else until it is done). */
    while (b->holders > 0 && b->used + bytes > b->total) pthread_cond_wait(&b->freed, &b->lock);
    b->used += bytes;
    b->holders++;
    if (b->used > b->peak) b->peak = b->used;
    pthread_mutex_unlock(&b->lock);
    return bytes;
}

void cs__budget_release(cs__budget *b, uint64_t taken)
{
    pthread_mutex_lock(&b->lock);
    b->used -= taken;
    b->holders--;
    pthread_cond_broadcast(&b->freed);
    pthread_mutex_unlock(&b->lock);
}

uint64_t cs__budget_default_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    uint64_t ram = pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : (uint64_t)4 << 30;
    uint64_t q = ram / 4;
    return q < ((uint64_t)256 << 20) ? (uint64_t)256 << 20 : q;
}
