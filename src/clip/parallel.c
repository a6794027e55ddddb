#include "clip/parallel.h"

#include "base/pool.h"

void cs_parallel_for(const cs_exec *ex, int n, size_t work,
                     void (*fn)(void *ctx, int begin, int end, int worker), void *ctx)
{
    /* Waking the pool's workers costs a few microseconds: worth it for loops of at least
     * CS_PARALLEL_MIN_WORK units, not for tiny ones. */
    if (ex && ex->pool && work >= CS_PARALLEL_MIN_WORK) cs_pool_for(ex->pool, n, fn, ctx);
    else fn(ctx, 0, n, 0);
}
