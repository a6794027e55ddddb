/* bench_store: the SQLite store's upsert rate and exact top-10 query latency.
 *
 *   bench_store [--n N] [--dim D] [--queries Q] [--db PATH] [--dump DIR] [--latent D]
 *               [--hnsw-max N] [--hnsw-m M] [--hnsw-efc EF] [--stream 0|1]
 *
 * Generates N clustered unit vectors (100 Gaussian clusters, normalised), upserts them in
 * transactions of 10 000 records, then times Q cosine top-10 queries (median, p95) without
 * and with a metadata filter that keeps ~10% of the records. The first query, which loads
 * the vectors into memory, is reported on its own. For context it measures the machine's
 * single-pass read bandwidth over an array of the same size and the scan limit (a plain C
 * top-10 scan of the same vectors with the store's thread count), the first query after
 * rewriting 1000 records, and checks a few results
 * against a double-precision brute force. With --dump DIR it writes base.f32, queries.f32
 * and ours.i32 (our top-10 row numbers) for bench/faiss_compare.py. Then the compressed
 * copies (int8, fp16) and, up to --hnsw-max records, an HNSW index built with m and
 * ef_construction 32 and 128 (vecs' defaults, 16 and 64, give recall@10 near 0.8 at 1M on
 * this data: the build's beam is too narrow for 32 spread directions per cluster).
 * Where the base vectors would take more than a quarter of the memory (5M x 512-d: 10 GB)
 * they are streamed into the store as they are generated and regenerated once the store
 * is closed, for the scan limit and the exactness check (--stream 1 forces this, 0 holds
 * them whatever their size). */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/simd.h"
#include "clipsearch/store.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
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

static void normalise(float *v, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++) s += (double)v[i] * v[i];
    s = 1 / sqrt(s);
    for (int i = 0; i < d; i++) v[i] = (float)(v[i] * s);
}

/* The clustered data, row by row: 100 Gaussian cluster centres; with a latent dimension D
 * each cluster spreads along D directions of its own (with decaying weights) plus a
 * little isotropic noise, a low intrinsic dimension like that of real embeddings; without,
 * the spread is isotropic in all dim directions, the hard case for a graph index (every
 * point of a cluster is about as far as every other). Rows come in order from the random
 * stream; gen_rewind() restarts it at row 0 to regenerate the same rows bit for bit. */
typedef struct {
    int dim, latent, k, next;
    float *centers, *basis;
    uint64_t rs_rows;   /* the random state at row 0 */
} data_gen;

static int gen_init(data_gen *g, int dim, int latent)
{
    *g = (data_gen){.dim = dim, .latent = latent, .k = 100};
    g->centers = malloc((size_t)g->k * dim * sizeof(float));
    g->basis = latent > 0 ? malloc((size_t)g->k * latent * dim * sizeof(float)) : NULL;
    if (!g->centers || (latent > 0 && !g->basis)) return -1;
    for (int c = 0; c < g->k; c++) {
        for (int i = 0; i < dim; i++) g->centers[(size_t)c * dim + i] = (float)gauss();
        normalise(g->centers + (size_t)c * dim, dim);
    }
    for (size_t i = 0; g->basis && i < (size_t)g->k * latent * dim; i++)
        g->basis[i] = (float)gauss() / sqrtf((float)dim);
    g->rs_rows = rs;
    return 0;
}

/* Row r of n base rows (r < n: cluster r * golden ratio mod 100) or query r - n (cluster
 * (r - n) mod 100); rows must be asked for in order. */
