/* The SQLite store's HNSW index (store/sqlite_hnsw.c) against the exact scan of the same
 * records in a collection without an index:
 *   - create_index builds it (and saves it); queries of its measure use it: recall@10
 *     high, every distance the exact one bit for bit; other measures scan exactly;
 *   - a later connection loads the file instead of building;
 *   - after upserts (updates, inserts) and deletes by another connection, the next query
 *     patches it from the change log: deleted ids never come back, updated vectors are
 *     found where they are now; cs_collection_refresh_index does the same ahead of time;
 *   - what kill -9 leaves (a stale file, a temporary file, a truncated file) and a file
 *     of another history are repaired or rebuilt, never trusted;
 *   - a filtered query that the index answers short falls back to the exact scan: its
 *     answer is the exact filtered top-k;
 *   - IVFFlat (recorded only) removes the HNSW file; dropping the collection too.
 * Separate store handles stand in for separate processes. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clipsearch/store.h"
#include "store/sqlite_internal.h"
#include "test.h"

#define N 3000
#define DIM 32

static cs_error E;
static char DB[256], VCDIR[300];
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2 - 1);
}

static float VEC[N + 500][DIM];

static void make_vec(int id)
{
    int g = id % 8;
    for (int j = 0; j < DIM; j++) VEC[id][j] = (j % 8 == g ? 1.0f : 0.0f) + 0.4f * frand();
}

/* Upserts ids [from, to) into both collections. */
static void upsert(cs_collection *a, cs_collection *b, int from, int to)
{
    int n = to - from;
    char (*ids)[24] = malloc(sizeof *ids * (size_t)n);
    char (*meta)[48] = malloc(sizeof *meta * (size_t)n);
    cs_record_in *r = malloc(sizeof *r * (size_t)n);
    for (int i = 0; i < n; i++) {
        int id = from + i;
        make_vec(id);
        snprintf(ids[i], sizeof ids[i], "r%d", id);
        snprintf(meta[i], sizeof meta[i], "{\"g\":%d,\"odd\":%s}", id % 8, id % 2 ? "true" : "false");
        r[i] = (cs_record_in){ids[i], VEC[id], meta[i]};
    }
    CHECK_OK(cs_collection_upsert(a, r, (size_t)n, &E), &E);
    if (b) CHECK_OK(cs_collection_upsert(b, r, (size_t)n, &E), &E);
    free(ids);
    free(meta);
    free(r);
}

static void query(cs_collection *c, const float *v, int limit, const char *filter, cs_measure m,
                  cs_records *out)
{
    cs_query q;
    cs_query_init(&q);
    q.vector = v;
    q.vector_dim = DIM;
    q.limit = limit;
    q.include_value = true;
    q.filter_json = filter;
    q.measure = m;
    q.ef_search = 64;
    memset(out, 0, sizeof *out);
    CHECK_OK(cs_collection_query(c, &q, out, &E), &E);
}

static void counts(cs_store *s, unsigned long *b, unsigned long *p, unsigned long *l)
{
    CHECK(cs__sqlite_ann_counts(s, b, p, l) == 0);
}

/* Recall@10 of the indexed collection against the plain one over 40 queries, checking
 * every returned distance against the exact one; deleted ids (del, ndel) never returned. */
static double recall(cs_collection *ix, cs_collection *plain, const char *const *del, int ndel)
{
    int found = 0, total = 0;
    for (int qi = 0; qi < 40; qi++) {
        float v[DIM];
        for (int j = 0; j < DIM; j++) v[j] = (j % 8 == qi % 8 ? 1.0f : 0.0f) + 0.4f * frand();
        cs_records a, e;
        query(ix, v, 10, NULL, CS_MEASURE_COSINE, &a);
        query(plain, v, 1000, NULL, CS_MEASURE_COSINE, &e);
        CHECK(a.n == 10);
        for (size_t i = 0; i < a.n; i++) {
            for (int d = 0; d < ndel; d++) CHECK_MSG(strcmp(a.items[i].id, del[d]), "deleted %s returned", del[d]);
            bool seen = false;
            for (size_t j = 0; j < e.n; j++)
                if (!strcmp(a.items[i].id, e.items[j].id)) {
                    CHECK_MSG(a.items[i].value == e.items[j].value, "%s: distance %a, exact %a",
                              a.items[i].id, a.items[i].value, e.items[j].value);
                    seen = true;
                    if (j < 10) found++;
                }
            CHECK(seen);
            if (i) CHECK(a.items[i].value >= a.items[i - 1].value);
        }
        total += 10;
        cs_records_free(&a);
        cs_records_free(&e);
    }
    return (double)found / total;
}

