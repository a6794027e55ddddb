/* bench_hnsw: build time, search latency and recall, save and load times of the HNSW
 * index (src/store/hnsw.c).
 *
 *   bench_hnsw [--n N] [--dim D] [--queries Q] [--m M] [--efc EF] [--threads T]
 *              [--measure cosine|l2] [--latent K] [--noise S] [--file PATH] [--serial]
 *
 * Generates N clustered unit vectors and Q queries of the same distribution (see
 * generate(): by default 100 clusters in a 24-dimensional latent space, spread 0.6,
 * mapped into D dimensions; --latent 0 puts the clusters in all D dimensions, and
 * --latent 0 --noise 0.022 at 512-d is bench_store's data: clusters so tight and far
 * apart that a graph has little gradient to follow from one to another). It builds the
 * index with
 * cs__hnsw_add_batch on T threads (default: every CPU) and, with --serial, also one
 * cs__hnsw_add at a time; times
 * top-10 searches at several ef (median, p95) against the exact scan's top-10 (recall@10);
 * then saves the index, loads it back (mapped, every byte checked) and, for comparison,
 * times reading the same file into memory with read(2). */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/hnsw.h"
#include "store/vscan.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process: with wall time, tells a build slowed by a busy
 * machine from one that is slow. */
static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    int i = (int)ceil(p * n) - 1;
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static double gauss(void)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        rs ^= rs << 13;
        rs ^= rs >> 7;
        rs ^= rs << 17;
        u[i] = ((rs >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2 * log(u[0])) * cos(2 * M_PI * u[1]);
}

/* The data: unit vectors normalise(A z + e). z comes from a mixture of 100 Gaussian
 * clusters in a `latent`-dimensional space (centres N(0, I), spread `noise`), A is a fixed
 * random d x latent map and e adds 10% isotropic noise in all d dimensions. Image
 * embeddings have a low intrinsic dimension (a few dozen for CLIP's 512); Gaussian
 * clusters in all 512 dimensions (--latent 0) are close to uniform noise within a
 * cluster, the worst case of every graph index (hnswlib does no better there). */
typedef struct {
    int d, k, nc;
    double noise;
    float *centres, *a;   /* nc * k; d * k (NULL: z is already d-dimensional) */
} gen;

static float *generate(const gen *g, size_t n)
{
    float *v = malloc(n * (size_t)g->d * sizeof *v), *z = malloc((size_t)g->k * sizeof *z);
    if (!v || !z) {
        free(v);
        free(z);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const float *c = g->centres + (size_t)(rs % (uint64_t)g->nc) * g->k;
        gauss();
        for (int j = 0; j < g->k; j++) z[j] = c[j] + (float)(gauss() * g->noise);
        float *x = v + i * g->d;
        double s = 0;
        for (int r = 0; r < g->d; r++) {
            float t = z[r % g->k];
            if (g->a) {
                t = 0;
                for (int j = 0; j < g->k; j++) t += g->a[(size_t)r * g->k + j] * z[j];
            }
            x[r] = t;
            s += (double)t * t;
        }
        double iso = g->a ? 0.1 * sqrt(s / g->d) : 0, s2 = 0;
        for (int r = 0; r < g->d; r++) {
            x[r] += (float)(gauss() * iso);
            s2 += (double)x[r] * x[r];
        }
        for (int r = 0; r < g->d; r++) x[r] = (float)(x[r] / sqrt(s2));
    }
    free(z);
    return v;
}

/* Recall@10 and latency of Q searches at ef. */
static void run_searches(const cs__hnsw *h, const float *qs, int nq, int d, size_t ef,
                         const cs__vscan_hit *truth, const int64_t *keys)
{
    double *lat = malloc((size_t)nq * sizeof *lat);
    size_t found = 0;
    for (int i = 0; i < nq; i++) {
        cs__hnsw_hit hits[10];
        double t0 = now();
        long n = cs__hnsw_search(h, qs + (size_t)i * d, 10, ef, hits);
        lat[i] = now() - t0;
        for (long a = 0; a < n; a++)
            for (int b = 0; b < 10; b++)
                if (hits[a].key == keys[truth[i * 10 + b].row]) found++;
    }
    double med = pct(lat, nq, 0.5), p95 = pct(lat, nq, 0.95);
    printf("  ef %4zu: recall@10 %.4f, latency median %.3f ms, p95 %.3f ms\n", ef,
           (double)found / (10.0 * nq), med * 1e3, p95 * 1e3);
    free(lat);
}

