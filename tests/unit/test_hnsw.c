/* The HNSW index (store/hnsw.c): recall against the exact scan on clustered data, hit
 * distances bit for bit the scan's, removal and updates, NaN distances, determinism,
 * batch insertion, concurrent searches, and the index file (round trip, every kind of
 * bad file refused as "absent", a loaded index modified and saved again). Small enough
 * for the ASan build and the arm64 emulator. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/hash.h"
#include "store/hnsw.h"
#include "store/hnsw_internal.h"
#include "store/vscan.h"
#include "test.h"

#define K 10
#define NQ 100

static uint64_t rng = 0x243F6A8885A308D3ull;
static float frand(void)   /* uniform in [-0.5, 0.5) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) & 0xFFFFFF) / (float)0x1000000 - 0.5f;
}

/* n points around `clusters` centres (spread ~1, noise ~0.15 per coordinate), the data
 * and the queries drawn alike:
 * clustered like image embeddings, unlike uniform noise where every neighbour is far. */
static void make_centres(float *centres, int clusters, int dim)
{
    for (int c = 0; c < clusters; c++)
        for (int j = 0; j < dim; j++) centres[c * dim + j] = 2 * frand();
}

static float *clustered(size_t n, int dim, int clusters, const float *centres)
{
    float *v = malloc(n * (size_t)dim * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        int c = (int)((rng >> 20) % (uint64_t)clusters);
        frand();
        for (int j = 0; j < dim; j++)
            v[i * dim + j] = centres[c * dim + j] + 0.3f * (frand() + frand());
    }
    return v;
}

static int64_t key_of(size_t row) { return (int64_t)row * 7 - 1000; }

static cs__hnsw *build(cs_measure m, int dim, const float *v, size_t n, uint64_t seed)
{
    cs__hnsw_params p = {.dim = dim, .measure = m, .m = 16, .ef_construction = 64, .seed = seed};
    cs__hnsw *h;
    cs_error err = {0};
    CHECK_OK(cs__hnsw_new(&p, &h, &err), &err);
    for (size_t i = 0; i < n; i++) CHECK_OK(cs__hnsw_add(h, key_of(i), v + i * dim, &err), &err);
    return h;
}

static bool same_hits(const cs__hnsw_hit *a, long na, const cs__hnsw_hit *b, long nb)
{
    if (na != nb) return false;
    for (long i = 0; i < na; i++)
        if (a[i].key != b[i].key || memcmp(&a[i].dist, &b[i].dist, sizeof(double))) return false;
    return true;
}

/* Ascending, NaN last, ties by key. */
static bool ordered(const cs__hnsw_hit *h, long n)
{
    for (long i = 1; i < n; i++) {
        double a = h[i - 1].dist, b = h[i].dist;
        if (isnan(a) && !isnan(b)) return false;
        if (isnan(a) || isnan(b)) continue;
        if (a > b || (a == b && h[i - 1].key > h[i].key)) return false;
    }
    return true;
}

/* Recall@K of the index over queries against cs__vscan_topk over the rows not in
 * `removed` (NULL: all); checks every hit's distance is the scan's, bit for bit. */
static double recall(const cs__hnsw *h, cs_measure m, int dim, const float *v, size_t n,
                     const float *qs, size_t nq, size_t ef, const bool *removed)
{
    float *norms = malloc(n * sizeof *norms);
    uint32_t *rows = malloc(n * sizeof *rows);
    size_t nrows = 0, found = 0, want = 0;
    for (size_t i = 0; i < n; i++) {
        norms[i] = cs__vscan_norm2(v + i * dim, (size_t)dim);
        if (!removed || !removed[i]) rows[nrows++] = (uint32_t)i;
    }
    bool exact = true, sorted = true, none_removed = true;
    for (size_t qi = 0; qi < nq; qi++) {
        const float *q = qs + qi * dim;
        cs__vscan_hit ex[K];
        cs__hnsw_hit hits[K];
        long ne = cs__vscan_topk(m, q, v, norms, (size_t)dim, rows, nrows, K, ex);
        long nh = cs__hnsw_search(h, q, K, ef, hits);
        sorted &= ordered(hits, nh);
        want += (size_t)ne;
        float qn = cs__vscan_norm2(q, (size_t)dim);
        for (long i = 0; i < nh; i++) {
            size_t row = (size_t)((hits[i].key + 1000) / 7);
            none_removed &= !removed || !removed[row];
            double d = cs__vscan_distance(m, q, qn, v + row * dim, norms[row], (size_t)dim);
            exact &= !memcmp(&d, &hits[i].dist, sizeof d);
            for (long j = 0; j < ne; j++)
                if (key_of(ex[j].row) == hits[i].key) {
                    found++;
                    exact &= !memcmp(&ex[j].dist, &hits[i].dist, sizeof d);
                }
        }
    }
    CHECK_MSG(exact, "measure %d: a hit's distance differs from the exact scan's", (int)m);
    CHECK_MSG(sorted, "measure %d: hits not in ascending order", (int)m);
    CHECK_MSG(none_removed, "measure %d: a removed key was returned", (int)m);
    free(norms);
    free(rows);
    return want ? (double)found / (double)want : 1.0;
}

