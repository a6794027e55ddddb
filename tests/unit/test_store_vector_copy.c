/* A SQLite collection with a compressed vector copy (cs_collection_set_vector_copy) must
 * answer every query exactly as without it: same ids, distances bit for bit, same order,
 * for every measure, filtered or not, at several limits. Checked in the connection that
 * sets it, in a later one that maps the copy file, after upserts and deletes (a base with
 * a copy plus a delta without), after enough writes to fold a new base, and after setting
 * it back to none; the setting survives reopening. Separate store handles stand in for
 * separate processes. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clipsearch/store.h"
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

static void upsert_range(cs_collection *c, int id_from, int id_to)
{
    int n = id_to - id_from;
    float *v = malloc(sizeof(float) * DIM * (size_t)n);
    char (*ids)[24] = malloc(sizeof *ids * (size_t)n);
    char (*meta)[48] = malloc(sizeof *meta * (size_t)n);
    cs_record_in *r = malloc(sizeof *r * (size_t)n);
    for (int i = 0; i < n; i++) {
        int g = (id_from + i) % 8;   /* clustered: 8 centres */
        for (int j = 0; j < DIM; j++) v[i * DIM + j] = (j % 8 == g ? 1.0f : 0.0f) + 0.3f * frand();
        snprintf(ids[i], sizeof ids[i], "r%d", id_from + i);
        snprintf(meta[i], sizeof meta[i], "{\"g\":%d}", g);
        r[i] = (cs_record_in){ids[i], v + i * DIM, meta[i]};
    }
    CHECK_OK(cs_collection_upsert(c, r, (size_t)n, &E), &E);
    free(v);
    free(ids);
    free(meta);
    free(r);
}

/* The answers to a fixed set of queries (4 measures x 2 filters x 3 limits x 4 vectors). */
static char *answers(cs_collection *c)
{
    static const cs_measure ms[] = {CS_MEASURE_COSINE, CS_MEASURE_L2, CS_MEASURE_IP, CS_MEASURE_L1};
    static const int limits[] = {1, 10, 100};
    size_t cap = 1 << 20, len = 0;
    char *out = malloc(cap);
    uint64_t keep = rng;
    rng = 12345;
    for (int qi = 0; qi < 4; qi++) {
        float q[DIM];
        for (int j = 0; j < DIM; j++) q[j] = (j % 8 == qi ? 1.0f : 0.0f) + 0.3f * frand();
        for (int mi = 0; mi < 4; mi++)
            for (int f = 0; f < 2; f++)
                for (int li = 0; li < 3; li++) {
                    cs_query qq;
                    cs_query_init(&qq);
                    qq.vector = q;
                    qq.vector_dim = DIM;
                    qq.limit = limits[li];
                    qq.measure = ms[mi];
                    qq.include_value = true;
                    qq.filter_json = f ? "{\"g\":{\"$in\":[1,2,5]}}" : NULL;
                    cs_records r = {0};
                    CHECK_OK(cs_collection_query(c, &qq, &r, &E), &E);
                    for (size_t i = 0; i < r.n && len + 64 < cap; i++)
                        len += (size_t)snprintf(out + len, cap - len, "%s %a;", r.items[i].id,
                                                r.items[i].value);
                    len += (size_t)snprintf(out + len, cap - len, "|");
                    cs_records_free(&r);
                }
    }
    rng = keep;
    return out;
}

static bool copy_file_exists(const char *suffix)
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

static void open_coll(cs_store **s, cs_collection **c)
{
    CHECK_OK(cs_store_open(DB, s, &E), &E);
    CHECK_OK(cs_store_get(*s, "c", c, &E), &E);
}

static void close_coll(cs_store *s, cs_collection *c)
{
    cs_collection_free(c);
    cs_store_close(s);
}

/* The answers with copy `kind` must equal those without, in this connection and in a new
 * one; leaves the setting at `kind`. */
static void check_same(cs_vector_copy kind, const char *when)
{
    cs_store *s;
    cs_collection *c;
    open_coll(&s, &c);
    CHECK_OK(cs_collection_set_vector_copy(c, CS_VECTOR_COPY_NONE, &E), &E);
    char *plain = answers(c);
    CHECK_OK(cs_collection_set_vector_copy(c, kind, &E), &E);
    char *same_conn = answers(c);
    close_coll(s, c);   /* waits for the copy file */
    CHECK_MSG(!strcmp(plain, same_conn), "%s, %s: answers differ in the setting connection", when,
              cs_vector_copy_name(kind));
    CHECK_MSG(copy_file_exists(kind == CS_VECTOR_COPY_INT8 ? ".int8" : ".fp16"),
              "%s: no copy file", when);
    open_coll(&s, &c);
    cs_vector_copy got;
    CHECK_OK(cs_collection_vector_copy(c, &got, &E), &E);
    CHECK(got == kind);
    char *later = answers(c);
    CHECK_MSG(!strcmp(plain, later), "%s, %s: answers differ in a later connection", when,
              cs_vector_copy_name(kind));
    close_coll(s, c);
    free(plain);
    free(same_conn);
    free(later);
}

