/* The shared store test suite (DESIGN.md §3.3): every vecs behaviour of the collection
 * API, run against the store named by $CS_TEST_DB_URL, or a fresh temporary SQLite file
 * when unset. The same binary runs on both backends, so it never assumes an empty
 * database: each test creates (and drops) its own uniquely named collections. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clipsearch/store.h"
#include "test.h"

static cs_store *S;
static char PREFIX[40];
static cs_error E;

#define CHECK_ERR(expr, want)                                                              \
    do {                                                                                   \
        cs_error_clear(&E);                                                                \
        int rc_ = (expr);                                                                  \
        CHECK_MSG(rc_ == (want), "%s: got %d (%s) want %d (%s): %s", #expr, rc_,           \
                  cs_error_category(rc_), (want), cs_error_category(want), E.msg);         \
    } while (0)

#define OK(expr) CHECK_OK((expr), &E)

/* Deterministic pseudo-random numbers (test-local state). */
static uint64_t rng = 88172645463325252ull;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static const char *cname(const char *suffix)
{
    static char buf[8][128];
    static int slot;
    char *b = buf[slot++ % 8];
    snprintf(b, 128, "%s%s", PREFIX, suffix);
    return b;
}

/* A fresh collection: dropped first in case an earlier run left it behind. */
static cs_collection *fresh(const char *suffix, int dim)
{
    const char *name = cname(suffix);
    cs_collection *c = NULL;
    OK(cs_store_drop(S, name, &E));
    OK(cs_store_get_or_create(S, name, dim, &c, &E));
    return c;
}

static void done(cs_collection *c)
{
    if (!c) return;
    char *name = strdup(cs_collection_name(c));
    cs_collection_free(c);
    OK(cs_store_drop(S, name, &E));
    free(name);
}

static int64_t count(cs_collection *c)
{
    int64_t n = -1;
    OK(cs_collection_count(c, &n, &E));
    return n;
}

static bool listed(const char *name, int *dim)
{
    cs_collection_info *infos = NULL;
    size_t n = 0;
    bool found = false;
    OK(cs_store_list(S, &infos, &n, &E));
    for (size_t i = 0; i < n; i++)
        if (!strcmp(infos[i].name, name)) {
            found = true;
            if (dim) *dim = infos[i].dimension;
        }
    cs_collection_info_free(infos, n);
    return found;
}

static int upsert1(cs_collection *c, const char *id, const float *v, const char *meta)
{
    cs_record_in r = {id, v, meta};
    return cs_collection_upsert(c, &r, 1, &E);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted, comma-joined ids of a result set. */
static char *ids_of(const cs_records *r)
{
    const char **v = malloc((r->n + 1) * sizeof *v);
    size_t len = 1;
    for (size_t i = 0; i < r->n; i++) {
        v[i] = r->items[i].id;
        len += strlen(v[i]) + 1;
    }
    qsort(v, r->n, sizeof *v, cmp_str);
    char *s = calloc(1, len);
    for (size_t i = 0; i < r->n; i++) {
        if (i) strcat(s, ",");
        strcat(s, v[i]);
    }
    free(v);
    return s;
}

/* ---------------------------------------------------------------------------------- */

static void test_names(void)
{
    cs_collection *c = NULL;
    CHECK_ERR(cs_store_get_or_create(S, "", 3, &c, &E), CS_E_INVALID_NAME);
    char long64[65];
    memset(long64, 'n', 64);
    long64[64] = '\0';
    CHECK_ERR(cs_store_get_or_create(S, long64, 3, &c, &E), CS_E_INVALID_NAME);
    CHECK(!listed(long64, NULL));
    /* 63 bytes is the limit, in bytes not characters: 21 x 3-byte "€" = 63 bytes ok,
     * one more ASCII byte is 64. */
    char euro[80] = "";
    for (int i = 0; i < 21; i++) strcat(euro, "\xe2\x82\xac");
    OK(cs_store_drop(S, euro, &E));
    OK(cs_store_get_or_create(S, euro, 3, &c, &E));
    CHECK(listed(euro, NULL));
    cs_collection_free(c);
    OK(cs_store_drop(S, euro, &E));
    strcat(euro, "x");
    CHECK_ERR(cs_store_get_or_create(S, euro, 3, &c, &E), CS_E_INVALID_NAME);
    /* '_' names are refused up front (documented deviation), never listed. */
    char under[64];
    snprintf(under, sizeof under, "_%s", cname("u"));
    CHECK_ERR(cs_store_get_or_create(S, under, 3, &c, &E), CS_E_INVALID_NAME);
    CHECK_ERR(cs_store_get(S, under, &c, &E), CS_E_COLLECTION_NOT_FOUND);
    CHECK(!listed(under, NULL));
    /* Invalid UTF-8. */
    CHECK_ERR(cs_store_get_or_create(S, "bad\xff", 3, &c, &E), CS_E_INVALID_NAME);

    /* Hostile but valid names are just names: quoted, never executed. */
    cs_collection *victim = fresh("victim", 2);
    float v[2] = {1, 0};
    OK(upsert1(victim, "keep", v, NULL));
    const char *hostile[] = {"x\"; drop table y; --", "a'b", "new\nline", "semi;colon",
                             "back\\slash", "sp ace", "\"", "'; DELETE FROM cs_collections; --"};
    for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
        char name[64];
        snprintf(name, sizeof name, "%.20s%s", PREFIX, hostile[i]);
        OK(cs_store_drop(S, name, &E));
        cs_collection *h = NULL;
        OK(cs_store_get_or_create(S, name, 2, &h, &E));
        if (!h) continue;
        CHECK(!strcmp(cs_collection_name(h), name));
        OK(upsert1(h, hostile[i], v, "{\"k\":\"'; drop table x; --\"}"));
        CHECK(count(h) == 1);
        CHECK(listed(name, NULL));
        cs_collection_free(h);
        OK(cs_store_get(S, name, &h, &E));
        cs_collection_free(h);
        OK(cs_store_drop(S, name, &E));
        CHECK(!listed(name, NULL));
    }
    CHECK(count(victim) == 1);
    /* Case-sensitive names: "Ab" and "ab" are two collections. */
    cs_collection *up = fresh("Case", 2), *low = fresh("case", 3);
    CHECK(cs_collection_dimension(up) == 2 && cs_collection_dimension(low) == 3);
    OK(upsert1(up, "only-upper", v, NULL));
    CHECK(count(up) == 1 && count(low) == 0);
    done(up);
    done(low);
    done(victim);
}

static void test_lifecycle(void)
{
    cs_collection *c = NULL, *d = NULL;
    const char *name = cname("life");
    OK(cs_store_drop(S, name, &E));
    CHECK_ERR(cs_store_get(S, name, &c, &E), CS_E_COLLECTION_NOT_FOUND);
    CHECK_ERR(cs_store_get_or_create(S, name, 0, &c, &E), CS_E_ARG);
    CHECK_ERR(cs_store_get_or_create(S, name, -1, &c, &E), CS_E_DATABASE);
    CHECK_ERR(cs_store_get_or_create(S, name, 16001, &c, &E), CS_E_DATABASE);
    CHECK(!listed(name, NULL));
    OK(cs_store_get_or_create(S, name, 4, &c, &E));
    int dim = 0;
    CHECK(listed(name, &dim) && dim == 4);
    CHECK(c && !strcmp(cs_collection_name(c), name) && cs_collection_dimension(c) == 4);
    CHECK(count(c) == 0);
    float v[4] = {1, 2, 3, 4};
    OK(upsert1(c, "r", v, NULL));
    /* Same dimension: same data; other dimension: MismatchedDimension, data untouched. */
    OK(cs_store_get_or_create(S, name, 4, &d, &E));
    CHECK(d && count(d) == 1);
    cs_collection_free(d);
    CHECK_ERR(cs_store_get_or_create(S, name, 5, &d, &E), CS_E_MISMATCHED_DIMENSION);
    OK(cs_store_get(S, name, &d, &E));
    CHECK(d && cs_collection_dimension(d) == 4 && count(d) == 1);
    cs_collection_free(d);
    char *ix = (char *)1;
    OK(cs_collection_index(c, &ix, &E));
    CHECK(ix == NULL);
    OK(cs_store_drop(S, name, &E));
    OK(cs_store_drop(S, name, &E));   /* missing is fine */
    CHECK(!listed(name, NULL));
    CHECK_ERR(cs_store_get(S, name, &d, &E), CS_E_COLLECTION_NOT_FOUND);
    /* A handle to a dropped collection fails cleanly. */
    cs_records r;
    CHECK(cs_collection_fetch(c, (const char *[]){"r"}, 1, &r, &E) != 0);
    cs_records_free(&r);
    cs_collection_free(c);
    /* Largest dimension. */
    c = fresh("big", 16000);
    CHECK(c && cs_collection_dimension(c) == 16000);
    done(c);
}