int main(int argc, char **argv)
{
    size_t n = 100000;
    int d = 512, nq = 1000, m = 16, efc = 64, threads = 0;
    double noise = 0.6;
    int latent = 24;
    bool serial = false;
    cs_measure measure = CS_MEASURE_COSINE;
    const char *file = "/tmp/bench_hnsw.idx";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--serial")) { serial = true; continue; }
        if (!v) { fprintf(stderr, "%s needs a value\n", a); return 2; }
        i++;
        if (!strcmp(a, "--n")) n = (size_t)atol(v);
        else if (!strcmp(a, "--dim")) d = atoi(v);
        else if (!strcmp(a, "--queries")) nq = atoi(v);
        else if (!strcmp(a, "--m")) m = atoi(v);
        else if (!strcmp(a, "--efc")) efc = atoi(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--file")) file = v;
        else if (!strcmp(a, "--noise")) noise = atof(v);
        else if (!strcmp(a, "--latent")) latent = atoi(v);
        else if (!strcmp(a, "--measure")) measure = !strcmp(v, "l2") ? CS_MEASURE_L2 : CS_MEASURE_COSINE;
        else { fprintf(stderr, "unknown option %s\n", a); return 2; }
    }
    gen g = {.d = d, .k = latent > 0 && latent < d ? latent : d, .nc = 100, .noise = noise};
    g.centres = malloc((size_t)g.nc * g.k * sizeof *g.centres);
    g.a = g.k < d ? malloc((size_t)d * g.k * sizeof *g.a) : NULL;
    for (size_t i = 0; g.centres && i < (size_t)g.nc * g.k; i++) g.centres[i] = (float)gauss();
    for (size_t i = 0; g.a && i < (size_t)d * g.k; i++) g.a[i] = (float)(gauss() / sqrt(g.k));
    float *base = generate(&g, n), *qs = generate(&g, (size_t)nq);
    int64_t *keys = malloc(n * sizeof *keys);
    float *norms = malloc(n * sizeof *norms);
    if (!base || !qs || !keys || !norms) { fprintf(stderr, "out of memory\n"); return 1; }
    for (size_t i = 0; i < n; i++) {
        keys[i] = (int64_t)i + 1;
        norms[i] = cs__vscan_norm2(base + i * d, (size_t)d);
    }
    printf("bench_hnsw: %zu x %d %s (latent %d, noise %g), m %d, ef_construction %d, "
           "%d queries\n", n, d, measure == CS_MEASURE_L2 ? "l2" : "cosine", g.k, noise, m,
           efc, nq);

    cs__hnsw_params p = {.dim = d, .measure = measure, .m = m, .ef_construction = efc, .seed = 1};
    cs_error err = {0};
    cs__hnsw *h;
    if (serial) {
        if (cs__hnsw_new(&p, &h, &err) || cs__hnsw_reserve(h, n, &err)) goto fail;
        double t0 = now(), c0 = cpu();
        for (size_t i = 0; i < n; i++)
            if (cs__hnsw_add(h, keys[i], base + i * d, &err)) goto fail;
        double t = now() - t0;
        printf("build, cs__hnsw_add one at a time: %.1f s (%.0f inserts/s, %.1f s CPU)\n", t,
               n / t, cpu() - c0);
        cs__hnsw_free(h);
    }
    if (cs__hnsw_new(&p, &h, &err)) goto fail;
    double t0 = now(), c0 = cpu();
    if (cs__hnsw_add_batch(h, keys, base, n, threads, &err)) goto fail;
    double tb = now() - t0;
    printf("build, cs__hnsw_add_batch (%d threads): %.1f s (%.0f inserts/s, %.1f s CPU)\n",
           threads > 0 ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN), tb, n / tb, cpu() - c0);

    cs__vscan_hit *truth = malloc((size_t)nq * 10 * sizeof *truth);
    t0 = now();
    for (int i = 0; i < nq; i++)
        cs__vscan_topk(measure, qs + (size_t)i * d, base, norms, (size_t)d, NULL, n, 10,
                       truth + i * 10);
    printf("exact scan: %.2f ms per query\n", (now() - t0) * 1e3 / nq);
    size_t efs[] = {10, 20, 40, 64, 100, 200};
    for (size_t i = 0; i < sizeof efs / sizeof *efs; i++)
        run_searches(h, qs, nq, d, efs[i], truth, keys);

    t0 = now();
    if (cs__hnsw_save(h, file, "bench", 1, &err)) goto fail;
    printf("save: %.2f s\n", now() - t0);
    cs__hnsw_free(h);
    struct stat sb;
    stat(file, &sb);
    int64_t gen;
    t0 = now();
    int rc = cs__hnsw_load(file, "bench", d, &h, &gen, &err);
    double tl = now() - t0;
    if (rc) { fprintf(stderr, "load: %d\n", rc); return 1; }
    printf("load (mmap, checksum and graph checked): %.3f s for %.0f MB\n", tl, sb.st_size / 1e6);
    cs__hnsw_hit hits[10];
    t0 = now();
    cs__hnsw_search(h, qs, 10, 40, hits);
    printf("first search after load: %.3f ms\n", (now() - t0) * 1e3);
    run_searches(h, qs, nq, d, 40, truth, keys);
    t0 = now();
    cs__hnsw_add(h, -1, qs, &err);
    printf("first add after load (copies the node arrays out of the mapping): %.3f s\n", now() - t0);
    cs__hnsw_free(h);

    /* The alternative: read(2) the file into memory (page cache warm). */
    t0 = now();
    char *buf = malloc((size_t)sb.st_size);
    int fd = open(file, O_RDONLY);
    size_t got = 0;
    for (ssize_t r; buf && got < (size_t)sb.st_size &&
                    (r = read(fd, buf + got, (size_t)sb.st_size - got)) > 0;)
        got += (size_t)r;
    close(fd);
    printf("for comparison, read(2) of the whole file: %.3f s\n", now() - t0);
    free(buf);
    unlink(file);
    free(truth);
    free(base);
    free(qs);
    free(keys);
    free(norms);
    free(g.centres);
    free(g.a);
    return 0;
fail:
    fprintf(stderr, "bench_hnsw: %s\n", err.msg);
    return 1;
}