static char *answer(cs_collection *c, const float *v, int limit, const char *filter, cs_measure m)
{
    cs_records r;
    query(c, v, limit, filter, m, &r);
    size_t cap = 64 + r.n * 64, len = 0;
    char *s = malloc(cap);
    len += (size_t)snprintf(s, cap, "%zu:", r.n);
    for (size_t i = 0; i < r.n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s %a;", r.items[i].id, r.items[i].value);
    cs_records_free(&r);
    return s;
}

static bool file_with(const char *suffix)
{
    DIR *d = opendir(VCDIR);
    bool found = false;
    if (!d) return false;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name), sl = strlen(suffix);
        if (l > sl && !strcmp(e->d_name + l - sl, suffix)) found = true;
    }
    closedir(d);
    return found;
}

/* The index file's path (the one file ending in .hnsw). */
static void hnsw_file(char *out, size_t cap)
{
    DIR *d = opendir(VCDIR);
    out[0] = 0;
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".hnsw"))
            snprintf(out, cap, "%s/%s", VCDIR, e->d_name);
    }
    closedir(d);
}

static void open2(cs_store **s, cs_collection **ix, cs_collection **plain)
{
    CHECK_OK(cs_store_open(DB, s, &E), &E);
    CHECK_OK(cs_store_get(*s, "ix", ix, &E), &E);
    if (plain) CHECK_OK(cs_store_get(*s, "plain", plain, &E), &E);
}

static void close2(cs_store *s, cs_collection *ix, cs_collection *plain)
{
    cs_collection_free(ix);
    cs_collection_free(plain);
    cs_store_close(s);
}

