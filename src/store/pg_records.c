/* Record writes and reads with vecs' statements and batching (spec §4, §9): upsert 500
 * records per multi-row INSERT ... ON CONFLICT, fetch and delete 12 ids per statement, every
 * call one transaction. Records come back in cs_records (out is empty on entry). */
#include <math.h>
#include <stdlib.h>

#include "store/pg_internal.h"

enum { UPSERT_BATCH = 500, ID_BATCH = 12 };

/* One INSERT for recs[0..n): three parameters per record. */
static int upsert_batch(cs__pg *pg, const char *name, int dim, const cs_record_in *recs,
                        size_t n, cs_error *err)
{
    cs__pg_sql s;
    cs__pg_sql_init(&s);
    cs__pg_sql_add(&s, "INSERT INTO ");
    cs__pg_sql_table(&s, name);
    cs__pg_sql_add(&s, " (id, vec, metadata) VALUES ");
    for (size_t i = 0; i < n && !s.oom; i++) {
        cs__pg_sql_add(&s, i ? ",(" : "(");
        cs__pg_sql_param(&s, recs[i].id, ",");
        char *vec = cs__pg_vector_text(recs[i].vector, dim);
        if (!vec) s.oom = true;
        cs__pg_sql_param_own(&s, vec, "::vector,");
        cs__pg_sql_param(&s, recs[i].metadata_json ? recs[i].metadata_json : "{}", "::jsonb)");
    }
    cs__pg_sql_add(&s, " ON CONFLICT (id) DO UPDATE SET vec = EXCLUDED.vec, "
                      "metadata = EXCLUDED.metadata");
    int rc = cs__pg_run(pg, &s, NULL, err);
    cs__pg_sql_free(&s);
    return rc;
}

int cs__pg_upsert(cs__backend *b, const char *name, int dim, const cs_record_in *recs, size_t n,
                 cs_error *err)
{
    cs__pg *pg = (cs__pg *)b;
    if (n == 0) return 0;
    int rc = cs__pg_begin(pg, err);
    for (size_t i = 0; !rc && i < n; i += UPSERT_BATCH) {
        size_t k = n - i < UPSERT_BATCH ? n - i : UPSERT_BATCH;
        rc = upsert_batch(pg, name, dim, recs + i, k, err);
        if (rc) cs_error_prefix(err, "upsert into '%s' (records %zu..%zu)", name, i, i + k - 1);
    }
    return cs__pg_end(pg, rc, err);
}

/* " IN ($a,$b,...)" for ids[0..n). */
static void ids_in(cs__pg_sql *s, const char *const *ids, size_t n)
{
    cs__pg_sql_add(s, " IN (");
    for (size_t i = 0; i < n; i++) cs__pg_sql_param(s, ids[i], i + 1 < n ? "," : ")");
}

/* Appends the rows of res (columns: id, then optional value/vector/metadata at the given
 * indexes, -1 = absent). */
static int push_rows(PGresult *res, int col_value, int col_vec, int col_meta, int dim,
                     cs_records *out, cs_error *err)
{
    for (int r = 0; r < PQntuples(res); r++) {
        float *vec = NULL;
        if (col_vec >= 0) {
            int rc = cs__pg_vector_parse(PQgetvalue(res, r, col_vec), dim, &vec, err);
            if (rc) return rc;
        }
        double value = NAN;
        if (col_value >= 0 && !PQgetisnull(res, r, col_value))
            value = strtod(PQgetvalue(res, r, col_value), NULL);
        const char *meta = col_meta >= 0 && !PQgetisnull(res, r, col_meta)
                               ? PQgetvalue(res, r, col_meta) : NULL;
        int rc = cs__pg_records_push(out, PQgetvalue(res, r, 0), vec, meta, value, err);
        if (rc) return rc;
    }
    return 0;
}