static void test_upsert(void)
{
    cs_collection *c = fresh("up", 3);
    float a[3] = {1, 2, 3}, nanv[3] = {1, NAN, 0}, infv[3] = {INFINITY, 0, 0};
    /* Dimension check (client side) before values, as vecs. */
    cs_record_in two[2] = {{"n", nanv, NULL}, {"d", a, NULL}};
    int dims[2] = {3, 2};
    CHECK_ERR(cs_collection_upsert_dims(c, two, dims, 2, &E), CS_E_DIMENSION);
    CHECK(count(c) == 0);
    CHECK_ERR(upsert1(c, "n", nanv, NULL), CS_E_DATABASE);
    CHECK(strstr(E.msg, "NaN") != NULL);
    CHECK_ERR(upsert1(c, "i", infv, NULL), CS_E_DATABASE);
    CHECK_ERR(upsert1(c, NULL, a, NULL), CS_E_ARG);
    CHECK(count(c) == 0);
    /* Batches of 500: a NaN in batch 1 is reported before a dimension error in batch 2. */
    size_t n = 1200;
    cs_record_in *recs = calloc(n, sizeof *recs);
    int *rd = calloc(n, sizeof *rd);
    char (*ids)[16] = calloc(n, 16);
    float *vals = calloc(n * 3, sizeof(float));
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], 16, "r%zu", i);
        vals[3 * i] = (float)i;
        vals[3 * i + 1] = 1;
        recs[i] = (cs_record_in){ids[i], vals + 3 * i, NULL};
        rd[i] = 3;
    }
    recs[10].vector = nanv;
    rd[600] = 2;
    CHECK_ERR(cs_collection_upsert_dims(c, recs, rd, n, &E), CS_E_DATABASE);
    recs[10].vector = vals + 30;
    CHECK_ERR(cs_collection_upsert_dims(c, recs, rd, n, &E), CS_E_DIMENSION);
    rd[600] = 3;
    CHECK(count(c) == 0);
    /* The same id twice inside one 500-batch: DatabaseError, the whole call rolled back
     * (also the batch before it). */
    recs[1001].id = ids[1000];
    CHECK_ERR(cs_collection_upsert(c, recs, n, &E), CS_E_DATABASE);
    CHECK(count(c) == 0);
    recs[1001].id = ids[1001];
    /* The same id in two batches: fine, the later record wins. */
    recs[500].id = ids[0];
    OK(cs_collection_upsert(c, recs, n, &E));
    CHECK(count(c) == (int64_t)n - 1);
    cs_records r;
    OK(cs_collection_fetch(c, (const char *[]){"r0"}, 1, &r, &E));
    CHECK(r.n == 1 && r.items[0].vector && r.items[0].vector[0] == 500.0f);
    cs_records_free(&r);
    free(recs);
    free(rd);
    free(ids);
    free(vals);
    /* Empty input is a no-op. */
    OK(cs_collection_upsert(c, NULL, 0, &E));
    done(c);

    /* float32 rounding on write, full replacement on conflict, metadata forms. */
    c = fresh("round", 3);
    float b[3] = {(float)0.1, (float)1e-50, (float)16777217.0};
    OK(upsert1(c, "x", b, "{\"a\":1,\"keep\":true}"));
    OK(upsert1(c, "x", b, "{\"b\":2}"));
    OK(cs_collection_fetch(c, (const char *[]){"x"}, 1, &r, &E));
    if (r.n == 1) {
        CHECK(r.items[0].vector[0] == 0.1f && r.items[0].vector[1] == 0.0f &&
              r.items[0].vector[2] == 16777216.0f);
        CHECK(r.items[0].metadata_json && strstr(r.items[0].metadata_json, "\"b\"") &&
              !strstr(r.items[0].metadata_json, "keep"));
    } else {
        CHECK(r.n == 1);
    }
    cs_records_free(&r);
    /* Vectors from JSON text: 1e39 overflows float32 to infinity -> refused. */
    cs_record_buf rb;
    const char *line = "{\"id\":\"o\",\"vector\":[1e39,0,0]}";
    OK(cs_record_parse_json(line, strlen(line), &rb, &E));
    cs_record_in ri = {rb.id, rb.vector, rb.metadata_json};
    CHECK_ERR(cs_collection_upsert_dims(c, &ri, &rb.dim, 1, &E), CS_E_DATABASE);
    cs_record_buf_free(&rb);
    line = "{\"id\":5,\"vector\":[1,0,0]}";
    CHECK_ERR(cs_record_parse_json(line, strlen(line), &rb, &E), CS_E_ARG);
    line = "{\"id\":\"nan\",\"vector\":[NaN,0,0]}";
    OK(cs_record_parse_json(line, strlen(line), &rb, &E));
    ri = (cs_record_in){rb.id, rb.vector, rb.metadata_json};
    CHECK_ERR(cs_collection_upsert_dims(c, &ri, &rb.dim, 1, &E), CS_E_DATABASE);
    cs_record_buf_free(&rb);
    /* Strings that cannot be text are refused, never altered: ids (JSON escapes, or
     * bytes that are not UTF-8, such as an encoded surrogate) and metadata. */
    line = "{\"id\":\"nul\\u0000x\",\"vector\":[1,0,0]}";
    CHECK_ERR(cs_record_parse_json(line, strlen(line), &rb, &E), CS_E_ARG);
    line = "{\"id\":\"s\\ud800\",\"vector\":[1,0,0]}";
    CHECK_ERR(cs_record_parse_json(line, strlen(line), &rb, &E), CS_E_ARG);
    CHECK_ERR(upsert1(c, "s\xed\xa0\x80", b, NULL), CS_E_ARG);
    CHECK_ERR(upsert1(c, "m", b, "{\"a\\u0000\":1}"), CS_E_ARG);
    CHECK_ERR(upsert1(c, "m", b, "{\"a\":\"\\udc00\"}"), CS_E_ARG);
    /* Metadata: jsonb's rules. */
    CHECK_ERR(upsert1(c, "m", b, "{\"a\":"), CS_E_ARG);
    CHECK_ERR(upsert1(c, "m", b, "{\"a\":\"x\\u0000y\"}"), CS_E_ARG);
    CHECK_ERR(upsert1(c, "m", b, "{\"a\":NaN}"), CS_E_DATABASE);
    CHECK(count(c) == 1);
    OK(upsert1(c, "dup", b, "{\"a\":1,\"a\":2}"));
    OK(upsert1(c, "arr", b, "[1,2]"));
    OK(upsert1(c, "none", b, NULL));
    OK(upsert1(c, "", b, "\"scalar\""));   /* the empty id is valid */
    OK(upsert1(c, "Ünï \"cödé\" ✓", b, "{\"emoji\":\"\xf0\x9f\x98\x80\"}"));
    OK(cs_collection_get_record(c, "Ünï \"cödé\" ✓", &r, &E));
    CHECK(r.n == 1 && r.items[0].metadata_json && strstr(r.items[0].metadata_json, "\xf0\x9f\x98\x80"));
    cs_records_free(&r);
    CHECK_ERR(cs_collection_get_record(c, "ünï \"cödé\" ✓", &r, &E), CS_E_NOT_FOUND);   /* case-sensitive */
    cs_records_free(&r);
    OK(cs_collection_delete_ids(c, (const char *[]){"Ünï \"cödé\" ✓"}, 1, NULL, &E));
    OK(upsert1(c, "big", b, "{\"n\":9007199254740993}"));
    const char *want[] = {"dup", "arr", "none", "", "big"};
    OK(cs_collection_fetch(c, want, 5, &r, &E));
    CHECK(r.n == 5);
    for (size_t i = 0; i < r.n; i++) {
        const char *m = r.items[i].metadata_json, *id = r.items[i].id;
        if (!strcmp(id, "dup")) CHECK(m && strstr(m, "2") && !strstr(m, "1"));
        if (!strcmp(id, "arr")) CHECK(m && m[0] == '[');
        if (!strcmp(id, "none")) CHECK(m && !strcmp(m, "{}"));
        if (!strcmp(id, "")) CHECK(m && strstr(m, "scalar"));
        if (!strcmp(id, "big")) CHECK(m && strstr(m, "9007199254740993"));
    }
    cs_records_free(&r);
    done(c);
}

