/* Collections as vecs sees them (spec §1.2-1.4): one table per collection in schema vecs;
 * listing and lookup read the catalog with vecs' rules; the dimension is the typmod of vec. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_internal.h"

/* Spec §1.3: ordinary table in vecs, has a column "vec", name not starting with '_'. The
 * '_' test uses left() instead of LIKE, where '_' would be a wildcard. */
#define COLLECTIONS_SQL                                                                  \
    "SELECT c.relname, a.atttypmod FROM pg_catalog.pg_class c "                          \
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "                          \
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "                              \
    "WHERE n.nspname = 'vecs' AND c.relkind = 'r' AND a.attname = 'vec' "                \
    "AND NOT a.attisdropped AND left(c.relname, 1) <> '_'"

int cs__pg_list(cs__backend *b, cs_collection_info **out, size_t *n, cs_error *err)
{
    cs__pg *pg = (cs__pg *)b;
    *out = NULL;
    *n = 0;
    PGresult *res;
    int rc = cs__pg_exec(pg, COLLECTIONS_SQL, 0, NULL, &res, err);
    if (rc) return rc;
    int rows = PQntuples(res);
    cs_collection_info *infos = calloc(rows ? (size_t)rows : 1, sizeof *infos);
    if (!infos) {
        PQclear(res);
        return cs_error_set(err, CS_E_NOMEM, "out of memory listing collections");
    }
    for (int i = 0; i < rows; i++) {
        infos[i].dimension = atoi(PQgetvalue(res, i, 1));
        if (!(infos[i].name = strdup(PQgetvalue(res, i, 0)))) {
            cs_collection_info_free(infos, (size_t)i);
            PQclear(res);
            return cs_error_set(err, CS_E_NOMEM, "out of memory listing collections");
        }
    }
    PQclear(res);
    *out = infos;
    *n = (size_t)rows;
    return 0;
}

int cs__pg_lookup(cs__backend *b, const char *name, int *dimension, bool *found, cs_error *err)
{
    cs__pg *pg = (cs__pg *)b;
    *found = false;
    *dimension = -1;
    PGresult *res;
    const char *params[] = {name};
    int rc = cs__pg_exec(pg, COLLECTIONS_SQL " AND c.relname = $1", 1, params, &res, err);
    if (rc) return rc;
    if (PQntuples(res) > 0) {
        *found = true;
        *dimension = atoi(PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return 0;
}

int cs__pg_create(cs__backend *b, const char *name, int dimension, cs_error *err)
{
    cs__pg *pg = (cs__pg *)b;
    /* Exactly the table vecs creates (spec §1.2); no IF NOT EXISTS, so an existing
     * non-collection table is refused by the server. An invalid dimension is also left to
     * the server, which refuses it as vecs' users see. */
    cs__pg_sql s;
    cs__pg_sql_init(&s);
    cs__pg_sql_add(&s, "CREATE TABLE ");
    cs__pg_sql_table(&s, name);
    cs__pg_sql_addf(&s,
                   " (id character varying NOT NULL, vec vector(%d) NOT NULL, "
                   "metadata jsonb NOT NULL DEFAULT '{}'::jsonb, PRIMARY KEY (id))",
                   dimension);
    int rc = cs__pg_run(pg, &s, NULL, err);
    cs__pg_sql_free(&s);
    if (rc) cs_error_prefix(err, "cannot create collection '%s'", name);
    return rc;
}

int cs__pg_drop(cs__backend *b, const char *name, cs_error *err)
{
    cs__pg *pg = (cs__pg *)b;
    cs__pg_sql s;
    cs__pg_sql_init(&s);
    cs__pg_sql_add(&s, "DROP TABLE IF EXISTS ");
    cs__pg_sql_table(&s, name);
    int rc = cs__pg_run(pg, &s, NULL, err);
    cs__pg_sql_free(&s);
    if (rc) cs_error_prefix(err, "cannot drop collection '%s'", name);
    return rc;
}

int cs__pg_count(cs__backend *b, const char *name, int64_t *count, cs_error *err)
{
    cs__pg *pg = (cs__pg *)b;
    *count = 0;
    cs__pg_sql s;
    cs__pg_sql_init(&s);
    cs__pg_sql_add(&s, "SELECT count(*) FROM ");
    cs__pg_sql_table(&s, name);
    PGresult *res;
    int rc = cs__pg_run(pg, &s, &res, err);
    cs__pg_sql_free(&s);
    if (rc) {
        cs_error_prefix(err, "collection '%s'", name);
        return rc;
    }
    *count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

int cs__pg_find_index(cs__pg *pg, const char *table, char **index_name, cs_error *err)
{
    *index_name = NULL;
    /* Spec §1.4: vecs' recognition rule, ILIKE 'ix_vector%' (with LIKE's '_' wildcard).
     * Ordered by name only to make "an arbitrary one" repeatable. */
    const char *sql =
        "SELECT i.relname FROM pg_catalog.pg_index x "
        "JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_catalog.pg_class t ON t.oid = x.indrelid "
        "JOIN pg_catalog.pg_namespace n ON n.oid = i.relnamespace "
        "WHERE n.nspname = 'vecs' AND i.relkind = 'i' AND t.relname = $1 "
        "AND i.relname ILIKE 'ix_vector%' ORDER BY i.relname LIMIT 1";
    const char *params[] = {table};
    PGresult *res;
    int rc = cs__pg_exec(pg, sql, 1, params, &res, err);
    if (rc) return rc;
    if (PQntuples(res) > 0 && !(*index_name = strdup(PQgetvalue(res, 0, 0)))) {
        PQclear(res);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    PQclear(res);
    return 0;
}

int cs__pg_index_name(cs__backend *b, const char *name, char **index_name, cs_error *err)
{
    int rc = cs__pg_find_index((cs__pg *)b, name, index_name, err);
    if (rc) cs_error_prefix(err, "collection '%s'", name);
    return rc;
}
