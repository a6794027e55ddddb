/* The change log of a SQLite collection: what lets a stale vector cache catch up by
 * reading the rows that changed instead of every row (sqlite_read.c).
 *
 * "<tbl>_changes"(seq INTEGER PRIMARY KEY, row INTEGER, version INTEGER) holds two kinds of
 * entries, in commit order:
 *   - a changed row (row = its rowid, version NULL), written by every write path
 *     (sqlite_write.c) for each row it inserts, updates or deletes, in the write's own
 *     transaction (a crash keeps both or neither);
 *   - a version marker (row NULL, version = the catalog version a write committed),
 *     written by cs__sq_bump_version.
 * A cache at version V is brought up to date by the rows logged after V's marker, provided
 * the newest entry is the marker of the current version: a write by a program that does
 * not keep this log (an older clipsearch, or plain SQL) bumps the version without a
 * marker here, and then every cache rebuilds. The
 * marker, not a sequence number, identifies the cache's history: versions advance by
 * random steps (cs__sq_bump_version), so a database restored from a backup and written
 * again does not contain the markers of the discarded history, and its caches rebuild.
 * seq stays increasing without AUTOINCREMENT because the newest entry, a marker, is
 * never trimmed.
 *
 * The table was "<tbl>_log", filled by triggers, for a few commits: a write drops those
 * triggers and that table, and the new name keeps such a program's writes (which log
 * only there) from looking logged here.
 *
 * Why neither triggers nor RETURNING (which SQLite runs as a trigger): either makes
 * every upsert a statement that writes more than one table and may abort, so SQLite
 * keeps a statement journal for it, which spills to a temporary file at 64 KiB:
 * measured with bench_store at 100k, two 16 KiB writes to /var/tmp per record and half
 * the upsert rate (35k instead of 71-76k records/s). The upsert looks the rowid up.
 *
 * The log keeps its last SQ_LOG_KEEP entries: a cache older than that rebuilds, which
 * costs no more than patching that many rows would. */
#include "store/sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQ_LOG_KEEP 200000

/* Reports which of `a` and `b` exist in the schema. */
static int schema_has(cs__sq_backend *b, const char *a, const char *bn, bool *has_a, bool *has_b,
                      cs_error *err)
{
    sqlite3_stmt *st;
    int rc = cs__sq_prepare(b, "SELECT name FROM sqlite_master WHERE name IN (?1, ?2)", &st, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, bn, -1, SQLITE_STATIC);
    *has_a = *has_b = false;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (name && !strcmp(name, a)) *has_a = true;
        if (name && !strcmp(name, bn)) *has_b = true;
    }
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? 0 : cs__sq_fail(b, s, "reading the schema", err);
}

static int add_marker(cs__sq_backend *b, const char *tbl, int64_t version, cs_error *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO \"%s_changes\"(row, version) VALUES (NULL, ?1)", tbl);
    sqlite3_stmt *st;
    int rc = cs__sq_prepare(b, sql, &st, err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, version);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? 0 : cs__sq_fail(b, s, "writing the change log", err);
}

int cs__sq_log_open(cs__sq_backend *b, const char *tbl, int64_t version, sqlite3_stmt **out,
                cs_error *err)
{
    char log[64], trig[64], sql[256];
    snprintf(log, sizeof log, "%s_changes", tbl);
    snprintf(trig, sizeof trig, "%s_ins", tbl);
    bool has_log, has_trig;
    int rc = schema_has(b, log, trig, &has_log, &has_trig, err);
    /* The trigger-filled log of earlier commits (see the top of this file). */
    static const char *const old[] = {
        "DROP TRIGGER IF EXISTS \"%s_ins\"", "DROP TRIGGER IF EXISTS \"%s_upd\"",
        "DROP TRIGGER IF EXISTS \"%s_del\"", "DROP TABLE IF EXISTS \"%s_log\""};
    for (size_t i = 0; !rc && has_trig && i < sizeof old / sizeof old[0]; i++) {
        snprintf(sql, sizeof sql, old[i], tbl);
        rc = cs__sq_exec(b, sql, err);
    }
    if (!rc && !has_log) {
        /* A collection written by a version without this log: log from now on. Nothing
         * has changed since `version`, so its marker lets caches at that version patch. */
        snprintf(sql, sizeof sql,
                 "CREATE TABLE \"%s\" (seq INTEGER PRIMARY KEY, row INTEGER, version INTEGER)",
                 log);
        rc = cs__sq_exec(b, sql, err);
        if (!rc) {
            snprintf(sql, sizeof sql,
                     "CREATE INDEX \"%s_version\" ON \"%s\"(version) WHERE version IS NOT NULL",
                     log, log);
            rc = cs__sq_exec(b, sql, err);
        }
        if (!rc) rc = add_marker(b, tbl, version, err);
    }
    if (rc || !out) return rc;
    snprintf(sql, sizeof sql, "INSERT INTO \"%s\"(row) VALUES (?1)", log);
    return cs__sq_prepare(b, sql, out, err);
}