static void test_recall(cs_measure m, int dim, size_t n)
{
    float centres[40 * 64];
    make_centres(centres, 40, dim);
    float *v = clustered(n, dim, 40, centres);
    float *qs = clustered(NQ, dim, 40, centres);
    /* A zero vector first: under cosine the entry point then has NaN distances, which a
     * descent must step away from. */
    memset(v, 0, (size_t)dim * sizeof *v);
    cs__hnsw *h = build(m, dim, v, n, 42);
    CHECK(cs__hnsw_live(h) == n && cs__hnsw_dead(h) == 0);
    double r = recall(h, m, dim, v, n, qs, NQ, 64, NULL);
    CHECK_MSG(r >= 0.95, "measure %d: recall@10 %.3f at ef 64", (int)m, r);
    fprintf(stderr, "measure %d, %zu x %d: recall@10 %.3f at ef 64\n", (int)m, n, dim, r);

    /* Removal: every third key; never returned, recall over the rest still high. */
    bool *removed = calloc(n, sizeof *removed);
    for (size_t i = 0; i < n; i += 3) {
        removed[i] = true;
        CHECK(cs__hnsw_remove(h, key_of(i)) == 1);
    }
    CHECK(cs__hnsw_remove(h, key_of(0)) == 0);      /* already gone */
    CHECK(cs__hnsw_remove(h, key_of(n + 5)) == 0);  /* never there */
    CHECK(cs__hnsw_live(h) == n - (n + 2) / 3 && cs__hnsw_dead(h) == (n + 2) / 3);
    r = recall(h, m, dim, v, n, qs, NQ, 64, removed);
    CHECK_MSG(r >= 0.9, "measure %d: recall@10 %.3f after removals", (int)m, r);

    /* Re-adding removed keys with their vectors restores them (as new nodes). */
    for (size_t i = 0; i < n; i += 3) {
        cs_error err = {0};
        CHECK_OK(cs__hnsw_add(h, key_of(i), v + i * dim, &err), &err);
        removed[i] = false;
    }
    CHECK(cs__hnsw_live(h) == n);
    r = recall(h, m, dim, v, n, qs, NQ, 64, NULL);
    CHECK_MSG(r >= 0.95, "measure %d: recall@10 %.3f after re-adding", (int)m, r);

    free(removed);
    cs__hnsw_free(h);
    free(v);
    free(qs);
}

