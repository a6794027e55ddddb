/* Embedded SQLite backend: connection (WAL, busy timeout), transactions, error mapping
 * and the catalog operations (list, lookup, create, drop, count, index name). Layout in
 * sqlite_internal.h. */
#include "store/sqlite_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SQ_DEFAULT_BUSY_MS 5000

int cs__sq_fail(cs__sq_backend *b, int rc, const char *what, cs_error *err)
{
    int prim = rc & 0xff;
    const char *msg = b->db ? sqlite3_errmsg(b->db) : sqlite3_errstr(rc);
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
        return cs_error_set(err, CS_E_BUSY,
                            "%s: database '%s' is locked by another connection (waited %d ms): %s",
                            what, b->path, b->busy_ms, msg);
    if (prim == SQLITE_NOMEM) return cs_error_set(err, CS_E_NOMEM, "%s: out of memory", what);
    if (prim == SQLITE_CANTOPEN || prim == SQLITE_IOERR || prim == SQLITE_READONLY ||
        prim == SQLITE_FULL || prim == SQLITE_PERM)
        return cs_error_set(err, CS_E_IO, "%s: '%s': %s", what, b->path, msg);
    if (prim == SQLITE_NOTADB || prim == SQLITE_CORRUPT)
        return cs_error_set(err, CS_E_FORMAT, "%s: '%s' is not a valid clipsearch database: %s",
                            what, b->path, msg);
    return cs_error_set(err, CS_E_DATABASE, "%s: %s", what, msg);
}

int cs__sq_exec(cs__sq_backend *b, const char *sql, cs_error *err)
{
    int rc = sqlite3_exec(b->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : cs__sq_fail(b, rc, sql, err);
}

int cs__sq_prepare(cs__sq_backend *b, const char *sql, sqlite3_stmt **st, cs_error *err)
{
    int rc = sqlite3_prepare_v2(b->db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : cs__sq_fail(b, rc, "reading the database", err);
}

int cs__sq_count_rows(cs__sq_backend *b, const char *tbl, int64_t *count, cs_error *err)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\"", tbl);
    sqlite3_stmt *st;
    int rc = cs__sq_prepare(b, sql, &st, err);
    if (rc) return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) *count = sqlite3_column_int64(st, 0);
    else rc = cs__sq_fail(b, s, "counting records", err);
    sqlite3_finalize(st);
    return rc;
}

int cs__sq_begin(cs__sq_backend *b, bool write, cs_error *err)
{
    return cs__sq_exec(b, write ? "BEGIN IMMEDIATE" : "BEGIN", err);
}

int cs__sq_commit(cs__sq_backend *b, cs_error *err)
{
    int rc = cs__sq_exec(b, "COMMIT", err);
    if (rc) cs__sq_rollback(b);
    return rc;
}

void cs__sq_rollback(cs__sq_backend *b)
{
    if (!sqlite3_get_autocommit(b->db)) sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
}

void cs__sq_coll_clear(cs__sq_coll *c)
{
    free(c->index_name);
    free(c->index_spec);
    c->index_name = NULL;
    c->index_spec = NULL;
}

int cs__sq_begin_coll(cs__sq_backend *b, bool write, const char *name, cs__sq_coll *c,
                      cs_error *err)
{
    int rc = cs__sq_begin(b, write, err);
    if (rc) return rc;
    if ((rc = cs__sq_coll_get(b, name, c, err))) cs__sq_rollback(b);
    return rc;
}

