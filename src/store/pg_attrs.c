/* The collection's attributes on PostgreSQL: the comment of the collection's table,
 * "clipsearch:" followed by the JSON object. Python vecs never reads or writes table
 * comments, its rows and its metadata stay exactly as vecs writes them, no extra table
 * or collection is visible, and DROP TABLE (vecs' delete_collection) removes the comment
 * with the table, so a re-created collection never inherits a stale record. A comment
 * without the prefix is someone else's: it is neither read as attributes nor
 * overwritten... unless attributes are set, which replaces it (a table has one comment). */
#include <stdlib.h>
#include <string.h>

#include "store/pg_internal.h"

#define ATTRS_PREFIX "clipsearch:"

int cs__pg_get_attrs(cs__backend *b, const char *name, char **json, cs_error *err)
{
    cs__pg *pg = (cs__pg *)b;
    *json = NULL;
    PGresult *res;
    const char *params[] = {name};
    int rc = cs__pg_exec(pg,
                        "SELECT obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c "
                        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = 'vecs' AND c.relname = $1",
                        1, params, &res, err);
    if (rc) return rc;
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)) {
        const char *c = PQgetvalue(res, 0, 0);
        if (strncmp(c, ATTRS_PREFIX, strlen(ATTRS_PREFIX)) == 0 &&
            !(*json = strdup(c + strlen(ATTRS_PREFIX))))
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    PQclear(res);
    return rc;
}

int cs__pg_set_attrs(cs__backend *b, const char *name, const char *json, cs_error *err)
{
    cs__pg *pg = (cs__pg *)b;
    cs__pg_sql s;
    cs__pg_sql_init(&s);
    cs__pg_sql_add(&s, "COMMENT ON TABLE ");
    cs__pg_sql_table(&s, name);
    cs__pg_sql_add(&s, " IS ");
    /* COMMENT takes no bind parameters: the text goes in as an escaped literal. */
    if (json) {
        size_t n = strlen(ATTRS_PREFIX) + strlen(json);
        char *text = malloc(n + 1);
        if (!text) {
            cs__pg_sql_free(&s);
            return cs_error_set(err, CS_E_NOMEM, "out of memory");
        }
        memcpy(text, ATTRS_PREFIX, strlen(ATTRS_PREFIX));
        memcpy(text + strlen(ATTRS_PREFIX), json, strlen(json) + 1);
        char *lit = PQescapeLiteral(pg->conn, text, n);
        free(text);
        if (!lit) {
            cs__pg_sql_free(&s);
            return cs_error_set(err, CS_E_NOMEM, "out of memory");
        }
        cs__pg_sql_add(&s, lit);
        PQfreemem(lit);
    } else {
        cs__pg_sql_add(&s, "NULL");
    }
    int rc = cs__pg_run(pg, &s, NULL, err);
    cs__pg_sql_free(&s);
    if (rc) cs_error_prefix(err, "cannot record attributes of collection '%s'", name);
    return rc;
}