/* Empty index, k = 0, k above the live count, an update in place, removing everything. */
static void test_small(void)
{
    enum { D = 8, N = 300 };
    cs__hnsw_params p = {.dim = D, .measure = CS_MEASURE_L2, .m = 4, .ef_construction = 16,
                        .seed = 1};
    cs__hnsw *h;
    cs_error err = {0};
    CHECK_OK(cs__hnsw_new(&p, &h, &err), &err);
    float q[D] = {0}, v[N][D];
    cs__hnsw_hit hits[N + 10];
    CHECK(cs__hnsw_search(h, q, 10, 40, hits) == 0);
    CHECK(cs__hnsw_remove(h, 5) == 0);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) v[i][j] = frand();
        CHECK_OK(cs__hnsw_add(h, i, v[i], &err), &err);
    }
    CHECK(cs__hnsw_search(h, q, 0, 40, hits) == 0);
    /* More than the live count, through the graph (ef < n) and the exact path (ef >= n). */
    CHECK(cs__hnsw_search(h, q, N + 10, 10, hits) == N);
    CHECK(cs__hnsw_search(h, q, N + 10, N + 10, hits) == N);
    bool seen[N] = {0}, all = true;
    for (int i = 0; i < N; i++) seen[hits[i].key] = true;
    for (int i = 0; i < N; i++) all &= seen[i];
    CHECK(all && ordered(hits, N));

    /* Update in place: key 7 moves far away; the old vector no longer finds it. */
    CHECK(cs__hnsw_search(h, v[7], 1, 40, hits) == 1 && hits[0].key == 7 && hits[0].dist == 0);
    float far[D];
    for (int j = 0; j < D; j++) far[j] = 100 + (float)j;
    CHECK_OK(cs__hnsw_add(h, 7, far, &err), &err);
    CHECK(cs__hnsw_live(h) == N && cs__hnsw_dead(h) == 1);
    long nh = cs__hnsw_search(h, v[7], 5, 40, hits);
    bool stale = false;
    for (long i = 0; i < nh; i++) stale |= hits[i].key == 7;
    CHECK(nh == 5 && !stale);
    CHECK(cs__hnsw_search(h, far, 1, 40, hits) == 1 && hits[0].key == 7 && hits[0].dist == 0);
    CHECK(cs__hnsw_search(h, q, N + 10, N + 10, hits) == N);

    /* Remove everything: nothing comes back, whatever ef. */
    for (int i = 0; i < N; i++) CHECK(cs__hnsw_remove(h, i) == 1);
    CHECK(cs__hnsw_live(h) == 0 && cs__hnsw_dead(h) == N + 1);
    CHECK(cs__hnsw_search(h, q, 10, 40, hits) == 0);
    CHECK(cs__hnsw_search(h, far, 10, 1000, hits) == 0);
    /* and adding again works on the all-dead graph. */
    CHECK_OK(cs__hnsw_add(h, 99, v[3], &err), &err);
    CHECK(cs__hnsw_search(h, q, 10, 5, hits) == 1 && hits[0].key == 99);
    cs__hnsw_free(h);

    /* Parameters out of range. */
    cs__hnsw_params bad[] = {{.dim = 0, .measure = CS_MEASURE_L2, .m = 16, .ef_construction = 64},
                            {.dim = 8, .measure = CS_MEASURE_L2, .m = 1, .ef_construction = 64},
                            {.dim = 8, .measure = CS_MEASURE_L2, .m = 16, .ef_construction = 0},
                            {.dim = 8, .measure = (cs_measure)99, .m = 16, .ef_construction = 64}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        h = NULL;
        CHECK(cs__hnsw_new(&bad[i], &h, &err) == CS_E_ARG && !h);
    }
}

/* Zero vectors under cosine: NaN distances, ranked last, no crash or endless loop. */
static void test_nan(void)
{
    enum { D = 16, N = 600, Z = 40 };
    cs__hnsw_params p = {.dim = D, .measure = CS_MEASURE_COSINE, .m = 8, .ef_construction = 32,
                        .seed = 3};
    cs__hnsw *h;
    cs_error err = {0};
    CHECK_OK(cs__hnsw_new(&p, &h, &err), &err);
    float v[D], zero[D] = {0};
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) v[j] = frand();
        /* Zero vectors spread through the insertion order, the first one included. */
        CHECK_OK(cs__hnsw_add(h, i, i % (N / Z) == 0 ? zero : v, &err), &err);
    }
    cs__hnsw_hit hits[N];
    long nh = cs__hnsw_search(h, v, N, N, hits);   /* exact path */
    CHECK(nh == N && ordered(hits, nh));
    int nan = 0;
    for (long i = 0; i < nh; i++) nan += isnan(hits[i].dist);
    CHECK(nan == Z);
    for (long i = N - Z; i < nh; i++) CHECK(isnan(hits[i].dist) && hits[i].key % (N / Z) == 0);
    nh = cs__hnsw_search(h, v, 10, 40, hits);      /* graph path */
    CHECK(nh == 10 && ordered(hits, nh));
    for (long i = 0; i < nh; i++) CHECK(!isnan(hits[i].dist));
    nh = cs__hnsw_search(h, zero, 10, 40, hits);   /* a zero query: every distance NaN */
    CHECK(nh == 10 && ordered(hits, nh));
    for (long i = 0; i < nh; i++) CHECK(isnan(hits[i].dist));
    cs__hnsw_free(h);
}