int cs__sq_coll_get(cs__sq_backend *b, const char *name, cs__sq_coll *c, cs_error *err)
{
    memset(c, 0, sizeof *c);
    sqlite3_stmt *st;
    /* Catalogs written before the vector_copy column existed get it on the first
     * cs__sq_set_vector_copy; until then they read as "no copy". */
    int rc = sqlite3_prepare_v2(b->db, "SELECT tbl, dimension, version, index_name, vector_copy, "
                                "index_spec FROM cs_collections WHERE name = ?1", -1, &st, NULL) == SQLITE_OK
                 ? 0
                 : cs__sq_prepare(b, "SELECT tbl, dimension, version, index_name, NULL, "
                                  "index_spec FROM cs_collections WHERE name = ?1", &st, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        snprintf(c->tbl, sizeof c->tbl, "%s", (const char *)sqlite3_column_text(st, 0));
        c->dim = sqlite3_column_int(st, 1);
        c->version = sqlite3_column_int64(st, 2);
        int copy = sqlite3_column_int(st, 4);
        c->copy = copy == CS_VECTOR_COPY_FP16 || copy == CS_VECTOR_COPY_INT8 ? (cs_vector_copy)copy
                                                                             : CS_VECTOR_COPY_NONE;
        const unsigned char *ix = sqlite3_column_text(st, 3);
        const unsigned char *spec = sqlite3_column_text(st, 5);
        if ((ix && !(c->index_name = strdup((const char *)ix))) ||
            (spec && !(c->index_spec = strdup((const char *)spec))))
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    } else if (s == SQLITE_DONE) {
        rc = cs_error_set(err, CS_E_DATABASE, "relation \"vecs.%s\" does not exist", name);
    } else {
        rc = cs__sq_fail(b, s, "reading the collection catalog", err);
    }
    sqlite3_finalize(st);
    if (rc) cs__sq_coll_clear(c);   /* nothing to free for the caller on error */
    return rc;
}

int cs__sq_bump_version(cs__sq_backend *b, const char *name, const char *tbl, cs_error *err)
{
    /* A random step rather than +1: cache files are keyed by (table, version), and a
     * database restored from a backup and then written again must not reach a version
     * that an old cache file of the discarded history already claims. */
    uint32_t step = 0;
    if (getrandom(&step, sizeof step, GRND_NONBLOCK) != (ssize_t)sizeof step)
        step = (uint32_t)time(NULL) ^ (uint32_t)getpid();
    sqlite3_stmt *st;
    int rc = cs__sq_prepare(b, "UPDATE cs_collections SET version = version + ?2 WHERE name = ?1 "
                           "RETURNING version", &st, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, 1 + (step >> 8));   /* 1 .. 2^24: no overflow in practice */
    int s = sqlite3_step(st);
    int64_t version = s == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (s == SQLITE_ROW) s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s != SQLITE_DONE) return cs__sq_fail(b, s, "updating the collection catalog", err);
    return cs__sq_log_mark(b, tbl, version, err);
}

int cs__sqlite_cache_counts(const cs_store *s, unsigned long *built, unsigned long *patched)
{
    if (strcmp(s->backend->ops->name, "sqlite")) return -1;
    const cs__sq_backend *b = (const cs__sq_backend *)s->backend;
    *built = b->cache_builds;
    *patched = b->cache_patches;
    return 0;
}

void cs__sq_cache_drop(cs__sq_backend *b, const char *tbl, bool superseded)
{
    for (cs__sq_cache **pp = &b->caches; *pp; pp = &(*pp)->next) {
        cs__sq_cache *c = *pp;
        if (!strcmp(c->tbl, tbl)) {
            *pp = c->next;
            cs__sq_cache_free(c, superseded);
            return;
        }
    }
}

void cs__sq_vec_to_blob(const float *v, int dim, unsigned char *blob)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(blob, v, (size_t)dim * 4);
#else
    for (int i = 0; i < dim; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        u = __builtin_bswap32(u);
        memcpy(blob + 4 * (size_t)i, &u, 4);
    }
#endif
}

void cs__sq_blob_to_vec(const void *blob, int dim, float *v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(v, blob, (size_t)dim * 4);
#else
    const unsigned char *p = blob;
    for (int i = 0; i < dim; i++) {
        uint32_t u;
        memcpy(&u, p + 4 * (size_t)i, 4);
        u = __builtin_bswap32(u);
        memcpy(&v[i], &u, 4);
    }
#endif
}

/* ---- operations ----------------------------------------------------------------- */

static void sq_close(cs__backend *base)
{
    cs__sq_backend *b = (cs__sq_backend *)base;
    while (b->caches) cs__sq_cache_drop(b, b->caches->tbl, false);
    while (b->anns) cs__sq_ann_drop(b, b->anns->tbl, false);
    sqlite3_close_v2(b->db);
    free(b->path);
    free(b);
}

/* Whether the file has clipsearch's catalog. A read-only store never creates it, and an
 * `index` running meanwhile may: asked again until it is there. */
