/* The int8 near-duplicate pass (duplicates_internal.h). All rows are quantised with one
 * scale s = max|x_i| / 63: x = s q + e with |e_i| <= s/2, q in [-63, 63]. For rows of
 * norm <= 1 and a = (s/2) sqrt(dim):
 *     |<x,y> - s^2 <q_x,q_y>| <= |<e_x,y>| + |<s q_x, e_y>| <= a + (1 + a) a = a (2 + a),
 * so every pair with s^2 <q_x,q_y> >= t - a (2 + a) is a candidate, recomputed in float;
 * no pair at or above t is missed. oneDNN's u8s8s32 GEMM takes A unsigned: A = q + 64
 * with the offset ao = 64 given to the GEMM. Seven bits, not eight: a pair of products
 * then fits the int16 intermediate that CPUs without VNNI use (no saturation). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "app/duplicates_internal.h"
#include "base/simd.h"
#include "clip/gemm_int8.h"

/* Below this candidate threshold the bound lets through too much to pay off. */
#define MIN_CANDIDATE_T 0.5

CS_HOT_LOOP CS_SIMD_CLONES
static size_t count_at_least(const int32_t *s, size_t n, int32_t t)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += s[i] >= t;
    return c;
}

static double dot(const float *a, const float *b, int dim)
{
    double s = 0;
    for (int i = 0; i < dim; i++) s += (double)a[i] * b[i];
    return s;
}

int cs__dup_link_int8(const float *unit, size_t n, int dim, double threshold, size_t block,
                     size_t *parent, size_t *pairs, cs_error *err)
{
    *pairs = 0;
    if (!cs__gemm_int8_available()) return 0;
    size_t total = n * (size_t)dim;
    float maxabs = 0;
    for (size_t i = 0; i < total; i++) {
        float v = fabsf(unit[i]);
        if (v > maxabs) maxabs = v;
    }
    if (!(maxabs > 0) || !isfinite(maxabs)) return 0;
    double s = maxabs / 63.0, a = s / 2 * sqrt((double)dim);
    /* 1e-5: rows are unit length up to float rounding, not exactly. */
    double cand = threshold - CS_DUP_SLACK - a * (2 + a) - 1e-5;
    if (cand < MIN_CANDIDATE_T) return 0;
    int32_t tq = (int32_t)ceil(cand / (s * s));

    size_t panel = block * CS_DUP_PANEL;
    int8_t *qs = malloc(total ? total : 1);
    uint8_t *qu = malloc(total ? total : 1);
    int32_t *c = malloc(block * panel * sizeof *c);
    if (!qs || !qu || !c) {
        free(qs);
        free(qu);
        free(c);
        return cs_error_set(err, CS_E_NOMEM, "out of memory for %zu int8 vectors", n);
    }
    for (size_t i = 0; i < total; i++) {
        long q = lrint(unit[i] / s);
        q = q > 63 ? 63 : q < -63 ? -63 : q;
        qs[i] = (int8_t)q;
        qu[i] = (uint8_t)(q + 64);
    }
    int rc = 1;
    for (size_t r0 = 0; r0 < n && rc == 1; r0 += block) {
        size_t nr = n - r0 < block ? n - r0 : block;
        for (size_t c0 = r0; c0 < n; c0 += panel) {
            size_t nc = n - c0 < panel ? n - c0 : panel;
            rc = cs__gemm_u8s8s32((int)nr, (int)nc, dim, qu + r0 * (size_t)dim, dim, 64,
                                 qs + c0 * (size_t)dim, dim, c, (int)nc, err);
            if (rc < 0) break;
            rc = 1;
            for (size_t i = 0; i < nr; i++) {
                size_t row = r0 + i;
                size_t j0 = row + 1 > c0 ? row + 1 - c0 : 0;
                if (j0 >= nc) continue;
                const int32_t *ci = c + i * nc;
                if (!count_at_least(ci + j0, nc - j0, tq)) continue;
                const float *x = unit + row * (size_t)dim;
                for (size_t j = j0; j < nc; j++) {
                    if (ci[j] < tq) continue;
                    if (dot(x, unit + (c0 + j) * (size_t)dim, dim) >= threshold - CS_DUP_SLACK) {
                        ++*pairs;
                        cs__dup_union(parent, row, c0 + j);
                    }
                }
            }
        }
    }
    free(qs);
    free(qu);
    free(c);
    return rc;
}

