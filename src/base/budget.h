/* A memory budget shared by threads: each takes its estimate before a big allocation and
 * gives it back after, so the peak stays near the budget whatever the number of threads.
 * One request larger than the whole budget is admitted alone (when nothing else is
 * held), so no request waits forever and big images still decode, one at a time. */
#ifndef CS_BASE_BUDGET_H
#define CS_BASE_BUDGET_H

#include <pthread.h>
#include <stdint.h>

typedef struct cs__budget {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    uint64_t total;      /* bytes */
    uint64_t used;
    uint64_t peak;       /* highest `used` seen (for tests and statistics) */
    int holders;
} cs__budget;

void cs__budget_init(cs__budget *b, uint64_t total);
void cs__budget_destroy(cs__budget *b);
/* Blocks until bytes fit (or nothing else is held); returns what was taken, to be given
 * back with cs__budget_release. */
uint64_t cs__budget_acquire(cs__budget *b, uint64_t bytes);
void cs__budget_release(cs__budget *b, uint64_t taken);

/* The default budget for decoding: a quarter of the physical memory, at least 256 MiB. */
uint64_t cs__budget_default_bytes(void);

#endif