/* Same seed, same order: the same graph (the saved files are equal byte for byte); a
 * single-threaded batch builds exactly that graph too. Two threads: as good a graph. */
typedef struct {
    const cs__hnsw *h;
    const float *qs;
    int dim;
    cs__hnsw_hit *out;   /* NQ * K */
    long *counts;
} search_job;

static void *run_searches(void *arg)
{
    search_job *j = arg;
    for (int i = 0; i < NQ; i++)
        j->counts[i] = cs__hnsw_search(j->h, j->qs + (size_t)i * j->dim, K, 48, j->out + i * K);
    return NULL;
}

static bool files_equal(const char *a, const char *b)
{
    uint8_t *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    FILE *f = fopen(a, "rb"), *g = fopen(b, "rb");
    bool eq = false;
    if (f && g && !fseek(f, 0, SEEK_END) && !fseek(g, 0, SEEK_END)) {
        nx = (size_t)ftell(f);
        ny = (size_t)ftell(g);
        rewind(f);
        rewind(g);
        x = malloc(nx + 1);
        y = malloc(ny + 1);
        eq = nx == ny && fread(x, 1, nx, f) == nx && fread(y, 1, ny, g) == ny &&
             !memcmp(x, y, nx);
    }
    if (f) fclose(f);
    if (g) fclose(g);
    free(x);
    free(y);
    return eq;
}

static void test_determinism(const char *dir)
{
    enum { D = 24, N = 3000 };
    float centres[30 * D];
    make_centres(centres, 30, D);
    float *v = clustered(N, D, 30, centres), *qs = clustered(NQ, D, 30, centres);
    int64_t keys[N];
    for (int i = 0; i < N; i++) keys[i] = key_of((size_t)i);
    cs_error err = {0};
    char fa[512], fb[512], fc[512];
    snprintf(fa, sizeof fa, "%s/a.hnsw", dir);
    snprintf(fb, sizeof fb, "%s/b.hnsw", dir);
    snprintf(fc, sizeof fc, "%s/c.hnsw", dir);

    cs__hnsw *a = build(CS_MEASURE_L2, D, v, N, 7), *b = build(CS_MEASURE_L2, D, v, N, 7);
    cs__hnsw_params p = *cs__hnsw_get_params(a);
    cs__hnsw *c;
    CHECK_OK(cs__hnsw_new(&p, &c, &err), &err);
    CHECK_OK(cs__hnsw_add_batch(c, keys, v, N, 1, &err), &err);
    CHECK_OK(cs__hnsw_save(a, fa, "t", 1, &err), &err);
    CHECK_OK(cs__hnsw_save(b, fb, "t", 1, &err), &err);
    CHECK_OK(cs__hnsw_save(c, fc, "t", 1, &err), &err);
    CHECK_MSG(files_equal(fa, fb), "same seed and order, different graphs");
    CHECK_MSG(files_equal(fa, fc), "a one-thread batch differs from single adds");

    /* Searches from four threads at once agree with a serial run. */
    cs__hnsw_hit serial[NQ * K], par[4][NQ * K];
    long sc[NQ], pc[4][NQ];
    search_job sj = {a, qs, D, serial, sc};
    run_searches(&sj);
    search_job jobs[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (search_job){a, qs, D, par[i], pc[i]};
        CHECK(pthread_create(&t[i], NULL, run_searches, &jobs[i]) == 0);
    }
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    bool agree = true;
    for (int i = 0; i < 4; i++)
        for (int qi = 0; qi < NQ; qi++)
            agree &= same_hits(par[i] + qi * K, pc[i][qi], serial + qi * K, sc[qi]);
    CHECK_MSG(agree, "concurrent searches differ from serial ones");

    /* Two threads; a key given twice in the batch keeps its last row. */
    cs__hnsw *d;
    CHECK_OK(cs__hnsw_new(&p, &d, &err), &err);
    keys[N - 1] = keys[5];
    CHECK_OK(cs__hnsw_add_batch(d, keys, v, N, 2, &err), &err);
    CHECK(cs__hnsw_live(d) == N - 1 && cs__hnsw_dead(d) == 1);
    cs__hnsw_hit hit;
    CHECK(cs__hnsw_search(d, v + (size_t)(N - 1) * D, 1, 40, &hit) == 1 &&
          hit.key == keys[5] && hit.dist == 0);
    keys[N - 1] = key_of(N - 1);
    CHECK_OK(cs__hnsw_add(d, keys[N - 1], v + (size_t)(N - 1) * D, &err), &err);
    CHECK_OK(cs__hnsw_add(d, keys[5], v + (size_t)5 * D, &err), &err);
    double r = recall(d, CS_MEASURE_L2, D, v, N, qs, NQ, 64, NULL);
    CHECK_MSG(r >= 0.95, "two-thread batch: recall@10 %.3f", r);

    unlink(fa);
    unlink(fb);
    unlink(fc);
    cs__hnsw_free(a);
    cs__hnsw_free(b);
    cs__hnsw_free(c);
    cs__hnsw_free(d);
    free(v);
    free(qs);
}

