/* The PostgreSQL backend on its own (below the collection layer): vecs' statements,
 * batching, transactions, filters compiled to jsonb SQL, create_index naming. Needs
 * CS_TEST_DB_URL=postgresql://... (tests/pg/fixture.cmake sets it); skips otherwise, except
 * for the URL-masking checks, which need no server. */
#include <regex.h>
#include <unistd.h>

#include "store/backend.h"
#include "store/pg_internal.h"
#include "pg/pg_test_url.h"
#include "test.h"

static char T[64];

static cs_record_in rec(const char *id, const float *v, const char *meta)
{
    cs_record_in r;
    memset(&r, 0, sizeof r);
    r.id = id;
    r.vector = v;
    r.metadata_json = meta;
    return r;
}   /* per-process table name, so parallel runs cannot collide */

static cs__filter *cmp(const char *key, cs__filter_op op, json_t *value)
{
    cs__filter *f = calloc(1, sizeof *f);
    f->kind = CS_FILTER_CMP;
    f->key = strdup(key);
    f->op = op;
    f->value = value;
    return f;
}

static cs__filter *node(cs__filter_kind kind, cs__filter *a, cs__filter *b)
{
    cs__filter *f = calloc(1, sizeof *f);
    f->kind = kind;
    f->n_children = 2;
    f->children = calloc(2, sizeof *f->children);
    f->children[0] = a;
    f->children[1] = b;
    return f;
}

static void free_filter(cs__filter *f)
{
    for (size_t i = 0; i < f->n_children; i++) free_filter(f->children[i]);
    free(f->children);
    free(f->key);
    free(f->value_json);
    for (size_t i = 0; i < f->n_elems; i++) free(f->elem_json[i]);
    free(f->elem_json);
    json_decref(f->value);
    free(f);
}

/* Sorted, comma-joined ids of recs, for order-free comparison. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ids_of(const cs_records *r, char *buf, size_t n)
{
    char **ids = calloc(r->n + 1, sizeof *ids);
    for (size_t i = 0; i < r->n; i++) ids[i] = r->items[i].id;
    qsort(ids, r->n, sizeof *ids, cmp_str);
    buf[0] = '\0';
    for (size_t i = 0; i < r->n; i++) {
        if (i) strncat(buf, ",", n - strlen(buf) - 1);
        strncat(buf, ids[i], n - strlen(buf) - 1);
    }
    free(ids);
}

/* Runs filter f (consumed) through scan and returns the sorted ids. */
static void scan_ids(cs__backend *b, cs__filter *f, char *buf, size_t n)
{
    cs_error err = {0};
    cs_records r = {0};
    int rc = b->ops->scan(b, T, 3, f, false, 0, &r, &err);
    CHECK_MSG(rc == 0, "scan: %s", err.msg);
    ids_of(&r, buf, n);
    cs_records_free(&r);
    free_filter(f);
}

