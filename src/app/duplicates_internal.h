/* Shared by the duplicate grouping (duplicates.c, duplicates_int8.c, duplicates_find.c).
 * Internal to src/app. */
#ifndef CS_APP_DUPLICATES_INTERNAL_H
#define CS_APP_DUPLICATES_INTERNAL_H

#include <stddef.h>

#include "clipsearch/duplicates.h"
#include "clipsearch/error.h"

/* Columns of one GEMM are this many row blocks: fewer, larger GEMMs run closer to the
 * library's peak, at PANEL * block_rows^2 elements of scratch. */
#define CS_DUP_PANEL 4
/* Dot products of unit vectors round by a few float32 ulps: a pair this close below the
 * threshold counts, so that threshold 1 finds identical vectors. */
#define CS_DUP_SLACK 1e-6

/* *opt (the defaults for NULL) into *out, checked: 0 or CS_E_ARG with err. */
int cs__dup_options_take(const cs_dup_options *opt, cs_dup_options *out, cs_error *err);

/* Union-find over row indices; the smaller root wins, so the sets do not depend on the
 * order pairs are found in. */
static inline size_t cs__dup_find(size_t *parent, size_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];   /* path halving */
        x = parent[x];
    }
    return x;
}

static inline void cs__dup_union(size_t *parent, size_t a, size_t b)
{
    a = cs__dup_find(parent, a);
    b = cs__dup_find(parent, b);
    if (a < b) parent[b] = a;
    else if (b < a) parent[a] = b;
}

/* The near-duplicate pass in int8 (oneDNN's u8s8s32 GEMM): every pair whose int8
 * product, within a proven bound of the true dot product, could reach the threshold is
 * checked in float, and linked when it does. Returns 1 when it ran (*pairs = pairs
 * linked), 0 when it does not apply (no oneDNN in this build, or a threshold so low that
 * the bound would let most pairs through: the caller runs the float pass), or a
 * negative error. */
int cs__dup_link_int8(const float *unit, size_t n, int dim, double threshold, size_t block,
                     size_t *parent, size_t *pairs, cs_error *err);

#endif