static void test_fetch_delete(void)
{
    cs_collection *c = fresh("fd", 2);
    float v[2] = {1, 0};
    const char *ids[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) OK(upsert1(c, ids[i], v, i % 2 ? "{\"odd\":true}" : "{\"odd\":false}"));
    cs_records r;
    OK(cs_collection_fetch(c, (const char *[]){"a", "zz", "c"}, 3, &r, &E));
    char *s = ids_of(&r);
    CHECK_MSG(!strcmp(s, "a,c"), "%s", s);
    free(s);
    cs_records_free(&r);
    /* Each id at most once (deviation: vecs repeats it per 12-id batch). */
    const char *same[13];
    for (int i = 0; i < 13; i++) same[i] = "b";
    OK(cs_collection_fetch(c, same, 13, &r, &E));
    CHECK(r.n == 1);
    cs_records_free(&r);
    OK(cs_collection_fetch(c, NULL, 0, &r, &E));
    CHECK(r.n == 0);
    cs_records_free(&r);
    CHECK_ERR(cs_collection_fetch(c, (const char *[]){"a", NULL}, 2, &r, &E), CS_E_ARG);
    cs_records_free(&r);
    OK(cs_collection_get_record(c, "d", &r, &E));
    CHECK(r.n == 1 && !strcmp(r.items[0].id, "d") && r.items[0].vector && r.items[0].metadata_json);
    cs_records_free(&r);
    CHECK_ERR(cs_collection_get_record(c, "nope", &r, &E), CS_E_NOT_FOUND);
    cs_records_free(&r);
    CHECK_ERR(cs_collection_get_record(c, NULL, &r, &E), CS_E_ARG);
    cs_records_free(&r);

    /* delete by ids: empty -> nothing; unknown ignored; repeats reported once. */
    OK(cs_collection_delete_ids(c, NULL, 0, &r, &E));
    CHECK(r.n == 0);
    cs_records_free(&r);
    OK(cs_collection_delete_ids(c, (const char *[]){"a", "a", "zz"}, 3, &r, &E));
    s = ids_of(&r);
    CHECK_MSG(!strcmp(s, "a"), "%s", s);
    free(s);
    cs_records_free(&r);
    CHECK(count(c) == 3);
    /* delete by filter: {} deletes nothing; malformed filters delete nothing. */
    OK(cs_collection_delete_filter(c, "{}", &r, &E));
    CHECK(r.n == 0);
    cs_records_free(&r);
    CHECK_ERR(cs_collection_delete_filter(c, NULL, &r, &E), CS_E_ARG);
    cs_records_free(&r);
    CHECK_ERR(cs_collection_delete_filter(c, "{\"$and\":[]}", &r, &E), CS_E_FILTER);
    cs_records_free(&r);
    CHECK_ERR(cs_collection_delete_filter(c, "{\"$or\":[]}", &r, &E), CS_E_FILTER);
    cs_records_free(&r);
    CHECK_ERR(cs_collection_delete_filter(c, "{\"odd\":true}", &r, &E), CS_E_FILTER);
    cs_records_free(&r);
    CHECK(count(c) == 3);
    OK(cs_collection_delete_filter(c, "{\"odd\":{\"$eq\":true}}", &r, &E));
    s = ids_of(&r);
    CHECK_MSG(!strcmp(s, "b,d"), "%s", s);
    free(s);
    cs_records_free(&r);
    CHECK(count(c) == 1);
    /* NULL out is allowed. */
    OK(cs_collection_delete_ids(c, (const char *[]){"c"}, 1, NULL, &E));
    CHECK(count(c) == 0);
    done(c);
}

/* ---- filters ---------------------------------------------------------------------- */

static const char *FILTER_META[][2] = {
    {"r1", "{\"x\":1}"},         {"r2", "{\"x\":1.0}"},        {"r3", "{\"x\":\"1\"}"},
    {"r4", "{\"x\":true}"},      {"r5", "{\"x\":false}"},      {"r6", "{\"x\":null}"},
    {"r7", "{\"x\":[]}"},        {"r8", "{\"x\":[1,2]}"},      {"r9", "{\"x\":{\"y\":1}}"},
    {"r10", "{\"x\":1.5}"},      {"r11", "{\"x\":\"B\"}"},     {"r12", "{\"x\":\"a\"}"},
    {"r13", "{}"},               {"r14", "[1,2]"},             {"r15", "{\"x\":[1]}"},
    {"r16", "{\"x\":9007199254740993}"}, {"r17", "{\"x\":9007199254740992}"},
    {"r18", "{\"x\":\"abc\"}"},  {"r19", "{\"x\":\"\xc3\xa9\"}"}, {"r20", "{\"x\":\"z\"}"},
    {"r21", "{\"x\":{}}"},       {"r22", "{\"x\":[3]}"},       {"r23", "{\"x\":0.1}"},
    {"r24", "{\"x\":{\"aa\":1,\"c\":1}}"}, {"r25", "{\"x\":{\"b\":1,\"d\":1}}"},
    {"r26", "{\"a.b\":1,\"a\":{\"b\":2},\"$not\":5}"}, {"r27", "{\"x\":1e-7}"},
    {"r28", "\"x\""},
};

static char *query_ids(cs_collection *c, const char *filter, int *rc_out)
{
    float q[2] = {1, 0};
    cs_query qq;
    cs_query_init(&qq);
    qq.vector = q;
    qq.vector_dim = 2;
    qq.limit = 1000;
    qq.filter_json = filter;
    cs_records r;
    int rc = cs_collection_query(c, &qq, &r, &E);
    if (rc_out) *rc_out = rc;
    char *s = rc ? strdup("<error>") : ids_of(&r);
    cs_records_free(&r);
    return s;
}

static void expect_filter(cs_collection *c, const char *filter, const char *want)
{
    int rc;
    char *got = query_ids(c, filter, &rc);
    CHECK_MSG(rc == 0 && !strcmp(got, want), "filter %s: got [%s] want [%s] (%s)", filter, got,
              want, rc ? E.msg : "");
    /* scan must agree with query. */
    cs_records r;
    if (!cs_collection_scan(c, filter, false, &r, &E)) {
        char *s = ids_of(&r);
        CHECK_MSG(!strcmp(s, want), "scan %s: got [%s] want [%s]", filter, s, want);
        free(s);
    } else {
        CHECK_MSG(0, "scan %s failed: %s", filter, E.msg);
    }
    cs_records_free(&r);
    free(got);
}

/* Sorted list of ids r<i> for the given numbers (terminated by 0). */
static const char *rs(int first, ...)
{
    static char buf[1024];
    const char *v[64];
    char names[64][8];
    int n = 0;
    va_list ap;
    va_start(ap, first);
    for (int x = first; x; x = va_arg(ap, int)) {
        snprintf(names[n], 8, "r%d", x);
        v[n] = names[n];
        n++;
    }
    va_end(ap);
    qsort(v, (size_t)n, sizeof *v, cmp_str);
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i) strcat(buf, ",");
        strcat(buf, v[i]);
    }
    return buf;
}

/* $icontains (clipsearch's extension for `search --name`): strings only, ASCII letters
 * case-insensitively, every other byte exactly; % and _ are plain characters. */
static void test_filter_icontains(void)
{
    cs_collection *c = fresh("icont", 2);
    static const char *meta[][2] = {
        {"r1", "{\"name\":\"Holiday_100%.JPG\"}"}, {"r2", "{\"name\":\"holiday.png\"}"},
        {"r3", "{\"name\":\"CAF\xc3\x89.jpg\"}"},  {"r4", "{\"name\":\"caf\xc3\xa9.jpg\"}"},
        {"r5", "{\"name\":42}"},                      {"r6", "{\"name\":[\"holiday\"]}"},
        {"r7", "{\"other\":\"holiday\"}"},          {"r8", "{\"name\":\"a\\\"q\\u00e9\"}"},
    };
    size_t n = sizeof meta / sizeof *meta;
    cs_record_in recs[8];
    float v[2] = {1, 1};
    for (size_t i = 0; i < n; i++) recs[i] = (cs_record_in){meta[i][0], v, meta[i][1]};
    OK(cs_collection_upsert(c, recs, n, &E));
    expect_filter(c, "{\"name\":{\"$icontains\":\"HOLIDAY\"}}", rs(1, 2, 0));
    expect_filter(c, "{\"name\":{\"$icontains\":\"day_1\"}}", rs(1, 0));
    expect_filter(c, "{\"name\":{\"$icontains\":\"0%.j\"}}", rs(1, 0));
    expect_filter(c, "{\"name\":{\"$icontains\":\"y.p\"}}", rs(2, 0));
    expect_filter(c, "{\"name\":{\"$icontains\":\"_\"}}", rs(1, 0));
    /* Non-ASCII letters compare exactly: \u00c9 is not \u00e9. */
    expect_filter(c, "{\"name\":{\"$icontains\":\"caf\xc3\xa9\"}}", rs(4, 0));
    expect_filter(c, "{\"name\":{\"$icontains\":\"Caf\"}}", rs(3, 4, 0));
    /* Escaped characters in the stored value and in the operand. */
    expect_filter(c, "{\"name\":{\"$icontains\":\"\\\"Q\\u00e9\"}}", rs(8, 0));
    /* The empty text is in every string. */
    expect_filter(c, "{\"name\":{\"$icontains\":\"\"}}", rs(1, 2, 3, 4, 8, 0));
    expect_filter(c, "{\"$and\":[{\"name\":{\"$icontains\":\"jpg\"}},{\"name\":{\"$icontains\":\"caf\"}}]}",
                  rs(3, 4, 0));
    int rc;
    free(query_ids(c, "{\"name\":{\"$icontains\":1}}", &rc));
    CHECK_MSG(rc == CS_E_FILTER && strstr(E.msg, "must be a string"), "rc %d %s", rc, E.msg);
    free(query_ids(c, "{\"name\":{\"$icontains\":[\"a\"]}}", &rc));
    CHECK(rc == CS_E_FILTER);
    done(c);
}