static void test_mask(void)
{
    struct { const char *in, *out; } cases[] = {
        {"postgresql://u:secret@h:5/db", "postgresql://u:***@h:5/db"},
        {"postgres://u@h/db?password=pw&sslmode=disable",
         "postgres://u@h/db?password=***&sslmode=disable"},
        {"postgresql://h/db", "postgresql://h/db"},
        {"postgresql://a:b:c@h/db?x=1#f", "postgresql://a:***@h/db?x=1#f"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *m = cs__pg_mask_url(cases[i].in);
        CHECK_MSG(m && !strcmp(m, cases[i].out), "%s -> %s", cases[i].in, m);
        free(m);
    }
    /* An unreachable server: error names the URL, never the password. */
    cs__backend *b = NULL;
    cs_error err = {0};
    int rc = cs__pg_backend_open("postgresql://me:topsecret@127.0.0.1:1/db?connect_timeout=2", false,
                                &b, &err);
    CHECK(rc == CS_E_DATABASE && !b);
    CHECK_MSG(strstr(err.msg, "127.0.0.1:1") && !strstr(err.msg, "topsecret"), "%s", err.msg);
}

static void test_collections(cs__backend *b)
{
    cs_error err = {0};
    int dim = 0;
    bool found = true;
    CHECK_OK(b->ops->lookup(b, T, &dim, &found, &err), &err);
    CHECK(!found);
    CHECK_OK(b->ops->create(b, T, 3, &err), &err);
    CHECK_OK(b->ops->lookup(b, T, &dim, &found, &err), &err);
    CHECK(found && dim == 3);
    CHECK(b->ops->create(b, T, 3, &err) == CS_E_DATABASE);   /* no IF NOT EXISTS */
    CHECK_MSG(strstr(err.msg, "already exists"), "%s", err.msg);

    char hidden[96];
    snprintf(hidden, sizeof hidden, "_%s", T);
    CHECK_OK(b->ops->create(b, hidden, 2, &err), &err);
    CHECK_OK(b->ops->lookup(b, hidden, &dim, &found, &err), &err);
    CHECK(!found);   /* spec §1.3: '_' names are invisible */
    cs_collection_info *infos = NULL;
    size_t n = 0;
    CHECK_OK(b->ops->list(b, &infos, &n, &err), &err);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(infos[i].name, T)) seen += infos[i].dimension == 3;
        if (!strcmp(infos[i].name, hidden)) seen += 100;
    }
    CHECK(seen == 1);
    cs_collection_info_free(infos, n);
    CHECK_OK(b->ops->drop(b, hidden, &err), &err);
    CHECK_OK(b->ops->drop(b, hidden, &err), &err);   /* missing is fine */

    /* A name that needs quoting: identifiers are quoted, never pasted. */
    char odd[160];
    snprintf(odd, sizeof odd, "%s\"; DROP TABLE x; --'", T);
    CHECK_OK(b->ops->create(b, odd, 1, &err), &err);
    CHECK_OK(b->ops->lookup(b, odd, &dim, &found, &err), &err);
    CHECK(found && dim == 1);
    CHECK_OK(b->ops->drop(b, odd, &err), &err);
    /* The server refuses an invalid dimension. */
    snprintf(odd, sizeof odd, "%s_bad", T);
    CHECK(b->ops->create(b, odd, 16001, &err) == CS_E_DATABASE);
}

static void test_records(cs__backend *b)
{
    cs_error err = {0};
    const float v[4][3] = {{1, 0, 0}, {0, 1, 0}, {0.1f, 1e-30f, 16777216.0f}, {0.6f, 0.8f, 0}};
    cs_record_in recs[] = {
        rec("a", v[0], "{\"n\":1,\"s\":\"x\",\"tags\":[\"red\",\"big\"],\"b\":true}"),
        rec("b", v[1], "{\"n\":2.5,\"s\":\"y\",\"tags\":\"red\",\"z\":null,\"f\":0.1}"),
        rec("c", v[2], NULL),
        rec("it's \"q\"", v[3], "{\"n\":10,\"s\":\"B\",\"o\":{\"k\":[1,2]}}"),
    };
    CHECK_OK(b->ops->upsert(b, T, 3, recs, 4, &err), &err);
    int64_t count = 0;
    CHECK_OK(b->ops->count(b, T, &count, &err), &err);
    CHECK(count == 4);

    const char *want[] = {"c", "nope", "it's \"q\""};
    cs_records r = {0};
    CHECK_OK(b->ops->fetch(b, T, 3, want, 3, &r, &err), &err);
    CHECK(r.n == 2);
    for (size_t i = 0; i < r.n; i++) {
        if (!strcmp(r.items[i].id, "c")) {
            CHECK(r.items[i].vector && !memcmp(r.items[i].vector, v[2], sizeof v[2]));
            CHECK(!strcmp(r.items[i].metadata_json, "{}"));
        } else {
            CHECK(!memcmp(r.items[i].vector, v[3], sizeof v[3]));
            json_t *j = json_loads(r.items[i].metadata_json, 0, NULL);
            CHECK(j && json_integer_value(json_object_get(j, "n")) == 10);
            json_decref(j);
        }
    }
    cs_records_free(&r);

    /* Upsert replaces vector and metadata entirely. */
    cs_record_in again = rec("c", v[1], "{\"n\":3}");
    CHECK_OK(b->ops->upsert(b, T, 3, &again, 1, &err), &err);
    CHECK_OK(b->ops->fetch(b, T, 3, want, 1, &r, &err), &err);
    CHECK(r.n == 1 && !memcmp(r.items[0].vector, v[1], sizeof v[1]) &&
          !strcmp(r.items[0].metadata_json, "{\"n\":3}"));
    cs_records_free(&r);
    CHECK_OK(b->ops->upsert(b, T, 3, recs + 2, 1, &err), &err);   /* back to v[2], {} */
}