/* ---- files ---- */

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    uint8_t *b = malloc(*n);
    if (fread(b, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return b;
}

static void spit(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, n, f) == n);
    if (f) fclose(f);
}

static int try_load(const char *path, const char *tag, int dim)
{
    cs__hnsw *h = NULL;
    int64_t gen = -1;
    cs_error err = {0};
    int rc = cs__hnsw_load(path, tag, dim, &h, &gen, &err);
    CHECK((rc == 0) == (h != NULL));
    cs__hnsw_free(h);
    return rc;
}

static void search_all(const cs__hnsw *h, const float *qs, int dim, cs__hnsw_hit *out, long *cnt)
{
    for (int i = 0; i < NQ; i++) cnt[i] = cs__hnsw_search(h, qs + (size_t)i * dim, K, 40, out + i * K);
}

static bool same_results(const cs__hnsw *a, const cs__hnsw *b, const float *qs, int dim)
{
    static cs__hnsw_hit ha[NQ * K], hb[NQ * K];
    long ca[NQ], cb[NQ];
    search_all(a, qs, dim, ha, ca);
    search_all(b, qs, dim, hb, cb);
    bool same = true;
    for (int i = 0; i < NQ; i++) same &= same_hits(ha + i * K, ca[i], hb + i * K, cb[i]);
    return same;
}