/* expect_warning(c, FILTER, NEEDLE): the filter's warning contains NEEDLE (NULL: none). */
static void expect_warning(cs_collection *c, const char *filter, const char *needle)
{
    char *w = NULL;
    int rc = cs_collection_filter_warnings(c, filter, &w, &E);
    CHECK_MSG(rc == 0, "%s: %s", filter, E.msg);
    if (needle) CHECK_MSG(w && strstr(w, needle), "%s: warning '%s', wanted '%s'", filter,
                          w ? w : "(none)", needle);
    else CHECK_MSG(!w, "%s: unexpected warning '%s'", filter, w);
    free(w);
}

/* Filters that quietly match nothing: a string against numbers, a key no record has,
 * $contains on non-arrays, $icontains on non-strings; $ne true for everything. */
static void test_filter_warnings(void)
{
    cs_collection *c = fresh("fwarn", 2);
    char *w = (char *)1;
    OK(cs_collection_filter_warnings(c, "{\"mtime\":{\"$gt\":\"2024\"}}", &w, &E));
    CHECK_MSG(!w, "an empty collection has nothing to say");
    static const char *meta[][2] = {
        {"r1", "{\"mtime\":1700000000,\"name\":\"a.jpg\",\"dirs\":[\"/p\"],\"flag\":true}"},
        {"r2", "{\"mtime\":1.5,\"name\":\"b.jpg\",\"dirs\":[],\"mixed\":\"x\"}"},
        {"r3", "{\"mtime\":3,\"name\":\"c.jpg\",\"dirs\":[\"/q\"],\"mixed\":7}"},
    };
    cs_record_in recs[3];
    float v[2] = {1, 1};
    for (size_t i = 0; i < 3; i++) recs[i] = (cs_record_in){meta[i][0], v, meta[i][1]};
    OK(cs_collection_upsert(c, recs, 3, &E));
    /* jsonb ranks numbers above strings: $gt matches all, $lt none, $eq none. */
    expect_warning(c, "{\"mtime\":{\"$gt\":\"2024-01-01\"}}",
                   "'mtime' holds numbers but is compared with strings: '$gt' matches every "
                   "record that has it");
    expect_warning(c, "{\"mtime\":{\"$lte\":\"2024-01-01\"}}", "'$lte' matches nothing");
    expect_warning(c, "{\"mtime\":{\"$eq\":\"3\"}}", "'$eq' matches nothing");
    expect_warning(c, "{\"mtime\":{\"$lt\":true}}", "'$lt' matches every record that has it");
    expect_warning(c, "{\"mixed\":{\"$gte\":[1]}}", "'mixed' holds numbers and strings but is "
                   "compared with arrays: '$gte' matches nothing");
    expect_warning(c, "{\"flag\":{\"$gt\":\"a\"}}", "'$gt' matches every record");
    expect_warning(c, "{\"mtime\":{\"$ne\":\"x\"}}", "$ne is true for every record");
    expect_warning(c, "{\"mtim\":{\"$gt\":5}}", "no record among the 3 sampled has the metadata key 'mtim'");
    expect_warning(c, "{\"name\":{\"$contains\":\"a\"}}", "'name' holds strings, not arrays");
    expect_warning(c, "{\"mtime\":{\"$icontains\":\"1\"}}", "compared with strings");
    expect_warning(c, "{\"mtime\":{\"$in\":[\"1\",\"2\"]}}", "compared with strings");
    expect_warning(c, "{\"flag\":{\"$eq\":1}}", "'flag' holds booleans but is compared with numbers");
    /* Nested in $and/$or, both found, each once. */
    char *both = NULL;
    OK(cs_collection_filter_warnings(c, "{\"$or\":[{\"$and\":[{\"mtime\":{\"$lt\":\"9\"}},"
                                        "{\"zz\":{\"$eq\":1}}]},{\"zz\":{\"$eq\":2}}]}", &both, &E));
    const char *zz = both ? strstr(both, "'zz'") : NULL;
    CHECK_MSG(both && strstr(both, "'mtime'") && zz && !strstr(zz + 1, "'zz'"), "nested: %s",
              both ? both : "(none)");
    free(both);
    /* What can match says nothing. */
    expect_warning(c, "{\"mtime\":{\"$gt\":5}}", NULL);
    expect_warning(c, "{\"mtime\":{\"$in\":[\"1\",2]}}", NULL);
    expect_warning(c, "{\"mixed\":{\"$eq\":\"x\"}}", NULL);
    expect_warning(c, "{\"mixed\":{\"$gte\":1}}", NULL);
    expect_warning(c, "{\"dirs\":{\"$contains\":\"/p\"}}", NULL);
    expect_warning(c, "{\"name\":{\"$icontains\":\"A\"}}", NULL);
    expect_warning(c, "{\"flag\":{\"$eq\":false}}", NULL);
    expect_warning(c, "{}", NULL);
    int rc = cs_collection_filter_warnings(c, "{\"mtime\":{\"$bogus\":1}}", &w, &E);
    CHECK_MSG(rc == CS_E_FILTER && !w, "a bad filter is the query's FilterError: %d", rc);
    done(c);
}