static void test_batches(cs__backend *b)
{
    cs_error err = {0};
    enum { N = 1001 };
    cs_record_in *recs = calloc(N, sizeof *recs);
    char (*ids)[16] = calloc(N, sizeof *ids);
    const float v[3] = {0.5f, 0.5f, 0.5f};
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "bulk%d", i % 600);
        recs[i] = rec(ids[i], v, i >= 600 ? "{\"late\":true}" : "{}");
    }
    /* bulk0..99 appear in batch 1 (0..499) and batch 2 (500..999: i=600..699): fine, later
     * wins. */
    CHECK_OK(b->ops->upsert(b, T, 3, recs, N, &err), &err);
    int64_t count = 0;
    CHECK_OK(b->ops->count(b, T, &count, &err), &err);
    CHECK_MSG(count == 4 + 600, "%lld", (long long)count);
    const char *one[] = {"bulk50"};
    cs_records r = {0};
    CHECK_OK(b->ops->fetch(b, T, 3, one, 1, &r, &err), &err);
    CHECK(r.n == 1 && strstr(r.items[0].metadata_json, "late"));
    cs_records_free(&r);

    /* Duplicate inside one 500-batch (the second): the whole call rolls back, batch 1
     * included. */
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "new%d", i);
        recs[i].metadata_json = "{}";
    }
    snprintf(ids[700], sizeof ids[700], "new600");
    CHECK(b->ops->upsert(b, T, 3, recs, N, &err) == CS_E_DATABASE);
    CHECK_OK(b->ops->count(b, T, &count, &err), &err);
    CHECK(count == 604);

    /* Delete by ids in batches of 12, returning those that existed. */
    const char **del = calloc(N, sizeof *del);
    for (int i = 0; i < 600; i++) {
        snprintf(ids[i], sizeof ids[i], "bulk%d", i);
        del[i] = ids[i];
    }
    del[600] = "missing";
    CHECK_OK(b->ops->delete_ids(b, T, del, 601, &r, &err), &err);
    CHECK(r.n == 600);
    cs_records_free(&r);
    CHECK_OK(b->ops->count(b, T, &count, &err), &err);
    CHECK(count == 4);
    free(del);
    free(ids);
    free(recs);
}

static void test_filters(cs__backend *b)
{
    char got[256];
    scan_ids(b, cmp("n", CS_OP_EQ, json_integer(1)), got, sizeof got);
    CHECK_MSG(!strcmp(got, "a"), "%s", got);
    scan_ids(b, cmp("n", CS_OP_EQ, json_real(1.0)), got, sizeof got);   /* 1 == 1.0 */
    CHECK_MSG(!strcmp(got, "a"), "%s", got);
    scan_ids(b, cmp("z", CS_OP_EQ, json_null()), got, sizeof got);
    CHECK_MSG(!strcmp(got, "b"), "%s", got);
    scan_ids(b, cmp("s", CS_OP_EQ, json_string("x")), got, sizeof got);
    CHECK_MSG(!strcmp(got, "a"), "%s", got);
    scan_ids(b, cmp("o", CS_OP_EQ, json_loads("{\"k\":[1,2]}", 0, NULL)), got, sizeof got);
    CHECK_MSG(!strcmp(got, "it's \"q\""), "%s", got);
    scan_ids(b, cmp("s", CS_OP_NE, json_string("x")), got, sizeof got);   /* c lacks s */
    CHECK_MSG(!strcmp(got, "b,it's \"q\""), "%s", got);
    scan_ids(b, cmp("n", CS_OP_GT, json_integer(2)), got, sizeof got);
    CHECK_MSG(!strcmp(got, "b,it's \"q\""), "%s", got);
    scan_ids(b, cmp("n", CS_OP_LTE, json_real(2.5)), got, sizeof got);
    CHECK_MSG(!strcmp(got, "a,b"), "%s", got);
    scan_ids(b, cmp("s", CS_OP_LT, json_string("a")), got, sizeof got);   /* byte order */
    CHECK_MSG(!strcmp(got, "it's \"q\""), "%s", got);
    json_t *in = json_pack("[s,i]", "y", 10);
    scan_ids(b, cmp("s", CS_OP_IN, in), got, sizeof got);
    CHECK_MSG(!strcmp(got, "b"), "%s", got);
    scan_ids(b, cmp("n", CS_OP_IN, json_array()), got, sizeof got);
    CHECK_MSG(!strcmp(got, ""), "%s", got);
    scan_ids(b, cmp("tags", CS_OP_CONTAINS, json_string("red")), got, sizeof got);
    CHECK_MSG(!strcmp(got, "a"), "%s", got);   /* b's "red" is a string, not an array */
    scan_ids(b,
             node(CS_FILTER_OR, cmp("n", CS_OP_EQ, json_integer(1)),
                  node(CS_FILTER_AND, cmp("b", CS_OP_EQ, json_true()),
                       cmp("s", CS_OP_EQ, json_string("B")))),
             got, sizeof got);
    CHECK_MSG(!strcmp(got, "a"), "%s", got);
    /* The parser's exact operand text is what gets bound: json_real(0.1) alone would be
     * dumped as 0.10000000000000001, which jsonb does not equal to 0.1. */
    cs__filter *exact = cmp("f", CS_OP_EQ, json_real(0.1));
    exact->value_json = strdup("0.1");
    scan_ids(b, exact, got, sizeof got);
    CHECK_MSG(!strcmp(got, "b"), "%s", got);
    exact = cmp("f", CS_OP_IN, json_pack("[f]", 0.1));
    exact->elem_json = calloc(1, sizeof *exact->elem_json);
    exact->elem_json[0] = strdup("0.1");
    exact->n_elems = 1;
    scan_ids(b, exact, got, sizeof got);
    CHECK_MSG(!strcmp(got, "b"), "%s", got);
    exact = cmp("f", CS_OP_LTE, json_real(0.1));
    exact->value_json = strdup("0.1");
    scan_ids(b, exact, got, sizeof got);
    CHECK_MSG(!strcmp(got, "b"), "%s", got);
    /* Keys are bound, not pasted: a key full of SQL matches nothing and breaks nothing. */
    scan_ids(b, cmp("x') OR true --", CS_OP_EQ, json_string("x")), got, sizeof got);
    CHECK_MSG(!strcmp(got, ""), "%s", got);
}