static void gen_row(data_gen *g, int r, int n, float *v, int *cluster)
{
    int dim = g->dim, c = r < n ? (int)(((uint64_t)r * 2654435761u) % g->k) : (r - n) % g->k;
    if (cluster) *cluster = c;
    for (int i = 0; i < dim; i++)
        v[i] = g->centers[(size_t)c * dim + i] +
               (g->basis ? 0.05f : 0.6f) * (float)gauss() / sqrtf((float)dim);
    for (int j = 0; g->basis && j < g->latent; j++) {
        float z = 0.9f * (float)gauss() / sqrtf(1.0f + (float)j);
        const float *b = g->basis + ((size_t)c * g->latent + j) * dim;
        for (int i = 0; i < dim; i++) v[i] += z * b[i];
    }
    normalise(v, dim);
}

/* The n base rows again into `base`, leaving the random stream where it was. */
static void gen_base_again(data_gen *g, int n, float *base)
{
    uint64_t saved = rs;
    rs = g->rs_rows;
    for (int r = 0; r < n; r++) gen_row(g, r, n, base + (size_t)r * g->dim, NULL);
    rs = saved;
}

static void gen_free(data_gen *g)
{
    free(g->centers);
    free(g->basis);
}

static void dump(const char *dir, const char *name, const void *p, size_t bytes)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, bytes, f) != bytes) fprintf(stderr, "cannot write %s\n", path);
    if (f) fclose(f);
}

/* One read pass over `bytes` of floats: what a memory-bound scan can hope for. */
static double read_bandwidth(const float *p, size_t n)
{
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        double t = now();
        float s[16] = {0};
        for (size_t i = 0; i + 16 <= n; i += 16)
            for (int j = 0; j < 16; j++) s[j] += p[i + j];
        t = now() - t;
        volatile float sink = s[0] + s[7] + s[15];
        (void)sink;
        if (t < best) best = t;
    }
    return (double)n * 4 / best / 1e9;
}

/* The scan limit: a plain C top-10 inner-product scan of unit vectors over the same data
 * with the same threads as the store's scan, vectorised by the compiler (per-CPU clones),
 * with nothing else: no norms, rowids, filters or merging beyond the threads' top 10. */
typedef struct {
    const float *base, *q;
    size_t begin, end;
    int dim;
    float best[10];
    size_t arg[10];
} limit_job;

CS_HOT_LOOP CS_SIMD_CLONES   /* per-CPU clones on x86-64 only (base/simd.h) */
static void limit_scan(limit_job *j)
{
    for (int k = 0; k < 10; k++) j->best[k] = -INFINITY, j->arg[k] = 0;
    for (size_t r = j->begin; r < j->end; r++) {
        const float *v = j->base + r * (size_t)j->dim;
        float acc[16] = {0};
        for (int i = 0; i + 16 <= j->dim; i += 16)
            for (int l = 0; l < 16; l++) acc[l] += j->q[i + l] * v[i + l];
        float s = 0;
        for (int l = 0; l < 16; l++) s += acc[l];
        if (s <= j->best[9]) continue;
        int k = 9;
        while (k > 0 && j->best[k - 1] < s) {
            j->best[k] = j->best[k - 1];
            j->arg[k] = j->arg[k - 1];
            k--;
        }
        j->best[k] = s;
        j->arg[k] = r;
    }
}

static void *limit_main(void *arg)
{
    limit_scan(arg);
    return NULL;
}

static int scan_threads(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("CLIPSEARCH_SCAN_THREADS");
    if (env && atoi(env) > 0) cpus = atoi(env);
    return cpus < 1 ? 1 : cpus > 16 ? 16 : (int)cpus;
}

