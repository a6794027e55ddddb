#include "clip/parallel.h"

#include "base/pool.h"

#if CS_HAVE_DNNL
#include <omp.h>
#endif

/* With oneDNN the GEMMs run on OpenMP's threads, which spin for a while after each GEMM
 * waiting for the next one. Running the loops between GEMMs on a second set of threads
 * (the pool) then puts four busy threads on two cores: the spinning ones steal the
 * loops' time (measured: the non-GEMM part of a batch-32 image forward took 1.3x as
 * long). So with oneDNN the loops use the same OpenMP team, which is hot and waiting;
 * without it (OpenBLAS), the model's pool. */
static bool use_openmp(const cs__exec *ex)
{
#if CS_HAVE_DNNL
    return ex && ex->gemm && ex->threads > 1;
#else
    (void)ex;
    return false;
#endif
}

int cs__parallel_workers(const cs__exec *ex)
{
    if (use_openmp(ex)) return ex->threads;
    return ex ? cs__pool_threads(ex->pool) : 1;
}

void cs__parallel_for(const cs__exec *ex, int n, size_t work,
                     void (*fn)(void *ctx, int begin, int end, int worker), void *ctx)
{
    /* Waking the workers costs a few microseconds: worth it for loops of at least
     * CS_PARALLEL_MIN_WORK units, not for tiny ones. */
    if (n < 2 || work < CS_PARALLEL_MIN_WORK) {
        fn(ctx, 0, n, 0);
        return;
    }
#if CS_HAVE_DNNL
    if (use_openmp(ex)) {
        int parts = ex->threads < n ? ex->threads : n;
#pragma omp parallel num_threads(parts)
        {
            /* Slices by the team's real size (OpenMP may give fewer threads). */
            int k = omp_get_thread_num(), team = omp_get_num_threads();
            int begin = (int)((long long)n * k / team), end = (int)((long long)n * (k + 1) / team);
            if (begin < end) fn(ctx, begin, end, k);
        }
        return;
    }
#endif
    if (ex && ex->pool) cs__pool_for(ex->pool, n, fn, ctx);
    else fn(ctx, 0, n, 0);
}
