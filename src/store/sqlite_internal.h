/* Private to the SQLite backend (sqlite_*.c). Layout of one database file:
 *   cs_collections(name, dimension, tbl, index_name, index_spec, uid, version, attrs,
 *     vector_copy) - the
 *     catalog; `name` is compared byte-wise (case-sensitive, like PostgreSQL quoted
 *     identifiers), `tbl` is the data table, `version` changes with every write (a
 *     random step, see cs__sq_bump_version) so readers can tell whether their in-memory copy
 *     or the cache file "<db>.vcache/<tbl>.bin" of the vectors is current;
 *   cs_coll_<uid hex>(id TEXT PRIMARY KEY, vec BLOB, metadata TEXT) per collection:
 *     vec = dimension float32 little-endian, metadata = normalised compact JSON;
 *   cs_coll_<uid hex>_changes, its change log, filled by the write paths (sqlite_changelog.c).
 * Table names are derived from the catalog, never from the collection name, so any
 * name (quotes, newlines, "A" next to "a") is safe and SQLite's case-insensitive
 * identifiers cannot collide. */
#ifndef CS_STORE_SQLITE_INTERNAL_H
#define CS_STORE_SQLITE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>

#include "store/store_internal.h"
#include "store/vcache.h"

/* The vectors and metadata of one collection as last read, for the exact scan and for
 * evaluating filters without going through SQLite row by row (sqlite_cache.c): a base
 * (a mapping of the persistent cache file, or built from SQLite; vcache.h) minus the
 * `dead` base positions plus the `delta` rows, which together are the rows in rowid
 * order. A write changes only the dead list and the small delta, so the query after it
 * reads the changed rows instead of copying every vector; the delta is folded into a
 * new base once it grows (sqlite_cache.c). */
typedef struct cs__sq_cache {
    struct cs__sq_cache *next;
    char *tbl;
    int64_t gen;      /* the catalog version the rows reflect */
    cs__vcache vc;     /* the base */
    uint32_t *dead;   /* ascending positions in vc of rows deleted or replaced since */
    size_t ndead;
    cs__vcache delta;  /* rows written since the base, rowids ascending (n 0 when none) */
    char *file;       /* cache file being written in the background */
    bool save_bin;    /* the saver writes the cache file ... */
    cs_vector_copy save_copy;   /* ... and/or the copy file of this kind */
    pthread_t saver;  /* reads the rows only; joined before they change or are freed */
    bool saving;
    atomic_bool stop_saving;   /* set when a newer view supersedes this one */
} cs__sq_cache;

/* A collection's HNSW index as this connection last brought it up to date
 * (sqlite_hnsw.c). A derived structure like the cache: kept in "<db>.vcache/<tbl>.hnsw"
 * for the catalog version it reflects, patched from the change log, rebuilt from the rows
 * when that cannot tell. */
struct cs__hnsw;
typedef struct cs__sq_ann {
    struct cs__sq_ann *next;
    char tbl[40];
    char tag[64];       /* table and build parameters: a file built otherwise is not used */
    int64_t gen;        /* the catalog version the index reflects */
    struct cs__hnsw *h;
    char *file;         /* being written in the background */
    pthread_t saver;    /* reads h only; joined before h changes or is freed */
    bool saving;
} cs__sq_ann;

typedef struct cs__sq_backend {
    cs__backend base;
    sqlite3 *db;
    char *path;
    int busy_ms;
    cs__sq_cache *caches;
    cs__sq_ann *anns;
    bool read_only;     /* CS_STORE_READ_ONLY: no SQLITE_OPEN_CREATE, no schema set-up */
    bool no_catalog;    /* read-only and the file has no cs_collections (yet) */
    unsigned long cache_builds, cache_patches;   /* for tests: how caches were renewed */
    unsigned long ann_builds, ann_patches, ann_loads;   /* for tests: the same for HNSW */
} cs__sq_backend;

typedef struct cs__sq_coll {
    char tbl[40];
    int dim;
    int64_t version;
    char *index_name;   /* malloc'd or NULL */
    char *index_spec;   /* its JSON description (sqlite_write.c), malloc'd or NULL */
    cs_vector_copy copy;   /* the compressed copy the exact scan reads first */
} cs__sq_coll;

