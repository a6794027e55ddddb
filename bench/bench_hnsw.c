/* bench_hnsw: build time, search latency and recall, save and load times of the HNSW
 * index (src/store/hnsw.c).
 *
 *   bench_hnsw [--n N] [--dim D] [--queries Q] [--m M] [--efc EF] [--threads T]
 *              [--measure cosine|l2] [--latent K] [--noise S] [--file PATH] [--serial]
 *              [--store-latent D] [--ef E1,E2,...] [--no-save] [--diag]
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
 * times reading the same file into memory with read(2).
 *
 * --store-latent D generates exactly bench_store's data instead (same generator, same
 * stream; D 0 is its default isotropic clusters, D > 0 its --latent D), so that the index
 * can be tuned on the data the store is judged on without the store around it. --ef
 * lists the ef values searched; --no-save skips the save and load. --threads 1 builds
 * exactly the graph of one add at a time, so comparing it with --threads 2 tells a
 * parallel-build defect from the algorithm's limits. --diag reports the layer-0 graph's
 * structure (reachability from the entry, in-degrees, how many of the exact neighbours
 * the lists hold), where the searches at the last ef miss (unreachable or poorly linked
 * nodes), the same beam started at the exact nearest neighbour (routing against local
 * connectivity) and the exact distances at ranks 1-100 (how close to ties the data is). */
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
#include "store/hnsw_internal.h"
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

static void normalise(float *v, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++) s += (double)v[i] * v[i];
    s = 1 / sqrt(s);
    for (int i = 0; i < d; i++) v[i] = (float)(v[i] * s);
}

/* bench_store's generator, statement for statement (bench_store.c, main): the base rows
 * and then the queries come from one stream, so the queries depend on n as there. */
static int generate_store(int dim, int latent, size_t n, int nq, float **base_out,
                          float **qs_out)
{
    const int K = 100;
    float *centers = malloc((size_t)K * dim * sizeof(float));
    float *base = malloc(n * dim * sizeof(float));
    float *queries = malloc((size_t)nq * dim * sizeof(float));
    float *basis = latent > 0 ? malloc((size_t)K * latent * dim * sizeof(float)) : NULL;
    if (!centers || !base || !queries || (latent > 0 && !basis)) return -1;
    for (int c = 0; c < K; c++) {
        for (int i = 0; i < dim; i++) centers[(size_t)c * dim + i] = (float)gauss();
        normalise(centers + (size_t)c * dim, dim);
    }
    for (size_t i = 0; basis && i < (size_t)K * latent * dim; i++)
        basis[i] = (float)gauss() / sqrtf((float)dim);
    for (int r = 0; r < (int)n + nq; r++) {
        int c = r < (int)n ? (int)(((uint64_t)r * 2654435761u) % K) : (r - (int)n) % K;
        float *v = r < (int)n ? base + (size_t)r * dim : queries + (size_t)(r - (int)n) * dim;
        for (int i = 0; i < dim; i++)
            v[i] = centers[(size_t)c * dim + i] +
                   (basis ? 0.05f : 0.6f) * (float)gauss() / sqrtf((float)dim);
        for (int j = 0; basis && j < latent; j++) {
            float z = 0.9f * (float)gauss() / sqrtf(1.0f + (float)j);
            const float *b = basis + ((size_t)c * latent + j) * dim;
            for (int i = 0; i < dim; i++) v[i] += z * b[i];
        }
        normalise(v, dim);
    }
    free(basis);
    free(centers);
    *base_out = base;
    *qs_out = queries;
    return 0;
}

/* Layer-0 list of node (layout in hnsw_internal.h). */
static const uint32_t *l0(const cs__hnsw *h, uint32_t node)
{
    return h->links0 + (size_t)node * h->stride0;
}

/* Beam search of layer 0 from `start` with ef, as hnsw.c's search_layer (no tombstones
 * here), with a plain visited array: the top 10 node ids into out. For --diag's "started
 * at the exact nearest neighbour" search, which tells routing from local connectivity. */
