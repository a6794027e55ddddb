/* The exact top-10 scan kernels alone (no store, no SQLite): float32 (store/vscan.c) and
 * through the fp16 and int8 copies (store/vquant.c), on 1 and 2 threads, over n clustered
 * 512-d unit vectors held in memory; medians of the queries. Every compressed answer is
 * compared with the float32 one (rows and distances).
 *   bench_vscan [--n N] [--dim D] [--queries Q] */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/vcache.h"
#include "store/vquant.h"
#include "store/vscan.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 88172645463325252ull;
static double gauss(void)
{
    double u = 0;
    for (int i = 0; i < 12; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        u += (double)(rng >> 11) / 9007199254740992.0;
    }
    return u - 6;
}

static void normalise(float *v, int dim)
{
    double s = 0;
    for (int i = 0; i < dim; i++) s += (double)v[i] * v[i];
    float inv = (float)(1 / sqrt(s));
    for (int i = 0; i < dim; i++) v[i] *= inv;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int n = 100000, dim = 512, nq = 50;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n")) n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dim")) dim = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--queries")) nq = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench_vscan [--n N] [--dim D] [--queries Q]\n");
            return 2;
        }
    }
    const int K = 100;
    float *centres = malloc((size_t)K * dim * sizeof(float)), *v = malloc((size_t)dim * sizeof(float));
    float *queries = malloc((size_t)nq * dim * sizeof(float));
    cs__vcache vc;
    if (!centres || !v || !queries || cs__vcache_init(&vc, dim, (size_t)n, 1)) return 1;
    for (int c = 0; c < K; c++) {
        for (int i = 0; i < dim; i++) centres[(size_t)c * dim + i] = (float)gauss();
        normalise(centres + (size_t)c * dim, dim);
    }
    for (int r = 0; r < n; r++) {
        int c = (int)(((uint64_t)r * 2654435761u) % K);
        for (int i = 0; i < dim; i++)
            v[i] = centres[(size_t)c * dim + i] + 0.6f * (float)gauss() / sqrtf((float)dim);
        normalise(v, dim);
        if (cs__vcache_append(&vc, r, v, cs__vscan_norm2(v, dim), "", 0)) return 1;
    }
    for (int q = 0; q < nq; q++) {
        float *x = queries + (size_t)q * dim;
        for (int i = 0; i < dim; i++)
            x[i] = centres[(size_t)(q % K) * dim + i] + 0.6f * (float)gauss() / sqrtf((float)dim);
        normalise(x, dim);
    }
    printf("vscan: %d x %d-d clustered unit vectors in memory, top-10 cosine, %d queries\n", n, dim,
           nq);
    cs__vscan_hit *ref = malloc((size_t)nq * 10 * sizeof *ref), hits[10];
    double *lat = malloc((size_t)nq * sizeof *lat);
    const char *threads[2] = {"1", "2"};
    for (int t = 0; t < 2; t++) {
        setenv("CLIPSEARCH_SCAN_THREADS", threads[t], 1);
        double f32 = 0;
        for (int kind = 0; kind < 3; kind++) {
            cs_vector_copy copy = kind == 0 ? CS_VECTOR_COPY_NONE
                                : kind == 1 ? CS_VECTOR_COPY_FP16 : CS_VECTOR_COPY_INT8;
            double t0 = now();
            if (cs__vquant_build(&vc, copy)) return 1;
            double build = now() - t0;
            int same = 0;
            for (int q = 0; q < nq; q++) {
                const float *x = queries + (size_t)q * dim;
                t0 = now();
                long nh = copy == CS_VECTOR_COPY_NONE
                              ? cs__vscan_topk(CS_MEASURE_COSINE, x, vc.vecs, vc.norms2, (size_t)dim,
                                               NULL, (size_t)n, 10, hits)
                              : cs__vscan_topk_quant(CS_MEASURE_COSINE, x, &vc, NULL, (size_t)n, NULL, 0, 10, hits);
                lat[q] = now() - t0;
                if (nh != 10) return 1;
                if (copy == CS_VECTOR_COPY_NONE && t == 0) memcpy(ref + q * 10, hits, sizeof hits);
                bool eq = true;
                for (int k = 0; k < 10; k++)
                    eq = eq && hits[k].row == ref[q * 10 + k].row && hits[k].dist == ref[q * 10 + k].dist;
                same += eq;
            }
            qsort(lat, (size_t)nq, sizeof *lat, cmp_d);
            double med = lat[nq / 2];
            if (copy == CS_VECTOR_COPY_NONE) f32 = med;
            printf("%s thread%s, %-7s: median %.2f ms (%.2fx float32)%s, same as float32 in %d of %d\n",
                   threads[t], t ? "s" : " ", kind == 0 ? "float32" : cs_vector_copy_name(copy),
                   med * 1e3, f32 / med, kind ? "" : "", same, nq);
            if (kind) printf("  copy built in %.0f ms\n", build * 1e3);
        }
    }
    cs__vcache_free(&vc);
    free(centres);
    free(v);
    free(queries);
    free(ref);
    free(lat);
    return 0;
}