/* Median time of the limit scan over up to 50 queries. */
static double scan_limit(const float *base, size_t n, int dim, const float *queries, int nq,
                         int threads)
{
    int m = nq < 50 ? nq : 50;
    double *t = malloc((size_t)m * sizeof *t);
    limit_job jobs[16];
    pthread_t tids[16];
    for (int qi = 0; qi < m; qi++) {
        double t0 = now();
        for (int i = 0; i < threads; i++) {
            jobs[i] = (limit_job){base, queries + (size_t)qi * dim, n * (size_t)i / (size_t)threads,
                                  n * (size_t)(i + 1) / (size_t)threads, dim, {0}, {0}};
            if (i > 0) pthread_create(&tids[i], NULL, limit_main, &jobs[i]);
        }
        limit_scan(&jobs[0]);
        for (int i = 1; i < threads; i++) pthread_join(tids[i], NULL);
        /* merge: the best 10 of the threads' 10s */
        float top[10];
        for (int k = 0; k < 10; k++) top[k] = -INFINITY;
        for (int i = 0; i < threads; i++)
            for (int k = 0; k < 10; k++) {
                float s = jobs[i].best[k];
                int p = 9;
                if (s <= top[9]) continue;
                while (p > 0 && top[p - 1] < s) top[p] = top[p - 1], p--;
                top[p] = s;
            }
        t[qi] = now() - t0;
        volatile float sink = top[0];
        (void)sink;
    }
    double med = pct(t, m, 0.5);
    free(t);
    return med;
}

static long rss_mb(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE) / (1 << 20);
}

static int query_ids(cs_collection *coll, const float *v, int dim, int ef, int32_t *ids, double *ms)
{
    cs_query q;
    cs_query_init(&q);
    q.vector = v;
    q.vector_dim = dim;
    q.limit = 10;
    q.ef_search = ef;
    cs_records r;
    cs_error err;
    double t0 = now();
    if (cs_collection_query(coll, &q, &r, &err)) {
        fprintf(stderr, "bench_store: query: %s\n", err.msg);
        return -1;
    }
    if (ms) *ms = (now() - t0) * 1e3;
    for (size_t k = 0; k < 10; k++) ids[k] = k < r.n ? atoi(r.items[k].id + 1) : -1;
    cs_records_free(&r);
    return 0;
}

static double overlap(const int32_t *a, const int32_t *b)
{
    int f = 0;
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 10; j++) f += a[i] >= 0 && a[i] == b[j];
    return f / 10.0;
}

/* Closes the store and opens it again, as a new process would, and times the first
 * query of the new connection: ms, or -1 after saying why. */
static double reconnect_query(const char *db, cs_store **store, cs_collection **coll,
                              const cs_query *q)
{
    cs_error err;
    cs_records r;
    cs_collection_free(*coll);
    cs_store_close(*store);
    *coll = NULL;
    *store = NULL;
    if (cs_store_open(db, store, &err) || cs_store_get(*store, "bench", coll, &err)) {
        fprintf(stderr, "bench_store: reopen: %s\n", err.msg);
        return -1;
    }
    double t0 = now();
    if (cs_collection_query(*coll, q, &r, &err)) {
        fprintf(stderr, "bench_store: query: %s\n", err.msg);
        return -1;
    }
    double ms = (now() - t0) * 1e3;
    cs_records_free(&r);
    return ms;
}

/* The machine's read bandwidth and the scan limit over the same vectors, next to our
 * median `med` (seconds). */
static void print_limit(const float *base, int n, int dim, const float *queries, int nq, double med)
{
    printf("  scan rate %.1f GB/s of vectors; one-pass read bandwidth here %.1f GB/s\n",
           (double)n * dim * 4 / med / 1e9, read_bandwidth(base, (size_t)n * dim));
    int th = scan_threads();
    double lim = scan_limit(base, (size_t)n, dim, queries, nq, th);
    printf("scan limit: %.2f ms (plain C top-10 over the same vectors, %d threads); "
           "query / limit %.2f\n", lim * 1e3, th, med / lim);
}

