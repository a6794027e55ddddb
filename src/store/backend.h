/* The interface between the backend-independent collection layer (store.c, collection.c:
 * URL parsing, name/dimension/vector/limit/probes/measure/index-argument validation in
 * vecs' order, filter parsing) and one storage backend (sqlite_*.c, pg_*.c).
 *
 * The collection layer calls a backend only with validated input:
 *  - names are valid collection names (1..63 bytes, no NUL, not starting with '_' for
 *    create), still to be quoted as identifiers by the backend;
 *  - vectors have exactly `dim` finite floats;
 *  - metadata is valid JSON text (re-serialised compactly), no U+0000 in strings;
 *  - filters are parsed trees (never NULL for delete_filter; NULL = no filter elsewhere);
 *  - query/index parameters are in range and defaults are filled in.
 * Backends report what the database refuses as CS_E_DATABASE with the server's message.
 * Every write call is one transaction. */
#ifndef CS_STORE_BACKEND_H
#define CS_STORE_BACKEND_H

#include "clipsearch/store.h"
#include "store/filter.h"

typedef struct cs__backend cs__backend;

typedef struct cs__backend_ops {
    const char *name;   /* "sqlite" / "postgres" */
    /* A collection's first query loads every vector into memory (SQLite's vector
     * cache): worth starting ahead of time (cs_store_caches_vectors). */
    bool caches_vectors;
    void (*close)(cs__backend *b);
    /* Collections per spec §1.3 (name not starting with '_', has a vec column). */
    int (*list)(cs__backend *b, cs_collection_info **out, size_t *n, cs_error *err);
    /* *dimension = stored dimension (or -1), *found = whether it is a collection. */
    int (*lookup)(cs__backend *b, const char *name, int *dimension, bool *found, cs_error *err);
    /* CREATE TABLE (no IF NOT EXISTS): an existing non-collection table -> CS_E_DATABASE. */
    int (*create)(cs__backend *b, const char *name, int dimension, cs_error *err);
    int (*drop)(cs__backend *b, const char *name, cs_error *err);
    int (*count)(cs__backend *b, const char *name, int64_t *count, cs_error *err);
    int (*index_name)(cs__backend *b, const char *name, char **index_name, cs_error *err);
    int (*upsert)(cs__backend *b, const char *name, int dim, const cs_record_in *recs,
                  size_t n, cs_error *err);
    /* ids already de-duplicated by the caller; returns vector + metadata. */
    int (*fetch)(cs__backend *b, const char *name, int dim, const char *const *ids, size_t n,
                 cs_records *out, cs_error *err);
    int (*delete_ids)(cs__backend *b, const char *name, const char *const *ids, size_t n,
                      cs_records *out, cs_error *err);
    int (*delete_filter)(cs__backend *b, const char *name, const cs__filter *filter,
                         cs_records *out, cs_error *err);
    /* q validated, defaults filled; filter may be NULL. */
    int (*query)(cs__backend *b, const char *name, int dim, const cs_query *q,
                 const cs__filter *filter, cs_records *out, cs_error *err);
    /* limit 0 = every matching record, else at most limit (any of them). */
    int (*scan)(cs__backend *b, const char *name, int dim, const cs__filter *filter,
                bool include_vector, size_t limit, cs_records *out, cs_error *err);
    /* spec validated (method resolved to hnsw/ivfflat, arguments in vecs' rules);
     * the backend enforces the pgvector ranges, names the index per spec §1.4 and
     * replaces or refuses per spec->replace, all in one transaction. */
    int (*create_index)(cs__backend *b, const char *name, const cs_index_spec *spec,
                        cs_error *err);
    /* Whether HNSW is available (pgvector version rule, spec §1.1). */
    bool (*hnsw_available)(cs__backend *b);
    /* The collection's attributes (a JSON object's text, validated by the caller), kept
     * where vecs does not look; *json NULL when none. set with json NULL clears them. */
    int (*get_attrs)(cs__backend *b, const char *name, char **json, cs_error *err);
    int (*set_attrs)(cs__backend *b, const char *name, const char *json, cs_error *err);
    /* The compressed vector copy (store.h); NULL where the backend has none (get: none,
     * set: refused by the caller). */
    int (*vector_copy)(cs__backend *b, const char *name, cs_vector_copy *copy, cs_error *err);
    int (*set_vector_copy)(cs__backend *b, const char *name, cs_vector_copy copy, cs_error *err);
    /* Brings a derived index up to date (NULL where the database maintains its own). */
    int (*refresh_index)(cs__backend *b, const char *name, cs_error *err);
} cs__backend_ops;

struct cs__backend {
    const cs__backend_ops *ops;
    const char *location;   /* for messages: the file, or the URL without its password */
};

/* Constructors; each returns a backend whose first member is `cs__backend base`.
 * read_only: CS_STORE_READ_ONLY (store.h) - create nothing, write nothing. */
int cs__sqlite_backend_open(const char *path, bool read_only, cs__backend **out, cs_error *err);
int cs__pg_backend_open(const char *conninfo_url, bool read_only, cs__backend **out,
                       cs_error *err);

#endif