/* Runs "<head> <table> WHERE id IN (...) <tail>" for ids, ID_BATCH at a time (a bounded
 * statement whatever n is), appending each batch's rows to out (columns as push_rows). The
 * caller owns the transaction. */
static int run_by_ids(cs__pg *pg, const char *head, const char *name, const char *tail,
                      const char *const *ids, size_t n, int col_vec, int col_meta, int dim,
                      cs_records *out, cs_error *err)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i += ID_BATCH) {
        size_t k = n - i < ID_BATCH ? n - i : ID_BATCH;
        cs__pg_sql s;
        cs__pg_sql_init(&s);
        cs__pg_sql_add(&s, head);
        cs__pg_sql_table(&s, name);
        cs__pg_sql_add(&s, " WHERE id");
        ids_in(&s, ids + i, k);
        cs__pg_sql_add(&s, tail);
        PGresult *res;
        rc = cs__pg_run(pg, &s, &res, err);
        cs__pg_sql_free(&s);
        if (!rc) {
            rc = push_rows(res, -1, col_vec, col_meta, dim, out, err);
            PQclear(res);
        }
    }
    return rc;
}

int cs__pg_fetch(cs__backend *b, const char *name, int dim, const char *const *ids, size_t n,
                cs_records *out, cs_error *err)
{
    cs__pg *pg = (cs__pg *)b;
    if (n == 0) return 0;
    int rc = cs__pg_begin(pg, err);
    if (!rc) rc = run_by_ids(pg, "SELECT id, vec, metadata FROM ", name, "", ids, n, 1, 2, dim,
                             out, err);
    rc = cs__pg_end(pg, rc, err);
    if (rc) {
        cs_error_prefix(err, "fetch from '%s'", name);
        cs_records_free(out);
    }
    return rc;
}

/* Ends a delete's transaction: the deleted ids to *out (when wanted) on success, an error
 * naming the collection otherwise. */
static int end_delete(cs__pg *pg, int rc, const char *name, cs_records *got, cs_records *out,
                      cs_error *err)
{
    rc = cs__pg_end(pg, rc, err);
    if (rc) cs_error_prefix(err, "delete from '%s'", name);
    if (!rc && out) *out = *got;
    else cs_records_free(got);
    return rc;
}

int cs__pg_delete_ids(cs__backend *b, const char *name, const char *const *ids, size_t n,
                     cs_records *out, cs_error *err)
{
    cs__pg *pg = (cs__pg *)b;
    if (n == 0) return 0;
    cs_records got = {0};
    int rc = cs__pg_begin(pg, err);
    if (!rc) rc = run_by_ids(pg, "DELETE FROM ", name, " RETURNING id", ids, n, -1, -1, 0, &got,
                             err);
    return end_delete(pg, rc, name, &got, out, err);
}

int cs__pg_delete_filter(cs__backend *b, const char *name, const cs__filter *filter,
                        cs_records *out, cs_error *err)
{
    cs__pg *pg = (cs__pg *)b;
    cs__pg_sql s;
    cs__pg_sql_init(&s);
    cs__pg_sql_add(&s, "DELETE FROM ");
    cs__pg_sql_table(&s, name);
    if (filter) {   /* never NULL by contract; a NULL here must not turn into "delete all" */
        cs__pg_sql_add(&s, " WHERE ");
        cs__pg_filter_sql(&s, filter);
    } else {
        cs__pg_sql_add(&s, " WHERE false");
    }
    cs__pg_sql_add(&s, " RETURNING id");
    /* One statement is one transaction; BEGIN/COMMIT only mirror vecs' session. */
    cs_records got = {0};
    PGresult *res = NULL;
    int rc = cs__pg_begin(pg, err);
    if (!rc) rc = cs__pg_run(pg, &s, &res, err);
    if (!rc) rc = push_rows(res, -1, -1, -1, 0, &got, err);
    PQclear(res);
    cs__pg_sql_free(&s);
    return end_delete(pg, rc, name, &got, out, err);
}