int cs__sq_log_row(cs__sq_backend *b, sqlite3_stmt *st, int64_t row, cs_error *err)
{
    sqlite3_bind_int64(st, 1, row);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    return s == SQLITE_DONE ? 0 : cs__sq_fail(b, s, "writing the change log", err);
}

void cs__sq_log_close(sqlite3_stmt *st)
{
    sqlite3_finalize(st);
}

int cs__sq_log_mark(cs__sq_backend *b, const char *tbl, int64_t version, cs_error *err)
{
    int rc = add_marker(b, tbl, version, err);
    if (rc) return rc;
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM \"%s_changes\" WHERE seq <= last_insert_rowid() - %d", tbl,
             SQ_LOG_KEEP);
    return cs__sq_exec(b, sql, err);
}

int cs__sq_log_since(cs__sq_backend *b, const char *tbl, int64_t version, int64_t current,
                 size_t max_rows, cs__sq_log_rows *out, cs_error *err)
{
    memset(out, 0, sizeof *out);
    char name[64], sql[256];
    snprintf(name, sizeof name, "%s_changes", tbl);
    bool found, unused;
    int rc = schema_has(b, name, name, &found, &unused, err);
    if (rc || !found) return rc ? rc : 1;
    /* The newest entry must be the current version's marker, and the cache's version
     * must have one: else a write went unlogged, or the log was pruned past the cache,
     * or the cache is of another history. */
    snprintf(sql, sizeof sql,
             "SELECT (SELECT version FROM \"%1$s\" ORDER BY seq DESC LIMIT 1), "
             "(SELECT seq FROM \"%1$s\" WHERE version = ?1)", name);
    sqlite3_stmt *st;
    if ((rc = cs__sq_prepare(b, sql, &st, err))) return rc;
    sqlite3_bind_int64(st, 1, version);
    int s = sqlite3_step(st);
    bool newest_current = s == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER &&
                          sqlite3_column_int64(st, 0) == current;
    int64_t from = s == SQLITE_ROW && sqlite3_column_type(st, 1) == SQLITE_INTEGER
                       ? sqlite3_column_int64(st, 1) : -1;
    sqlite3_finalize(st);
    if (s != SQLITE_ROW) return cs__sq_fail(b, s, "reading the change log", err);
    if (!newest_current || from < 0) return 1;   /* rebuild */
    snprintf(sql, sizeof sql,
             "SELECT DISTINCT row FROM \"%s\" WHERE seq > ?1 AND row IS NOT NULL ORDER BY row",
             name);
    if ((rc = cs__sq_prepare(b, sql, &st, err))) return rc;
    sqlite3_bind_int64(st, 1, from);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == max_rows) {   /* too many changes: a rebuild is as cheap */
            sqlite3_finalize(st);
            cs__sq_log_rows_free(out);
            return 1;
        }
        if (out->n == out->cap) {
            size_t c = out->cap ? 2 * out->cap : 256;
            int64_t *p = realloc(out->rows, c * sizeof *p);
            if (!p) {
                sqlite3_finalize(st);
                cs__sq_log_rows_free(out);
                return cs_error_set(err, CS_E_NOMEM, "out of memory reading the change log");
            }
            out->rows = p;
            out->cap = c;
        }
        out->rows[out->n++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (s != SQLITE_DONE) {
        cs__sq_log_rows_free(out);
        return cs__sq_fail(b, s, "reading the change log", err);
    }
    return 0;
}

void cs__sq_log_rows_free(cs__sq_log_rows *r)
{
    free(r->rows);
    memset(r, 0, sizeof *r);
}
