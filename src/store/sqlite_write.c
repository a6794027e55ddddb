/* SQLite writes: each call is one BEGIN IMMEDIATE ... COMMIT transaction (a crash leaves
 * the old or the new state), and bumps the collection's version so that every
 * connection's in-memory copy of the vectors is refreshed (sqlite_read.c). Input arrives
 * validated (backend.h), including the duplicate-id-per-500-batch rule. */
#include "store/sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/test_point.h"

int cs__sq_upsert(cs__backend *base, const char *name, int dim, const cs_record_in *recs, size_t n,
              cs_error *err)
{
    cs__sq_backend *b = (cs__sq_backend *)base;
    int rc = cs__sq_begin(b, true, err);
    if (rc) return rc;
    cs__sq_coll c;
    sqlite3_stmt *st = NULL, *rowid = NULL, *log = NULL;
    unsigned char *blob = malloc((size_t)dim * 4);
    if (!blob) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    if (!rc && !(rc = cs__sq_coll_get(b, name, &c, err))) {
        cs__sq_coll_clear(&c);
        if (c.dim != dim)
            rc = cs_error_set(err, CS_E_DIMENSION, "collection '%s' now has dimension %d, not %d",
                              name, c.dim, dim);
        else
            rc = cs__sq_log_open(b, c.tbl, c.version, &log, err);
    }
    if (!rc) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "INSERT INTO \"%s\"(id, vec, metadata) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO "
                 "UPDATE SET vec = excluded.vec, metadata = excluded.metadata", c.tbl);
        rc = cs__sq_prepare(b, sql, &st, err);
    }
    /* The rowid to log comes from a lookup, not RETURNING: SQLite runs RETURNING as a
     * trigger, which costs a statement journal per record (sqlite_changelog.c). */
    if (!rc) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT rowid FROM \"%s\" WHERE id = ?1", c.tbl);
        rc = cs__sq_prepare(b, sql, &rowid, err);
    }
    for (size_t i = 0; !rc && i < n; i++) {
        cs__sq_vec_to_blob(recs[i].vector, dim, blob);
        sqlite3_bind_text(st, 1, recs[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, blob, dim * 4, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, recs[i].metadata_json ? recs[i].metadata_json : "{}", -1,
                          SQLITE_STATIC);
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE) {
            sqlite3_bind_text(rowid, 1, recs[i].id, -1, SQLITE_STATIC);
            s = sqlite3_step(rowid);
            if (s == SQLITE_ROW) rc = cs__sq_log_row(b, log, sqlite3_column_int64(rowid, 0), err);
            else if (s == SQLITE_DONE) s = SQLITE_CORRUPT;   /* the row just written is gone */
        }
        if (!rc && s != SQLITE_ROW) {
            rc = cs__sq_fail(b, s, "upsert", err);
            cs_error_prefix(err, "record '%s'", recs[i].id);
        }
        sqlite3_reset(rowid);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(rowid);
    cs__sq_log_close(log);
    free(blob);
    if (!rc) rc = cs__sq_bump_version(b, name, c.tbl, err);
    if (!rc) return cs__sq_commit(b, err);
    cs__sq_rollback(b);
    return rc;
}

/* Runs `stmt` (a DELETE ... RETURNING id, rowid) to completion, collecting the ids and
 * logging the rowids. */
static int collect_ids(cs__sq_backend *b, sqlite3_stmt *st, sqlite3_stmt *log, cs_records *out,
                       size_t *deleted, cs_error *err)
{
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int rc = cs__sq_log_row(b, log, sqlite3_column_int64(st, 1), err);
        if (rc) return rc;
        cs_record *r = cs__records_push(out, err);
        if (!r) return CS_E_NOMEM;
        if (!(r->id = strdup((const char *)sqlite3_column_text(st, 0))))
            return cs_error_set(err, CS_E_NOMEM, "out of memory");
        (*deleted)++;
    }
    return s == SQLITE_DONE ? 0 : cs__sq_fail(b, s, "delete", err);
}

/* What both deletes share: the write transaction, the collection's table and change log,
 * and at the end its version bumped when anything went. */
typedef struct {
    cs__sq_backend *b;
    const char *name;
    cs__sq_coll c;
    sqlite3_stmt *log;
    size_t deleted;
} sq_delete;

static int delete_begin(sq_delete *d, cs__backend *base, const char *name, cs_error *err)
{
    memset(d, 0, sizeof *d);
    d->b = (cs__sq_backend *)base;
    d->name = name;
    int rc = cs__sq_begin(d->b, true, err);
    if (rc) return rc;
    if (!(rc = cs__sq_coll_get(d->b, name, &d->c, err))) {
        cs__sq_coll_clear(&d->c);
        rc = cs__sq_log_open(d->b, d->c.tbl, d->c.version, &d->log, err);
    }
    if (rc) cs__sq_rollback(d->b);
    return rc;
}

static int delete_end(sq_delete *d, int rc, cs_error *err)
{
    cs__sq_log_close(d->log);
    if (!rc && d->deleted) rc = cs__sq_bump_version(d->b, d->name, d->c.tbl, err);
    if (!rc) return cs__sq_commit(d->b, err);
    cs__sq_rollback(d->b);
    return rc;
}

