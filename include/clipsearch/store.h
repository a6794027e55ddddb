/* Vector collections with vecs semantics (shared/spec/vecs-semantics.md) over two
 * backends: embedded SQLite (default) and PostgreSQL + pgvector in vecs' own layout.
 * Owned by src/store/. A cs_store is used by one thread at a time. */
#ifndef CLIPSEARCH_STORE_H
#define CLIPSEARCH_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clipsearch/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_store cs_store;
typedef struct cs_collection cs_collection;

typedef enum {
    CS_MEASURE_COSINE = 0,    /* cosine_distance, <=>, vector_cosine_ops (default) */
    CS_MEASURE_L2,            /* l2_distance, <->, vector_l2_ops */
    CS_MEASURE_IP,            /* max_inner_product, <#>, vector_ip_ops (value = -a.b) */
    CS_MEASURE_L1             /* l1_distance, <+>, vector_l1_ops */
} cs_measure;

typedef enum { CS_INDEX_AUTO = 0, CS_INDEX_HNSW, CS_INDEX_IVFFLAT } cs_index_method;

/* Parses "cosine_distance" etc.; CS_E_ARG "Invalid index measure" otherwise. */
int cs_measure_parse(const char *name, cs_measure *out, cs_error *err);
const char *cs_measure_name(cs_measure m);
const char *cs_measure_opclass(cs_measure m);   /* "vector_cosine_ops" ... */

/* URL: postgresql://..., postgres://... -> pgvector; sqlite:///abs.db, sqlite://rel.db or
 * a plain path -> SQLite (created if missing). Errors never print a password. */
int cs_store_open(const char *url, cs_store **out, cs_error *err);

/* Flags of cs_store_open_ex. */
enum {
    /* For commands that only read (search, serve, vec list/describe/fetch/query): nothing
     * is ever created or written. SQLite: the file is opened read-only and must exist
     * (CS_E_STORE_NOT_FOUND otherwise); a file without clipsearch's catalog simply holds
     * no collections. PostgreSQL: the vecs schema and the vector extension are not
     * created; without them there are no collections. Writes through such a store
     * (create, drop, upsert, delete, create_index, set_attrs) fail with CS_E_ARG. */
    CS_STORE_READ_ONLY = 1u << 0
};

/* cs_store_open with flags (CS_STORE_*). */
int cs_store_open_ex(const char *url, unsigned flags, cs_store **out, cs_error *err);
bool cs_store_is_read_only(const cs_store *store);
/* The store's location for messages: the SQLite file path, or the PostgreSQL URL with
 * its password masked. Valid while the store is open. */
const char *cs_store_location(const cs_store *store);
void cs_store_close(cs_store *store);
const char *cs_store_backend_name(const cs_store *store);   /* "sqlite" or "postgres" */
/* Whether a collection's first query reads all its vectors into memory (SQLite), so
 * that running one ahead of time (cs_query_warm) shortens the first real query. */
bool cs_store_caches_vectors(const cs_store *store);
/* Default URL: $CLIPSEARCH_DB, else ${XDG_DATA_HOME:-~/.local/share}/clipsearch/clipsearch.db.
 * Writes into buf; returns 0 or an error. */
int cs_store_default_url(char *buf, size_t bufsize, cs_error *err);

typedef struct cs_collection_info {
    char *name;
    int dimension;            /* -1 when the vec column has no vector typmod */
} cs_collection_info;

int cs_store_list(cs_store *store, cs_collection_info **out, size_t *n, cs_error *err);
void cs_collection_info_free(cs_collection_info *infos, size_t n);

/* get_or_create_collection: dimension must be >= 1 (0 -> ArgError, as vecs). An existing
 * collection with another dimension -> MismatchedDimension. */
int cs_store_get_or_create(cs_store *store, const char *name, int dimension,
                           cs_collection **out, cs_error *err);
/* Opens an existing collection (its stored dimension) or CS_E_COLLECTION_NOT_FOUND. */
int cs_store_get(cs_store *store, const char *name, cs_collection **out, cs_error *err);
/* DROP TABLE IF EXISTS semantics: a missing name is fine. */
int cs_store_drop(cs_store *store, const char *name, cs_error *err);
void cs_collection_free(cs_collection *coll);

