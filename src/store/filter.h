/* The vecs filter language (spec §7), parsed once into a validated tree. Each backend
 * compiles the tree to parameterised SQL: values are always bound, never pasted. */
#ifndef CS_STORE_FILTER_H
#define CS_STORE_FILTER_H

#include <jansson.h>
#include <stddef.h>

#include "clipsearch/error.h"

typedef enum { CS_FILTER_AND, CS_FILTER_OR, CS_FILTER_CMP } cs__filter_kind;

typedef enum {
    CS_OP_EQ, CS_OP_NE, CS_OP_GT, CS_OP_GTE, CS_OP_LT, CS_OP_LTE, CS_OP_IN, CS_OP_CONTAINS,
    /* clipsearch extension (not vecs): a string value containing the operand, ASCII
     * letters compared case-insensitively (what `search --name` asks for). */
    CS_OP_ICONTAINS
} cs__filter_op;

typedef struct cs__filter {
    cs__filter_kind kind;
    /* AND / OR: children (never empty: an empty list is a FilterError, a documented
     * deviation from vecs which would match or delete everything). */
    struct cs__filter **children;
    size_t n_children;
    /* CMP: literal top-level metadata key, operator and operand (owned reference).
     * $in: a JSON array of scalars; $contains: a scalar; $icontains: a string; others:
     * any JSON value. */
    char *key;
    cs__filter_op op;
    json_t *value;
    /* Additive: the operand as exact compact JSON text (numbers kept as PostgreSQL numeric
     * text, so 0.1 and 9007199254740993 stay exact; keys in jsonb order). Bind this
     * rather than json_dumps(value), which prints 0.1 as 0.10000000000000001. */
    char *value_json;
    /* $in only: the exact text of each element (n_elems entries). */
    char **elem_json;
    size_t n_elems;
} cs__filter;

/* Parses and validates filter JSON text. *out is NULL for "no filter" ({} / null / []).
 * Every rejection is CS_E_FILTER with a message naming the problem. */
int cs__filter_parse(const char *json_text, cs__filter **out, cs_error *err);
void cs__filter_free(cs__filter *f);
const char *cs__filter_op_name(cs__filter_op op);   /* "$eq" ... */

#endif