static int sq_catalog_present(cs__sq_backend *b, bool *present, cs_error *err)
{
    *present = !b->no_catalog;
    if (*present) return 0;
    sqlite3_stmt *st;
    int rc = cs__sq_prepare(b, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                           "name = 'cs_collections'", &st, err);
    if (rc) return rc;
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE) return cs__sq_fail(b, s, "reading the schema", err);
    *present = s == SQLITE_ROW;
    b->no_catalog = !*present;
    return 0;
}

static int sq_list(cs__backend *base, cs_collection_info **out, size_t *n, cs_error *err)
{
    cs__sq_backend *b = (cs__sq_backend *)base;
    bool present;
    int rc0 = sq_catalog_present(b, &present, err);
    if (rc0 || !present) return rc0;
    sqlite3_stmt *st;
    /* vecs hides names starting with '_' (spec §1.3); none are created here, but a file
     * written by something else may hold them. */
    int rc = cs__sq_prepare(b, "SELECT name, dimension FROM cs_collections "
                           "WHERE substr(name, 1, 1) <> '_' ORDER BY name", &st, err);
    if (rc) return rc;
    size_t cap = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            cs_collection_info *p = realloc(*out, cap * sizeof *p);
            if (!p) { rc = cs_error_set(err, CS_E_NOMEM, "out of memory"); break; }
            *out = p;
        }
        cs_collection_info *ci = &(*out)[*n];
        ci->dimension = sqlite3_column_int(st, 1);
        if (!(ci->name = strdup((const char *)sqlite3_column_text(st, 0)))) {
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
            break;
        }
        (*n)++;
    }
    if (!rc && s != SQLITE_DONE) rc = cs__sq_fail(b, s, "listing collections", err);
    sqlite3_finalize(st);
    if (rc) {
        cs_collection_info_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static int sq_lookup(cs__backend *base, const char *name, int *dimension, bool *found,
                     cs_error *err)
{
    cs__sq_backend *b = (cs__sq_backend *)base;
    *found = false;
    if (name[0] == '_') return 0;   /* never a collection (spec §1.3) */
    bool present;
    int rc = sq_catalog_present(b, &present, err);
    if (rc || !present) return rc;
    sqlite3_stmt *st;
    rc = cs__sq_prepare(b, "SELECT dimension FROM cs_collections WHERE name = ?1", &st, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *found = true;
        *dimension = sqlite3_column_int(st, 0);
    } else if (s != SQLITE_DONE) {
        rc = cs__sq_fail(b, s, "looking up a collection", err);
    }
    sqlite3_finalize(st);
    return rc;
}

static int sq_create(cs__backend *base, const char *name, int dimension, cs_error *err)
{
    cs__sq_backend *b = (cs__sq_backend *)base;
    int rc = cs__sq_begin(b, true, err);
    if (rc) return rc;
    uint64_t uid = 0;
    if (getrandom(&uid, sizeof uid, 0) != (ssize_t)sizeof uid)
        uid = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
    char tbl[40], sql[160];
    snprintf(tbl, sizeof tbl, "cs_coll_%016llx", (unsigned long long)uid);
    sqlite3_stmt *st = NULL;
    rc = cs__sq_prepare(b, "INSERT INTO cs_collections(name, dimension, tbl, uid, version) "
                       "VALUES (?1, ?2, ?3, ?4, 0)", &st, err);
    if (!rc) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, dimension);
        sqlite3_bind_text(st, 3, tbl, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)(uid >> 1));
        int s = sqlite3_step(st);
        if ((s & 0xff) == SQLITE_CONSTRAINT)   /* a concurrent creator won (spec §10) */
            rc = cs_error_set(err, CS_E_DATABASE, "relation \"%s\" already exists", name);
        else if (s != SQLITE_DONE)
            rc = cs__sq_fail(b, s, "creating a collection", err);
        sqlite3_finalize(st);
    }
    if (!rc) {
        snprintf(sql, sizeof sql,
                 "CREATE TABLE \"%s\" (id TEXT PRIMARY KEY NOT NULL, vec BLOB NOT NULL, "
                 "metadata TEXT NOT NULL DEFAULT '{}')", tbl);
        rc = cs__sq_exec(b, sql, err);
    }
    if (!rc) rc = cs__sq_log_open(b, tbl, 0, NULL, err);
    if (!rc) return cs__sq_commit(b, err);
    cs__sq_rollback(b);
    return rc;
}