int cs__sq_delete_ids(cs__backend *base, const char *name, const char *const *ids, size_t n,
                  cs_records *out, cs_error *err)
{
    sq_delete d;
    int rc = delete_begin(&d, base, name, err);
    if (rc) return rc;
    sqlite3_stmt *st = NULL;
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM \"%s\" WHERE id = ?1 RETURNING id, rowid", d.c.tbl);
    rc = cs__sq_prepare(d.b, sql, &st, err);
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_bind_text(st, 1, ids[i], -1, SQLITE_STATIC);
        rc = collect_ids(d.b, st, d.log, out, &d.deleted, err);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return delete_end(&d, rc, err);
}

int cs__sq_delete_filter(cs__backend *base, const char *name, const cs__filter *filter, cs_records *out,
                     cs_error *err)
{
    sq_delete d;
    int rc = delete_begin(&d, base, name, err);
    if (rc) return rc;
    sqlite3_stmt *st = NULL;
    cs__sq_sql s = {0};
    char head[96];
    snprintf(head, sizeof head, "DELETE FROM \"%s\" WHERE ", d.c.tbl);
    cs__sq_sql_add(&s, head);
    cs__sq_sql_filter(&s, filter);
    cs__sq_sql_add(&s, " RETURNING id, rowid");
    if (s.oom) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    else if (!(rc = cs__sq_prepare(d.b, s.sql, &st, err)) && !(rc = cs__sq_sql_bind(d.b, st, &s, 1, err)))
        rc = collect_ids(d.b, st, d.log, out, &d.deleted, err);
    sqlite3_finalize(st);
    cs__sq_sql_free(&s);
    return delete_end(&d, rc, err);
}

int cs__sq_create_index(cs__backend *base, const char *name, const cs_index_spec *spec, cs_error *err)
{
    cs__sq_backend *b = (cs__sq_backend *)base;
    cs__sq_coll c;
    int rc = cs__sq_begin_coll(b, true, name, &c, err);
    if (rc) return rc;
    bool had = c.index_name != NULL;
    cs__sq_coll_clear(&c);
    /* Same steps as vecs' one transaction (spec §8): refuse or drop the old index, then
     * "create" the new one, which pgvector may refuse (the old one is then kept). */
    if (had && !spec->replace)
        rc = cs_error_set(err, CS_E_ARG, "replace is set to False but an index exists");
    cs_index_spec s = *spec;
    if (!rc && s.method == CS_INDEX_IVFFLAT && s.n_lists == CS_INDEX_ARG_DEFAULT) {
        int64_t rows = 0;
        if (!(rc = cs__sq_count_rows(b, c.tbl, &rows, err)))
            s.n_lists = cs__ivfflat_default_lists(rows);
    }
    if (!rc) rc = cs__index_spec_check_ranges(&s, c.dim, err);
    char ix[128], desc[160];
    if (!rc && cs__index_name_format(&s, s.n_lists, ix, sizeof ix))
        rc = cs_error_set(err, CS_E_INTERNAL, "index name too long");
    if (!rc) {
        if (s.method == CS_INDEX_HNSW)
            snprintf(desc, sizeof desc, "{\"method\":\"hnsw\",\"measure\":\"%s\",\"m\":%d,\"ef_construction\":%d}",
                     cs_measure_name(s.measure), s.m, s.ef_construction);
        else
            snprintf(desc, sizeof desc, "{\"method\":\"ivfflat\",\"measure\":\"%s\",\"n_lists\":%d}",
                     cs_measure_name(s.measure), s.n_lists);
        sqlite3_stmt *st;
        if (!(rc = cs__sq_prepare(b, "UPDATE cs_collections SET index_name = ?1, index_spec = ?2 "
                                 "WHERE name = ?3", &st, err))) {
            sqlite3_bind_text(st, 1, ix, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, desc, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
            int r = sqlite3_step(st);
            if (r != SQLITE_DONE) rc = cs__sq_fail(b, r, "create_index", err);
            sqlite3_finalize(st);
        }
    }
    /* The index itself, built from the rows inside this transaction (other writers wait,
     * as for pgvector's CREATE INDEX) and saved before the description is committed: a
     * build that fails leaves the old index in place. The old file goes either way once
     * committed (other parameters, or IVFFlat, which is only recorded). */
    if (!rc && s.method == CS_INDEX_HNSW) {
        cs__sq_coll now = c;
        now.index_name = NULL;
        now.index_spec = desc;
        cs__sq_ann_drop(b, c.tbl, false);
        rc = cs__sq_ann_refresh(b, &now, err);
        if (!rc) cs__test_point("hnsw-saved");   /* the file written, its description not */
    }
    if (!rc && !(rc = cs__sq_commit(b, err))) {
        if (s.method != CS_INDEX_HNSW) cs__sq_ann_drop(b, c.tbl, true);
        return 0;
    }
    cs__sq_rollback(b);
    cs__sq_ann_drop(b, c.tbl, false);
    return rc;
}