static void beam0(const cs__hnsw *h, const float *q, uint32_t start, size_t ef, uint8_t *seen,
                  uint32_t *out)
{
    float qn = cs__vscan_norm2(q, h->dim);
    size_t cap = ef * h->m0 + 16, nc = 0, nr = 0;
    double *cd = malloc(cap * sizeof *cd), *rd = malloc((ef + 1) * sizeof *rd);
    uint32_t *cn = malloc(cap * sizeof *cn), *rn = malloc((ef + 1) * sizeof *rn);
    uint32_t *touched = malloc(cap * 64 * sizeof *touched);
    size_t nt = 0;
#define DIST(x) cs__vscan_distance(h->p.measure, q, qn, h->vecs + (size_t)(x) * h->dim, \
                                   h->norms2[x], h->dim)
    cd[nc] = DIST(start), cn[nc++] = start;
    rd[nr] = cd[0], rn[nr++] = start;
    seen[start] = 1, touched[nt++] = start;
    while (nc) {
        size_t bi = 0;   /* nearest candidate: a linear scan is fine for a diagnostic */
        for (size_t i = 1; i < nc; i++) if (cd[i] < cd[bi]) bi = i;
        double worst = rd[0];
        size_t wi = 0;
        for (size_t i = 1; i < nr; i++) if (rd[i] > worst) worst = rd[i], wi = i;
        if (nr >= ef && cd[bi] > worst) break;
        uint32_t c = cn[bi];
        cd[bi] = cd[nc - 1], cn[bi] = cn[nc - 1], nc--;
        const uint32_t *l = l0(h, c);
        for (uint32_t i = 1; i <= l[0]; i++) {
            uint32_t nb = l[i];
            if (seen[nb]) continue;
            seen[nb] = 1;
            if (nt < cap * 64) touched[nt] = nb;
            nt++;
            double d = DIST(nb);
            worst = rd[0], wi = 0;
            for (size_t j = 1; j < nr; j++) if (rd[j] > worst) worst = rd[j], wi = j;
            if (nr >= ef && d >= worst) continue;
            if (nc < cap) cd[nc] = d, cn[nc++] = nb;
            if (nr < ef) rd[nr] = d, rn[nr++] = nb;
            else rd[wi] = d, rn[wi] = nb;
        }
    }
#undef DIST
    for (size_t k = 0; k < 10; k++) {   /* the 10 nearest of the results */
        size_t bi = k;
        for (size_t i = k + 1; i < nr; i++) if (rd[i] < rd[bi]) bi = i;
        if (k < nr) {
            double td = rd[k]; uint32_t tn = rn[k];
            rd[k] = rd[bi], rn[k] = rn[bi], rd[bi] = td, rn[bi] = tn;
            out[k] = rn[k];
        } else out[k] = UINT32_MAX;
    }
    if (nt < cap * 64) for (size_t i = 0; i < nt; i++) seen[touched[i]] = 0;
    else memset(seen, 0, h->n);   /* more visits than were recorded */
    free(cd), free(rd), free(cn), free(rn), free(touched);
}

