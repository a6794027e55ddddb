/* The exact scan (store/vscan.c) is clipsearch's own kernel: its top-k must be bit-for-bit
 * the same whatever the number of scan threads, ties at the k-th place included, and must
 * agree with a double-precision brute force for every measure. */
#include <stdint.h>
#include <stdlib.h>

#include "store/vscan.h"
#include "test.h"

#define DIM 64
#define N 40000   /* N * DIM >= 2^21 floats: large enough for the scan to use threads */
#define K 25

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) & 0xFFFFFF) / (float)0xFFFFFF - 0.5f;
}

static long scan(int threads, cs_measure m, const float *q, const float *base,
                 const float *norms, const uint32_t *rows, size_t n, cs__vscan_hit *hits)
{
    char t[8];
    snprintf(t, sizeof t, "%d", threads);
    setenv("CLIPSEARCH_SCAN_THREADS", t, 1);
    return cs__vscan_topk(m, q, base, norms, DIM, rows, n, K, hits);
}

static double ref_dist(cs_measure m, const float *a, const float *b)
{
    double d = 0, na = 0, nb = 0, l1 = 0, l2 = 0;
    for (int i = 0; i < DIM; i++) {
        d += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
        l1 += fabs((double)a[i] - b[i]);
        l2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    }
    switch (m) {
    case CS_MEASURE_COSINE: return 1 - d / sqrt(na * nb);
    case CS_MEASURE_L2: return sqrt(l2);
    case CS_MEASURE_IP: return -d;
    case CS_MEASURE_L1: return l1;
    }
    return NAN;
}

int main(void)
{
    float *base = malloc((size_t)N * DIM * sizeof(float)), *norms = malloc(N * sizeof(float));
    uint32_t *rows = malloc(N * sizeof(uint32_t));
    for (size_t i = 0; i < (size_t)N * DIM; i++) base[i] = frand();
    /* Many exact copies of one vector spread over the whole range: equal distances that
     * straddle the k-th place and every thread's slice. */
    for (int c = 0; c < 3 * K; c++)
        memcpy(base + (size_t)(c * (N / (3 * K)) + 7) * DIM, base, DIM * sizeof(float));
    for (int i = 0; i < N; i++) norms[i] = cs__vscan_norm2(base + (size_t)i * DIM, DIM);
    for (int i = 0; i < N; i++) rows[i] = (uint32_t)(N - 1 - i); /* a row subset order */
    float q[DIM];
    for (int i = 0; i < DIM; i++) q[i] = base[i] + 0.01f * frand();

    cs_measure ms[] = {CS_MEASURE_COSINE, CS_MEASURE_L2, CS_MEASURE_IP, CS_MEASURE_L1};
    for (int mi = 0; mi < 4; mi++)
        for (int subset = 0; subset < 2; subset++) {
            cs__vscan_hit h1[K], h[K];
            const uint32_t *r = subset ? rows : NULL;
            long n1 = scan(1, ms[mi], q, base, norms, r, N, h1);
            CHECK(n1 == K);
            for (int t = 2; t <= 5; t++) {
                long n = scan(t, ms[mi], q, base, norms, r, N, h);
                /* Field by field: a hit's padding bytes (after the row) are not its value. */
                bool same = n == n1;
                for (long z = 0; same && z < n; z++)
                    same = h[z].row == h1[z].row && h[z].dist == h1[z].dist;
                CHECK_MSG(same, "measure %d subset %d: 1 vs %d threads differ", mi, subset, t);
            }
            /* Against the double brute force (hits name base rows): each hit's distance is
             * its row's, and ties among the copies come back in row order. */
            double *all = malloc(N * sizeof(double));
            for (int i = 0; i < N; i++) all[i] = ref_dist(ms[mi], q, base + (size_t)i * DIM);
            for (int j = 0; j < K; j++) {
                double want = all[h1[j].row];
                CHECK_MSG(fabs(h1[j].dist - want) <= 1e-5 + 1e-5 * fabs(want),
                          "measure %d hit %d: %.9g vs %.9g", mi, j, h1[j].dist, want);
                if (j) {
                    CHECK(h1[j - 1].dist <= h1[j].dist);
                    if (h1[j - 1].dist == h1[j].dist) CHECK(h1[j - 1].row < h1[j].row);
                }
            }
            size_t better = 0;   /* rows clearly better than the K-th hit: all must be hits */
            for (int i = 0; i < N; i++) better += all[i] < h1[K - 1].dist - 1e-4;
            CHECK_MSG(better <= K, "measure %d: %zu rows better than the k-th hit", mi, better);
            free(all);
        }
    unsetenv("CLIPSEARCH_SCAN_THREADS");
    free(base);
    free(norms);
    free(rows);
    return TEST_RESULT();
}
