/* y = x W^T for a handful of rows (a short text query, the pooled rows of a last
 * layer). OpenBLAS packs the whole weight matrix on every call, which for so few rows
 * costs more than the arithmetic; here each weight row is read once from memory and
 * dotted with up to 8 input rows held in registers, so the cost is one pass over the
 * weights (memory bandwidth). */
#include <stdbool.h>
#include <string.h>

#include "clip/kernels.h"

/* Vector values never cross a non-inlined call, so the ABI note does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float v16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));

static inline __attribute__((always_inline)) v16 load16(const float *p)
{
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) float hsum16(v16 v)
{
    v8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
           __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    v4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    return (b[0] + b[2]) + (b[1] + b[3]);
}

/* R rows (a compile-time constant after inlining) against every weight row. */
static inline __attribute__((always_inline)) void block(const float *x, int ldx, const int R,
                                                        int in, const float *w, int out,
                                                        float *y, int ldy, bool accumulate)
{
    for (int o = 0; o < out; o++) {
        const float *wr = w + (size_t)o * in;
        v16 acc[8] = {{0}};
        for (int i = 0; i < in; i += 16) {
            v16 wv = load16(wr + i);
            for (int r = 0; r < R; r++) acc[r] += wv * load16(x + (size_t)r * ldx + i);
        }
        for (int r = 0; r < R; r++) {
            float *dst = y + (size_t)r * ldy + o;
            *dst = hsum16(acc[r]) + (accumulate ? *dst : 0.0f);
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3"), target_clones("avx512f", "avx2", "default")))
#endif
void cs_linear_small(const float *x, int ldx, int rows, int in, const float *w, int out,
                     float *y, int ldy, bool accumulate)
{
    int r = 0;
    for (; r + 8 <= rows; r += 8)
        block(x + (size_t)r * ldx, ldx, 8, in, w, out, y + (size_t)r * ldy, ldy, accumulate);
    const float *xr = x + (size_t)r * ldx;
    float *yr = y + (size_t)r * ldy;
    switch (rows - r) {
#define CASE(n) \
    case n: block(xr, ldx, n, in, w, out, yr, ldy, accumulate); break;
        CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7)
#undef CASE
    default: break;
    }
}