static void test_files(const char *dir)
{
    enum { D = 32, N = 2000 };
    float centres[20 * D];
    make_centres(centres, 20, D);
    float *v = clustered(N + 200, D, 20, centres), *qs = clustered(NQ, D, 20, centres);
    cs__hnsw *h = build(CS_MEASURE_COSINE, D, v, N, 11);
    for (int i = 0; i < N; i += 10) cs__hnsw_remove(h, key_of((size_t)i));   /* tombstones too */
    char path[512], bad[512];
    snprintf(path, sizeof path, "%s/sub/photos.hnsw", dir);   /* sub/ does not exist yet */
    snprintf(bad, sizeof bad, "%s/bad.hnsw", dir);
    cs_error err = {0};
    CHECK_OK(cs__hnsw_save(h, path, "photos", 1234, &err), &err);
    CHECK(cs__hnsw_save(h, path, "0123456789012345678901234567890123456789012345678901234567890123",
                        1, &err) == CS_E_ARG);

    cs__hnsw *l = NULL;
    int64_t gen = 0;
    CHECK_OK(cs__hnsw_load(path, "photos", D, &l, &gen, &err), &err);
    if (!l) return;
    CHECK(gen == 1234 && cs__hnsw_live(l) == cs__hnsw_live(h) &&
          cs__hnsw_dead(l) == cs__hnsw_dead(h));
    const cs__hnsw_params *pl = cs__hnsw_get_params(l), *ph = cs__hnsw_get_params(h);
    CHECK(pl->dim == D && pl->measure == ph->measure && pl->m == ph->m &&
          pl->ef_construction == ph->ef_construction && pl->seed == ph->seed);
    CHECK_MSG(same_results(h, l, qs, D), "a loaded index answers differently");

    /* Refused as absent: missing, other tag or dimension, truncated, any flipped byte. */
    CHECK(try_load(bad, "photos", D) == 1);
    CHECK(try_load(path, "photo", D) == 1);
    CHECK(try_load(path, "photos2", D) == 1);
    CHECK(try_load(path, "photos", D + 1) == 1);
    CHECK(try_load(dir, "photos", D) == 1);   /* a directory */
    size_t n = 0;
    uint8_t *file = slurp(path, &n);
    CHECK(file && n > 4096);
    if (!file) return;
    size_t cuts[] = {0, 100, 255, 256, n / 2, n - 64, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        spit(bad, file, cuts[i]);
        CHECK_MSG(try_load(bad, "photos", D) == 1, "truncated to %zu of %zu loads", cuts[i], n);
    }
    uint8_t *longer = malloc(n + 64);
    memcpy(longer, file, n);
    memset(longer + n, 0, 64);
    spit(bad, longer, n + 64);
    CHECK(try_load(bad, "photos", D) == 1);
    free(longer);
    size_t flips[] = {0, 12, 100, 215, 220, 240, 255, 256, 300, 256 + (size_t)N * D * 2, n / 2, n * 3 / 4, n - 70};
    for (size_t i = 0; i < sizeof flips / sizeof *flips; i++) {
        file[flips[i]] ^= 0x10;
        spit(bad, file, n);
        CHECK_MSG(try_load(bad, "photos", D) == 1, "byte %zu flipped loads", flips[i]);
        file[flips[i]] ^= 0x10;
    }
    spit(bad, file, n);
    CHECK(try_load(bad, "photos", D) == 0);   /* the unflipped copy is fine */
    /* The other byte order: a header that is valid (its checksum matches) but written by a
     * big-endian machine reads 0x04030201 here. */
    uint32_t other = 0x04030201u;
    memcpy(file + 12, &other, 4);                 /* the endian field */
    uint64_t sum = cs__hash64(file, 216);         /* the header checksum over bytes 0..215 */
    memcpy(file + 216, &sum, 8);
    spit(bad, file, n);
    CHECK(try_load(bad, "photos", D) == 1);
    free(file);

    /* The loaded (mapped) index takes removals and adds (in its mapped arrays' room) and
     * saves over the very file it maps. */
    for (int i = 1; i < N; i += 10) CHECK(cs__hnsw_remove(l, key_of((size_t)i)) == 1);
    for (int i = N; i < N + 200; i++)
        CHECK_OK(cs__hnsw_add(l, key_of((size_t)i), v + (size_t)i * D, &err), &err);
    CHECK_OK(cs__hnsw_add(l, key_of(3), v + (size_t)(N + 7) * D, &err), &err);   /* update */
    cs__hnsw_hit hits[K];
    for (int i = N; i < N + 200; i += 17)
        CHECK(cs__hnsw_search(l, v + (size_t)i * D, 1, 40, hits) == 1 &&
              hits[0].key == key_of((size_t)i));
    for (int qi = 0; qi < NQ; qi++) {
        long nh = cs__hnsw_search(l, qs + (size_t)qi * D, K, 40, hits);
        for (long i = 0; i < nh; i++) {
            size_t row = (size_t)((hits[i].key + 1000) / 7);
            /* neither those removed before saving nor those removed after loading */
            CHECK(row >= N || row % 10 > 1);
        }
    }
    CHECK_OK(cs__hnsw_save(l, path, "photos", 1235, &err), &err);
    cs__hnsw *l2 = NULL;
    CHECK_OK(cs__hnsw_load(path, "photos", D, &l2, &gen, &err), &err);
    CHECK(l2 && gen == 1235 && cs__hnsw_live(l2) == cs__hnsw_live(l));
    if (l2) CHECK_MSG(same_results(l, l2, qs, D), "the re-saved index answers differently");

    /* A loaded index that only removes (no add) also saves (from the mapping). */
    CHECK(l2 && cs__hnsw_remove(l2, key_of(2)) == 1);
    CHECK_OK(cs__hnsw_save(l2, path, "photos", 1236, &err), &err);
    cs__hnsw *l3 = NULL;
    CHECK_OK(cs__hnsw_load(path, "photos", D, &l3, &gen, &err), &err);
    CHECK(l3 && cs__hnsw_live(l3) == cs__hnsw_live(l2));
    if (l3) CHECK(same_results(l2, l3, qs, D));

    /* A loaded index grows into its mapped arrays' room (half as many nodes again), then
     * past it into memory, and answers as the index it was saved from does after the same
     * adds (levels are drawn from the saved generator state). */
    CHECK_OK(cs__hnsw_save(h, path, "photos", 1237, &err), &err);
    cs__hnsw *hl = NULL;
    CHECK_OK(cs__hnsw_load(path, "photos", D, &hl, &gen, &err), &err);
    for (int i = 0; hl && i < N; i++) {
        const float *x = v + (size_t)((i * 13) % (N + 200)) * D;
        CHECK_OK(cs__hnsw_add(h, key_of((size_t)(3 * N + i)), x, &err), &err);
        CHECK_OK(cs__hnsw_add(hl, key_of((size_t)(3 * N + i)), x, &err), &err);
        if (i == N / 4 || i == N - 1)
            CHECK_MSG(same_results(h, hl, qs, D), "after %d adds to a loaded index", i + 1);
    }
    CHECK(hl && cs__hnsw_live(hl) == cs__hnsw_live(h));
    cs__hnsw_free(hl);
    /* The same without the room (a load's fallback where the kernel refuses it): the first
     * add copies the arrays into memory. */
    CHECK_OK(cs__hnsw_save(h, path, "photos", 1238, &err), &err);
    hl = NULL;
    CHECK_OK(cs__hnsw_load_room(path, "photos", D, false, &hl, &gen, &err), &err);
    for (int i = 0; hl && i < N / 2; i++) {
        const float *x = v + (size_t)((i * 7) % (N + 200)) * D;
        CHECK_OK(cs__hnsw_add(h, key_of((size_t)(5 * N + i)), x, &err), &err);
        CHECK_OK(cs__hnsw_add(hl, key_of((size_t)(5 * N + i)), x, &err), &err);
        if (i == 0 || i == N / 2 - 1)
            CHECK_MSG(same_results(h, hl, qs, D), "after %d adds to an index loaded without room",
                      i + 1);
    }
    CHECK(hl && cs__hnsw_live(hl) == cs__hnsw_live(h));
    cs__hnsw_free(hl);

    /* An empty index round-trips and grows. */
    cs__hnsw_params p = *cs__hnsw_get_params(h);
    cs__hnsw *e, *le = NULL;
    CHECK_OK(cs__hnsw_new(&p, &e, &err), &err);
    CHECK_OK(cs__hnsw_save(e, bad, "photos", 0, &err), &err);
    CHECK_OK(cs__hnsw_load(bad, "photos", D, &le, &gen, &err), &err);
    if (le) {
        CHECK(cs__hnsw_search(le, qs, K, 40, hits) == 0);
        CHECK_OK(cs__hnsw_add(le, 1, v, &err), &err);
        CHECK(cs__hnsw_search(le, qs, K, 40, hits) == 1);
    }

    cs__hnsw_free(e);
    cs__hnsw_free(le);
    cs__hnsw_free(l3);
    cs__hnsw_free(l2);
    cs__hnsw_free(l);
    cs__hnsw_free(h);
    unlink(path);
    unlink(bad);
    char sub[512];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    rmdir(sub);
    free(v);
    free(qs);
}