const char *cs_collection_name(const cs_collection *coll);
int cs_collection_dimension(const cs_collection *coll);
int cs_collection_count(cs_collection *coll, int64_t *count, cs_error *err);
/* Name of the recognised vector index (malloc'd) or NULL when none. Read each time. */
int cs_collection_index(cs_collection *coll, char **index_name, cs_error *err);

/* A record going in. metadata_json NULL means {}. */
typedef struct cs_record_in {
    const char *id;
    const float *vector;       /* dimension floats */
    const char *metadata_json;
} cs_record_in;

/* A record coming out; fields not requested are NULL / NAN. All owned by cs_records. */
typedef struct cs_record {
    char *id;
    float *vector;             /* NULL unless requested */
    char *metadata_json;       /* NULL unless requested */
    double value;              /* distance (query with include_value) */
} cs_record;

typedef struct cs_records {
    cs_record *items;
    size_t n;
    char *warning;             /* e.g. "Query does not have a covering index for ..."; may be NULL */
} cs_records;

void cs_records_free(cs_records *recs);

/* One transaction for the whole call, 500 records per statement (a duplicate id inside
 * one 500-batch -> DatabaseError; across batches the later wins). Validates every record
 * (dimension, finite values, JSON metadata) before writing anything. */
int cs_collection_upsert(cs_collection *coll, const cs_record_in *recs, size_t n,
                         cs_error *err);
/* Additive: as cs_collection_upsert, where vector_dims[i] is the number of floats in
 * recs[i].vector, checked against the dimension (DimensionError, in vecs' order); for
 * input parsed from text (CLI, HTTP). vector_dims NULL = all exactly the dimension. */
int cs_collection_upsert_dims(cs_collection *coll, const cs_record_in *recs,
                              const int *vector_dims, size_t n, cs_error *err);
/* Records for the ids that exist (each id at most once); vector and metadata included. */
int cs_collection_fetch(cs_collection *coll, const char *const *ids, size_t n,
                        cs_records *out, cs_error *err);
/* One record or CS_E_NOT_FOUND. */
int cs_collection_get_record(cs_collection *coll, const char *id, cs_records *out,
                             cs_error *err);
/* Deletes; out (may be NULL) receives the ids that existed. */
int cs_collection_delete_ids(cs_collection *coll, const char *const *ids, size_t n,
                             cs_records *out, cs_error *err);
/* filter_json: vecs filter language; "{}" deletes nothing. FilterError before any write. */
int cs_collection_delete_filter(cs_collection *coll, const char *filter_json,
                                cs_records *out, cs_error *err);

typedef struct cs_query {
    const float *vector;       /* required */
    int vector_dim;            /* number of floats in vector (checked against D) */
    int limit;                 /* default 10; > 1000 -> ArgError */
    const char *filter_json;   /* NULL or "{}" = no filter */
    cs_measure measure;        /* default cosine */
    bool include_value, include_metadata, include_vector;
    int probes;                /* default 10; < 1 -> ArgError */
    int ef_search;             /* default 40; outside 1..1000 -> ArgError (documented deviation) */
} cs_query;

void cs_query_init(cs_query *q);
/* Exact (SQLite) or index-assisted (pgvector) top-k in ascending distance. */
int cs_collection_query(cs_collection *coll, const cs_query *q, cs_records *out, cs_error *err);

/* clipsearch extension: every record matching filter_json (NULL = all), in no particular
 * order, with metadata (and vectors if include_vector). Used by the indexer. */
int cs_collection_scan(cs_collection *coll, const char *filter_json, bool include_vector,
                       cs_records *out, cs_error *err);

/* clipsearch extension: what is wrong with a valid filter that would quietly match
 * nothing -- or, for $ne, everything -- in this collection: a key no record has (a typo),
 * a comparison whose operand type the key's values never have ({"mtime":{"$gt":
 * "2024-01-01"}} on numbers: jsonb orders types, not contents), $contains on a key that
 * holds no arrays, $icontains on one that holds no strings. Reads the metadata of up to
 * 1000 records (a sample: a warning, never a refusal). *warning is malloc'd text
 * ("; "-separated), NULL when there is nothing to say. CS_E_FILTER for a filter that
 * does not parse, as cs_collection_query would. */
int cs_collection_filter_warnings(cs_collection *coll, const char *filter_json, char **warning,
                                  cs_error *err);

