/* Evaluating a parsed filter (filter.h) in C against metadata JSON text, with PostgreSQL's
 * jsonb semantics and SQL three-valued logic (spec §7.3-7.5). Used by the SQLite backend,
 * both inside its SQL function and over its in-memory copy of a collection. */
#ifndef CS_STORE_FILTER_EVAL_H
#define CS_STORE_FILTER_EVAL_H

#include <stddef.h>

#include "store/filter.h"
#include "store/jval.h"

/* `v <op> operand` for a present value v: 1 true, 0 false. */
int cs__jsonb_op(cs__filter_op op, const cs__jv *v, const cs__jv *operand);

typedef struct cs__filter_eval cs__filter_eval;

/* Prepares f (operands parsed once). */
int cs__filter_eval_new(const cs__filter *f, cs__filter_eval **out, cs_error *err);
void cs__filter_eval_free(cs__filter_eval *e);
/* 1 = matches, 0 = false, -1 = unknown (SQL NULL: behaves as no match), -2 = the metadata
 * text is not valid JSON, -3 = out of memory parsing it. meta must be normalised (cs__metadata_normalize: unique keys),
 * as every stored metadata is. Thread-safe: e is only read. */
int cs__filter_eval_text(const cs__filter_eval *e, const char *meta, size_t len);

#endif
