/* PostgreSQL + pgvector backend: connecting (spec §1.1) and the operations table.
 * Collections live in vecs' own schema and table layout (spec §1.2), so Python vecs and
 * clipsearch read each other's data. The other operations are in pg_collections.c,
 * pg_records.c, pg_query.c and pg_index.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_internal.h"

/* libpq prints NOTICEs ("schema vecs already exists, skipping") to stderr by default; a
 * library must not print, and none of them matters to vecs' semantics. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void pg_close(cs__backend *b)
{
    cs__pg *pg = (cs__pg *)b;
    if (!pg) return;
    if (pg->conn) PQfinish(pg->conn);
    free(pg->masked_url);
    free(pg->version);
    free(pg);
}

static bool pg_hnsw_available(cs__backend *b)
{
    return ((cs__pg *)b)->hnsw;
}

static const cs__backend_ops PG_OPS = {
    .name = "postgres",
    .close = pg_close,
    .list = cs__pg_list,
    .lookup = cs__pg_lookup,
    .create = cs__pg_create,
    .drop = cs__pg_drop,
    .count = cs__pg_count,
    .index_name = cs__pg_index_name,
    .upsert = cs__pg_upsert,
    .fetch = cs__pg_fetch,
    .delete_ids = cs__pg_delete_ids,
    .delete_filter = cs__pg_delete_filter,
    .query = cs__pg_query,
    .scan = cs__pg_scan,
    .create_index = cs__pg_create_index,
    .hnsw_available = pg_hnsw_available,
    .get_attrs = cs__pg_get_attrs,
    .set_attrs = cs__pg_set_attrs,
};

/* pgvector 0.8.0 added iterative index scans (hnsw.iterative_scan, ivfflat.iterative_scan). */
static bool version_has_iterative_scans(const char *v)
{
    int major = 0, minor = 0;
    if (sscanf(v, "%d.%d", &major, &minor) != 2) return false;
    return major > 0 || minor >= 8;
}

/* Spec §1.1: HNSW is unavailable exactly when the version starts with 0.0 ... 0.4. */
static bool version_has_hnsw(const char *v)
{
    static const char *const OLD[] = {"0.0", "0.1", "0.2", "0.3", "0.4"};
    for (size_t i = 0; i < sizeof OLD / sizeof *OLD; i++)
        if (!strncmp(v, OLD[i], 3)) return false;
    return true;
}

/* Schema, extension and version in one transaction, as vecs' client does on open. A
 * read-only store creates neither: without the extension there can be no collection (a
 * vec column needs the type), so it simply finds none. */
static int pg_prepare(cs__pg *pg, bool read_only, cs_error *err)
{
    int rc = cs__pg_begin(pg, err);
    if (rc) return rc;
    PGresult *res = NULL;
    if (!read_only) {
        rc = cs__pg_exec(pg, "CREATE SCHEMA IF NOT EXISTS vecs", 0, NULL, NULL, err);
        if (rc) cs_error_prefix(err, "cannot create schema vecs");
    }
    if (!rc && !read_only) {
        rc = cs__pg_exec(pg, "CREATE EXTENSION IF NOT EXISTS vector", 0, NULL, NULL, err);
        if (rc) cs_error_prefix(err, "pgvector extension 'vector' is not available");
    }
    if (!rc)
        rc = cs__pg_exec(pg,
                        "SELECT installed_version FROM pg_available_extensions "
                        "WHERE name = 'vector'",
                        0, NULL, &res, err);
    if (!rc) {
        bool none = PQntuples(res) < 1 || PQgetisnull(res, 0, 0);
        if (none && !read_only)
            rc = cs_error_set(err, CS_E_DATABASE, "pgvector extension 'vector' is not installed");
        else if (!(pg->version = strdup(none ? "0.0.0" : PQgetvalue(res, 0, 0))))
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    PQclear(res);
    rc = cs__pg_end(pg, rc, err);
    if (!rc) {
        pg->hnsw = version_has_hnsw(pg->version);
        pg->iterative = version_has_iterative_scans(pg->version);
    }
    return rc;
}

int cs__pg_backend_open(const char *conninfo_url, bool read_only, cs__backend **out,
                       cs_error *err)
{
    *out = NULL;
    cs__pg *pg = calloc(1, sizeof *pg);
    if (!pg) return cs_error_set(err, CS_E_NOMEM, "out of memory opening PostgreSQL store");
    pg->base.ops = &PG_OPS;
    if (!(pg->masked_url = cs__pg_mask_url(conninfo_url))) {
        free(pg);
        return cs_error_set(err, CS_E_NOMEM, "out of memory opening PostgreSQL store");
    }
    pg->base.location = pg->masked_url;
    /* The URL's own settings win over these defaults: the expanded dbname comes last. */
    const char *keys[] = {"connect_timeout", "fallback_application_name", "client_encoding",
                          "dbname", NULL};
    const char *vals[] = {"10", "clipsearch", "UTF8", conninfo_url, NULL};
    pg->conn = PQconnectdbParams(keys, vals, 1);
    if (!pg->conn) {
        pg_close(&pg->base);
        return cs_error_set(err, CS_E_NOMEM, "out of memory connecting to PostgreSQL");
    }
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(pg->conn));
        size_t n = strlen(msg);
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) msg[--n] = '\0';
        for (char *p = msg; *p; p++)   /* libpq's hints come on extra lines: keep one line */
            if (*p == '\n' || *p == '\t') *p = ' ';
        cs_error_set(err, CS_E_DATABASE, "cannot connect to PostgreSQL at %s: %s",
                     pg->masked_url, msg);
        pg_close(&pg->base);
        return CS_E_DATABASE;
    }
    PQsetNoticeProcessor(pg->conn, ignore_notice, NULL);
    int rc = pg_prepare(pg, read_only, err);
    if (rc) {
        cs_error_prefix(err, "PostgreSQL at %s", pg->masked_url);
        pg_close(&pg->base);
        return rc;
    }
    *out = &pg->base;
    return 0;
}
