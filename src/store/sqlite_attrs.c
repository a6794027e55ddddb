/* The collection's attributes (clipsearch's own JSON object per collection, e.g. the
 * model record) and its vector copy setting on SQLite: columns of the cs_collections
 * catalog row, so dropping the collection drops them. Databases written before a column
 * existed get it on the first write (ALTER TABLE ADD COLUMN); reading them finds none. */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_internal.h"

static int has_column(cs__sq_backend *b, const char *column, bool *has, cs_error *err)
{
    sqlite3_stmt *st;
    int rc = cs__sq_prepare(b, "SELECT 1 FROM pragma_table_info('cs_collections') "
                           "WHERE name = ?1", &st, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, column, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    *has = s == SQLITE_ROW;
    if (s != SQLITE_ROW && s != SQLITE_DONE) rc = cs__sq_fail(b, s, "reading the schema", err);
    sqlite3_finalize(st);
    return rc;
}

int cs__sq_get_attrs(cs__backend *base, const char *name, char **json, cs_error *err)
{
    cs__sq_backend *b = (cs__sq_backend *)base;
    *json = NULL;
    int rc = cs__sq_begin(b, false, err);
    if (rc) return rc;
    bool has;
    sqlite3_stmt *st = NULL;
    if (!(rc = has_column(b, "attrs", &has, err)) && has &&
        !(rc = cs__sq_prepare(b, "SELECT attrs FROM cs_collections WHERE name = ?1", &st, err))) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        const unsigned char *t = s == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
        if (t && !(*json = strdup((const char *)t)))
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
        else if (s != SQLITE_ROW && s != SQLITE_DONE)
            rc = cs__sq_fail(b, s, "reading collection attributes", err);
        sqlite3_finalize(st);
    }
    cs__sq_rollback(b);
    return rc;
}

/* One catalog column of one collection, the column added first where the catalog predates
 * it. `text` NULL with `number` 0 writes NULL (the setting's absence). */
static int write_column(cs__sq_backend *b, const char *name, const char *column,
                        const char *type, const char *text, int number, const char *what,
                        cs_error *err)
{
    int rc = cs__sq_begin(b, true, err);
    if (rc) return rc;
    bool has;
    char sql[160];
    if (!(rc = has_column(b, column, &has, err)) && !has) {
        snprintf(sql, sizeof sql, "ALTER TABLE cs_collections ADD COLUMN %s %s", column, type);
        rc = cs__sq_exec(b, sql, err);
    }
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof sql, "UPDATE cs_collections SET %s = ?2 WHERE name = ?1", column);
    if (!rc && !(rc = cs__sq_prepare(b, sql, &st, err))) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (text) sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
        else if (number) sqlite3_bind_int(st, 2, number);
        else sqlite3_bind_null(st, 2);
        int s = sqlite3_step(st);
        if (s != SQLITE_DONE) rc = cs__sq_fail(b, s, what, err);
        else if (sqlite3_changes(b->db) == 0)
            rc = cs_error_set(err, CS_E_COLLECTION_NOT_FOUND, "collection '%s' not found", name);
        sqlite3_finalize(st);
    }
    if (!rc) return cs__sq_commit(b, err);
    cs__sq_rollback(b);
    return rc;
}

int cs__sq_set_attrs(cs__backend *base, const char *name, const char *json, cs_error *err)
{
    return write_column((cs__sq_backend *)base, name, "attrs", "TEXT", json, 0,
                        "writing collection attributes", err);
}

int cs__sq_vector_copy(cs__backend *base, const char *name, cs_vector_copy *copy, cs_error *err)
{
    cs__sq_coll c;
    int rc = cs__sq_begin_coll((cs__sq_backend *)base, false, name, &c, err);
    if (rc) return rc;
    *copy = c.copy;
    cs__sq_coll_clear(&c);
    cs__sq_rollback((cs__sq_backend *)base);
    return 0;
}

/* The setting only: the copy is derived, built by the next query that scans (and dropped
 * from memory by the next one when set back to none). No version bump: rows and results
 * are unchanged. */
int cs__sq_set_vector_copy(cs__backend *base, const char *name, cs_vector_copy copy,
                           cs_error *err)
{
    return write_column((cs__sq_backend *)base, name, "vector_copy", "INTEGER", NULL, (int)copy,
                        "writing the vector copy setting", err);
}