static int sq_drop(cs__backend *base, const char *name, cs_error *err)
{
    cs__sq_backend *b = (cs__sq_backend *)base;
    int rc = cs__sq_begin(b, true, err);
    if (rc) return rc;
    cs__sq_coll c;
    cs_error ignore;
    if (cs__sq_coll_get(b, name, &c, &ignore)) {   /* DROP TABLE IF EXISTS: missing is fine */
        cs__sq_rollback(b);
        return 0;
    }
    cs__sq_coll_clear(&c);
    char sql[96];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS \"%s\"", c.tbl);
    rc = cs__sq_exec(b, sql, err);
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS \"%s_changes\"", c.tbl);
    if (!rc) rc = cs__sq_exec(b, sql, err);
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS \"%s_log\"", c.tbl);   /* earlier name */
    if (!rc) rc = cs__sq_exec(b, sql, err);
    sqlite3_stmt *st = NULL;
    if (!rc && !(rc = cs__sq_prepare(b, "DELETE FROM cs_collections WHERE name = ?1", &st, err))) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        if (s != SQLITE_DONE) rc = cs__sq_fail(b, s, "dropping a collection", err);
        sqlite3_finalize(st);
    }
    if (!rc) rc = cs__sq_commit(b, err);
    else cs__sq_rollback(b);
    cs__sq_cache_drop(b, c.tbl, true);
    cs__sq_ann_drop(b, c.tbl, false);   /* its file goes with the folder's other files */
    char file[4096];
    if (!rc && !cs__vcache_path(b->path, c.tbl, file, sizeof file)) cs__vcache_remove(file);
    return rc;
}

static int sq_count(cs__backend *base, const char *name, int64_t *count, cs_error *err)
{
    cs__sq_backend *b = (cs__sq_backend *)base;
    cs__sq_coll c;
    int rc = cs__sq_begin_coll(b, false, name, &c, err);
    if (rc) return rc;
    cs__sq_coll_clear(&c);
    rc = cs__sq_count_rows(b, c.tbl, count, err);
    cs__sq_rollback(b);
    return rc;
}

static int sq_index_name(cs__backend *base, const char *name, char **index_name, cs_error *err)
{
    cs__sq_backend *b = (cs__sq_backend *)base;
    cs__sq_coll c;
    int rc = cs__sq_coll_get(b, name, &c, err);
    if (rc) return rc;
    *index_name = c.index_name;   /* ownership moves to the caller */
    c.index_name = NULL;
    cs__sq_coll_clear(&c);
    return 0;
}

static bool sq_hnsw_available(cs__backend *b)
{
    (void)b;
    return true;   /* behaves like a current pgvector: auto -> hnsw */
}

static const cs__backend_ops SQ_OPS = {
    .name = "sqlite",
    .caches_vectors = true,
    .close = sq_close,
    .list = sq_list,
    .lookup = sq_lookup,
    .create = sq_create,
    .drop = sq_drop,
    .count = sq_count,
    .index_name = sq_index_name,
    .get_attrs = cs__sq_get_attrs,
    .set_attrs = cs__sq_set_attrs,
    .vector_copy = cs__sq_vector_copy,
    .set_vector_copy = cs__sq_set_vector_copy,
    .refresh_index = cs__sq_refresh_index,
    .upsert = cs__sq_upsert,
    .fetch = cs__sq_fetch,
    .delete_ids = cs__sq_delete_ids,
    .delete_filter = cs__sq_delete_filter,
    .query = cs__sq_query,
    .scan = cs__sq_scan,
    .create_index = cs__sq_create_index,
    .hnsw_available = sq_hnsw_available,
};

