/* Duplicate groups (app/duplicates*.c): the blocked GEMM grouping must find exactly the
 * groups a double-precision brute force finds, whatever the block size; exact links by
 * content key; chains; group statistics over every pair; option errors; and the store
 * path (metadata, member order, copy numbering) plus the HTML page's escaping. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "clipsearch/clip.h"
#include "clipsearch/duplicates.h"
#include "test.h"

static uint64_t rng = 0x243F6A8885A308D3ull;
static double gauss(void)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        u[i] = ((rng * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
    }
    return sqrt(-2 * log(u[0] + 1e-300)) * cos(2 * M_PI * u[1]);
}

static void random_unit(float *v, int dim)
{
    for (int i = 0; i < dim; i++) v[i] = (float)gauss();
    cs_l2_normalize(v, (size_t)dim);
}

/* v = normalize(src + eps * noise) */
static void near_copy(float *v, const float *src, int dim, double eps)
{
    for (int i = 0; i < dim; i++) v[i] = src[i] + (float)(eps * gauss());
    cs_l2_normalize(v, (size_t)dim);
}

static double dot(const float *a, const float *b, int dim)
{
    double s = 0;
    for (int i = 0; i < dim; i++) s += (double)a[i] * b[i];
    return s;
}

static size_t find_root(size_t *p, size_t x)
{
    while (p[x] != x) x = p[x] = p[p[x]];
    return x;
}

/* Group label of each row (smallest row of its group; the row itself when alone). */
static void labels_of(const cs_dup_groups *g, size_t n, size_t *label)
{
    for (size_t i = 0; i < n; i++) label[i] = i;
    for (size_t k = 0; k < g->n; k++) {
        size_t lo = SIZE_MAX;
        for (size_t j = 0; j < g->items[k].n; j++)
            if (g->items[k].members[j].row < lo) lo = g->items[k].members[j].row;
        for (size_t j = 0; j < g->items[k].n; j++) label[g->items[k].members[j].row] = lo;
    }
}