/* --diag: the structure of the layer-0 graph and where searches at ef miss. */
static void diagnose(const cs__hnsw *h, const float *base, const float *norms, const float *qs,
                     int nq, int d, const cs__vscan_hit *truth, const int64_t *keys, size_t ef)
{
    size_t n = h->n;
    uint32_t *indeg = calloc(n, sizeof *indeg);
    uint8_t *seen = calloc(n, 1);
    uint32_t *queue = malloc(n * sizeof *queue);
    size_t outsum = 0, small = 0, zero_in = 0;
    for (size_t i = 0; i < n; i++) {
        const uint32_t *l = l0(h, (uint32_t)i);
        outsum += l[0];
        if (l[0] < 4) small++;
        for (uint32_t j = 1; j <= l[0]; j++) indeg[l[j]]++;
    }
    for (size_t i = 0; i < n; i++) zero_in += indeg[i] == 0;
    /* Reachable on layer 0 from the entry (every search ends its descent at some node of
     * layer 0 and walks from there). */
    size_t qh = 0, qt = 0;
    queue[qt++] = h->entry;
    seen[h->entry] = 1;
    while (qh < qt) {
        const uint32_t *l = l0(h, queue[qh++]);
        for (uint32_t j = 1; j <= l[0]; j++)
            if (!seen[l[j]]) seen[l[j]] = 1, queue[qt++] = l[j];
    }
    printf("diag: layer 0: mean out-degree %.2f (max %zu), %zu nodes with < 4, %zu with "
           "in-degree 0, %zu of %zu reachable from the entry (level %d)\n",
           (double)outsum / n, h->m0, small, zero_in, qt, n, h->maxlevel);
    /* Misses of the real search at ef: unreachable? in-degree? */
    size_t miss = 0, miss_unreach = 0, miss_in0 = 0, hit_in = 0, nhit = 0, miss_in = 0;
    for (int i = 0; i < nq; i++) {
        cs__hnsw_hit hits[10];
        long k = cs__hnsw_search(h, qs + (size_t)i * d, 10, ef, hits);
        for (int b = 0; b < 10; b++) {
            uint32_t row = truth[i * 10 + b].row;
            bool got = false;
            for (long a = 0; a < k; a++) got |= hits[a].key == keys[row];
            if (got) { nhit++; hit_in += indeg[row]; continue; }
            miss++;
            miss_in += indeg[row];
            miss_unreach += !seen[row];
            miss_in0 += indeg[row] == 0;
        }
    }
    printf("diag: ef %zu: %zu misses of %d; unreachable %zu, in-degree 0 %zu; mean in-degree "
           "of misses %.1f, of hits %.1f\n", ef, miss, nq * 10, miss_unreach, miss_in0,
           miss ? (double)miss_in / miss : 0, nhit ? (double)hit_in / nhit : 0);
    /* The same beam started at the exact nearest neighbour: if recall stays low, the true
     * neighbours are not linked near each other (local connectivity); if it jumps, the
     * search gets lost on the way (routing). */
    memset(seen, 0, n);
    size_t f2 = 0;
    for (int i = 0; i < nq; i++) {
        uint32_t out[10];
        beam0(h, qs + (size_t)i * d, truth[i * 10].row, ef, seen, out);
        for (int a = 0; a < 10; a++)
            for (int b = 0; b < 10; b++) f2 += out[a] == truth[i * 10 + b].row;
    }
    printf("diag: ef %zu started at the exact nearest neighbour: recall@10 %.4f\n", ef,
           (double)f2 / (10.0 * nq));
    /* Data hardness: the distances of the exact ranks 1, 10, 11, 50, 100 (mean over
     * queries) and how many base nodes' lists hold their exact 10 nearest. */
    int nd = nq < 200 ? nq : 200;
    cs__vscan_hit *t100 = malloc(101 * sizeof *t100);
    double sd[5] = {0};
    const int rk[5] = {0, 9, 10, 49, 99};
    for (int i = 0; i < nd; i++) {
        cs__vscan_topk(h->p.measure, qs + (size_t)i * d, base, norms, (size_t)d, NULL, n, 100,
                       t100);
        for (int j = 0; j < 5; j++) sd[j] += t100[rk[j]].dist / nd;
    }
    printf("diag: exact distance at rank 1 %.4f, 10 %.4f, 11 %.4f, 50 %.4f, 100 %.4f "
           "(mean of %d queries)\n", sd[0], sd[1], sd[2], sd[3], sd[4], nd);
    size_t inlist = 0, outrank = 0;
    for (int i = 0; i < nd; i++) {
        uint32_t node = (uint32_t)(((uint64_t)i * 7919u) % n);
        cs__vscan_topk(h->p.measure, base + (size_t)node * d, base, norms, (size_t)d, NULL,
                       n, 11, t100);
        const uint32_t *l = l0(h, node);
        for (int b = 1; b < 11; b++)
            for (uint32_t j = 1; j <= l[0]; j++) inlist += l[j] == t100[b].row;
        outrank += l[0];
    }
    printf("diag: layer-0 lists of %d sampled nodes hold %.1f%% of their exact 10 nearest "
           "(mean list %.1f)\n", nd, 100.0 * inlist / (10.0 * nd), (double)outrank / nd);
    free(t100);
    free(indeg);
    free(seen);
    free(queue);
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
    fflush(stdout);
    free(lat);
}