int main(void)
{
    snprintf(DB, sizeof DB, "/tmp/cs_vcopy_%d.db", (int)getpid());
    snprintf(VCDIR, sizeof VCDIR, "%s.vcache", DB);
    cs_store *s;
    cs_collection *c;
    CHECK_OK(cs_store_open(DB, &s, &E), &E);
    CHECK_OK(cs_store_get_or_create(s, "c", DIM, &c, &E), &E);
    cs_vector_copy got = CS_VECTOR_COPY_INT8;
    CHECK_OK(cs_collection_vector_copy(c, &got, &E), &E);
    CHECK(got == CS_VECTOR_COPY_NONE);
    CHECK(cs_collection_set_vector_copy(c, (cs_vector_copy)7, &E) == CS_E_ARG);
    upsert_range(c, 0, N);
    close_coll(s, c);

    check_same(CS_VECTOR_COPY_INT8, "fresh");
    check_same(CS_VECTOR_COPY_FP16, "fresh");

    /* A write while the copy is set: the next view is the base (with its copy) plus a
     * delta; the answers must not change. */
    open_coll(&s, &c);
    CHECK_OK(cs_collection_set_vector_copy(c, CS_VECTOR_COPY_INT8, &E), &E);
    char *warm = answers(c);   /* builds the view with its copy */
    free(warm);
    upsert_range(c, 100, 140);   /* updates */
    upsert_range(c, N, N + 20);  /* inserts */
    const char *del[] = {"r5", "r6", "r7"};
    cs_records gone = {0};
    CHECK_OK(cs_collection_delete_ids(c, del, 3, &gone, &E), &E);
    cs_records_free(&gone);
    char *after_write = answers(c);
    CHECK_OK(cs_collection_set_vector_copy(c, CS_VECTOR_COPY_NONE, &E), &E);
    char *after_write_plain = answers(c);
    CHECK_MSG(!strcmp(after_write, after_write_plain), "answers differ after a write");
    free(after_write);
    free(after_write_plain);
    close_coll(s, c);
    check_same(CS_VECTOR_COPY_INT8, "after a write");

    /* Enough writes to fold a new base (more than 1/16 of the rows). */
    open_coll(&s, &c);
    upsert_range(c, 0, N / 4);
    close_coll(s, c);
    check_same(CS_VECTOR_COPY_INT8, "after a fold");
    check_same(CS_VECTOR_COPY_FP16, "after a fold");

    /* Another store keeps its vectors itself: a memory database has no cache file but the
     * copy still works in memory. */
    CHECK_OK(cs_store_open(":memory:", &s, &E), &E);
    CHECK_OK(cs_store_get_or_create(s, "c", DIM, &c, &E), &E);
    upsert_range(c, 0, 500);
    char *mem_plain = answers(c);
    CHECK_OK(cs_collection_set_vector_copy(c, CS_VECTOR_COPY_INT8, &E), &E);
    char *mem_copy = answers(c);
    CHECK(!strcmp(mem_plain, mem_copy));
    free(mem_plain);
    free(mem_copy);
    close_coll(s, c);

    /* Dropping the collection removes its copy files with its cache file. */
    {
        cs_store *w;
        cs_collection *wc;
        open_coll(&w, &wc);
        CHECK_OK(cs_collection_set_vector_copy(wc, CS_VECTOR_COPY_INT8, &E), &E);
        char *a = answers(wc);
        free(a);
        close_coll(w, wc);
        CHECK(copy_file_exists(".int8"));
        CHECK_OK(cs_store_open(DB, &w, &E), &E);
        CHECK_OK(cs_store_get_or_create(w, "other", DIM, &wc, &E), &E);   /* keeps the folder */
        upsert_range(wc, 0, 10);
        cs_records rr = {0};
        cs_query qq;
        cs_query_init(&qq);
        float qv[DIM] = {1};
        qq.vector = qv;
        qq.vector_dim = DIM;
        CHECK_OK(cs_collection_query(wc, &qq, &rr, &E), &E);
        cs_records_free(&rr);
        cs_collection_free(wc);
        CHECK_OK(cs_store_drop(w, "c", &E), &E);
        cs_store_close(w);
        CHECK(!copy_file_exists(".int8") && !copy_file_exists(".fp16") && copy_file_exists(".bin"));
        CHECK_OK(cs_store_open(DB, &w, &E), &E);
        CHECK_OK(cs_store_get_or_create(w, "c", DIM, &wc, &E), &E);
        upsert_range(wc, 0, 100);
        close_coll(w, wc);
    }

    /* Read-only stores cannot change it. */
    CHECK_OK(cs_store_open_ex(DB, CS_STORE_READ_ONLY, &s, &E), &E);
    CHECK_OK(cs_store_get(s, "c", &c, &E), &E);
    CHECK(cs_collection_set_vector_copy(c, CS_VECTOR_COPY_NONE, &E) != 0);
    close_coll(s, c);

    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s-wal' '%s-shm'", VCDIR, DB, DB, DB);
    CHECK(system(cmd) == 0);
    return TEST_RESULT();
}