static void test_against_brute_force(void)
{
    enum { N = 2500, DIM = 48 };
    float *x = malloc(sizeof(float) * N * DIM);
    for (int i = 0; i < N; i++) random_unit(x + (size_t)i * DIM, DIM);
    /* Planted near-duplicates (cos ~0.99) and a few chains spread over every block. */
    for (int i = 0; i < 200; i++) {
        int src = (i * 37) % N, dst = (i * 911 + 5) % N;
        if (src != dst) near_copy(x + (size_t)dst * DIM, x + (size_t)src * DIM, DIM, 0.02);
    }
    const double t = 0.9;
    size_t *p = malloc(N * sizeof *p), *want = malloc(N * sizeof *want),
           *got = malloc(N * sizeof *got);
    for (size_t i = 0; i < N; i++) p[i] = i;
    size_t pairs = 0, edge = 0;
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < N; j++) {
            double s = dot(x + i * DIM, x + j * DIM, DIM);
            /* Random 48-d vectors stay far below t: no pair sits at the rounding edge. */
            edge += fabs(s - t) <= 1e-3;
            if (s >= t) {
                pairs++;
                size_t a = find_root(p, i), b = find_root(p, j);
                if (a != b) p[a > b ? a : b] = a < b ? a : b;
            }
        }
    for (size_t i = 0; i < N; i++) {
        size_t r = find_root(p, i);
        want[i] = r;
    }
    /* Brute force labels: the root is the smallest row only if unions keep the smaller:
     * recompute as the smallest member of each set. */
    size_t *lo = malloc(N * sizeof *lo);
    for (size_t i = 0; i < N; i++) lo[i] = SIZE_MAX;
    for (size_t i = 0; i < N; i++) if (i < lo[want[i]]) lo[want[i]] = i;
    for (size_t i = 0; i < N; i++) want[i] = lo[want[i]];
    CHECK(pairs > 100 && edge == 0);

    /* Each block size with the float pass and with the int8 prefilter (where built). */
    int blocks[] = {16, 100, 1024, 16, 100, 1024};
    int int8_runs = 0;
    for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
        cs_dup_options opt;
        cs_dup_options_init(&opt);
        opt.threshold = t;
        opt.block_rows = blocks[b];
        opt.int8_prefilter = b >= 3;
        cs_dup_groups g;
        cs_error err = {0};
        CHECK_OK(cs_duplicates_group(x, N, DIM, NULL, &opt, &g, &err), &err);
        CHECK(g.records == N);
        CHECK(!strcmp(g.pass, opt.int8_prefilter ? g.pass : "float"));
        int8_runs += !strcmp(g.pass, "int8");
        CHECK_MSG(g.pairs == pairs, "block %d: %zu pairs, brute force %zu", blocks[b], g.pairs,
                  pairs);
        labels_of(&g, N, got);
        size_t diff = 0;
        for (size_t i = 0; i < N; i++) diff += got[i] != want[i];
        CHECK_MSG(diff == 0, "block %d: %zu rows grouped differently", blocks[b], diff);
        /* Largest first; statistics over every pair of members. */
        for (size_t k = 0; k < g.n; k++) {
            const cs_dup_group *gr = &g.items[k];
            CHECK(gr->n >= 2);
            if (k) CHECK(g.items[k - 1].n >= gr->n);
            double mx = -2, mn = 2;
            for (size_t i = 0; i < gr->n; i++) {
                double best = -2;
                for (size_t j = 0; j < gr->n; j++) {
                    if (i == j) continue;
                    double s = dot(x + gr->members[i].row * DIM, x + gr->members[j].row * DIM, DIM);
                    if (s > best) best = s;
                    if (j > i && s > mx) mx = s;
                    if (j > i && s < mn) mn = s;
                }
                CHECK(fabs(gr->members[i].similarity - best) < 1e-5);
                CHECK(gr->members[i].copy == 0);
            }
            CHECK(fabs(gr->max_similarity - mx) < 1e-5 && fabs(gr->min_similarity - mn) < 1e-5);
            CHECK(!strcmp(cs_dup_group_kind(gr), "near"));
        }
        cs_dup_groups_free(&g);
    }
    fprintf(stderr, "int8 prefilter ran %d of 3 times%s\n", int8_runs,
            int8_runs ? "" : " (a build without oneDNN)");
    CHECK(int8_runs == 0 || int8_runs == 3);
    /* A threshold the int8 bound cannot prune for falls back to the float pass. */
    cs_dup_options low;
    cs_dup_options_init(&low);
    low.threshold = 0.3;
    cs_dup_groups g;
    cs_error err = {0};
    CHECK_OK(cs_duplicates_group(x, 300, DIM, NULL, &low, &g, &err), &err);
    CHECK(!strcmp(g.pass, "float"));
    cs_dup_groups_free(&g);
    free(x);
    free(p);
    free(want);
    free(got);
    free(lo);
}

