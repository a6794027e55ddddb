/* Two-way splitting of the non-GEMM loops (activations, layernorm, attention) so they do
 * not run on one core while the GEMMs use two. Internal to src/clip. */
#ifndef CS_CLIP_PARALLEL_H
#define CS_CLIP_PARALLEL_H

#include <stddef.h>

/* fn(ctx, begin, end, worker) over [0, n): with threads > 1 (the model's kernel thread
 * count, cs_clip.n_threads) and at least CS_PARALLEL_MIN_WORK units
 * of `work`, the upper half runs on a second thread (worker 1) while the caller does
 * the lower half (worker 0); otherwise fn(ctx, 0, n, 0). Each index must be independent
 * of the others, so results are identical either way. */
#define CS_PARALLEL_MIN_WORK ((size_t)1 << 18)
void cs_parallel_for(int threads, int n, size_t work,
                     void (*fn)(void *ctx, int begin, int end, int worker), void *ctx);

#endif