/* Test hook: how many vector caches this SQLite store built from SQLite and patched from
 * the change log; -1 for another backend. */
int cs__sqlite_cache_counts(const cs_store *s, unsigned long *built, unsigned long *patched);

/* Maps a SQLite result code to a cs_error (BUSY -> CS_E_BUSY naming the file). */
int cs__sq_fail(cs__sq_backend *b, int rc, const char *what, cs_error *err);
int cs__sq_exec(cs__sq_backend *b, const char *sql, cs_error *err);
int cs__sq_prepare(cs__sq_backend *b, const char *sql, sqlite3_stmt **st, cs_error *err);
/* count(*) of a collection's table. */
int cs__sq_count_rows(cs__sq_backend *b, const char *tbl, int64_t *count, cs_error *err);
/* Transactions: write = BEGIN IMMEDIATE (waits busy_ms for other writers). */
int cs__sq_begin(cs__sq_backend *b, bool write, cs_error *err);
int cs__sq_commit(cs__sq_backend *b, cs_error *err);
void cs__sq_rollback(cs__sq_backend *b);
/* Catalog row of a collection; missing -> CS_E_DATABASE 'relation does not exist'. */
int cs__sq_coll_get(cs__sq_backend *b, const char *name, cs__sq_coll *c, cs_error *err);
void cs__sq_coll_clear(cs__sq_coll *c);
/* Begins a transaction (a write one when `write`) and reads the collection's catalog row;
 * on failure no transaction is left open. */
int cs__sq_begin_coll(cs__sq_backend *b, bool write, const char *name, cs__sq_coll *c,
                      cs_error *err);
/* Advances the collection's version after a write and marks it in the change log. */
int cs__sq_bump_version(cs__sq_backend *b, const char *name, const char *tbl, cs_error *err);
/* Frees the cache of tbl; superseded: its file save may give up (see cs__sq_cache_free). */
void cs__sq_cache_drop(cs__sq_backend *b, const char *tbl, bool superseded);
/* The collection's cache at the catalog version read in the current transaction, with
 * the compressed copy the collection asks for (when memory allows: without it the
 * scan is the plain float32 one, with the same results). */
int cs__sq_cache_get(cs__sq_backend *b, const cs__sq_coll *c, cs__sq_cache **out, cs_error *err);
/* Frees a cache, joining its saver first: superseded (a newer view exists, the collection
 * is dropped) makes the save give up; else (closing the store) it finishes, since the file
 * is what the next process maps. */
void cs__sq_cache_free(cs__sq_cache *k, bool superseded);

/* The change log of a collection (sqlite_changelog.c). Every write path, inside its
 * transaction: cs__sq_log_open (creates the log where a collection lacks it; `version` is the
 * collection's current version) and returns the statement that cs__sq_log_row runs for each
 * rowid it inserts, updates or deletes; then cs__sq_log_close. cs__sq_bump_version ends the
 * write with cs__sq_log_mark, which adds a version marker and trims old entries.
 * cs__sq_log_since lists, ascending and distinct, the rowids changed from version `version`
 * to version `current`: 0, or 1 when the log cannot tell (no log, the marker pruned or of
 * another history, a write that did not log, more than max_rows changes): rebuild. */
typedef struct cs__sq_log_rows {
    int64_t *rows;
    size_t n, cap;
} cs__sq_log_rows;
int cs__sq_log_open(cs__sq_backend *b, const char *tbl, int64_t version, sqlite3_stmt **st,
                cs_error *err);
int cs__sq_log_row(cs__sq_backend *b, sqlite3_stmt *st, int64_t row, cs_error *err);
void cs__sq_log_close(sqlite3_stmt *st);
int cs__sq_log_mark(cs__sq_backend *b, const char *tbl, int64_t version, cs_error *err);
int cs__sq_log_since(cs__sq_backend *b, const char *tbl, int64_t version, int64_t current,
                 size_t max_rows, cs__sq_log_rows *out, cs_error *err);
