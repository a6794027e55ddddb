/* Private to the PostgreSQL backend (pg_*.c): the connection object, statement helpers,
 * a growable SQL text buffer with bound parameters, and vector text encoding. */
#ifndef CS_STORE_PG_INTERNAL_H
#define CS_STORE_PG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "store/backend.h"

typedef struct cs__pg {
    cs__backend base;
    PGconn *conn;
    char *masked_url;      /* the URL with its password replaced by "***", for messages */
    char *version;         /* pgvector installed_version */
    bool hnsw;             /* spec §1.1 version rule */
    bool iterative;        /* pgvector >= 0.8: iterative index scans (pg_query.c) */
} cs__pg;

/* SQL under construction: text plus the values bound to $1..$n (never pasted into SQL). */
typedef struct cs__pg_sql {
    char *text;
    size_t len, cap;
    char **params;
    int n_params, cap_params;
    bool oom;              /* set by any failed append; reported once by cs__pg_sql_check */
} cs__pg_sql;

void cs__pg_sql_init(cs__pg_sql *s);
void cs__pg_sql_free(cs__pg_sql *s);
void cs__pg_sql_add(cs__pg_sql *s, const char *text);
void cs__pg_sql_addf(cs__pg_sql *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `"name"` quoted as an identifier (doubling any '"'). */
void cs__pg_sql_ident(cs__pg_sql *s, const char *name);
/* Appends vecs."<table>". */
void cs__pg_sql_table(cs__pg_sql *s, const char *table);
/* Binds value (copied; NULL binds SQL NULL) and appends "$<n>" followed by suffix (e.g. "::jsonb"). */
void cs__pg_sql_param(cs__pg_sql *s, const char *value, const char *suffix);
/* Binds value (malloc'd, owned from now on) without appending text; returns its number
 * (0 after out of memory). */
int cs__pg_sql_bind(cs__pg_sql *s, char *value);
/* Takes ownership of value (malloc'd). */
void cs__pg_sql_param_own(cs__pg_sql *s, char *value, const char *suffix);
int cs__pg_sql_check(const cs__pg_sql *s, cs_error *err);

/* Runs one statement; *res (may be NULL to discard) receives the result on success.
 * A server refusal is CS_E_DATABASE with the server's message. */
int cs__pg_exec(cs__pg *pg, const char *sql, int n_params, const char *const *params,
               PGresult **res, cs_error *err);
int cs__pg_run(cs__pg *pg, const cs__pg_sql *s, PGresult **res, cs_error *err);
int cs__pg_begin(cs__pg *pg, cs_error *err);
/* Ends the transaction begun by cs__pg_begin: COMMIT when rc == 0, else ROLLBACK (keeping
 * the first error). Returns the final status. */
int cs__pg_end(cs__pg *pg, int rc, cs_error *err);

/* "[x1,x2,...]" with %.9g, exact for float32. NULL on out of memory. */
char *cs__pg_vector_text(const float *v, int dim);
/* Parses pgvector's text form; dim > 0 requires exactly dim values. */
int cs__pg_vector_parse(const char *text, int dim, float **out, cs_error *err);

/* Copies url with the password (user:PASSWORD@ and password=... in the query) masked. */
char *cs__pg_mask_url(const char *url);

/* Appends one record (fields copied; NULL stays NULL). */
int cs__pg_records_push(cs_records *out, const char *id, float *vector_owned,
                       const char *metadata, double value, cs_error *err);

/* Name of the recognised vector index (spec §1.4) or NULL; inside or outside a transaction. */
int cs__pg_find_index(cs__pg *pg, const char *table, char **index_name, cs_error *err);

/* Appends the WHERE condition for filter (spec §7.3), values bound as parameters. */
void cs__pg_filter_sql(cs__pg_sql *s, const cs__filter *f);

const char *cs__pg_measure_operator(cs_measure m);
const char *cs__pg_measure_opclass(cs_measure m);

/* Backend operations implemented in the other pg_*.c files. */
int cs__pg_list(cs__backend *b, cs_collection_info **out, size_t *n, cs_error *err);
int cs__pg_lookup(cs__backend *b, const char *name, int *dimension, bool *found, cs_error *err);
int cs__pg_create(cs__backend *b, const char *name, int dimension, cs_error *err);
int cs__pg_drop(cs__backend *b, const char *name, cs_error *err);
int cs__pg_count(cs__backend *b, const char *name, int64_t *count, cs_error *err);
int cs__pg_index_name(cs__backend *b, const char *name, char **index_name, cs_error *err);
int cs__pg_upsert(cs__backend *b, const char *name, int dim, const cs_record_in *recs, size_t n,
                 cs_error *err);
int cs__pg_fetch(cs__backend *b, const char *name, int dim, const char *const *ids, size_t n,
                cs_records *out, cs_error *err);
int cs__pg_delete_ids(cs__backend *b, const char *name, const char *const *ids, size_t n,
                     cs_records *out, cs_error *err);
int cs__pg_delete_filter(cs__backend *b, const char *name, const cs__filter *filter,
                        cs_records *out, cs_error *err);
int cs__pg_query(cs__backend *b, const char *name, int dim, const cs_query *q,
                const cs__filter *filter, cs_records *out, cs_error *err);
int cs__pg_scan(cs__backend *b, const char *name, int dim, const cs__filter *filter,
               bool include_vector, size_t limit, cs_records *out, cs_error *err);
int cs__pg_create_index(cs__backend *b, const char *name, const cs_index_spec *spec,
                       cs_error *err);
int cs__pg_get_attrs(cs__backend *b, const char *name, char **json, cs_error *err);
int cs__pg_set_attrs(cs__backend *b, const char *name, const char *json, cs_error *err);

#endif
