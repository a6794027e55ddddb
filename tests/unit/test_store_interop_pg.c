/* Interop with Python vecs through the database (DESIGN.md §3.3): what clipsearch writes,
 * read back with the SQL vecs runs; and a collection written with vecs' statements (its
 * DDL, vector text literals, jsonb, its index names) listed, described, fetched and queried
 * through clipsearch's public API. Python vecs is not installable here, so its statements
 * are reproduced from spec §1, §4, §6, §8. Needs the pgvector test server. */
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "clipsearch/store.h"
#include "pg/pg_test_url.h"
#include "test.h"

static PGconn *conn;

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static PGresult *sql(const char *text, int n, const char *const *params)
{
    PGresult *r = PQexecParams(conn, text, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    CHECK_MSG(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK, "%s: %s", text,
              PQresultErrorMessage(r));
    return r;
}

/* jsonb equality (spec §1.5): numbers by value (1500 == 1.5e3), objects as key sets. */
static bool json_value_same(json_t *x, json_t *y)
{
    if (json_is_number(x) && json_is_number(y))
        return json_number_value(x) == json_number_value(y);
    if (json_typeof(x) != json_typeof(y)) return false;
    if (json_is_array(x)) {
        if (json_array_size(x) != json_array_size(y)) return false;
        for (size_t i = 0; i < json_array_size(x); i++)
            if (!json_value_same(json_array_get(x, i), json_array_get(y, i))) return false;
        return true;
    }
    if (json_is_object(x)) {
        if (json_object_size(x) != json_object_size(y)) return false;
        const char *k;
        json_t *v;
        json_object_foreach(x, k, v) {
            json_t *w = json_object_get(y, k);
            if (!w || !json_value_same(v, w)) return false;
        }
        return true;
    }
    return json_equal(x, y);
}

static bool json_same(const char *a, const char *b)
{
    json_t *x = json_loads(a, JSON_DECODE_ANY, NULL), *y = json_loads(b, JSON_DECODE_ANY, NULL);
    bool same = x && y && json_value_same(x, y);
    json_decref(x);
    json_decref(y);
    return same;
}

/* Parses "[a,b,c]" the way pgvector-python does (float32). */
static int parse_vec(const char *s, float *out, int max)
{
    int n = 0;
    for (s++; *s && *s != ']' && n < max;) {
        char *end;
        out[n++] = strtof(s, &end);
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

static const float V[3][3] = {{0.1f, 0.2f, 0.3f}, {1e-7f, -2.5f, 16777216.0f}, {-1, 0, 0.5f}};
static const char *const META[3] = {"{\"type\":\"jpg\",\"w\":640,\"tags\":[\"cat\"]}",
                                    "{\"type\":\"png\",\"w\":1.5e3,\"nested\":{\"a\":[1,{}]}}",
                                    "{}"};

/* clipsearch writes, vecs reads. */
static void clipsearch_to_vecs(cs_store *store, const char *name)
{
    cs_error err = {0};
    cs_collection *coll = NULL;
    CHECK_OK(cs_store_get_or_create(store, name, 3, &coll, &err), &err);
    if (!coll) return;
    cs_record_in recs[3];
    memset(recs, 0, sizeof recs);
    const char *ids[3] = {"/photos/a.jpg", "/photos/ü b.png", ""};
    for (int i = 0; i < 3; i++) {
        recs[i].id = ids[i];
        recs[i].vector = V[i];
        recs[i].metadata_json = META[i];
    }
    CHECK_OK(cs_collection_upsert(coll, recs, 3, &err), &err);

    /* vecs' list_collections and fetch. */
    const char *p[] = {name};
    PGresult *r = sql("SELECT atttypmod FROM pg_class pc JOIN pg_attribute pa ON pc.oid = "
                      "pa.attrelid WHERE pc.relnamespace = 'vecs'::regnamespace AND "
                      "pc.relkind = 'r' AND pa.attname = 'vec' AND NOT pc.relname ^@ '_' "
                      "AND pc.relname = $1",
                      1, p);
    CHECK(PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "3"));
    PQclear(r);
    char q[256];
    snprintf(q, sizeof q, "SELECT id, vec, metadata FROM vecs.\"%s\" WHERE id IN ($1, $2, $3)",
             name);
    r = sql(q, 3, ids);
    CHECK(PQntuples(r) == 3);
    for (int row = 0; row < PQntuples(r); row++) {
        int i = 0;
        while (i < 3 && strcmp(ids[i], PQgetvalue(r, row, 0))) i++;
        CHECK(i < 3);
        if (i == 3) continue;
        float got[4];
        CHECK(parse_vec(PQgetvalue(r, row, 1), got, 4) == 3 && !memcmp(got, V[i], sizeof V[i]));
        CHECK_MSG(json_same(PQgetvalue(r, row, 2), META[i]), "%s vs %s", PQgetvalue(r, row, 2),
                  META[i]);
    }
    PQclear(r);

    /* vecs' query (cosine, ascending) gives clipsearch's order and values. */
    snprintf(q, sizeof q,
             "SELECT id, vec <=> $1::vector FROM vecs.\"%s\" ORDER BY vec <=> $1::vector "
             "LIMIT 10",
             name);
    const char *qv[] = {"[1,0,0]"};
    r = sql(q, 1, qv);
    cs_query query;
    cs_query_init(&query);
    const float qf[3] = {1, 0, 0};
    query.vector = qf;
    query.vector_dim = 3;
    query.include_value = true;
    cs_records res = {0};
    CHECK_OK(cs_collection_query(coll, &query, &res, &err), &err);
    CHECK(res.n == 3 && PQntuples(r) == 3);
    for (size_t i = 0; i < res.n && (int)i < PQntuples(r); i++) {
        CHECK(!strcmp(res.items[i].id, PQgetvalue(r, (int)i, 0)));
        CHECK(fabs(res.items[i].value - strtod(PQgetvalue(r, (int)i, 1), NULL)) < 1e-9);
    }
    cs_records_free(&res);
    PQclear(r);
    cs_collection_free(coll);
}

/* vecs writes (its DDL, inserts and index), clipsearch reads. */
static void vecs_to_clipsearch(cs_store *store, const char *name)
{
    char q[1024];
    snprintf(q, sizeof q,
             "CREATE TABLE vecs.\"%s\" (id VARCHAR NOT NULL, vec VECTOR(3) NOT NULL, "
             "metadata JSONB DEFAULT '{}'::jsonb NOT NULL, PRIMARY KEY (id))",
             name);
    PQclear(sql(q, 0, NULL));
    /* vecs' upsert: text vector literals (float32 printed) and JSON text, ON CONFLICT. */
    snprintf(q, sizeof q,
             "INSERT INTO vecs.\"%s\" (id, vec, metadata) VALUES ($1, $2, $3), ($4, $5, $6), "
             "($7, $8, $9) ON CONFLICT (id) DO UPDATE SET vec = EXCLUDED.vec, "
             "metadata = EXCLUDED.metadata",
             name);
    const char *rows[] = {"img1", "[0.1,0.2,0.3]",     "{\"type\": \"jpg\", \"year\": 2020}",
                          "img2", "[1e-07,-2.5,16777216]", "{\"type\": \"png\", \"year\": 2021}",
                          "img3", "[-1,0,0.5]",        "{\"type\": \"jpg\", \"year\": 2022}"};
    PQclear(sql(q, 9, rows));
    /* vecs' create_index (HNSW, L2), named as vecs names it. */
    snprintf(q, sizeof q,
             "CREATE INDEX ix_vector_l2_ops_hnsw_m16_efc64_0a1b2c3 ON vecs.\"%s\" USING hnsw "
             "(vec vector_l2_ops) WITH (m = 16, ef_construction = 64)",
             name);
    PQclear(sql(q, 0, NULL));

    cs_error err = {0};
    cs_collection_info *infos = NULL;
    size_t n = 0;
    CHECK_OK(cs_store_list(store, &infos, &n, &err), &err);
    int seen = 0;
    for (size_t i = 0; i < n; i++) seen += !strcmp(infos[i].name, name) && infos[i].dimension == 3;
    CHECK(seen == 1);
    cs_collection_info_free(infos, n);

    cs_collection *coll = NULL;
    CHECK_OK(cs_store_get(store, name, &coll, &err), &err);
    if (!coll) return;
    CHECK(cs_collection_dimension(coll) == 3);
    int64_t count = 0;
    CHECK_OK(cs_collection_count(coll, &count, &err), &err);
    CHECK(count == 3);
    char *ix = NULL;
    CHECK_OK(cs_collection_index(coll, &ix, &err), &err);
    CHECK_MSG(ix && !strcmp(ix, "ix_vector_l2_ops_hnsw_m16_efc64_0a1b2c3"), "%s", ix ? ix : "");
    free(ix);

    const char *want[] = {"img2"};
    cs_records res = {0};
    CHECK_OK(cs_collection_fetch(coll, want, 1, &res, &err), &err);
    CHECK(res.n == 1 && res.items[0].vector && !memcmp(res.items[0].vector, V[1], sizeof V[1]));
    CHECK(res.n == 1 && json_same(res.items[0].metadata_json, "{\"year\":2021,\"type\":\"png\"}"));
    cs_records_free(&res);

    /* A filtered L2 query, the measure the index covers (no warning expected). */
    cs_query query;
    cs_query_init(&query);
    const float qf[3] = {-1, 0, 0.5f};
    query.vector = qf;
    query.vector_dim = 3;
    query.measure = CS_MEASURE_L2;
    query.filter_json = "{\"type\": {\"$eq\": \"jpg\"}}";
    query.include_metadata = true;
    CHECK_OK(cs_collection_query(coll, &query, &res, &err), &err);
    CHECK(res.n == 2 && !strcmp(res.items[0].id, "img3") && !strcmp(res.items[1].id, "img1"));
    CHECK(res.warning == NULL);
    cs_records_free(&res);
    cs_collection_free(coll);

    /* vecs 0.2's legacy index name is still recognised (spec §1.4). */
    snprintf(q, sizeof q,
             "DROP INDEX vecs.ix_vector_l2_ops_hnsw_m16_efc64_0a1b2c3; CREATE INDEX "
             "ix_vector_cosine_ops_100_fedcba9 ON vecs.\"%s\" USING ivfflat (vec "
             "vector_cosine_ops) WITH (lists = 1)",
             name);
    PGresult *r = PQexec(conn, q);
    CHECK_MSG(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    CHECK_OK(cs_store_get(store, name, &coll, &err), &err);
    if (!coll) return;
    CHECK_OK(cs_collection_index(coll, &ix, &err), &err);
    CHECK_MSG(ix && !strcmp(ix, "ix_vector_cosine_ops_100_fedcba9"), "%s", ix ? ix : "");
    free(ix);
    cs_collection_free(coll);
}

int main(void)
{
    char *url = pg_test_url();
    if (!url) SKIP("no PostgreSQL test server (CS_TEST_DB_URL / CS_PG_URL_FILE)");
    char a[64], b[64];
    snprintf(a, sizeof a, "interop_cs_%d", (int)getpid());
    snprintf(b, sizeof b, "interop_vecs_%d", (int)getpid());
    cs_error err = {0};
    cs_store *store = NULL;
    CHECK_OK(cs_store_open(url, &store, &err), &err);
    conn = PQconnectdb(url);
    free(url);
    if (!store || PQstatus(conn) != CONNECTION_OK) {
        PQfinish(conn);
        cs_store_close(store);
        return 1;
    }
    PQsetNoticeProcessor(conn, quiet, NULL);
    cs_store_drop(store, a, &err);
    cs_store_drop(store, b, &err);
    clipsearch_to_vecs(store, a);
    vecs_to_clipsearch(store, b);
    CHECK_OK(cs_store_drop(store, a, &err), &err);
    CHECK_OK(cs_store_drop(store, b, &err), &err);
    cs_store_close(store);
    PQfinish(conn);
    return TEST_RESULT();
}