static void test_filters(void)
{
    cs_collection *c = fresh("filt", 2);
    size_t n = sizeof FILTER_META / sizeof *FILTER_META;
    cs_record_in recs[64];
    float v[2] = {1, 1};
    for (size_t i = 0; i < n; i++) recs[i] = (cs_record_in){FILTER_META[i][0], v, FILTER_META[i][1]};
    OK(cs_collection_upsert(c, recs, n, &E));
    char all[1024] = "";
    {
        const char *ids[64];
        for (size_t i = 0; i < n; i++) ids[i] = FILTER_META[i][0];
        qsort(ids, n, sizeof *ids, cmp_str);
        for (size_t i = 0; i < n; i++) {
            if (i) strcat(all, ",");
            strcat(all, ids[i]);
        }
    }
    /* No filter. */
    expect_filter(c, "{}", all);
    expect_filter(c, "null", all);
    expect_filter(c, "[]", all);
    /* jsonb equality: 1 == 1.0, "1" != 1, true != 1, big ints exact, decimals exact. */
    expect_filter(c, "{\"x\":{\"$eq\":1}}", rs(1, 2, 0));
    expect_filter(c, "{\"x\":{\"$eq\":1.00}}", rs(1, 2, 0));
    expect_filter(c, "{\"x\":{\"$eq\":\"1\"}}", rs(3, 0));
    expect_filter(c, "{\"x\":{\"$eq\":true}}", rs(4, 0));
    expect_filter(c, "{\"x\":{\"$eq\":null}}", rs(6, 0));
    expect_filter(c, "{\"x\":{\"$eq\":9007199254740993}}", rs(16, 0));
    expect_filter(c, "{\"x\":{\"$eq\":0.1}}", rs(23, 0));
    expect_filter(c, "{\"x\":{\"$eq\":0.0000001}}", rs(27, 0));
    expect_filter(c, "{\"x\":{\"$eq\":[1,2]}}", rs(8, 0));
    expect_filter(c, "{\"x\":{\"$eq\":3}}", "");   /* a scalar never equals [3] */
    expect_filter(c, "{\"x\":{\"$eq\":{\"d\":1,\"b\":1}}}", rs(25, 0));
    expect_filter(c, "{\"x\":{\"$eq\":[]}}", rs(7, 0));
    /* $ne: present and different; missing keys and non-objects never match. */
    expect_filter(c, "{\"x\":{\"$ne\":1}}",
                  rs(3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 0));
    /* Ordering across types (spec §7.5 examples). */
    expect_filter(c, "{\"x\":{\"$gt\":1}}", rs(4, 5, 8, 9, 10, 15, 16, 17, 21, 22, 24, 25, 0));
    expect_filter(c, "{\"x\":{\"$lt\":\"a\"}}", rs(3, 6, 7, 11, 0));
    expect_filter(c, "{\"x\":{\"$gt\":null}}",
                  rs(1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 0));
    expect_filter(c, "{\"$and\":[{\"x\":{\"$gt\":\"B\"}},{\"x\":{\"$lt\":\"\xc3\xa9\"}}]}", rs(12, 18, 20, 0));
    expect_filter(c, "{\"$and\":[{\"x\":{\"$gte\":\"a\"}},{\"x\":{\"$lte\":\"abc\"}}]}", rs(12, 18, 0));
    expect_filter(c, "{\"x\":{\"$gt\":[3]}}", rs(8, 9, 21, 24, 25, 0));
    expect_filter(c, "{\"x\":{\"$gt\":{\"b\":1,\"d\":1}}}", rs(24, 0));
    expect_filter(c, "{\"$and\":[{\"x\":{\"$gt\":9007199254740992}},{\"x\":{\"$lt\":false}}]}", rs(16, 0));
    expect_filter(c, "{\"$and\":[{\"x\":{\"$gte\":0.1}},{\"x\":{\"$lte\":1}}]}", rs(1, 2, 23, 0));
    expect_filter(c, "{\"$and\":[{\"x\":{\"$gt\":0}},{\"x\":{\"$lt\":0.1}}]}", rs(27, 0));
    /* $in: scalars, jsonb equality; [] matches nothing. */
    expect_filter(c, "{\"x\":{\"$in\":[1,\"a\"]}}", rs(1, 2, 12, 0));
    expect_filter(c, "{\"x\":{\"$in\":[true,\"1\"]}}", rs(3, 4, 0));
    expect_filter(c, "{\"x\":{\"$in\":[]}}", "");
    /* $contains: arrays only. */
    expect_filter(c, "{\"x\":{\"$contains\":1}}", rs(8, 15, 0));
    expect_filter(c, "{\"x\":{\"$contains\":\"1\"}}", "");
    expect_filter(c, "{\"x\":{\"$contains\":3}}", rs(22, 0));
    /* Logic with SQL NULL for missing keys. */
    expect_filter(c, "{\"$or\":[{\"x\":{\"$eq\":\"a\"}},{\"x\":{\"$eq\":true}}]}", rs(4, 12, 0));
    expect_filter(c, "{\"$and\":[{\"x\":{\"$eq\":1}},{\"missing\":{\"$eq\":1}}]}", "");
    expect_filter(c, "{\"$or\":[{\"missing\":{\"$eq\":1}},{\"x\":{\"$eq\":1}}]}", rs(1, 2, 0));
    expect_filter(c, "{\"$or\":[{\"$and\":[{\"x\":{\"$gte\":1}},{\"x\":{\"$lt\":2}}]},{\"x\":{\"$eq\":\"z\"}}]}",
                  rs(1, 2, 10, 20, 0));
    /* Keys are literal top-level keys: no paths, $-words are keys. */
    expect_filter(c, "{\"a.b\":{\"$eq\":1}}", rs(26, 0));
    expect_filter(c, "{\"$not\":{\"$eq\":5}}", rs(26, 0));
    expect_filter(c, "{\"'); DROP TABLE x; --\":{\"$eq\":1}}", "");
    CHECK(count(c) == (int64_t)n);

    /* FilterError: every rule of spec §7.2 and the documented deviations. */
    const char *bad[] = {
        "[1]", "5", "\"s\"", "true", "{\"a\":{\"$eq\":1},\"b\":{\"$eq\":2}}", "{\"$and\":{\"a\":1}}",
        "{\"$or\":5}", "{\"$and\":[5]}", "{\"$and\":[[]]}", "{\"a\":{\"$eq\":1,\"$ne\":2}}",
        "{\"a\":{\"$foo\":1}}", "{\"a\":{\"$in\":5}}", "{\"a\":{\"$in\":\"abc\"}}",
        "{\"a\":{\"$in\":[null]}}", "{\"a\":{\"$in\":[[1]]}}", "{\"a\":{\"$in\":[{}]}}",
        "{\"a\":{\"$contains\":[1]}}", "{\"a\":{\"$contains\":null}}", "{\"a\":{\"$contains\":{}}}",
        "{\"$and\":[]}", "{\"$or\":[]}", "{\"$or\":[{\"$or\":[]},{\"x\":{\"$eq\":1}}]}",
        "{\"a\":5}", "{\"a\":{}}", "{\"$and\":[{}]}", "{", "{\"a\":{\"$eq\":1}} x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc;
        char *s = query_ids(c, bad[i], &rc);
        CHECK_MSG(rc == CS_E_FILTER, "filter %s: rc %d (%s)", bad[i], rc, E.msg);
        free(s);
    }
    /* Order: depth-first, entry count before operators, operator count before names. */
    int rc;
    free(query_ids(c, "{\"$and\":[{\"a\":{\"$eq\":1},\"b\":2},5]}", &rc));
    CHECK(rc == CS_E_FILTER && strstr(E.msg, "max 1 entry"));
    free(query_ids(c, "{\"a\":{\"$foo\":1,\"$bar\":2}}", &rc));
    CHECK(rc == CS_E_FILTER && strstr(E.msg, "only one operator"));
    free(query_ids(c, "{\"$and\":[{\"a\":{\"$in\":[null]}},{\"b\":{\"$foo\":1}}]}", &rc));
    CHECK(rc == CS_E_FILTER && strstr(E.msg, "list of scalars"));
    /* NaN is refused by the server after the shape checks. */
    free(query_ids(c, "{\"x\":{\"$eq\":NaN}}", &rc));
    CHECK_MSG(rc == CS_E_DATABASE, "rc %d %s", rc, E.msg);
    free(query_ids(c, "{\"x\":{\"$in\":NaN}}", &rc));
    CHECK(rc == CS_E_FILTER);
    free(query_ids(c, "{\"x\":{\"$eq\":\"a\\u0000\"}}", &rc));
    CHECK_MSG(rc == CS_E_DATABASE, "rc %d %s", rc, E.msg);
    done(c);
}

/* ---- measures --------------------------------------------------------------------- */

static double ref_distance(cs_measure m, const float *a, const float *b, int d)
{
    double dot = 0, na = 0, nb = 0, l2 = 0, l1 = 0;
    for (int i = 0; i < d; i++) {
        double x = a[i], y = b[i];
        dot += x * y;
        na += x * x;
        nb += y * y;
        l2 += (x - y) * (x - y);
        l1 += fabs(x - y);
    }
    switch (m) {
    case CS_MEASURE_L2: return sqrt(l2);
    case CS_MEASURE_L1: return l1;
    case CS_MEASURE_IP: return -dot;
    default: {
        if (na == 0 || nb == 0) return NAN;
        double s = dot / sqrt(na * nb);
        return 1 - (s > 1 ? 1 : s < -1 ? -1 : s);
    }
    }
}

static bool close_enough(double got, double want)
{
    if (isnan(want)) return isnan(got);
    return fabs(got - want) <= 1e-6 + 1e-5 * fabs(want);
}

static int cmp_double_nan_last(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x)) return isnan(y) ? 0 : 1;
    if (isnan(y)) return -1;
    return x < y ? -1 : x > y;
}