void cs__sq_log_rows_free(cs__sq_log_rows *r);

/* The HNSW index (sqlite_hnsw.c). cs__sq_ann_query answers q from the collection's
 * index when it has one for q's measure: *answered false (and nothing in out) when it has
 * none, or when a filtered search came back short of the limit; the caller then scans.
 * Runs inside the caller's read transaction. cs__sq_ann_refresh brings the index up to
 * date and saves it before returning (for `index` and create_index). cs__sq_ann_drop
 * forgets the kept index and, with remove_file, deletes its file. */
int cs__sq_ann_query(cs__sq_backend *b, const cs__sq_coll *c, const cs_query *q, const cs__filter *filter,
                     bool *answered, cs_records *out, cs_error *err);
/* Appends the records of rowids rows[0..n) with distances dists as q asks for them. */
int cs__sq_emit_rows(cs__sq_backend *b, const cs__sq_coll *c, const cs_query *q, const int64_t *rows,
                     const double *dists, size_t n, cs_records *out, cs_error *err);
int cs__sq_ann_refresh(cs__sq_backend *b, const cs__sq_coll *c, cs_error *err);
void cs__sq_ann_drop(cs__sq_backend *b, const char *tbl, bool remove_file);
/* Test hook: how HNSW indexes were renewed (built, patched, loaded from the file). */
int cs__sqlite_ann_counts(const cs_store *s, unsigned long *built, unsigned long *patched,
                          unsigned long *loaded);

/* SQL functions used by compiled filters (sqlite_filter.c). */
int cs__sq_register_functions(sqlite3 *db);
/* Compiles a filter into a boolean SQL expression over column `metadata`; parameters
 * are appended to params (texts) and numbered from first_param. */
typedef struct cs__sq_sql {
    char *sql;
    size_t len, cap;
    const char **params;   /* borrowed from the filter tree */
    size_t nparams, cap_params;
    bool oom;
} cs__sq_sql;
void cs__sq_sql_add(cs__sq_sql *s, const char *text);
void cs__sq_sql_filter(cs__sq_sql *s, const cs__filter *f);
void cs__sq_sql_free(cs__sq_sql *s);
int cs__sq_sql_bind(cs__sq_backend *b, sqlite3_stmt *st, const cs__sq_sql *s, int first, cs_error *err);

/* Operations (backend.h) implemented in sqlite_write.c / sqlite_read.c. */
int cs__sq_get_attrs(cs__backend *b, const char *name, char **json, cs_error *err);
int cs__sq_set_attrs(cs__backend *b, const char *name, const char *json, cs_error *err);
int cs__sq_vector_copy(cs__backend *b, const char *name, cs_vector_copy *copy, cs_error *err);
int cs__sq_set_vector_copy(cs__backend *b, const char *name, cs_vector_copy copy, cs_error *err);
int cs__sq_refresh_index(cs__backend *b, const char *name, cs_error *err);
int cs__sq_upsert(cs__backend *b, const char *name, int dim, const cs_record_in *recs, size_t n,
              cs_error *err);
int cs__sq_delete_ids(cs__backend *b, const char *name, const char *const *ids, size_t n,
                  cs_records *out, cs_error *err);
int cs__sq_delete_filter(cs__backend *b, const char *name, const cs__filter *filter, cs_records *out,
                     cs_error *err);
int cs__sq_create_index(cs__backend *b, const char *name, const cs_index_spec *spec, cs_error *err);
int cs__sq_fetch(cs__backend *b, const char *name, int dim, const char *const *ids, size_t n,
             cs_records *out, cs_error *err);
int cs__sq_query(cs__backend *b, const char *name, int dim, const cs_query *q, const cs__filter *filter,
             cs_records *out, cs_error *err);
int cs__sq_scan(cs__backend *b, const char *name, int dim, const cs__filter *filter, bool include_vector,
            size_t limit, cs_records *out, cs_error *err);

/* Vectors are stored little-endian; these convert on big-endian hosts. */
void cs__sq_vec_to_blob(const float *v, int dim, unsigned char *blob);
void cs__sq_blob_to_vec(const void *blob, int dim, float *v);

#endif