static int setup(cs__sq_backend *b, cs_error *err)
{
    sqlite3_extended_result_codes(b->db, 1);
    sqlite3_busy_timeout(b->db, b->busy_ms);
    if (b->read_only) {
        /* Reading needs neither WAL set-up (the mode is a property of the file) nor the
         * catalog: a file without one holds no collections (sq_catalog_present). */
        if (cs__sq_register_functions(b->db) != SQLITE_OK)
            return cs_error_set(err, CS_E_INTERNAL, "cannot register SQL functions");
        int s = sqlite3_exec(b->db, "PRAGMA cache_size=-65536; PRAGMA mmap_size=1073741824",
                             NULL, NULL, NULL);
        if (s != SQLITE_OK) return cs__sq_fail(b, s, "opening the database", err);
        b->no_catalog = true;
        bool present;
        return sq_catalog_present(b, &present, err);
    }
    /* Only takes effect on a new, empty file (before WAL): a 512-d float32 row is ~2.1 KB,
     * so 4 KB pages would hold one row each and waste half the file; 16 KB pages hold 7. */
    int rc0 = cs__sq_exec(b, "PRAGMA page_size=16384", err);
    if (rc0) return rc0;
    /* WAL: readers never block the writer; synchronous=NORMAL keeps every committed
     * transaction safe from a process crash (not necessarily from power loss). */
    sqlite3_stmt *st;
    int rc = cs__sq_prepare(b, "PRAGMA journal_mode=WAL", &st, err);
    if (rc) return rc;
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW) rc = cs__sq_fail(b, s, "enabling WAL mode", err);
    sqlite3_finalize(st);
    if (rc) return rc;
    if ((rc = cs__sq_exec(b, "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; "
                         "PRAGMA mmap_size=1073741824", err)))
        return rc;
    if (cs__sq_register_functions(b->db) != SQLITE_OK)
        return cs_error_set(err, CS_E_INTERNAL, "cannot register SQL functions");
    if ((rc = cs__sq_prepare(b, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                            "name = 'cs_collections'", &st, err)))
        return rc;
    s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s == SQLITE_ROW) return 0;
    if (s != SQLITE_DONE) return cs__sq_fail(b, s, "reading the schema", err);
    if ((rc = cs__sq_begin(b, true, err))) return rc;
    rc = cs__sq_exec(b, "CREATE TABLE IF NOT EXISTS cs_collections ("
                    "name TEXT PRIMARY KEY NOT NULL, dimension INTEGER NOT NULL, "
                    "tbl TEXT NOT NULL UNIQUE, index_name TEXT, index_spec TEXT, "
                    "uid INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 0, attrs TEXT, "
                    "vector_copy INTEGER)", err);
    if (rc) {
        cs__sq_rollback(b);
        return rc;
    }
    return cs__sq_commit(b, err);
}

int cs__sqlite_backend_open(const char *path, bool read_only, cs__backend **out, cs_error *err)
{
    *out = NULL;
    cs__sq_backend *b = calloc(1, sizeof *b);
    if (!b || !(b->path = strdup(path))) {
        free(b);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    b->base.ops = &SQ_OPS;
    b->base.location = b->path;
    b->read_only = read_only;
    b->busy_ms = SQ_DEFAULT_BUSY_MS;
    const char *env = getenv("CLIPSEARCH_BUSY_TIMEOUT_MS");
    if (env && *env) b->busy_ms = atoi(env) < 0 ? 0 : atoi(env);
    /* Told apart from other failures to open, so that a reader can say "nothing indexed
     * yet" (also for a mistyped --db) instead of creating an empty file there. */
    struct stat sb;
    if (read_only && strcmp(path, ":memory:") != 0 && stat(path, &sb) != 0 &&
        (errno == ENOENT || errno == ENOTDIR)) {
        sq_close(&b->base);
        return cs_error_set(err, CS_E_STORE_NOT_FOUND, "no database at %s", path);
    }
    /* A reader opens read-write but without SQLITE_OPEN_CREATE (and writes nothing, see
     * cs__store_check_writable): as the last connection to close it then checkpoints and
     * removes the -wal/-shm files, which a SQLITE_OPEN_READONLY connection would leave
     * behind. A file the user may not write is still opened, read-only, by SQLite. */
    int flags = SQLITE_OPEN_READWRITE | (read_only ? 0 : SQLITE_OPEN_CREATE);
    int s = sqlite3_open_v2(path, &b->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    int rc = s == SQLITE_OK ? setup(b, err) : cs__sq_fail(b, s, "opening the database", err);
    if (rc) {
        sq_close(&b->base);
        return rc;
    }
    *out = &b->base;
    return 0;
}