static void test_small_cases(void)
{
    enum { DIM = 16 };
    float x[8 * DIM];
    for (int i = 0; i < 8; i++) random_unit(x + i * DIM, DIM);
    /* 0,1 identical vectors; 2~3~4 a chain (2 and 4 below the threshold); 5 and 7 share a
     * content key only; 6 alone. */
    memcpy(x + 1 * DIM, x, sizeof(float) * DIM);
    for (int i = 0; i < DIM; i++) {
        x[3 * DIM + i] = x[2 * DIM + i] * 0.97f + x[6 * DIM + i] * 0.243f;
    }
    cs_l2_normalize(x + 3 * DIM, DIM);
    for (int i = 0; i < DIM; i++) x[4 * DIM + i] = x[3 * DIM + i] * 0.97f + x[6 * DIM + i] * 0.243f;
    cs_l2_normalize(x + 4 * DIM, DIM);
    double s23 = dot(x + 2 * DIM, x + 3 * DIM, DIM), s34 = dot(x + 3 * DIM, x + 4 * DIM, DIM),
           s24 = dot(x + 2 * DIM, x + 4 * DIM, DIM);
    double t = (fmin(s23, s34) + s24) / 2;   /* links 2-3 and 3-4, not 2-4 */
    CHECK(s24 < t && s23 > t && s34 > t);
    const char *keys[8] = {NULL, NULL, NULL, NULL, NULL, "k", NULL, "k"};
    cs_dup_options opt;
    cs_dup_options_init(&opt);
    opt.threshold = t;
    cs_dup_groups g;
    cs_error err = {0};
    CHECK_OK(cs_duplicates_group(x, 8, DIM, keys, &opt, &g, &err), &err);
    CHECK(g.n == 3);
    if (g.n == 3) {
        /* The chain (3 members) first, then {0,1} (max 1) before {5,7}. */
        CHECK(g.items[0].n == 3 && g.items[0].members[0].row == 2 &&
              g.items[0].members[2].row == 4);
        CHECK(fabs(g.items[0].min_similarity - s24) < 1e-5);
        CHECK(fabs(g.items[0].max_similarity - fmax(s23, s34)) < 1e-5);
        CHECK(g.items[1].n == 2 && g.items[1].members[0].row == 0);
        CHECK(g.items[1].max_similarity == 1.0 && g.items[1].min_similarity == 1.0);
        CHECK(!strcmp(cs_dup_group_kind(&g.items[1]), "near"));   /* no keys for 0, 1 */
        CHECK(g.items[2].n == 2 && g.items[2].members[0].row == 5 &&
              g.items[2].members[1].row == 7);
        CHECK(g.items[2].members[0].copy == 1 && g.items[2].members[1].copy == 1);
        CHECK(g.items[2].copy_sets == 1 && !strcmp(cs_dup_group_kind(&g.items[2]), "exact"));
        CHECK(g.items[2].max_similarity < 0.9);   /* linked by key, not by similarity */
    }
    cs_dup_groups_free(&g);

    /* Threshold 1 finds identical vectors despite float32 rounding. */
    opt.threshold = 1;
    CHECK_OK(cs_duplicates_group(x, 8, DIM, NULL, &opt, &g, &err), &err);
    CHECK(g.n == 1 && g.items[0].n == 2 && g.items[0].members[1].row == 1);
    cs_dup_groups_free(&g);

    /* A zero row matches nothing (not even another zero row). */
    float z[2 * DIM] = {0};
    opt.threshold = 0.5;
    CHECK_OK(cs_duplicates_group(z, 2, DIM, NULL, &opt, &g, &err), &err);
    CHECK(g.n == 0);
    cs_dup_groups_free(&g);
    CHECK_OK(cs_duplicates_group(x, 0, DIM, NULL, &opt, &g, &err), &err);
    CHECK(g.n == 0 && g.records == 0);
    CHECK_OK(cs_duplicates_group(x, 1, DIM, NULL, &opt, &g, &err), &err);
    CHECK(g.n == 0 && g.records == 1);

    double bad[] = {0, -0.5, 1.0000001, 2, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        opt.threshold = bad[i];
        err = (cs_error){0};
        CHECK(cs_duplicates_group(x, 8, DIM, NULL, &opt, &g, &err) == CS_E_ARG);
        CHECK(strstr(err.msg, "threshold") != NULL);
        CHECK(g.n == 0 && g.items == NULL);
    }
    opt.threshold = 0.9;
    opt.block_rows = 8;
    CHECK(cs_duplicates_group(x, 8, DIM, NULL, &opt, &g, &err) == CS_E_ARG);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

/* Through the store: metadata fields, member order (largest image first), copy numbers
 * in member order, the vector+bytes key for records without a hash, and the page. */
static void test_store(void)
{
    enum { DIM = 8 };
    char dir[] = "/tmp/cs_dup_test_XXXXXX";
    if (!mkdtemp(dir)) SKIP("mkdtemp");
    char db[256], html[256];
    snprintf(db, sizeof db, "%s/d.db", dir);
    snprintf(html, sizeof html, "%s/d.html", dir);
    cs_error err = {0};
    cs_store *s = NULL;
    cs_collection *c = NULL;
    CHECK_OK(cs_store_open(db, &s, &err), &err);
    CHECK_OK(cs_store_get_or_create(s, "dups", DIM, &c, &err), &err);
    if (!c) return;
    float v[6][DIM];
    for (int i = 0; i < 6; i++) random_unit(v[i], DIM);
    memcpy(v[1], v[0], sizeof v[0]);                   /* a copy of a (same hash) */
    near_copy(v[2], v[0], DIM, 0.01);                  /* a resized a */
    for (int i = 0; i < DIM; i++) v[4][i] = 3 * v[3][i];   /* no hash, same vector dir */
    memcpy(v[5], v[3], sizeof v[3]);                   /* no hash, same bits as 3 */
    cs_record_in recs[] = {
        {"/p/a.jpg", v[0], "{\"hash\":\"h1\",\"bytes\":1000,\"width\":640,\"height\":480}"},
        {"/p/copy <b>&.jpg", v[1], "{\"hash\":\"h1\",\"bytes\":1000,\"width\":640,\"height\":480}"},
        {"/p/a-small.jpg", v[2], "{\"hash\":\"h2\",\"bytes\":300,\"width\":320,\"height\":240}"},
        {"x3", v[3], "{\"bytes\":5}"},
        {"x4", v[4], "{\"bytes\":5}"},
        {"x5", v[5], "{\"bytes\":5}"},
    };
    CHECK_OK(cs_collection_upsert(c, recs, 6, &err), &err);
    cs_dup_options opt;
    cs_dup_options_init(&opt);
    cs_dup_groups g;
    CHECK_OK(cs_duplicates_find(c, &opt, &g, &err), &err);
    CHECK(g.records == 6 && g.n == 2);
    if (g.n == 2) {
        /* Equal sizes; both max similarities round to about 1, so either comes first. */
        bool first = !strncmp(g.items[0].members[0].id, "/p/", 3);
        const cs_dup_group *a = &g.items[first ? 0 : 1], *x = &g.items[first ? 1 : 0];
        CHECK(a->n == 3 && x->n == 3);
        /* Same pixels and bytes: by id. */
        CHECK(!strcmp(a->members[0].id, "/p/a.jpg"));
        CHECK(!strcmp(a->members[2].id, "/p/a-small.jpg"));
        CHECK(a->members[0].copy == 1 && a->members[1].copy == 1 && a->members[2].copy == 0);
        CHECK(a->members[2].width == 320 && a->members[2].height == 240 &&
              a->members[2].bytes == 300 && !strcmp(a->members[2].hash, "h2"));
        CHECK(!strcmp(cs_dup_group_kind(a), "mixed") && a->copy_sets == 1);
        /* x3 and x5: same bits and bytes -> copies; x4: same direction, other bits. */
        CHECK(!strcmp(x->members[0].id, "x3") && !strcmp(x->members[1].id, "x4") &&
              !strcmp(x->members[2].id, "x5"));
        CHECK(x->members[0].copy == 1 && x->members[1].copy == 0 && x->members[2].copy == 1);
        CHECK(x->members[0].hash == NULL && x->members[0].width == -1);

        cs_dup_html_options h;
        cs_dup_html_options_init(&h);
        h.title = "dups <i>";
        h.threshold = opt.threshold;
        h.records = g.records;
        CHECK_OK(cs_duplicates_write_html(html, g.items, g.n, &h, &err), &err);
        char *page = slurp(html);
        CHECK(page && strstr(page, "copy &lt;b&gt;&amp;.jpg") && !strstr(page, "<b>&") &&
              strstr(page, "dups &lt;i&gt;") && strstr(page, "data-kind=\"mixed\""));
        free(page);
    }
    cs_dup_groups_free(&g);
    err = (cs_error){0};
    CHECK(cs_duplicates_write_html("/nonexistent-dir/x.html", NULL, 0, NULL, &err) == CS_E_IO);
    cs_collection_free(c);
    cs_store_close(s);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    test_small_cases();
    test_against_brute_force();
    test_store();
    return TEST_RESULT();
}
