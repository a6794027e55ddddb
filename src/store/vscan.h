/* Exact top-k over float32 vectors held in memory: distance kernels computed as pgvector
 * does (float32 sums, double results, cosine clamp, NaN for zero norms; spec §5) with
 * AVX-512 / AVX2+FMA paths chosen at run time, a bounded heap with NaN ordered last,
 * and optional worker threads for large scans. */
#ifndef CS_STORE_VSCAN_H
#define CS_STORE_VSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "clipsearch/store.h"

/* Sum of squares in float32, as pgvector accumulates |b|^2 (cached per row for cosine). */
float cs__vscan_norm2(const float *v, size_t dim);

/* One distance, computed exactly as cs__vscan_topk computes it for a row (same kernel,
 * same rounding), so an index that ranks with it agrees with the exact scan bit for bit.
 * qn2 and vn2 are the cs__vscan_norm2 of q and v (used by cosine only). */
double cs__vscan_distance(cs_measure m, const float *q, float qn2, const float *v, float vn2,
                          size_t dim);

typedef struct cs__vscan_hit {
    uint32_t row;     /* index into the scanned rows */
    double dist;
} cs__vscan_hit;

/* Top-k of the rows base[rows[i]*dim] (all rows 0..n-1 when rows == NULL) for query q,
 * ascending by distance with NaN last. norms2 (per base row) is required for cosine.
 * hits must hold k entries; returns the number found (min(k, n)) or -1 on OOM. */
long cs__vscan_topk(cs_measure m, const float *q, const float *base, const float *norms2,
                   size_t dim, const uint32_t *rows, size_t n, size_t k, cs__vscan_hit *hits);

/* Worker threads worth using for a pass over `work` floats (1 for small scans). */
int cs__vscan_threads(size_t work);

#endif
