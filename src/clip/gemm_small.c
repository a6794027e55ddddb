/* y = x W^T for a handful of rows (a short text query, the pooled rows of a last
 * layer). OpenBLAS packs the whole weight matrix on every call, which for so few rows
 * costs more than the arithmetic; here each weight row is read once from memory and
 * dotted with every input row (8 at a time in registers), so the cost is one pass over the
 * weights (memory bandwidth). */
#include <stdbool.h>
#include <string.h>

#include "base/simd.h"
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

/* y[r * ldy] (+)= dot(wr, x row r) for R rows (a compile-time constant after inlining). */
static inline __attribute__((always_inline)) void dots(const float *wr, const float *x, int ldx,
                                                       const int R, int in, float *y, int ldy,
                                                       bool accumulate)
{
    v16 acc[8] = {{0}};
    for (int i = 0; i < in; i += 16) {
        v16 wv = load16(wr + i);
        for (int r = 0; r < R; r++) acc[r] += wv * load16(x + (size_t)r * ldx + i);
    }
    for (int r = 0; r < R; r++) {
        float *dst = y + (size_t)r * ldy;
        *dst = hsum16(acc[r]) + (accumulate ? *dst : 0.0f);
    }
}

/* 4 weight rows x R input rows (R <= 4): 16 accumulators, so each loaded vector feeds
 * four multiply-adds instead of one. y[r * ldy + j] for weight row j. */
static inline __attribute__((always_inline)) void dots4(const float *w, int in, const float *x,
                                                        int ldx, const int R, float *y, int ldy,
                                                        bool accumulate)
{
    v16 a[4][4] = {{{0}}};
    for (int i = 0; i < in; i += 16) {
        v16 w0 = load16(w + i), w1 = load16(w + (size_t)in + i),
            w2 = load16(w + 2 * (size_t)in + i), w3 = load16(w + 3 * (size_t)in + i);
        for (int r = 0; r < R; r++) {
            v16 xv = load16(x + (size_t)r * ldx + i);
            a[r][0] += w0 * xv;
            a[r][1] += w1 * xv;
            a[r][2] += w2 * xv;
            a[r][3] += w3 * xv;
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < 4; j++) {
            float *dst = y + (size_t)r * ldy + j;
            *dst = hsum16(a[r][j]) + (accumulate ? *dst : 0.0f);
        }
}

CS_HOT_LOOP CS_SIMD_CLONES
void cs__linear_small(const float *x, int ldx, int rows, int in, const float *w, int out,
                     float *y, int ldy, bool accumulate)
{
    /* Weight rows outermost, four at a time: they are read from memory once and then
     * served from L1 to every group of input rows (which stay in L2). */
    int o = 0;
    for (; o + 4 <= out; o += 4) {
        const float *wr = w + (size_t)o * in;
        int r = 0;
        for (; r + 4 <= rows; r += 4)
            dots4(wr, in, x + (size_t)r * ldx, ldx, 4, y + (size_t)r * ldy + o, ldy, accumulate);
        const float *xr = x + (size_t)r * ldx;
        float *yr = y + (size_t)r * ldy + o;
        switch (rows - r) {
        case 1: dots4(wr, in, xr, ldx, 1, yr, ldy, accumulate); break;
        case 2: dots4(wr, in, xr, ldx, 2, yr, ldy, accumulate); break;
        case 3: dots4(wr, in, xr, ldx, 3, yr, ldy, accumulate); break;
        default: break;
        }
    }
    for (; o < out; o++) {
        const float *wr = w + (size_t)o * in;
        int r = 0;
        for (; r + 8 <= rows; r += 8)
            dots(wr, x + (size_t)r * ldx, ldx, 8, in, y + (size_t)r * ldy + o, ldy, accumulate);
        const float *xr = x + (size_t)r * ldx;
        float *yr = y + (size_t)r * ldy + o;
        switch (rows - r) {
#define CASE(n) \
    case n: dots(wr, xr, ldx, n, in, yr, ldy, accumulate); break;
            CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7)
#undef CASE
        default: break;
        }
    }
}