/* Exactness spot check: our top-1 against a double-precision brute force. */
static void print_exactness(const float *base, int n, int dim, const float *queries, int nq,
                            const int32_t *ours)
{
    int agree = 0, checked = 0;
    for (int i = 0; i < nq && checked < 5; i += nq / 5 > 0 ? nq / 5 : 1, checked++) {
        const float *qv = queries + (size_t)i * dim;
        double best = -2;
        int arg = -1;
        for (int rrow = 0; rrow < n; rrow++) {
            double s = 0;
            for (int k = 0; k < dim; k++) s += (double)qv[k] * base[(size_t)rrow * dim + k];
            if (s > best) best = s, arg = rrow;
        }
        agree += ours[i * 10] == arg;
    }
    printf("exactness: top-1 equals double brute force in %d of %d checked queries\n", agree, checked);
}

/* HNSW on the SQLite store (vec create-index --method hnsw): build time, file size, RSS;
 * recall@10 against the exact answers and latency for image-like queries (near the
 * clusters, like image embeddings) and text-like ones (CLIP's text embeddings sit apart
 * from the images: here half a cluster centre, half a random direction); a new
 * connection's first query; the first query after a write. */
static int bench_hnsw(const char *db, cs_store **store, cs_collection **coll, const float *queries,
                      int nq, int dim, const int32_t *exact_img, int m, int efc)
{
    cs_error err;
    float *text = malloc((size_t)nq * dim * sizeof *text);
    int32_t *exact_text = malloc((size_t)nq * 10 * sizeof *exact_text), ids[10];
    double *lat = malloc((size_t)nq * sizeof *lat), exact_ms = 0;
    for (int q = 0; q < nq; q++) {
        float *v = text + (size_t)q * dim;
        for (int i = 0; i < dim; i++) v[i] = queries[(size_t)q * dim + i] + (float)gauss() / sqrtf((float)dim);
        normalise(v, dim);
        if (query_ids(*coll, v, dim, 40, exact_text + q * 10, &lat[q])) return 1;
    }
    exact_ms = pct(lat, nq, 0.5);
    long rss0 = rss_mb();
    cs_index_spec spec;
    cs_index_spec_init(&spec);
    spec.method = CS_INDEX_HNSW;
    spec.m = m;
    spec.ef_construction = efc;
    double t0 = now();
    if (cs_collection_create_index(*coll, &spec, &err)) {
        fprintf(stderr, "bench_store: create_index: %s\n", err.msg);
        return 1;
    }
    double build = now() - t0;
    /* The index file's size (stat, not du: a process this large may not fork). */
    long long bytes = 0;
    char dir[600], path[1200];
    snprintf(dir, sizeof dir, "%s.vcache", db);
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        struct stat sb;
        if (l > 5 && !strcmp(e->d_name + l - 5, ".hnsw") &&
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path &&
            !stat(path, &sb))
            bytes += (long long)sb.st_size;
    }
    if (d) closedir(d);
    printf("hnsw: build %.1f s (m %d, ef_construction %d, %d threads), index file %.0f MB, "
           "RSS %ld MB (%ld MB before)\n", build, m, efc, (int)sysconf(_SC_NPROCESSORS_ONLN),
           (double)bytes / 1e6, rss_mb(), rss0);
    const int efs[3] = {40, 100, 200};
    for (int kind = 0; kind < 2; kind++)
        for (int e = 0; e < 3; e++) {
            double rec = 0;
            for (int q = 0; q < nq; q++) {
                const float *v = (kind ? text : queries) + (size_t)q * dim;
                if (query_ids(*coll, v, dim, efs[e], ids, &lat[q])) return 1;
                rec += overlap(ids, (kind ? exact_text : exact_img) + q * 10);
            }
            double med = pct(lat, nq, 0.5);
            printf("hnsw: recall@10 %.3f at ef_search %d, median %.2f ms (%s-like queries; exact "
                   "%.2f ms: %.0fx faster)\n", rec / nq, efs[e], med, kind ? "text" : "image",
                   exact_ms, exact_ms / med);
        }
    /* A new connection: loads the index file (twice: see the float32 lines). */
    cs_query q;
    cs_query_init(&q);
    q.vector = queries;
    q.vector_dim = dim;
    q.limit = 10;
    q.ef_search = 40;
    for (int f = 0; f < 2; f++) {
        double ms = reconnect_query(db, store, coll, &q);
        if (ms < 0) return 1;
        printf("hnsw: first query of a new connection%s: %.1f ms\n",
               f ? "" : ", the index file just written", ms);
    }
    /* A write of 1000 records (new vectors near their clusters), then the first query,
     * which patches the index with them. */
    {
        int m = 1000;
        cs_record_in *recs = malloc((size_t)m * sizeof *recs);
        char (*ids2)[16] = malloc((size_t)m * 16);
        float *v = malloc((size_t)m * dim * sizeof *v);
        for (int j = 0; j < m; j++) {
            snprintf(ids2[j], 16, "w%d", j);
            for (int i = 0; i < dim; i++) v[(size_t)j * dim + i] = queries[(size_t)(j % nq) * dim + i] + 0.3f * (float)gauss() / sqrtf((float)dim);
            normalise(v + (size_t)j * dim, dim);
            recs[j] = (cs_record_in){ids2[j], v + (size_t)j * dim, "{}"};
        }
        if (cs_collection_upsert(*coll, recs, (size_t)m, &err)) {
            fprintf(stderr, "bench_store: upsert: %s\n", err.msg);
            return 1;
        }
        double first;
        if (query_ids(*coll, queries, dim, 40, ids, &first)) return 1;
        printf("hnsw: first query after a write: %.1f ms (upsert of %d records)\n", first, m);
        for (int q = 0; q < 9; q++)
            if (query_ids(*coll, queries + (size_t)(q % nq) * dim, dim, 40, ids, &lat[q])) return 1;
        printf("hnsw: later queries after a write: median %.2f ms\n", pct(lat, 9, 0.5));
        free(recs);
        free(ids2);
        free(v);
    }
    free(text);
    free(exact_text);
    free(lat);
    return 0;
}