static void test_query(cs__backend *b)
{
    cs_error err = {0};
    const float qv[3] = {1, 0, 0};
    cs_query q;
    memset(&q, 0, sizeof q);
    q.vector = qv;
    q.vector_dim = 3;
    q.limit = 10;
    q.probes = 10;
    q.ef_search = 40;
    q.include_value = true;
    cs_records r = {0};
    CHECK_OK(b->ops->query(b, T, 3, &q, NULL, &r, &err), &err);
    CHECK(r.n == 4);
    if (r.n == 4) {
        CHECK(!strcmp(r.items[0].id, "a") && fabs(r.items[0].value) < 1e-9);
        CHECK(!strcmp(r.items[1].id, "it's \"q\"") && fabs(r.items[1].value - 0.4) < 1e-6);
        for (size_t i = 1; i < r.n; i++) CHECK(r.items[i - 1].value <= r.items[i].value);
        CHECK(!r.items[0].vector && !r.items[0].metadata_json);
    }
    cs_records_free(&r);

    q.measure = CS_MEASURE_IP;
    q.limit = 2;
    q.include_vector = q.include_metadata = true;
    CHECK_OK(b->ops->query(b, T, 3, &q, NULL, &r, &err), &err);
    CHECK(r.n == 2);
    if (r.n == 2) {
        CHECK(!strcmp(r.items[0].id, "a") && fabs(r.items[0].value + 1.0) < 1e-9);
        CHECK(r.items[0].vector && r.items[0].vector[0] == 1.0f && r.items[0].metadata_json);
    }
    cs_records_free(&r);

    q.measure = CS_MEASURE_L1;
    q.include_vector = q.include_metadata = false;
    q.limit = 10;
    cs__filter *f = cmp("n", CS_OP_GTE, json_integer(2));
    CHECK_OK(b->ops->query(b, T, 3, &q, f, &r, &err), &err);
    free_filter(f);
    CHECK(r.n == 2 && !strcmp(r.items[0].id, "it's \"q\"") &&
          fabs(r.items[0].value - 1.2) < 1e-6);
    cs_records_free(&r);

    q.probes = 40000;   /* the server refuses: database error, as vecs */
    CHECK(b->ops->query(b, T, 3, &q, NULL, &r, &err) == CS_E_DATABASE);
    CHECK(r.n == 0);
}

static void check_index(cs__backend *b, const char *pattern)
{
    cs_error err = {0};
    char *ix = NULL;
    CHECK_OK(b->ops->index_name(b, T, &ix, &err), &err);
    regex_t re;
    regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);
    CHECK_MSG(ix && regexec(&re, ix, 0, NULL, 0) == 0, "index %s !~ %s", ix ? ix : "(none)",
              pattern);
    regfree(&re);
    free(ix);
}

