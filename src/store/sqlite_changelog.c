/* The change log of a SQLite collection: what lets a stale vector cache catch up by
 * reading the rows that changed instead of every row (sqlite_read.c).
 *
 * "<tbl>_log"(seq INTEGER PRIMARY KEY AUTOINCREMENT, row INTEGER, version INTEGER) holds
 * two kinds of entries, in commit order:
 *   - a changed row (row = its rowid, version NULL), written by triggers on the data
 *     table for every insert, update and delete, so every write path is logged, in the
 *     write's own transaction (a crash keeps both or neither);
 *   - a version marker (row NULL, version = the catalog version a write committed),
 *     written by sq_bump_version.
 * A cache at version V is brought up to date by the rows logged after V's marker. The
 * marker, not a sequence number, identifies the cache's history: versions advance by
 * random steps (sq_bump_version), so a database restored from a backup and written
 * again does not contain the markers of the discarded history, and its caches rebuild.
 *
 * The log keeps its last SQ_LOG_KEEP entries: a cache older than that rebuilds, which
 * costs no more than patching that many rows would. */
#include "store/sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQ_LOG_KEEP 200000

static int exists(sq_backend *b, const char *type, const char *name, bool *found, cs_error *err)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(b, "SELECT 1 FROM sqlite_master WHERE type = ?1 AND name = ?2", &st, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE) return sq_fail(b, s, "reading the schema", err);
    *found = s == SQLITE_ROW;
    return 0;
}

static int add_marker(sq_backend *b, const char *tbl, int64_t version, cs_error *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO \"%s_log\"(row, version) VALUES (NULL, ?1)", tbl);
    sqlite3_stmt *st;
    int rc = sq_prepare(b, sql, &st, err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, version);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? 0 : sq_fail(b, s, "writing the change log", err);
}

int sq_log_ensure(sq_backend *b, const char *tbl, int64_t version, cs_error *err)
{
    char name[64];
    snprintf(name, sizeof name, "%s_log", tbl);
    bool found = false;
    int rc = exists(b, "table", name, &found, err);
    if (rc || found) return rc;
    /* A collection written by a version without the log: log from now on. Nothing has
     * changed since `version`, so its marker lets caches at that version patch. */
    static const char *const ddl[] = {
        "CREATE TABLE \"%1$s_log\" (seq INTEGER PRIMARY KEY AUTOINCREMENT, row INTEGER, "
        "version INTEGER)",
        "CREATE INDEX \"%1$s_log_version\" ON \"%1$s_log\"(version) WHERE version IS NOT NULL",
        "CREATE TRIGGER \"%1$s_ins\" AFTER INSERT ON \"%1$s\" BEGIN "
        "INSERT INTO \"%1$s_log\"(row) VALUES (NEW.rowid); END",
        "CREATE TRIGGER \"%1$s_upd\" AFTER UPDATE ON \"%1$s\" BEGIN "
        "INSERT INTO \"%1$s_log\"(row) VALUES (OLD.rowid); "
        "INSERT INTO \"%1$s_log\"(row) SELECT NEW.rowid WHERE NEW.rowid != OLD.rowid; END",
        "CREATE TRIGGER \"%1$s_del\" AFTER DELETE ON \"%1$s\" BEGIN "
        "INSERT INTO \"%1$s_log\"(row) VALUES (OLD.rowid); END",
    };
    char sql[512];
    for (size_t i = 0; !rc && i < sizeof ddl / sizeof ddl[0]; i++) {
        snprintf(sql, sizeof sql, ddl[i], tbl);
        rc = sq_exec(b, sql, err);
    }
    return rc ? rc : add_marker(b, tbl, version, err);
}

int sq_log_mark(sq_backend *b, const char *tbl, int64_t version, cs_error *err)
{
    int rc = add_marker(b, tbl, version, err);
    if (rc) return rc;
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM \"%s_log\" WHERE seq <= last_insert_rowid() - %d", tbl,
             SQ_LOG_KEEP);
    return sq_exec(b, sql, err);
}

int sq_log_since(sq_backend *b, const char *tbl, int64_t version, size_t max_rows,
                 sq_log_rows *out, cs_error *err)
{
    memset(out, 0, sizeof *out);
    char name[64], sql[256];
    snprintf(name, sizeof name, "%s_log", tbl);
    bool found = false;
    int rc = exists(b, "table", name, &found, err);
    if (rc || !found) return rc ? rc : 1;
    snprintf(sql, sizeof sql, "SELECT seq FROM \"%s_log\" WHERE version = ?1", tbl);
    sqlite3_stmt *st;
    if ((rc = sq_prepare(b, sql, &st, err))) return rc;
    sqlite3_bind_int64(st, 1, version);
    int s = sqlite3_step(st);
    int64_t from = s == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE) return sq_fail(b, s, "reading the change log", err);
    if (from < 0) return 1;   /* pruned, or another history: rebuild */
    snprintf(sql, sizeof sql,
             "SELECT DISTINCT row FROM \"%s_log\" WHERE seq > ?1 AND row IS NOT NULL ORDER BY row",
             tbl);
    if ((rc = sq_prepare(b, sql, &st, err))) return rc;
    sqlite3_bind_int64(st, 1, from);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == max_rows) {   /* too many changes: a rebuild is as cheap */
            sqlite3_finalize(st);
            sq_log_rows_free(out);
            return 1;
        }
        if (out->n == out->cap) {
            size_t c = out->cap ? 2 * out->cap : 256;
            int64_t *p = realloc(out->rows, c * sizeof *p);
            if (!p) {
                sqlite3_finalize(st);
                sq_log_rows_free(out);
                return cs_error_set(err, CS_E_NOMEM, "out of memory reading the change log");
            }
            out->rows = p;
            out->cap = c;
        }
        out->rows[out->n++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (s != SQLITE_DONE) {
        sq_log_rows_free(out);
        return sq_fail(b, s, "reading the change log", err);
    }
    return 0;
}

void sq_log_rows_free(sq_log_rows *r)
{
    free(r->rows);
    memset(r, 0, sizeof *r);
}