int main(int argc, char **argv)
{
    size_t n = 100000;
    int d = 512, nq = 1000, m = 16, efc = 64, threads = 0;
    double noise = 0.6;
    int latent = 24;
    bool serial = false, save = true, diag = false;
    int store_latent = -1;
    size_t efs[32] = {10, 20, 40, 64, 100, 200};
    size_t nefs = 6;
    cs_measure measure = CS_MEASURE_COSINE;
    const char *file = "/tmp/bench_hnsw.idx";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--serial")) { serial = true; continue; }
        if (!strcmp(a, "--no-save")) { save = false; continue; }
        if (!strcmp(a, "--diag")) { diag = true; continue; }
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
        else if (!strcmp(a, "--store-latent")) store_latent = atoi(v);
        else if (!strcmp(a, "--ef")) {
            nefs = 0;
            for (char *e = (char *)v; *e && nefs < 32;) {
                efs[nefs++] = (size_t)strtoul(e, &e, 10);
                if (*e == ',') e++;
                else break;
            }
        }
        else if (!strcmp(a, "--measure")) measure = !strcmp(v, "l2") ? CS_MEASURE_L2 : CS_MEASURE_COSINE;
        else { fprintf(stderr, "unknown option %s\n", a); return 2; }
    }
    gen g = {.d = d, .k = latent > 0 && latent < d ? latent : d, .nc = 100, .noise = noise};
    float *base = NULL, *qs = NULL;
    if (store_latent >= 0) {
        if (generate_store(d, store_latent, n, nq, &base, &qs)) base = NULL;
    } else {
        g.centres = malloc((size_t)g.nc * g.k * sizeof *g.centres);
        g.a = g.k < d ? malloc((size_t)d * g.k * sizeof *g.a) : NULL;
        for (size_t i = 0; g.centres && i < (size_t)g.nc * g.k; i++)
            g.centres[i] = (float)gauss();
        for (size_t i = 0; g.a && i < (size_t)d * g.k; i++)
            g.a[i] = (float)(gauss() / sqrt(g.k));
        base = generate(&g, n);
        qs = generate(&g, (size_t)nq);
    }
    int64_t *keys = malloc(n * sizeof *keys);
    float *norms = malloc(n * sizeof *norms);
    if (!base || !qs || !keys || !norms) { fprintf(stderr, "out of memory\n"); return 1; }
    for (size_t i = 0; i < n; i++) {
        keys[i] = (int64_t)i + 1;
        norms[i] = cs__vscan_norm2(base + i * d, (size_t)d);
    }
    if (store_latent >= 0)
        printf("bench_hnsw: %zu x %d %s, bench_store's data (%s %d), m %d, "
               "ef_construction %d, %d queries\n", n, d,
               measure == CS_MEASURE_L2 ? "l2" : "cosine",
               store_latent ? "--latent" : "isotropic", store_latent, m, efc, nq);
    else
        printf("bench_hnsw: %zu x %d %s (latent %d, noise %g), m %d, ef_construction %d, "
               "%d queries\n", n, d, measure == CS_MEASURE_L2 ? "l2" : "cosine", g.k, noise,
               m, efc, nq);
    fflush(stdout);

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
    fflush(stdout);

    cs__vscan_hit *truth = malloc((size_t)nq * 10 * sizeof *truth);
    t0 = now();
    for (int i = 0; i < nq; i++)
        cs__vscan_topk(measure, qs + (size_t)i * d, base, norms, (size_t)d, NULL, n, 10,
                       truth + i * 10);
    printf("exact scan: %.2f ms per query\n", (now() - t0) * 1e3 / nq);
    for (size_t i = 0; i < nefs; i++)
        run_searches(h, qs, nq, d, efs[i], truth, keys);
    if (diag) diagnose(h, base, norms, qs, nq, d, truth, keys, efs[nefs - 1]);
    if (!save) {
        cs__hnsw_free(h);
        return 0;
    }

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