static void test_measures(void)
{
    const int D = 37, N = 300;
    cs_collection *c = fresh("meas", D);
    float *vecs = calloc((size_t)N * D, sizeof(float));
    cs_record_in *recs = calloc(N, sizeof *recs);
    char (*ids)[16] = calloc(N, 16);
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < D; k++) vecs[i * D + k] = (float)(urand() * 2 - 1) * (i % 7 + 1);
        snprintf(ids[i], 16, "v%d", i);
        recs[i] = (cs_record_in){ids[i], vecs + (size_t)i * D, "{\"i\":0}"};
    }
    memset(vecs, 0, D * sizeof(float));   /* v0 has zero norm: NaN cosine, sorted last */
    OK(cs_collection_upsert(c, recs, N, &E));
    float q[37];
    for (int k = 0; k < D; k++) q[k] = (float)(urand() * 2 - 1);
    const cs_measure ms[] = {CS_MEASURE_COSINE, CS_MEASURE_L2, CS_MEASURE_IP, CS_MEASURE_L1};
    double *ref = calloc(N, sizeof *ref), *sorted = calloc(N, sizeof *sorted);
    for (int mi = 0; mi < 4; mi++) {
        cs_measure m = ms[mi];
        for (int i = 0; i < N; i++) sorted[i] = ref[i] = ref_distance(m, q, vecs + (size_t)i * D, D);
        qsort(sorted, N, sizeof *sorted, cmp_double_nan_last);
        const int limits[] = {1, 10, 1000};
        for (int li = 0; li < 3; li++) {
            cs_query qq;
            cs_query_init(&qq);
            qq.vector = q;
            qq.vector_dim = D;
            qq.measure = m;
            qq.limit = limits[li];
            qq.include_value = true;
            qq.include_vector = li == 1;
            qq.include_metadata = li == 1;
            cs_records r;
            OK(cs_collection_query(c, &qq, &r, &E));
            size_t want = (size_t)(limits[li] < N ? limits[li] : N);
            CHECK_MSG(r.n == want, "%s limit %d: %zu results", cs_measure_name(m), limits[li], r.n);
            CHECK(r.warning && strstr(r.warning, cs_measure_name(m)));
            for (size_t j = 0; j < r.n; j++) {
                int i = atoi(r.items[j].id + 1);
                CHECK_MSG(close_enough(r.items[j].value, ref[i]), "%s %s: %.9g vs %.9g",
                          cs_measure_name(m), r.items[j].id, r.items[j].value, ref[i]);
                /* True top-k: the j-th value equals the j-th smallest reference value. */
                CHECK_MSG(close_enough(r.items[j].value, sorted[j]), "%s rank %zu: %.9g vs %.9g",
                          cs_measure_name(m), j, r.items[j].value, sorted[j]);
                if (qq.include_vector)
                    CHECK(r.items[j].vector && !memcmp(r.items[j].vector, vecs + (size_t)i * D, D * sizeof(float)));
                else
                    CHECK(r.items[j].vector == NULL);
                if (qq.include_metadata) CHECK(r.items[j].metadata_json && strstr(r.items[j].metadata_json, "\"i\""));
                else CHECK(r.items[j].metadata_json == NULL);
            }
            if (m == CS_MEASURE_COSINE && r.n == (size_t)N)
                CHECK(!strcmp(r.items[N - 1].id, "v0") && isnan(r.items[N - 1].value));
            if (m == CS_MEASURE_IP && r.n) CHECK(r.items[0].value <= r.items[r.n - 1].value);
            cs_records_free(&r);
        }
    }
    /* A zero query vector: every cosine distance is NaN. */
    float zero[37] = {0};
    cs_query qq;
    cs_query_init(&qq);
    qq.vector = zero;
    qq.vector_dim = D;
    qq.include_value = true;
    cs_records r;
    OK(cs_collection_query(c, &qq, &r, &E));
    CHECK(r.n == 10);
    for (size_t j = 0; j < r.n; j++) CHECK(isnan(r.items[j].value));
    cs_records_free(&r);
    /* Default result: ids only. */
    cs_query_init(&qq);
    qq.vector = q;
    qq.vector_dim = D;
    OK(cs_collection_query(c, &qq, &r, &E));
    CHECK(r.n == 10 && r.items[0].vector == NULL && r.items[0].metadata_json == NULL);
    cs_records_free(&r);
    free(ref);
    free(sorted);
    free(recs);
    free(ids);
    free(vecs);
    done(c);
}

static void test_query_validation(void)
{
    cs_collection *c = fresh("qv", 3);
    float v[3] = {1, 0, 0}, nanq[3] = {NAN, 0, 0};
    for (int i = 0; i < 20; i++) {
        char id[8];
        snprintf(id, sizeof id, "q%d", i);
        float w[3] = {1, (float)i, 0};
        OK(upsert1(c, id, w, i < 3 ? "{\"near\":false}" : "{\"near\":true}"));
    }
    cs_query q;
    cs_records r;
#define QUERY_ERR(setup, want)                                                              \
    do {                                                                                    \
        cs_query_init(&q);                                                                  \
        q.vector = v;                                                                       \
        q.vector_dim = 3;                                                                   \
        setup;                                                                              \
        CHECK_ERR(cs_collection_query(c, &q, &r, &E), want);                                \
        cs_records_free(&r);                                                                \
    } while (0)
    QUERY_ERR(q.probes = 0, CS_E_ARG);
    QUERY_ERR(q.probes = 32769, CS_E_DATABASE);
    QUERY_ERR(q.ef_search = 0, CS_E_ARG);
    QUERY_ERR(q.ef_search = 1001, CS_E_ARG);
    QUERY_ERR(q.limit = 1001, CS_E_ARG);
    QUERY_ERR(q.limit = -1, CS_E_DATABASE);
    QUERY_ERR(q.measure = (cs_measure)9, CS_E_ARG);
    QUERY_ERR(q.vector_dim = 2, CS_E_DIMENSION);
    QUERY_ERR(q.vector = nanq, CS_E_DATABASE);
    QUERY_ERR(q.vector = NULL, CS_E_ARG);
    /* vecs' order: probes, limit, measure, filter, dimension, then server checks. */
    QUERY_ERR((q.probes = 0, q.limit = 1001), CS_E_ARG);
    CHECK(strstr(E.msg, "probes"));
    QUERY_ERR((q.limit = 1001, q.measure = (cs_measure)9), CS_E_ARG);
    CHECK(strstr(E.msg, "limit"));
    QUERY_ERR((q.measure = (cs_measure)9, q.filter_json = "5"), CS_E_ARG);
    QUERY_ERR((q.filter_json = "5", q.vector_dim = 2), CS_E_FILTER);
    QUERY_ERR((q.vector_dim = 2, q.vector = nanq), CS_E_DIMENSION);
    QUERY_ERR((q.vector = nanq, q.limit = -1), CS_E_DATABASE);
    /* Limits 0, 1, 1000, and the edges of probes/ef_search. */
    int limits[] = {0, 1, 1000};
    size_t want[] = {0, 1, 20};
    for (int i = 0; i < 3; i++) {
        cs_query_init(&q);
        q.vector = v;
        q.vector_dim = 3;
        q.limit = limits[i];
        q.probes = i == 2 ? 32768 : 1;
        q.ef_search = i == 2 ? 1000 : 1;
        OK(cs_collection_query(c, &q, &r, &E));
        CHECK(r.n == want[i]);
        cs_records_free(&r);
    }
    /* An empty collection answers with no rows. */
    cs_collection *empty = fresh("qv_empty", 3);
    cs_query_init(&q);
    q.vector = v;
    q.vector_dim = 3;
    OK(cs_collection_query(empty, &q, &r, &E));
    CHECK(r.n == 0);
    cs_records_free(&r);
    done(empty);
    /* The true top-k among the matches: the 3 nearest do not match. */
    cs_query_init(&q);
    q.vector = v;
    q.vector_dim = 3;
    q.limit = 2;
    q.filter_json = "{\"near\":{\"$eq\":true}}";
    OK(cs_collection_query(c, &q, &r, &E));
    char *s = ids_of(&r);
    CHECK_MSG(!strcmp(s, "q3,q4"), "%s", s);
    free(s);
    cs_records_free(&r);
    /* The no-covering-index warning follows the index's measure. */
    cs_index_spec spec;
    cs_index_spec_init(&spec);
    spec.measure = CS_MEASURE_L2;
    OK(cs_collection_create_index(c, &spec, &E));
    cs_query_init(&q);
    q.vector = v;
    q.vector_dim = 3;
    q.measure = CS_MEASURE_L2;
    OK(cs_collection_query(c, &q, &r, &E));
    CHECK(r.warning == NULL && r.n == 10);
    cs_records_free(&r);
    q.measure = CS_MEASURE_COSINE;
    OK(cs_collection_query(c, &q, &r, &E));
    CHECK(r.warning != NULL);
    cs_records_free(&r);
    done(c);
}

static bool hex7_suffix(const char *name, const char *prefix)
{
    size_t p = strlen(prefix);
    if (strncmp(name, prefix, p) || strlen(name) != p + 7) return false;
    for (size_t i = p; i < p + 7; i++)
        if (!strchr("0123456789abcdef", name[i])) return false;
    return true;
}

