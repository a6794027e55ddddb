/* Nearest-neighbour query (spec §6) and the full scan used by the indexer. The query runs
 * in one transaction: SET LOCAL of the index knobs (LOCAL because a PGlite server shares one
 * backend between connections, and because vecs does so), then one ORDER BY ... LIMIT.
 *
 * Deliberate deviation from vecs (DESIGN.md §3.3, "no silent short result"): an HNSW scan
 * yields at most ef_search rows, an IVFFlat scan only the rows of the probed lists, and a
 * filter is applied after either, so vecs can return fewer than `limit` rows although more
 * match. When that happens and the collection has a vector index, the same SELECT runs again
 * in the same transaction with index scans disabled: the exact top-k. A full result is kept
 * as the index gave it (approximate, as in vecs).
 *
 * pgvector 0.8 can do better than the exact re-run: an HNSW scan in strict_order iterative
 * mode goes on past ef_search until `limit` rows pass the filter (or its scan budget,
 * hnsw.max_scan_tuples, runs out), still in distance order. Where the server has it, the
 * query asks for it, and the exact re-run is left for what is still short. IVFFlat's
 * iterative mode exists only with relaxed ordering (results out of order), so IVFFlat
 * keeps the exact re-run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_internal.h"

/* Appends rows with columns id [, value] [, vec] [, metadata] in that order. */
static int read_rows(PGresult *res, bool value, bool vector, bool metadata, int dim,
                     cs_records *out, cs_error *err)
{
    int col = 1;
    int c_value = value ? col++ : -1;
    int c_vec = vector ? col++ : -1;
    int c_meta = metadata ? col++ : -1;
    for (int r = 0; r < PQntuples(res); r++) {
        float *vec = NULL;
        if (c_vec >= 0) {
            int rc = cs__pg_vector_parse(PQgetvalue(res, r, c_vec), dim, &vec, err);
            if (rc) return rc;
        }
        double v = NAN;
        if (c_value >= 0 && !PQgetisnull(res, r, c_value))
            v = strtod(PQgetvalue(res, r, c_value), NULL);   /* "NaN" parses as NaN */
        const char *meta = c_meta >= 0 ? PQgetvalue(res, r, c_meta) : NULL;
        int rc = cs__pg_records_push(out, PQgetvalue(res, r, 0), vec, meta, v, err);
        if (rc) return rc;
    }
    return 0;
}

int cs__pg_query(cs__backend *b, const char *name, int dim, const cs_query *q,
                const cs__filter *filter, cs_records *out, cs_error *err)
{
    cs__pg *pg = (cs__pg *)b;
    const char *op = cs__pg_measure_operator(q->measure);
    cs__pg_sql s;
    cs__pg_sql_init(&s);
    char *qv = cs__pg_vector_text(q->vector, q->vector_dim);
    if (!qv) s.oom = true;
    int vp = cs__pg_sql_bind(&s, qv);   /* $1: used by the value column and the ORDER BY */
    cs__pg_sql_add(&s, "SELECT id");
    if (q->include_value) cs__pg_sql_addf(&s, ", (vec %s $%d::vector)", op, vp);
    if (q->include_vector) cs__pg_sql_add(&s, ", vec");
    if (q->include_metadata) cs__pg_sql_add(&s, ", metadata");
    cs__pg_sql_add(&s, " FROM ");
    cs__pg_sql_table(&s, name);
    if (filter) {
        cs__pg_sql_add(&s, " WHERE ");
        cs__pg_filter_sql(&s, filter);
    }
    cs__pg_sql_addf(&s, " ORDER BY vec %s $%d::vector LIMIT ", op, vp);
    char limit[24];
    snprintf(limit, sizeof limit, "%d", q->limit);
    cs__pg_sql_param(&s, limit, "::bigint");

    /* Integers validated by the caller (or refused by the server, as with vecs): safe to
     * put in the SQL text, where SET cannot take parameters anyway. */
    char set_probes[64], set_ef[64];
    snprintf(set_probes, sizeof set_probes, "SET LOCAL ivfflat.probes = %d", q->probes);
    snprintf(set_ef, sizeof set_ef, "SET LOCAL hnsw.ef_search = %d", q->ef_search);

    PGresult *res = NULL;
    int rc = cs__pg_sql_check(&s, err);
    if (!rc) rc = cs__pg_begin(pg, err);
    if (!rc) {
        rc = cs__pg_exec(pg, set_probes, 0, NULL, NULL, err);
        if (!rc && pg->hnsw) rc = cs__pg_exec(pg, set_ef, 0, NULL, NULL, err);
        if (!rc && pg->iterative)
            rc = cs__pg_exec(pg, "SET LOCAL hnsw.iterative_scan = strict_order", 0, NULL, NULL,
                            err);
        if (!rc) rc = cs__pg_run(pg, &s, &res, err);
        if (!rc && PQntuples(res) < q->limit) {
            char *ix = NULL;
            rc = cs__pg_find_index(pg, name, &ix, err);
            if (!rc && ix) {
                PQclear(res);
                res = NULL;
                rc = cs__pg_exec(pg, "SET LOCAL enable_indexscan = off", 0, NULL, NULL, err);
                if (!rc) rc = cs__pg_run(pg, &s, &res, err);
            }
            free(ix);
        }
        if (!rc)
            rc = read_rows(res, q->include_value, q->include_vector, q->include_metadata, dim,
                           out, err);
        PQclear(res);
        rc = cs__pg_end(pg, rc, err);
    }
    cs__pg_sql_free(&s);
    if (rc) {
        cs_error_prefix(err, "query of '%s'", name);
        cs_records_free(out);
    }
    return rc;
}

int cs__pg_scan(cs__backend *b, const char *name, int dim, const cs__filter *filter,
               bool include_vector, size_t limit, cs_records *out, cs_error *err)
{
    cs__pg *pg = (cs__pg *)b;
    cs__pg_sql s;
    cs__pg_sql_init(&s);
    cs__pg_sql_add(&s, include_vector ? "SELECT id, vec, metadata FROM " : "SELECT id, metadata FROM ");
    cs__pg_sql_table(&s, name);
    if (filter) {
        cs__pg_sql_add(&s, " WHERE ");
        cs__pg_filter_sql(&s, filter);
    }
    if (limit) {
        char lim[48];
        snprintf(lim, sizeof lim, " LIMIT %zu", limit);
        cs__pg_sql_add(&s, lim);
    }
    PGresult *res = NULL;
    int rc = cs__pg_run(pg, &s, &res, err);
    cs__pg_sql_free(&s);
    if (!rc) rc = read_rows(res, false, include_vector, true, dim, out, err);
    PQclear(res);
    if (rc) {
        cs_error_prefix(err, "scan of '%s'", name);
        cs_records_free(out);
    }
    return rc;
}
