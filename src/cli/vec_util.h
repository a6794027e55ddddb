/* Shared by the `vec` sub-commands (cmd_vec*.c): option scanning, opening the store and
 * collection, and JSON-lines output of records. */
#ifndef CS_CLI_VEC_UTIL_H
#define CS_CLI_VEC_UTIL_H

#include <stdbool.h>
#include <stdio.h>

#include "clipsearch/store.h"

typedef struct cs__vec_ctx {
    const char *db;          /* --db value or NULL */
    cs_store *store;
    cs_collection *coll;
    cs_error err;
} cs__vec_ctx;

/* Opens the store named by --db/CLIPSEARCH_DB/default; read_only for the commands that
 * only read (list, describe, fetch, get, query), which create nothing (StoreNotFound when
 * there is no database). */
int vec_open_store(cs__vec_ctx *c, bool read_only);
/* Opens the store and an existing collection (CollectionNotFound otherwise). */
int vec_open_collection(cs__vec_ctx *c, const char *name, bool read_only);
void vec_close(cs__vec_ctx *c);
/* Sets c->err to an ArgError and returns the CLI failure status. */
int vec_arg_error(cs__vec_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vec_fail(cs__vec_ctx *c);
/* Parses an int option value (may be negative); false with c->err set otherwise. */
bool vec_int_opt(cs__vec_ctx *c, const char *opt, const char *s, int *out);

void vec_print_string(FILE *f, const char *s);
void vec_print_vector(FILE *f, const float *v, int dim);
/* {"id":...[,"value":...][,"vector":[...]][,"metadata":...]} (vecs' order) and a newline. */
void vec_print_record(FILE *f, const cs_record *r, bool value, bool metadata, bool vector, int dim);

int vec_cmd_upsert(cs__vec_ctx *c, int argc, char **argv);
int vec_cmd_fetch(cs__vec_ctx *c, int argc, char **argv);
int vec_cmd_get(cs__vec_ctx *c, int argc, char **argv);
int vec_cmd_delete(cs__vec_ctx *c, int argc, char **argv);
int vec_cmd_query(cs__vec_ctx *c, int argc, char **argv);

#endif