int main(int argc, char **argv)
{
    int n = 100000, dim = 512, nq = 200, hnsw_max = 2000000, latent = 0, hnsw_m = 32,
        hnsw_efc = 128, stream = -1;
    const char *db = NULL, *dumpdir = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n")) n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dim")) dim = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--queries")) nq = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--db")) db = argv[i + 1];
        else if (!strcmp(argv[i], "--dump")) dumpdir = argv[i + 1];
        else if (!strcmp(argv[i], "--hnsw-max")) hnsw_max = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--latent")) latent = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--hnsw-m")) hnsw_m = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--hnsw-efc")) hnsw_efc = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--stream")) stream = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench_store [--n N] [--dim D] [--queries Q] [--db PATH] "
                            "[--dump DIR] [--latent D] [--hnsw-max N] [--hnsw-m M] "
                            "[--hnsw-efc EF] [--stream 0|1]\n");
            return 2;
        }
    }
    char tmpdb[256];
    if (!db) {
        snprintf(tmpdb, sizeof tmpdb, "/tmp/bench_store_%d.db", (int)getpid());
        db = tmpdb;
    }
    /* The data: a generator that yields rows in order, so that a collection larger than
     * what fits next to the store's own copy (5M x 512-d float32 is 10 GB) is streamed into
     * the store and regenerated later, bit for bit, for the checks that need it. */
    data_gen g;
    if (gen_init(&g, dim, latent)) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    /* Hold the base vectors only where they take at most a quarter of the memory (or as
     * --stream says). */
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    double ram = pages > 0 && psize > 0 ? (double)pages * psize : 16e9;
    bool keep_base = stream < 0 ? (double)n * dim * 4 <= ram / 4 : !stream;
    float *base = keep_base ? malloc((size_t)n * dim * sizeof(float)) : NULL;
    float *queries = malloc((size_t)nq * dim * sizeof(float));
    float *first_rows = malloc((size_t)1000 * dim * sizeof(float));   /* rewritten below */
    int *cluster = malloc((size_t)n * sizeof(int));
    if ((keep_base && !base) || !queries || !first_rows || !cluster) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }

    cs_error err;
    cs_store *store;
    cs_collection *coll;
    if (cs_store_open(db, &store, &err) || cs_store_drop(store, "bench", &err) ||
        cs_store_get_or_create(store, "bench", dim, &coll, &err)) {
        fprintf(stderr, "bench_store: %s\n", err.msg);
        return 1;
    }
    if (latent > 0)
        printf("store: SQLite %s, %d x %d-d clustered unit vectors, each cluster spread along %d "
               "directions\n", db, n, dim, latent);
    else
        printf("store: SQLite %s, %d x %d-d clustered unit vectors, isotropic clusters\n", db, n, dim);

    if (!keep_base)
        printf("(the %.1f GB of base vectors are streamed into the store and regenerated after "
               "it is closed for the scan limit and the exactness check)\n",
               (double)n * dim * 4 / 1e9);

    /* Upsert in transactions of 10 000 records, generated as they go (only the upserts
     * are timed); the queries come from the same random stream after the base rows. */
    const int B = 10000;
    cs_record_in *recs = malloc((size_t)B * sizeof *recs);
    char (*ids)[16] = malloc((size_t)B * 16);
    char (*meta)[48] = malloc((size_t)B * 48);
    float *chunk = keep_base ? NULL : malloc((size_t)B * dim * sizeof(float));
    if (!recs || !ids || !meta || (!keep_base && !chunk)) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    double t0, t_up = 0;
    for (int s = 0; s < n; s += B) {
        int m = n - s < B ? n - s : B;
        float *rows = keep_base ? base + (size_t)s * dim : chunk;
        for (int j = 0; j < m; j++) {
            float *v = rows + (size_t)j * dim;
            gen_row(&g, s + j, n, v, &cluster[s + j]);
            if (s + j < 1000) memcpy(first_rows + (size_t)(s + j) * dim, v, (size_t)dim * 4);
            snprintf(ids[j], 16, "r%d", s + j);
            snprintf(meta[j], 48, "{\"cluster\":%d,\"i\":%d}", cluster[s + j], s + j);
            recs[j] = (cs_record_in){ids[j], v, meta[j]};
        }
        t0 = now();
        if (cs_collection_upsert(coll, recs, (size_t)m, &err)) {
            fprintf(stderr, "bench_store: upsert: %s\n", err.msg);
            return 1;
        }
        t_up += now() - t0;
    }
    free(chunk);
    for (int r = 0; r < nq; r++) gen_row(&g, n + r, n, queries + (size_t)r * dim, NULL);
    printf("upsert: %.0f records/s (%.2f s for %d, transactions of %d)\n", n / t_up, t_up, n, B);

    cs_query q;
    cs_query_init(&q);
    q.vector_dim = dim;
    q.limit = 10;
    q.include_value = true;   /* compared with the compressed copies' answers below */
    cs_records r;
    double *lat = malloc((size_t)nq * sizeof *lat);
    int32_t *ours = malloc((size_t)nq * 10 * sizeof *ours);
    double *ours_v = malloc((size_t)nq * 10 * sizeof *ours_v), med_fp32 = 0;
    const char *filters[2] = {NULL, "{\"cluster\":{\"$lt\":10}}"};
    for (int f = 0; f < 2; f++) {
        q.filter_json = filters[f];
        q.vector = queries;
        t0 = now();
        if (cs_collection_query(coll, &q, &r, &err)) {
            fprintf(stderr, "bench_store: query: %s\n", err.msg);
            return 1;
        }
        double first = now() - t0;
        cs_records_free(&r);
        for (int i = 0; i < nq; i++) {
            q.vector = queries + (size_t)i * dim;
            t0 = now();
            if (cs_collection_query(coll, &q, &r, &err)) {
                fprintf(stderr, "bench_store: query: %s\n", err.msg);
                return 1;
            }
            lat[i] = now() - t0;
            if (f == 0)
                for (size_t k = 0; k < 10; k++) {
                    ours[i * 10 + (int)k] = k < r.n ? atoi(r.items[k].id + 1) : -1;
                    ours_v[i * 10 + (int)k] = k < r.n ? r.items[k].value : NAN;
                }
            cs_records_free(&r);
        }
        double med = pct(lat, nq, 0.5), p95 = pct(lat, nq, 0.95);
        printf("query top-10 cosine%s: median %.2f ms, p95 %.2f ms (first query incl. loading: %.0f ms)\n",
               f ? " with filter cluster<10 (~10%)" : ", no filter", med * 1e3, p95 * 1e3, first * 1e3);
        if (f == 0) {
            med_fp32 = med;
            if (keep_base) print_limit(base, n, dim, queries, nq, med);
        }
    }
    /* A new connection (as a new process would): its first query finds no in-memory copy
     * and maps the cache file that the first query above wrote. The first new connection
     * right after the file was written is shown apart: on some VMs the first process to
     * touch freshly written pages pays a one-time cost (a plain C program mapping a just
     * written file shows it too); every later process maps them at page-cache speed. */
    q.vector = queries;
    for (int f = 0; f < 3; f++) {
        q.filter_json = filters[f == 2];
        double ms = reconnect_query(db, &store, &coll, &q);
        if (ms < 0) return 1;
        printf("first query of a new connection%s: %.1f ms\n",
               f == 0 ? ", the cache file just written" : f == 2 ? " with filter" : "", ms);
    }
    /* A write, then a query: 1000 records rewritten with their own vectors (what an
     * incremental index run does), then the first query that follows. */
    {
        int m = n < 1000 ? n : 1000;
        for (int j = 0; j < m; j++) {
            snprintf(ids[j], 16, "r%d", j);
            snprintf(meta[j], 48, "{\"cluster\":%d,\"i\":%d}", cluster[j], j);
            recs[j] = (cs_record_in){ids[j], first_rows + (size_t)j * dim, meta[j]};
        }
        q.filter_json = NULL;
        q.vector = queries;
        if (cs_collection_upsert(coll, recs, (size_t)m, &err)) {
            fprintf(stderr, "bench_store: upsert: %s\n", err.msg);
            return 1;
        }
        t0 = now();
        if (cs_collection_query(coll, &q, &r, &err)) {
            fprintf(stderr, "bench_store: query: %s\n", err.msg);
            return 1;
        }
        printf("first query after a write: %.1f ms (upsert of %d records)\n", (now() - t0) * 1e3, m);
        cs_records_free(&r);
        /* The queries that follow scan the patched cache: what a write costs them. */
        double lat[9];
        for (int i = 0; i < 9; i++) {
            q.vector = queries + (size_t)(i % nq) * dim;
            t0 = now();
            if (cs_collection_query(coll, &q, &r, &err)) {
                fprintf(stderr, "bench_store: query: %s\n", err.msg);
                return 1;
            }
            lat[i] = (now() - t0) * 1e3;
            cs_records_free(&r);
        }
        qsort(lat, 9, sizeof *lat, cmp_d);
        printf("later queries after a write: median %.2f ms\n", lat[4]);
    }
    if (keep_base) print_exactness(base, n, dim, queries, nq, ours);
    /* Compressed copies (vec vector-copy): the same queries through an int8 and an fp16
     * copy, their speed next to the float32 scan's and their answers against its own. */
    q.include_value = true;
    q.filter_json = NULL;
    const cs_vector_copy kinds[2] = {CS_VECTOR_COPY_INT8, CS_VECTOR_COPY_FP16};
    for (int ki = 0; ki < 2; ki++) {
        const char *kn = cs_vector_copy_name(kinds[ki]);
        if (cs_collection_set_vector_copy(coll, kinds[ki], &err)) {
            fprintf(stderr, "bench_store: vector copy: %s\n", err.msg);
            return 1;
        }
        q.vector = queries;
        t0 = now();
        if (cs_collection_query(coll, &q, &r, &err)) {
            fprintf(stderr, "bench_store: query: %s\n", err.msg);
            return 1;
        }
        double first = now() - t0;
        cs_records_free(&r);
        int same = 0;
        for (int i = 0; i < nq; i++) {
            q.vector = queries + (size_t)i * dim;
            t0 = now();
            if (cs_collection_query(coll, &q, &r, &err)) {
                fprintf(stderr, "bench_store: query: %s\n", err.msg);
                return 1;
            }
            lat[i] = now() - t0;
            bool eq = r.n == 10;
            for (size_t k = 0; eq && k < 10; k++)
                eq = atoi(r.items[k].id + 1) == ours[i * 10 + (int)k] &&
                     r.items[k].value == ours_v[i * 10 + (int)k];
            same += eq;
            cs_records_free(&r);
        }
        double med = pct(lat, nq, 0.5);
        printf("%s copy: query top-10 cosine, no filter: median %.2f ms (%.2fx faster than float32 "
               "%.2f ms; first query incl. building the copy: %.0f ms); top-10 identical to "
               "float32 (ids and distances) in %d of %d queries\n",
               kn, med * 1e3, med_fp32 / med, med_fp32 * 1e3, first * 1e3, same, nq);
        /* A new connection maps the copy file the first query saved (twice: see the
         * float32 lines). */
        q.vector = queries;
        for (int f = 0; f < 2; f++) {
            double ms = reconnect_query(db, &store, &coll, &q);
            if (ms < 0) return 1;
            printf("%s copy: first query of a new connection%s: %.1f ms\n", kn,
                   f ? "" : ", the copy file just written", ms);
        }
    }
    if (cs_collection_set_vector_copy(coll, CS_VECTOR_COPY_NONE, &err)) {
        fprintf(stderr, "bench_store: vector copy: %s\n", err.msg);
        return 1;
    }
    if (n > hnsw_max)
        printf("hnsw: not built at %d records (over --hnsw-max %d: the index holds its own "
               "float32 vectors and graph, about %.0f GB here)\n", n, hnsw_max,
               (double)n * (dim * 4 + hnsw_m * 2 * 4 + 64) / 1e9);
    else if (bench_hnsw(db, &store, &coll, queries, nq, dim, ours, hnsw_m, hnsw_efc))
        return 1;
    if (db == tmpdb) cs_store_drop(store, "bench", &err);   /* and its cache file */
    cs_collection_free(coll);
    cs_store_close(store);
    /* With the store closed its copy of the vectors is gone: room to regenerate ours. */
    if (!keep_base) {
        base = malloc((size_t)n * dim * sizeof(float));
        if (!base) {
            fprintf(stderr, "bench_store: no memory to regenerate the base for the scan limit\n");
            return 1;
        }
        gen_base_again(&g, n, base);
        print_limit(base, n, dim, queries, nq, med_fp32);
        print_exactness(base, n, dim, queries, nq, ours);
    }
    if (dumpdir) {
        dump(dumpdir, "base.f32", base, (size_t)n * dim * 4);
        dump(dumpdir, "queries.f32", queries, (size_t)nq * dim * 4);
        dump(dumpdir, "ours.i32", ours, (size_t)nq * 10 * 4);
    }
    if (db == tmpdb) {
        char p[300];
        unlink(tmpdb);
        snprintf(p, sizeof p, "%s-wal", tmpdb);
        unlink(p);
        snprintf(p, sizeof p, "%s-shm", tmpdb);
        unlink(p);
    }
    gen_free(&g);
    free(base); free(queries); free(first_rows); free(cluster); free(recs); free(ids);
    free(meta);
    free(lat); free(ours); free(ours_v);
    return 0;
}
