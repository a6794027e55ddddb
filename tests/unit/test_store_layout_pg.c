/* What clipsearch leaves in PostgreSQL is vecs' layout (spec §1.2, §1.4), read from the
 * catalog: columns, types, typmod, NOT NULL, default, primary key name, no other index or
 * constraint; and after create_index, vecs' index names, access method, operator class and
 * parameters. The reference is a table made with the DDL vecs (SQLAlchemy) sends. Needs the
 * pgvector test server (tests/pg/fixture.cmake); skips without it. */
#include <regex.h>
#include <unistd.h>

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

/* The rows of sql (one parameter: the table name), each row's fields joined with '|', rows
 * with ';'. */
static char *rows(const char *sql, const char *table)
{
    const char *params[] = {table};
    PGresult *r = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "SQL failed: %s\n", PQresultErrorMessage(r));
        PQclear(r);
        return strdup("<error>");
    }
    size_t cap = 64, len = 0;
    char *out = calloc(1, cap);
    for (int i = 0; i < PQntuples(r); i++)
        for (int j = 0; j < PQnfields(r); j++) {
            const char *v = PQgetisnull(r, i, j) ? "NULL" : PQgetvalue(r, i, j);
            size_t need = len + strlen(v) + 3;
            if (need > cap) out = realloc(out, cap = 2 * need);
            len += (size_t)sprintf(out + len, "%s%s", v, j + 1 < PQnfields(r) ? "|" : ";");
        }
    PQclear(r);
    return out;
}