/* IP and L1 work too (a graph is a weaker fit for them, so no recall bar beyond "finds
 * most"): sorted, exact distances. */
static void test_other_measures(void)
{
    cs_measure ms[] = {CS_MEASURE_IP, CS_MEASURE_L1};
    for (int i = 0; i < 2; i++) {
        float centres[20 * 16];
        make_centres(centres, 20, 16);
        float *v = clustered(1500, 16, 20, centres), *qs = clustered(NQ, 16, 20, centres);
        cs__hnsw *h = build(ms[i], 16, v, 1500, 5);
        double r = recall(h, ms[i], 16, v, 1500, qs, NQ, 64, NULL);
        CHECK_MSG(r >= 0.5, "measure %d: recall@10 %.3f", (int)ms[i], r);
        cs__hnsw_free(h);
        free(v);
        free(qs);
    }
}

int main(void)
{
    char dir[] = "/tmp/test_hnsw.XXXXXX";
    if (!mkdtemp(dir)) SKIP("cannot create a temporary directory");
    test_small();
    test_nan();
    test_recall(CS_MEASURE_COSINE, 32, 5000);
    test_recall(CS_MEASURE_L2, 64, 2000);
    test_other_measures();
    test_determinism(dir);
    test_files(dir);
    rmdir(dir);
    return TEST_RESULT();
}