static void test_index(cs__backend *b)
{
    cs_error err = {0};
    char *ix = (char *)"x";
    CHECK_OK(b->ops->index_name(b, T, &ix, &err), &err);
    CHECK(ix == NULL);
    cs_index_spec spec;
    cs_index_spec_init(&spec);
    spec.method = CS_INDEX_HNSW;
    CHECK_OK(b->ops->create_index(b, T, &spec, &err), &err);
    check_index(b, "^ix_vector_cosine_ops_hnsw_m16_efc64_[0-9a-f]{7}$");
    spec.replace = false;
    CHECK(b->ops->create_index(b, T, &spec, &err) == CS_E_ARG);
    cs_index_spec_init(&spec);
    spec.method = CS_INDEX_IVFFLAT;
    spec.measure = CS_MEASURE_L2;
    CHECK_OK(b->ops->create_index(b, T, &spec, &err), &err);
    check_index(b, "^ix_vector_l2_ops_ivfflat_nl30_[0-9a-f]{7}$");
    /* Refusals roll back: the previous index stays. */
    spec.measure = CS_MEASURE_L1;
    CHECK(b->ops->create_index(b, T, &spec, &err) == CS_E_DATABASE);
    check_index(b, "^ix_vector_l2_ops_ivfflat_nl30_");
    spec = (cs_index_spec){.method = CS_INDEX_HNSW, .measure = CS_MEASURE_IP, .m = 8,
                           .ef_construction = 8, .replace = true};
    CHECK(b->ops->create_index(b, T, &spec, &err) == CS_E_DATABASE);   /* efc < 2m */
    check_index(b, "^ix_vector_l2_ops_ivfflat_nl30_");
    spec.ef_construction = 16;
    CHECK_OK(b->ops->create_index(b, T, &spec, &err), &err);
    check_index(b, "^ix_vector_ip_ops_hnsw_m8_efc16_[0-9a-f]{7}$");
    spec = (cs_index_spec){.method = CS_INDEX_IVFFLAT, .measure = CS_MEASURE_COSINE,
                           .n_lists = 3, .replace = true};
    CHECK_OK(b->ops->create_index(b, T, &spec, &err), &err);
    check_index(b, "^ix_vector_cosine_ops_ivfflat_nl3_[0-9a-f]{7}$");
    CHECK(b->ops->hnsw_available(b));   /* pgvector 0.8 */
}

/* DESIGN.md §3.3: no silent short result. HNSW yields at most ef_search rows; with 3000
 * rows, ef_search 40 and limit 100 vecs' statement comes back short (checked on the raw
 * SQL first, so this test proves something), clipsearch's must not: with pgvector 0.8 (as
 * here) the strict-order iterative scan fills it, with older servers the exact re-run. */