static void exec(const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    CHECK_MSG(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* Column name, type with typmod, NOT NULL, default, in column order. */
static const char *COLUMNS =
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.atttypmod, a.attnotnull, "
    "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
    "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
    "WHERE a.attrelid = ('vecs.' || quote_ident($1))::regclass AND a.attnum > 0 "
    "AND NOT a.attisdropped ORDER BY a.attnum";
/* Constraints, with the table name abstracted out of the primary key's name. PostgreSQL 18
 * also lists NOT NULL as constraints (contype 'n'); attnotnull above covers those. */
static const char *CONSTRAINTS =
    "SELECT replace(conname, $1, '<T>'), contype, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE conrelid = ('vecs.' || quote_ident($1))::regclass AND contype <> 'n' "
    "ORDER BY conname";
/* Indexes: name, access method, operator class, options, uniqueness. */
static const char *INDEXES =
    "SELECT replace(i.relname, $1, '<T>'), am.amname, "
    "(SELECT string_agg(opc.opcname, ',') FROM unnest(x.indclass) c "
    " JOIN pg_opclass opc ON opc.oid = c), "
    "coalesce(array_to_string(i.reloptions, ','), ''), x.indisunique, x.indisprimary "
    "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am am ON am.oid = i.relam "
    "WHERE x.indrelid = ('vecs.' || quote_ident($1))::regclass ORDER BY i.relname";

static void check_same(const char *what, const char *sql, const char *ours, const char *ref)
{
    char *a = rows(sql, ours), *b = rows(sql, ref);
    CHECK_MSG(!strcmp(a, b), "%s differ:\n  clipsearch: %s\n  vecs:       %s", what, a, b);
    free(a);
    free(b);
}

static void check_indexes(const char *table, const char *pattern)
{
    char *got = rows(INDEXES, table);
    regex_t re;
    regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);
    CHECK_MSG(regexec(&re, got, 0, NULL, 0) == 0, "indexes %s !~ %s", got, pattern);
    regfree(&re);
    free(got);
}

int main(void)
{
    char *url = pg_test_url();
    if (!url) SKIP("no PostgreSQL test server (CS_TEST_DB_URL / CS_PG_URL_FILE)");
    char ours[64], ref[64];
    snprintf(ours, sizeof ours, "Layout_%d", (int)getpid());   /* mixed case: quoted */
    snprintf(ref, sizeof ref, "vecsref_%d", (int)getpid());

    cs_error err = {0};
    cs_store *store = NULL;
    CHECK_OK(cs_store_open(url, &store, &err), &err);
    conn = PQconnectdb(url);
    free(url);
    if (!store || PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect: %s\n", PQerrorMessage(conn));
        PQfinish(conn);
        cs_store_close(store);
        return 1;
    }
    PQsetNoticeProcessor(conn, quiet, NULL);
    cs_store_drop(store, ours, &err);
    cs_collection *coll = NULL;
    CHECK_OK(cs_store_get_or_create(store, ours, 384, &coll, &err), &err);

    /* The statement vecs' SQLAlchemy table definition emits (spec §1.2). */
    char ddl[512];
    snprintf(ddl, sizeof ddl,
             "DROP TABLE IF EXISTS vecs.\"%s\"; CREATE TABLE vecs.\"%s\" (id VARCHAR NOT NULL, "
             "vec VECTOR(384) NOT NULL, metadata JSONB DEFAULT '{}'::jsonb NOT NULL, "
             "PRIMARY KEY (id))",
             ref, ref);
    exec(ddl);

    check_same("columns", COLUMNS, ours, ref);
    check_same("constraints", CONSTRAINTS, ours, ref);
    check_same("indexes", INDEXES, ours, ref);
    /* And explicitly, in case both were wrong the same way. */
    char *cols = rows(COLUMNS, ours);
    CHECK_MSG(!strcmp(cols, "id|character varying|-1|t|NULL;vec|vector(384)|384|t|NULL;"
                            "metadata|jsonb|-1|t|'{}'::jsonb;"),
              "%s", cols);
    free(cols);
    char *cons = rows(CONSTRAINTS, ours);
    CHECK_MSG(!strcmp(cons, "<T>_pkey|p|PRIMARY KEY (id);"), "%s", cons);
    free(cons);
    check_indexes(ours, "^<T>_pkey\\|btree\\|text_ops\\|\\|t\\|t;$");
    char *kind = rows("SELECT c.relkind, n.nspname FROM pg_class c JOIN pg_namespace n "
                      "ON n.oid = c.relnamespace WHERE c.relname = $1", ours);
    CHECK_MSG(!strcmp(kind, "r|vecs;"), "%s", kind);
    free(kind);

    /* create_index: vecs' names and parameters; the previous vector index is replaced. */
    cs_index_spec spec;
    cs_index_spec_init(&spec);
    spec.method = CS_INDEX_HNSW;
    CHECK_OK(cs_collection_create_index(coll, &spec, &err), &err);
    check_indexes(ours, "^<T>_pkey\\|btree\\|text_ops\\|\\|t\\|t;"
                        "ix_vector_cosine_ops_hnsw_m16_efc64_[0-9a-f]{7}\\|hnsw\\|"
                        "vector_cosine_ops\\|m=16,ef_construction=64\\|f\\|f;$");
    cs_index_spec_init(&spec);
    spec.method = CS_INDEX_IVFFLAT;
    spec.measure = CS_MEASURE_IP;
    CHECK_OK(cs_collection_create_index(coll, &spec, &err), &err);
    check_indexes(ours, "^<T>_pkey\\|btree\\|text_ops\\|\\|t\\|t;"
                        "ix_vector_ip_ops_ivfflat_nl30_[0-9a-f]{7}\\|ivfflat\\|"
                        "vector_ip_ops\\|lists=30\\|f\\|f;$");
    char *ix = NULL;
    CHECK_OK(cs_collection_index(coll, &ix, &err), &err);
    CHECK_MSG(ix && !strncmp(ix, "ix_vector_ip_ops_ivfflat_nl30_", 30), "%s", ix ? ix : "");
    /* The index lives in schema vecs next to its table. */
    char *ns = rows("SELECT n.nspname FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE c.relname = $1", ix ? ix : "");
    CHECK_MSG(!strcmp(ns, "vecs;"), "%s", ns);
    free(ns);
    free(ix);

    cs_collection_free(coll);
    CHECK_OK(cs_store_drop(store, ours, &err), &err);
    snprintf(ddl, sizeof ddl, "DROP TABLE vecs.\"%s\"", ref);
    exec(ddl);
    cs_store_close(store);
    PQfinish(conn);
    return TEST_RESULT();
}