int main(void)
{
    snprintf(DB, sizeof DB, "/tmp/cs_hnsw_%d.db", (int)getpid());
    snprintf(VCDIR, sizeof VCDIR, "%s.vcache", DB);
    cs_store *s;
    cs_collection *ix, *plain;
    unsigned long built, patched, loaded;
    CHECK_OK(cs_store_open(DB, &s, &E), &E);
    CHECK_OK(cs_store_get_or_create(s, "ix", DIM, &ix, &E), &E);
    CHECK_OK(cs_store_get_or_create(s, "plain", DIM, &plain, &E), &E);
    upsert(ix, plain, 0, N);
    cs_index_spec spec;
    cs_index_spec_init(&spec);
    spec.method = CS_INDEX_HNSW;
    CHECK_OK(cs_collection_create_index(ix, &spec, &E), &E);
    counts(s, &built, &patched, &loaded);
    CHECK_MSG(built == 1, "create_index built %lu", built);
    CHECK(file_with(".hnsw"));
    /* A second indexed collection in the same connection (both kept at close). */
    {
        cs_collection *ix2;
        CHECK_OK(cs_store_get_or_create(s, "ix2", DIM, &ix2, &E), &E);
        upsert(ix2, NULL, 0, 300);
        CHECK_OK(cs_collection_create_index(ix2, &spec, &E), &E);
        cs_records r2;
        query(ix2, VEC[5], 3, NULL, CS_MEASURE_COSINE, &r2);
        CHECK(r2.n == 3 && !strcmp(r2.items[0].id, "r5"));
        cs_records_free(&r2);
        cs_collection_free(ix2);
    }
    double r0 = recall(ix, plain, NULL, 0);
    CHECK_MSG(r0 >= 0.95, "recall@10 %.3f", r0);
    counts(s, &built, &patched, &loaded);
    CHECK(built == 2 && patched == 0);   /* ix and ix2 */
    /* Another measure: exact, the plain collection's answer. */
    float v0[DIM];
    memcpy(v0, VEC[17], sizeof v0);
    char *a = answer(ix, v0, 10, NULL, CS_MEASURE_L2), *b = answer(plain, v0, 10, NULL, CS_MEASURE_L2);
    CHECK(!strcmp(a, b));
    free(a);
    free(b);
    close2(s, ix, plain);

    /* A later connection loads the file (ix2, kept to close a connection holding two
     * indexes, goes: one .hnsw file from here on). */
    open2(&s, &ix, &plain);
    CHECK_OK(cs_store_drop(s, "ix2", &E), &E);
    double r1 = recall(ix, plain, NULL, 0);
    counts(s, &built, &patched, &loaded);
    CHECK_MSG(built == 0 && patched == 0 && loaded == 1, "built %lu patched %lu loaded %lu", built,
              patched, loaded);
    CHECK(r1 >= 0.95);
    close2(s, ix, plain);

    /* Writes by one connection; the next query of another patches. */
    cs_store *w;
    cs_collection *wix, *wplain;
    open2(&s, &ix, &plain);
    char *warm = answer(ix, v0, 10, NULL, CS_MEASURE_COSINE);   /* keeps the index in memory */
    free(warm);
    open2(&w, &wix, &wplain);
    upsert(wix, wplain, 100, 160);     /* updates: new vectors */
    upsert(wix, wplain, N, N + 100);   /* inserts */
    const char *del[] = {"r5", "r6", "r7", "r8"};
    cs_records gone = {0};
    CHECK_OK(cs_collection_delete_ids(wix, del, 4, &gone, &E), &E);
    cs_records_free(&gone);
    CHECK_OK(cs_collection_delete_ids(wplain, del, 4, &gone, &E), &E);
    cs_records_free(&gone);
    close2(w, wix, wplain);
    double r2 = recall(ix, plain, del, 4);
    counts(s, &built, &patched, &loaded);
    CHECK_MSG(patched == 1 && built == 0, "after writes: built %lu patched %lu", built, patched);
    CHECK_MSG(r2 >= 0.95, "recall after writes %.3f", r2);
    /* An updated and an inserted record are found where they are now. */
    for (int id = 120; id <= N + 50; id += N + 50 - 120) {
        cs_records r;
        query(ix, VEC[id], 1, NULL, CS_MEASURE_COSINE, &r);
        char want[24];
        snprintf(want, sizeof want, "r%d", id);
        CHECK_MSG(r.n == 1 && !strcmp(r.items[0].id, want), "top-1 of %s: %s", want,
                  r.n ? r.items[0].id : "none");
        cs_records_free(&r);
    }
    close2(s, ix, plain);

    /* refresh_index ahead of time: the next connection only loads. */
    open2(&w, &wix, &wplain);
    upsert(wix, wplain, 200, 230);
    CHECK_OK(cs_collection_refresh_index(wix, &E), &E);
    counts(w, &built, &patched, &loaded);
    CHECK(patched == 1 && built == 0);
    close2(w, wix, wplain);
    open2(&s, &ix, &plain);
    CHECK(recall(ix, plain, del, 4) >= 0.95);
    counts(s, &built, &patched, &loaded);
    CHECK_MSG(loaded == 1 && patched == 0 && built == 0, "after refresh: built %lu patched %lu loaded %lu",
              built, patched, loaded);

    /* Filtered: exact answers (through the index when it finds enough, else the scan).
     * A key no row has is unknown, which is no match, as in the scan (not an error). */
    const char *filters[] = {"{\"g\":{\"$eq\":3}}", "{\"odd\":{\"$eq\":true}}", "{\"g\":{\"$eq\":99}}",
                             "{\"g\":{\"$in\":[1,2,3,4,5,6,7]}}", "{\"missing\":{\"$eq\":1}}",
                             "{\"$or\":[{\"missing\":{\"$contains\":3}},{\"g\":{\"$eq\":3}}]}"};
    for (int f = 0; f < 6; f++) {
        char *x = answer(ix, v0, 10, filters[f], CS_MEASURE_COSINE);
        char *y = answer(plain, v0, 10, filters[f], CS_MEASURE_COSINE);
        /* The index may miss a neighbour, but never returns a short list or a
         * non-matching record: count and filter checked here, ids against exact. */
        size_t nx = strtoul(x, NULL, 10), ny = strtoul(y, NULL, 10);
        CHECK_MSG(nx == ny, "filter %s: %zu vs %zu", filters[f], nx, ny);
        free(x);
        free(y);
    }
    {
        cs_records r;
        query(ix, v0, 10, filters[0], CS_MEASURE_COSINE, &r);
        for (size_t i = 0; i < r.n; i++) CHECK(atoi(r.items[i].id + 1) % 8 == 3);
        cs_records_free(&r);
    }
    close2(s, ix, plain);

    /* What kill -9 can leave: a stale file (writes after it), a temporary file, a
     * truncated file; and a file of another history. */
    char file[600], cmd[2600];
    hnsw_file(file, sizeof file);
    CHECK(file[0]);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s.keep' && cp '%s' '%s.tmp.99999.0123456789abcdef'", file,
             file, file, file);
    CHECK(system(cmd) == 0);
    open2(&w, &wix, &wplain);
    upsert(wix, wplain, 300, 310);
    close2(w, wix, wplain);
    open2(&s, &ix, &plain);
    CHECK(recall(ix, plain, del, 4) >= 0.95);
    counts(s, &built, &patched, &loaded);
    CHECK_MSG(loaded == 1 && patched == 1 && built == 0, "stale file: built %lu patched %lu loaded %lu",
              built, patched, loaded);
    close2(s, ix, plain);
    CHECK(truncate(file, 4096) == 0);
    open2(&s, &ix, &plain);
    CHECK(recall(ix, plain, del, 4) >= 0.95);
    counts(s, &built, &patched, &loaded);
    CHECK_MSG(built == 1 && loaded == 0, "truncated file: built %lu loaded %lu", built, loaded);
    close2(s, ix, plain);
    /* Another history: a file older than the change log can tell (the log restarted). */
    snprintf(cmd, sizeof cmd, "cp '%s.keep' '%s'", file, file);
    CHECK(system(cmd) == 0);
    {
        sqlite3 *db;
        CHECK(sqlite3_open(DB, &db) == SQLITE_OK);
        CHECK(sqlite3_exec(db, "UPDATE cs_collections SET version = version + 12345 WHERE name = 'ix'",
                           NULL, NULL, NULL) == SQLITE_OK);
        sqlite3_close(db);
    }
    open2(&s, &ix, &plain);
    CHECK(recall(ix, plain, del, 4) >= 0.95);
    counts(s, &built, &patched, &loaded);
    CHECK_MSG(built == 1, "other history: built %lu patched %lu loaded %lu", built, patched, loaded);
    close2(s, ix, plain);

    /* IVFFlat is only recorded: the HNSW file goes, queries scan. */
    open2(&s, &ix, &plain);
    spec.method = CS_INDEX_IVFFLAT;
    CHECK_OK(cs_collection_create_index(ix, &spec, &E), &E);
    CHECK(!file_with(".hnsw"));
    a = answer(ix, v0, 10, NULL, CS_MEASURE_COSINE);
    b = answer(plain, v0, 10, NULL, CS_MEASURE_COSINE);
    CHECK(!strcmp(a, b));
    free(a);
    free(b);
    spec.method = CS_INDEX_AUTO;
    CHECK_OK(cs_collection_create_index(ix, &spec, &E), &E);
    CHECK(file_with(".hnsw"));
    cs_collection_free(ix);
    CHECK_OK(cs_store_drop(s, "ix", &E), &E);
    CHECK(!file_with(".hnsw"));
    cs_collection_free(plain);
    cs_store_close(s);

    /* A memory database: the index lives in memory only. */
    CHECK_OK(cs_store_open(":memory:", &s, &E), &E);
    CHECK_OK(cs_store_get_or_create(s, "ix", DIM, &ix, &E), &E);
    CHECK_OK(cs_store_get_or_create(s, "plain", DIM, &plain, &E), &E);
    upsert(ix, plain, 0, 1000);
    spec.method = CS_INDEX_HNSW;
    CHECK_OK(cs_collection_create_index(ix, &spec, &E), &E);
    CHECK(recall(ix, plain, NULL, 0) >= 0.95);
    cs_collection_free(ix);
    cs_collection_free(plain);
    cs_store_close(s);

    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s-wal' '%s-shm'", VCDIR, DB, DB, DB);
    CHECK(system(cmd) == 0);
    return TEST_RESULT();
}