static void test_short_result(cs__backend *b, const char *url)
{
    cs_error err = {0};
    char name[96];
    snprintf(name, sizeof name, "%s_short", T);
    b->ops->drop(b, name, &err);
    CHECK_OK(b->ops->create(b, name, 2, &err), &err);
    enum { N = 3000 };
    static float v[N][2];
    static char ids[N][8];
    cs_record_in *recs = calloc(N, sizeof *recs);
    for (int i = 0; i < N; i++) {
        v[i][0] = cosf((float)i);
        v[i][1] = sinf((float)i) * (float)(i % 7 + 1);
        snprintf(ids[i], sizeof ids[i], "r%d", i);
        recs[i] = rec(ids[i], v[i], i % 3 ? "{\"odd\":false}" : "{\"odd\":true}");
    }
    CHECK_OK(b->ops->upsert(b, name, 2, recs, N, &err), &err);
    free(recs);
    cs_index_spec spec;
    cs_index_spec_init(&spec);
    spec.method = CS_INDEX_HNSW;
    spec.measure = CS_MEASURE_L2;
    CHECK_OK(b->ops->create_index(b, name, &spec, &err), &err);

    PGconn *c = PQconnectdb(url);
    char sql[512];
    snprintf(sql, sizeof sql,
             "ANALYZE vecs.\"%s\"; BEGIN; SET LOCAL hnsw.ef_search = 40; CREATE TEMP TABLE short_n ON COMMIT DROP AS "
             "SELECT id FROM vecs.\"%s\" ORDER BY vec <-> '[0.3,0.2]' LIMIT 100", name, name);
    PGresult *r = PQexec(c, sql);
    PQclear(r);
    r = PQexec(c, "SELECT count(*) FROM short_n");
    int raw = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQclear(PQexec(c, "COMMIT"));
    CHECK_MSG(raw >= 0 && raw < 100, "raw vecs statement gave %d rows", raw);
    /* pgvector 0.8's strict-order iterative scan fills it from the index alone. */
    snprintf(sql, sizeof sql,
             "BEGIN; SET LOCAL hnsw.ef_search = 40; SET LOCAL hnsw.iterative_scan = strict_order; "
             "CREATE TEMP TABLE short_i ON COMMIT DROP AS "
             "SELECT id FROM vecs.\"%s\" ORDER BY vec <-> '[0.3,0.2]' LIMIT 100", name);
    PQclear(PQexec(c, sql));
    r = PQexec(c, "SELECT count(*) FROM short_i");
    int iter = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQclear(PQexec(c, "COMMIT"));
    CHECK_MSG(iter == 100, "iterative scan gave %d rows", iter);

    const float qv[2] = {0.3f, 0.2f};
    cs_query q;
    memset(&q, 0, sizeof q);
    q.vector = qv;
    q.vector_dim = 2;
    q.limit = 100;
    q.probes = 10;
    q.ef_search = 40;
    q.measure = CS_MEASURE_L2;
    q.include_value = true;
    cs_records out = {0};
    CHECK_OK(b->ops->query(b, name, 2, &q, NULL, &out, &err), &err);
    CHECK_MSG(out.n == 100, "%zu rows", out.n);
    PQfinish(c);
    /* Right: the 100th distance equals the true 100th smallest (the iterative HNSW scan is
     * exact on this small 2-D set, as the exact re-run is by construction). */
    double d[N];
    for (int i = 0; i < N; i++) d[i] = hypot(v[i][0] - 0.3, v[i][1] - 0.2);
    int below = 0;
    for (int i = 0; i < N && out.n == 100; i++) below += d[i] < out.items[99].value - 1e-6;
    CHECK_MSG(below <= 99, "%d rows closer than the 100th result", below);
    cs_records_free(&out);

    /* With a filter too. */
    cs__filter *f = cmp("odd", CS_OP_EQ, json_true());
    CHECK_OK(b->ops->query(b, name, 2, &q, f, &out, &err), &err);
    free_filter(f);
    CHECK_MSG(out.n == 100, "%zu rows", out.n);
    cs_records_free(&out);
    CHECK_OK(b->ops->drop(b, name, &err), &err);
}

static void test_delete_filter(cs__backend *b)
{
    cs_error err = {0};
    cs_records r = {0};
    cs__filter *f = cmp("s", CS_OP_IN, json_pack("[s,s]", "x", "y"));
    CHECK_OK(b->ops->delete_filter(b, T, f, &r, &err), &err);
    free_filter(f);
    char got[64];
    ids_of(&r, got, sizeof got);
    CHECK_MSG(!strcmp(got, "a,b"), "%s", got);
    cs_records_free(&r);
    int64_t count = 0;
    CHECK_OK(b->ops->count(b, T, &count, &err), &err);
    CHECK(count == 2);
}

int main(void)
{
    test_mask();
    char *url = pg_test_url();
    if (!url) {
        fprintf(stderr, "SKIP: no PostgreSQL test server (CS_TEST_DB_URL / CS_PG_URL_FILE)\n");
        return TEST_RESULT() ? 1 : 77;
    }
    snprintf(T, sizeof T, "t_backend_pg_%d", (int)getpid());
    cs__backend *b = NULL;
    cs_error err = {0};
    CHECK_OK(cs__pg_backend_open(url, false, &b, &err), &err);
    if (!b) return TEST_RESULT();
    CHECK(!strcmp(b->ops->name, "postgres"));
    b->ops->drop(b, T, &err);
    test_collections(b);
    test_records(b);
    test_batches(b);
    test_filters(b);
    test_query(b);
    test_index(b);
    test_delete_filter(b);
    test_short_result(b, url);
    CHECK_OK(b->ops->drop(b, T, &err), &err);
    int dim = 0;
    bool found = true;
    CHECK_OK(b->ops->lookup(b, T, &dim, &found, &err), &err);
    CHECK(!found);
    b->ops->close(b);
    free(url);
    return TEST_RESULT();
}