/* An index argument left to its default. Not 0: like vecs' IndexArgs*, an explicit 0 is
 * passed on, and pgvector (or the SQLite store, which applies its ranges) refuses it. */
#define CS_INDEX_ARG_DEFAULT INT_MIN

typedef struct cs_index_spec {
    cs_index_method method;    /* default auto */
    cs_measure measure;        /* default cosine */
    int m, ef_construction;    /* HNSW, default CS_INDEX_ARG_DEFAULT (16, 64) */
    int n_lists;               /* IVFFlat, default CS_INDEX_ARG_DEFAULT (from the row count) */
    bool replace;              /* default true */
} cs_index_spec;

/* Additive: records and vectors from JSON text, for front ends reading JSON (CLI, HTTP).
 * One record is {"id": "...", "vector": [numbers], "metadata": any} (metadata optional);
 * the metadata text is kept verbatim so numbers stay exact (jansson would round 0.1 and
 * big integers); it is validated by the upsert. NaN/Infinity tokens and numbers beyond
 * float32 become NaN/inf components, which the upsert/query then refuse as vecs does.
 * Shape problems (id not a string, vector not a list of numbers, not JSON): CS_E_ARG. */
typedef struct cs_record_buf {
    char *id;
    float *vector;
    int dim;                   /* number of floats in vector */
    char *metadata_json;       /* NULL when absent */
} cs_record_buf;

int cs_record_parse_json(const char *text, size_t len, cs_record_buf *out, cs_error *err);
void cs_record_buf_free(cs_record_buf *r);
/* A JSON list of numbers -> malloc'd floats. */
int cs_vector_parse_json(const char *text, float **vector, int *dim, cs_error *err);

/* clipsearch extension: the collection's attributes, one JSON object that clipsearch keeps
 * per collection (the model record, see app/model_record.h), stored where Python vecs
 * never looks: on SQLite a column of the catalog, on PostgreSQL the table's comment
 * ("clipsearch:{...}"); dropped with the collection. *json is NULL when there are none
 * (e.g. a collection written by Python vecs). set: json must be a JSON object (ArgError
 * otherwise); NULL clears. */
int cs_collection_get_attrs(cs_collection *coll, char **json, cs_error *err);
int cs_collection_set_attrs(cs_collection *coll, const char *json, cs_error *err);

void cs_index_spec_init(cs_index_spec *spec);
/* On SQLite an HNSW index (method hnsw or auto) is a real index built here, kept up to date
 * with every write (a derived file next to the vector cache, patched from the change log
 * by the next query or cs_collection_refresh_index) and used by queries of its measure with
 * ef_search; IVFFlat is recorded but queries scan exactly. */
int cs_collection_create_index(cs_collection *coll, const cs_index_spec *spec, cs_error *err);
/* Brings a derived index (SQLite's HNSW) up to date with the writes so far and saves it, so
 * that the next query, in any process, does not pay for it. 0 when there is nothing to do
 * (no index, PostgreSQL, which maintains its own). */
int cs_collection_refresh_index(cs_collection *coll, cs_error *err);

/* clipsearch extension (SQLite store): a compressed copy of the vectors that the exact
 * query scans first, re-scoring in float32 only the rows whose error bound leaves them in
 * reach of the top k, so results are exactly those of the float32 scan while the scan
 * reads 2x (fp16) or 4x (int8, one scale per vector) fewer bytes. Recorded per collection
 * in the catalog; the copy itself is derived (built on first use, kept next to the vector
 * cache). PostgreSQL: CS_E_ARG (pgvector keeps vectors itself). */
typedef enum {
    CS_VECTOR_COPY_NONE = 0,
    CS_VECTOR_COPY_FP16,
    CS_VECTOR_COPY_INT8
} cs_vector_copy;
/* "none", "fp16", "int8"; parse: CS_E_ARG for anything else. */
const char *cs_vector_copy_name(cs_vector_copy c);
int cs_vector_copy_parse(const char *name, cs_vector_copy *out, cs_error *err);
int cs_collection_set_vector_copy(cs_collection *coll, cs_vector_copy copy, cs_error *err);
int cs_collection_vector_copy(cs_collection *coll, cs_vector_copy *copy, cs_error *err);

#ifdef __cplusplus
}
#endif
#endif
