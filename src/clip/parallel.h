/* Splitting of the non-GEMM loops (activations, layernorm, attention, the few-row GEMM)
 * over the model's thread pool, so they do not run on one core while the GEMMs use all.
 * Internal to src/clip. */
#ifndef CS_CLIP_PARALLEL_H
#define CS_CLIP_PARALLEL_H

#include <stddef.h>

#include "clip/kernels.h"

/* fn(ctx, begin, end, worker) over [0, n): on the model's threads (workers 0 ..
 * cs__parallel_workers(ex)-1: oneDNN's OpenMP team where oneDNN runs the GEMMs, the pool
 * otherwise) when the loop has at least CS_PARALLEL_MIN_WORK units of `work`, otherwise
 * fn(ctx, 0, n, 0).
 * Each index must be independent of the others, so results are identical either way. */
#define CS_PARALLEL_MIN_WORK ((size_t)1 << 16)
int cs__parallel_workers(const cs__exec *ex);
void cs__parallel_for(const cs__exec *ex, int n, size_t work,
                     void (*fn)(void *ctx, int begin, int end, int worker), void *ctx);

#endif