static void test_create_index(void)
{
    cs_collection *c = fresh("ix", 4);
    float v[4] = {1, 2, 3, 4};
    OK(upsert1(c, "a", v, NULL));
    cs_index_spec s;
#define IX_ERR(setup, want)                                                                 \
    do {                                                                                    \
        cs_index_spec_init(&s);                                                             \
        setup;                                                                              \
        CHECK_ERR(cs_collection_create_index(c, &s, &E), want);                             \
    } while (0)
    IX_ERR(s.method = (cs_index_method)7, CS_E_ARG);
    IX_ERR(s.m = 8, CS_E_ARG);                                   /* arguments with auto */
    IX_ERR((s.method = CS_INDEX_HNSW, s.n_lists = 5), CS_E_ARG);
    IX_ERR((s.method = CS_INDEX_IVFFLAT, s.ef_construction = 80), CS_E_ARG);
    IX_ERR(s.measure = (cs_measure)9, CS_E_ARG);
    IX_ERR((s.method = (cs_index_method)7, s.measure = (cs_measure)9), CS_E_ARG);
    CHECK(strstr(E.msg, "method"));
    IX_ERR((s.m = 8, s.measure = (cs_measure)9), CS_E_ARG);
    CHECK(strstr(E.msg, "argument"));
    IX_ERR((s.method = CS_INDEX_HNSW, s.m = 1), CS_E_DATABASE);
    IX_ERR((s.method = CS_INDEX_HNSW, s.m = 101), CS_E_DATABASE);
    IX_ERR((s.method = CS_INDEX_HNSW, s.ef_construction = 3), CS_E_DATABASE);
    IX_ERR((s.method = CS_INDEX_HNSW, s.ef_construction = 1001), CS_E_DATABASE);
    IX_ERR((s.method = CS_INDEX_HNSW, s.m = 16, s.ef_construction = 31), CS_E_DATABASE);
    IX_ERR((s.method = CS_INDEX_IVFFLAT, s.n_lists = 32769), CS_E_DATABASE);
    IX_ERR((s.method = CS_INDEX_IVFFLAT, s.n_lists = -1), CS_E_DATABASE);
    /* An explicit 0 is an argument like any other (vecs passes it on), not "default". */
    IX_ERR((s.method = CS_INDEX_IVFFLAT, s.n_lists = 0), CS_E_DATABASE);
    CHECK(strstr(E.msg, "lists"));
    IX_ERR((s.method = CS_INDEX_HNSW, s.m = 0), CS_E_DATABASE);
    IX_ERR((s.method = CS_INDEX_HNSW, s.ef_construction = 0), CS_E_DATABASE);
    IX_ERR(s.n_lists = 0, CS_E_ARG);                             /* an argument with auto */
    IX_ERR((s.method = CS_INDEX_IVFFLAT, s.measure = CS_MEASURE_L1), CS_E_DATABASE);
    char *ix = NULL;
    OK(cs_collection_index(c, &ix, &E));
    CHECK(ix == NULL);
    free(ix);
    /* Names of vecs' form. */
    OK(cs_collection_create_index(c, NULL, &E));
    OK(cs_collection_index(c, &ix, &E));
    CHECK_MSG(ix && hex7_suffix(ix, "ix_vector_cosine_ops_hnsw_m16_efc64_"), "%s", ix ? ix : "(null)");
    char *first = ix;
    /* replace=false with an index: ArgError, index kept. */
    IX_ERR(s.replace = false, CS_E_ARG);
    OK(cs_collection_index(c, &ix, &E));
    CHECK(ix && first && !strcmp(ix, first));
    free(ix);
    /* A refused new index keeps the old one (one transaction). */
    IX_ERR((s.method = CS_INDEX_HNSW, s.m = 1), CS_E_DATABASE);
    OK(cs_collection_index(c, &ix, &E));
    CHECK(ix && first && !strcmp(ix, first));
    free(ix);
    free(first);
    cs_index_spec_init(&s);
    s.method = CS_INDEX_HNSW;
    s.measure = CS_MEASURE_IP;
    s.m = 8;
    s.ef_construction = 16;
    OK(cs_collection_create_index(c, &s, &E));
    OK(cs_collection_index(c, &ix, &E));
    CHECK_MSG(ix && hex7_suffix(ix, "ix_vector_ip_ops_hnsw_m8_efc16_"), "%s", ix ? ix : "(null)");
    free(ix);
    cs_index_spec_init(&s);
    s.method = CS_INDEX_IVFFLAT;
    s.measure = CS_MEASURE_L2;
    OK(cs_collection_create_index(c, &s, &E));
    OK(cs_collection_index(c, &ix, &E));
    CHECK_MSG(ix && hex7_suffix(ix, "ix_vector_l2_ops_ivfflat_nl30_"), "%s", ix ? ix : "(null)");
    free(ix);
    s.n_lists = 5;
    s.measure = CS_MEASURE_COSINE;
    OK(cs_collection_create_index(c, &s, &E));
    OK(cs_collection_index(c, &ix, &E));
    CHECK_MSG(ix && hex7_suffix(ix, "ix_vector_cosine_ops_ivfflat_nl5_"), "%s", ix ? ix : "(null)");
    free(ix);
    /* With replace=false and no index it works. */
    done(c);
    c = fresh("ix2", 2001);
    IX_ERR(s.method = CS_INDEX_HNSW, CS_E_DATABASE);
    IX_ERR(s.method = CS_INDEX_IVFFLAT, CS_E_DATABASE);
    done(c);
    c = fresh("ix3", 2);
    cs_index_spec_init(&s);
    s.replace = false;
    s.measure = CS_MEASURE_L1;
    OK(cs_collection_create_index(c, &s, &E));
    OK(cs_collection_index(c, &ix, &E));
    CHECK_MSG(ix && hex7_suffix(ix, "ix_vector_l1_ops_hnsw_m16_efc64_"), "%s", ix ? ix : "(null)");
    free(ix);
    done(c);
}

static void test_scan(void)
{
    cs_collection *c = fresh("scan", 2);
    float v[2] = {0.5f, 0.25f};
    for (int i = 0; i < 30; i++) {
        char id[8], meta[32];
        snprintf(id, sizeof id, "s%02d", i);
        snprintf(meta, sizeof meta, "{\"n\":%d}", i);
        OK(upsert1(c, id, v, meta));
    }
    cs_records r;
    OK(cs_collection_scan(c, NULL, false, &r, &E));
    CHECK(r.n == 30 && r.items[0].metadata_json && r.items[0].vector == NULL);
    cs_records_free(&r);
    OK(cs_collection_scan(c, "{\"n\":{\"$gte\":28}}", true, &r, &E));
    char *s = ids_of(&r);
    CHECK_MSG(!strcmp(s, "s28,s29"), "%s", s);
    free(s);
    CHECK(r.n == 2 && r.items[0].vector && r.items[0].vector[1] == 0.25f);
    cs_records_free(&r);
    CHECK_ERR(cs_collection_scan(c, "{\"n\":3}", false, &r, &E), CS_E_FILTER);
    cs_records_free(&r);
    done(c);
}

/* SQLite only: a collection large enough for the multi-threaded scan and filter paths
 * (PGlite would take minutes to load it). The true top-k among matching rows is checked
 * against a double-precision reference. */
static void test_large_sqlite(void)
{
    if (strcmp(cs_store_backend_name(S), "sqlite")) return;
    const int D = 48, N = 50000, K = 20;
    cs_collection *c = fresh("large", D);
    float *vecs = malloc((size_t)N * D * sizeof(float));
    cs_record_in *recs = malloc((size_t)N * sizeof *recs);
    char (*ids)[12] = malloc((size_t)N * 12), (*meta)[24] = malloc((size_t)N * 24);
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < D; k++) vecs[(size_t)i * D + k] = (float)(urand() - 0.5);
        snprintf(ids[i], 12, "L%d", i);
        snprintf(meta[i], 24, "{\"g\":%d}", i % 7);
        recs[i] = (cs_record_in){ids[i], vecs + (size_t)i * D, meta[i]};
    }
    OK(cs_collection_upsert(c, recs, (size_t)N, &E));
    float q[48];
    for (int k = 0; k < D; k++) q[k] = (float)(urand() - 0.5);
    double *ref = malloc((size_t)N * sizeof *ref);
    for (int pass = 0; pass < 2; pass++) {
        int n = 0;
        for (int i = 0; i < N; i++)
            if (pass == 0 || i % 7 == 3) ref[n++] = ref_distance(CS_MEASURE_COSINE, q, vecs + (size_t)i * D, D);
        qsort(ref, (size_t)n, sizeof *ref, cmp_double_nan_last);
        cs_query qq;
        cs_query_init(&qq);
        qq.vector = q;
        qq.vector_dim = D;
        qq.limit = K;
        qq.include_value = true;
        qq.filter_json = pass ? "{\"g\":{\"$eq\":3}}" : NULL;
        cs_records r;
        OK(cs_collection_query(c, &qq, &r, &E));
        CHECK(r.n == (size_t)K);
        for (size_t j = 0; j < r.n; j++) {
            CHECK_MSG(close_enough(r.items[j].value, ref[j]), "large pass %d rank %zu: %.9g vs %.9g",
                      pass, j, r.items[j].value, ref[j]);
            if (pass) CHECK(atoi(r.items[j].id + 1) % 7 == 3);
        }
        cs_records_free(&r);
    }
    free(ref);
    free(vecs);
    free(recs);
    free(ids);
    free(meta);
    done(c);
}

