/* The non-GEMM tensor kernels of the encoders plus a thin sgemm wrapper. All row-major
 * float32. The loops are written so the compiler can vectorise them (no calls to libm
 * in the hot activations: a polynomial expf is used instead). Internal to src/clip. */
#ifndef CS_CLIP_KERNELS_H
#define CS_CLIP_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cs__gemm cs__gemm;
typedef struct cs__pool cs__pool;
typedef struct cs__workspace cs__workspace;

/* How a forward pass runs: the model's thread count (oneDNN's threads), the GEMM engine
 * (NULL: OpenBLAS and the few-row kernel), the thread pool of its own kernels and where
 * its scratch comes from. */
typedef struct cs__exec {
    int threads;
    cs__gemm *gemm;           /* thread-safe: prepares weights on first use */
    cs__pool *pool;           /* NULL: everything on the calling thread */
    cs__workspace *ws;        /* thread-safe; NULL: plain allocations (workspace.h) */
} cs__exec;

/* y[rows, out] = x[rows, in] @ W[out, in]^T (+ y when accumulate). ldx/ldy: row strides.
 * ex may be NULL (one thread, OpenBLAS). */
void cs__linear(const cs__exec *ex, const float *x, int ldx, int rows, int in, const float *w,
               int out, float *y, int ldy, bool accumulate);

/* y[rows, out] = x @ W^T + b. On the OpenBLAS path y is pre-filled with the bias and the
 * GEMM accumulates onto it (one memory pass instead of two); oneDNN adds it itself. */
void cs__linear_bias(const cs__exec *ex, const float *x, int ldx, int rows, int in,
                    const float *w, const float *b, int out, float *y, int ldy);

/* y[rows, out] += x @ W^T + b: a residual connection through a linear layer, the GEMM
 * adding onto y (oneDNN adds the bias too; on the OpenBLAS path it is a second pass). */
void cs__linear_residual(const cs__exec *ex, const float *x, int ldx, int rows, int in,
                        const float *w, const float *b, int out, float *y, int ldy);

/* The same for few rows, reading W once (gemm_small.c). Requires in % 16 == 0. */
void cs__linear_small(const float *x, int ldx, int rows, int in, const float *w, int out,
                     float *y, int ldy, bool accumulate);
/* Up to this many rows cs__linear uses cs__linear_small. */
#define CS_LINEAR_SMALL_ROWS 16

/* y = LayerNorm(x) * w + b, per row of length d (y may alias x). */
void cs__layernorm(const float *x, float *y, int rows, int d, const float *w, const float *b,
                  float eps);

/* y[r, :] += b */
void cs__add_bias(float *y, int rows, int n, const float *b);
/* y[i] *= scale */
void cs__scale(float *y, size_t n, float scale);
/* y[i] = act(y[i]); act 0 = quick_gelu x*sigmoid(1.702x), 1 = exact erf gelu. */
void cs__act(float *y, size_t n, int act);
/* In-place softmax of one row. */
void cs__softmax(float *x, int n);

/* Attention for one sequence: q [nq, ldq] rows at query positions qpos (NULL = 0..nq-1),
 * k/v [nk, ld] (heads as contiguous head_dim slices), out [nq, ldo]. q must already be
 * scaled by 1/sqrt(head_dim). causal: query at position p sees keys 0..p. scratch:
 * cs__attention_scratch(nq, nk, head_dim) floats. */
void cs__attention(const float *q, int ldq, const int *qpos, int nq, const float *k,
                  const float *v, int ldkv, int nk, int heads, int head_dim, bool causal,
                  float *out, int ldo, float *scratch);
size_t cs__attention_scratch(int nq, int nk, int head_dim);

/* Vectorisable expf (Cephes polynomial, ~1 ulp over the float range it is used on). */
float cs__expf(float x);

#endif