/* clipsearch's per-collection attributes (the model record): absent on a new
 * collection, stored compact, replaced, cleared, refused unless a JSON object, invisible
 * as records, and gone with the collection (a re-created one starts without). */
static void test_attrs(void)
{
    const char *name = cname("attrs");
    cs_collection *c = NULL;
    char *j = NULL;
    OK(cs_store_get_or_create(S, name, 3, &c, &E));
    if (!c) return;
    OK(cs_collection_get_attrs(c, &j, &E));
    CHECK(j == NULL);
    OK(cs_collection_set_attrs(c, "{ \"model\" : {\"fp\": \"ab\"}, \"n\": 1 }", &E));
    OK(cs_collection_get_attrs(c, &j, &E));
    CHECK_MSG(j && !strcmp(j, "{\"model\":{\"fp\":\"ab\"},\"n\":1}"), "%s", j ? j : "(null)");
    free(j);
    /* Quotes and backslashes survive (PostgreSQL keeps it in a quoted literal). */
    OK(cs_collection_set_attrs(c, "{\"path\": \"/a'b\\\\c\\\"d\"}", &E));
    OK(cs_collection_get_attrs(c, &j, &E));
    CHECK_MSG(j && !strcmp(j, "{\"path\":\"/a'b\\\\c\\\"d\"}"), "%s", j ? j : "(null)");
    free(j);
    CHECK_ERR(cs_collection_set_attrs(c, "[1]", &E), CS_E_ARG);
    CHECK_ERR(cs_collection_set_attrs(c, "{bad", &E), CS_E_ARG);
    int64_t n = -1;
    OK(cs_collection_count(c, &n, &E));
    CHECK(n == 0);
    OK(cs_collection_set_attrs(c, NULL, &E));
    OK(cs_collection_get_attrs(c, &j, &E));
    CHECK(j == NULL);
    OK(cs_collection_set_attrs(c, "{\"x\": true}", &E));
    cs_collection_free(c);
    OK(cs_store_drop(S, name, &E));
    c = NULL;
    OK(cs_store_get_or_create(S, name, 3, &c, &E));
    if (c) {
        OK(cs_collection_get_attrs(c, &j, &E));
        CHECK_MSG(j == NULL, "a re-created collection inherited %s", j);
        free(j);
        cs_collection_free(c);
    }
    OK(cs_store_drop(S, name, &E));
}

static void test_measure_names(void)
{
    cs_measure m;
    const char *names[] = {"cosine_distance", "l2_distance", "max_inner_product", "l1_distance"};
    const char *ops[] = {"vector_cosine_ops", "vector_l2_ops", "vector_ip_ops", "vector_l1_ops"};
    for (int i = 0; i < 4; i++) {
        OK(cs_measure_parse(names[i], &m, &E));
        CHECK((int)m == i && !strcmp(cs_measure_name(m), names[i]) &&
              !strcmp(cs_measure_opclass(m), ops[i]));
    }
    CHECK_ERR(cs_measure_parse("cosine", &m, &E), CS_E_ARG);
}

/* CS_STORE_READ_ONLY (search, serve, vec list/describe/query/fetch): reads what the
 * store holds, refuses every write before touching the database, creates nothing. */
static void test_read_only(const char *url)
{
    cs_collection *c = fresh("ro", 2);
    float v[] = {1, 0};
    cs_record_in r = {"a", v, "{\"n\":1}"};
    OK(cs_collection_upsert(c, &r, 1, &E));
    cs_store *ro = NULL;
    OK(cs_store_open_ex(url, CS_STORE_READ_ONLY, &ro, &E));
    if (!ro) {
        done(c);
        return;
    }
    CHECK(cs_store_is_read_only(ro) && !cs_store_is_read_only(S));
    CHECK(cs_store_location(ro)[0] != '\0' && !strstr(cs_store_location(ro), "password"));
    cs_collection_info *infos = NULL;
    size_t n = 0;
    bool listed = false;
    OK(cs_store_list(ro, &infos, &n, &E));
    for (size_t i = 0; i < n; i++) listed |= !strcmp(infos[i].name, cname("ro"));
    cs_collection_info_free(infos, n);
    CHECK(listed);
    cs_collection *rc = NULL;
    OK(cs_store_get(ro, cname("ro"), &rc, &E));
    if (rc) {
        cs_query q;
        cs_query_init(&q);
        q.vector = v;
        q.vector_dim = 2;
        cs_records out = {0};
        OK(cs_collection_query(rc, &q, &out, &E));
        CHECK(out.n == 1);
        cs_records_free(&out);
        CHECK_ERR(cs_collection_upsert(rc, &r, 1, &E), CS_E_ARG);
        CHECK(strstr(E.msg, "read-only") != NULL);
        const char *ids[] = {"a"};
        CHECK_ERR(cs_collection_delete_ids(rc, ids, 1, NULL, &E), CS_E_ARG);
        CHECK_ERR(cs_collection_delete_filter(rc, "{\"n\":{\"$eq\":1}}", NULL, &E), CS_E_ARG);
        CHECK_ERR(cs_collection_create_index(rc, NULL, &E), CS_E_ARG);
        CHECK_ERR(cs_collection_set_attrs(rc, "{}", &E), CS_E_ARG);
        cs_collection_free(rc);
    }
    cs_collection *nc = NULL;
    CHECK_ERR(cs_store_get_or_create(ro, cname("ro_new"), 2, &nc, &E), CS_E_ARG);
    CHECK_ERR(cs_store_get(ro, cname("ro_new"), &nc, &E), CS_E_COLLECTION_NOT_FOUND);
    CHECK_ERR(cs_store_drop(ro, cname("ro"), &E), CS_E_ARG);
    cs_store_close(ro);
    int64_t count = 0;
    OK(cs_collection_count(c, &count, &E));
    CHECK(count == 1);
    done(c);
    if (strncmp(url, "postgres", 8) != 0) {
        /* A missing file is reported, not created. */
        char missing[300];
        snprintf(missing, sizeof missing, "%s.missing.db", url);
        unlink(missing);
        CHECK_ERR(cs_store_open_ex(missing, CS_STORE_READ_ONLY, &ro, &E), CS_E_STORE_NOT_FOUND);
        CHECK(ro == NULL && access(missing, F_OK) != 0);
    }
}

int main(void)
{
    const char *url = getenv("CS_TEST_DB_URL");
    char tmp[256] = "";
    if (!url || !*url) {
        snprintf(tmp, sizeof tmp, "/tmp/cs_store_suite_%d.db", (int)getpid());
        unlink(tmp);
        url = tmp;
    }
    if (cs_store_open(url, &S, &E)) {
        if (getenv("CS_TEST_DB_URL")) {
            fprintf(stderr, "cannot open %s: %s\n", url, E.msg);
            return 1;
        }
        SKIP("cannot open a temporary SQLite store: %s", E.msg);
    }
    snprintf(PREFIX, sizeof PREFIX, "t%x%x_", (unsigned)getpid() & 0xffff,
             (unsigned)time(NULL) & 0xfff);
    fprintf(stderr, "store suite on %s backend (%s), prefix %s\n", cs_store_backend_name(S),
            tmp[0] ? tmp : "CS_TEST_DB_URL", PREFIX);
    test_measure_names();
    test_names();
    test_lifecycle();
    test_upsert();
    test_fetch_delete();
    test_filters();
    test_filter_icontains();
    test_filter_warnings();
    test_measures();
    test_query_validation();
    test_create_index();
    test_scan();
    test_attrs();
    test_read_only(url);
    test_large_sqlite();
    cs_store_close(S);
    if (tmp[0]) {
        char p[300];
        unlink(tmp);
        snprintf(p, sizeof p, "%s-wal", tmp);
        unlink(p);
        snprintf(p, sizeof p, "%s-shm", tmp);
        unlink(p);
    }
    return TEST_RESULT();
}
