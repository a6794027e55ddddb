/* Filter comparisons that can match nothing for a reason the user did not mean. jsonb
 * compares values of different types by type rank, never by content, so
 * {"mtime":{"$gt":"2024-01-01"}} on numeric mtimes is true for every record (numbers rank
 * above strings; $lt false for every one, $eq nothing, $ne everything): the query runs,
 * and quietly answers something else. The check
 * samples the stored values of each key the filter names and reports comparisons whose
 * operand type none of them has, and keys no sampled record has (a typo). It warns and
 * never refuses: a sample can miss the one record that would match. */
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/filter.h"
#include "store/store_internal.h"

/* Records whose metadata is read: enough to see every type a key takes in a collection
 * that one program wrote, cheap enough to pay on every filtered query (~1 ms). */
#define CHECK_SAMPLE 1000

enum { T_NULL = 1, T_BOOL = 2, T_NUMBER = 4, T_STRING = 8, T_ARRAY = 16, T_OBJECT = 32 };

static unsigned type_bit(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL: return T_NULL;
    case JSON_TRUE:
    case JSON_FALSE: return T_BOOL;
    case JSON_INTEGER:
    case JSON_REAL: return T_NUMBER;
    case JSON_STRING: return T_STRING;
    case JSON_ARRAY: return T_ARRAY;
    default: return T_OBJECT;
    }
}

/* jsonb's order between types: null < string < number < boolean < array < object. */
static int type_rank(unsigned bit)
{
    switch (bit) {
    case T_NULL: return 0;
    case T_STRING: return 1;
    case T_NUMBER: return 2;
    case T_BOOL: return 3;
    case T_ARRAY: return 4;
    default: return 5;
    }
}

/* What a range comparison with an operand of another type does: every stored type ranks
 * above the operand's (or every one below), or some each way. */
static const char *range_outcome(cs__filter_op op, unsigned have, unsigned want)
{
    int above = 0, below = 0, r = type_rank(want);
    for (unsigned bit = 1; bit <= T_OBJECT; bit <<= 1)
        if (have & bit) {
            if (type_rank(bit) > r) above++;
            else below++;
        }
    bool greater = op == CS_OP_GT || op == CS_OP_GTE;
    if (!below) return greater ? "every record that has it" : "nothing";
    if (!above) return greater ? "nothing" : "every record that has it";
    return "by type alone";
}

static const char *type_names(unsigned t, char *buf, size_t size)
{
    static const char *const names[] = {"nulls", "booleans", "numbers", "strings", "arrays",
                                        "objects"};
    buf[0] = '\0';
    for (int i = 0; i < 6; i++) {
        if (!(t & (1u << i))) continue;
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", len ? " and " : "", names[i]);
    }
    return buf;
}

typedef struct {
    json_t **metas;         /* the sampled records' metadata (NULL entries skipped) */
    size_t n;
    char *text;             /* warnings so far, "; "-separated */
    size_t len;
    int oom;
} checker;

static void warn(checker *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->text && strstr(c->text, msg)) return;   /* the same key twice in one filter */
    size_t add = strlen(msg) + 2;
    char *t = realloc(c->text, c->len + add + 1);
    if (!t) {
        c->oom = 1;
        return;
    }
    c->text = t;
    c->len += (size_t)sprintf(c->text + c->len, "%s%s", c->len ? "; " : "", msg);
}

/* The types the sampled records hold under key (0: no record has it). */
static unsigned key_types(const checker *c, const char *key)
{
    unsigned t = 0;
    for (size_t i = 0; i < c->n; i++) {
        json_t *v = c->metas[i] ? json_object_get(c->metas[i], key) : NULL;
        if (v) t |= type_bit(v);
    }
    return t;
}

static void check_node(checker *c, const cs__filter *f)
{
    if (f->kind != CS_FILTER_CMP) {
        for (size_t i = 0; i < f->n_children; i++) check_node(c, f->children[i]);
        return;
    }
    unsigned have = key_types(c, f->key);
    char hb[96], wb[96];
    if (!have) {
        warn(c, "no record among the %zu sampled has the metadata key '%.100s' (a typo?): "
                "'%s' on it matches nothing", c->n, f->key, cs__filter_op_name(f->op));
        return;
    }
    unsigned want = 0;
    switch (f->op) {
    case CS_OP_IN:
        for (size_t i = 0; i < json_array_size(f->value); i++)
            want |= type_bit(json_array_get(f->value, i));
        break;
    case CS_OP_CONTAINS: want = T_ARRAY; break;
    case CS_OP_ICONTAINS: want = T_STRING; break;
    default: want = type_bit(f->value); break;
    }
    if (want & have) return;
    if (f->op == CS_OP_CONTAINS)
        warn(c, "'%.100s' holds %s, not arrays: $contains tests array membership and matches "
                "nothing here", f->key, type_names(have, hb, sizeof hb));
    else if (f->op == CS_OP_NE)
        warn(c, "'%.100s' holds %s but is compared with %s: $ne is true for every record "
                "that has it", f->key, type_names(have, hb, sizeof hb),
             type_names(want, wb, sizeof wb));
    else if (f->op == CS_OP_GT || f->op == CS_OP_GTE || f->op == CS_OP_LT || f->op == CS_OP_LTE)
        warn(c, "'%.100s' holds %s but is compared with %s: '%s' matches %s (jsonb orders "
                "values of different types by type, not by content)",
             f->key, type_names(have, hb, sizeof hb), type_names(want, wb, sizeof wb),
             cs__filter_op_name(f->op), range_outcome(f->op, have, want));
    else
        warn(c, "'%.100s' holds %s but is compared with %s: '%s' matches nothing",
             f->key, type_names(have, hb, sizeof hb), type_names(want, wb, sizeof wb),
             cs__filter_op_name(f->op));
}

int cs_collection_filter_warnings(cs_collection *coll, const char *filter_json, char **warning,
                                  cs_error *err)
{
    *warning = NULL;
    cs__filter *f = NULL;
    int rc = cs__filter_parse(filter_json, &f, err);
    if (rc || !f) return rc;
    cs_records recs;
    cs__records_init(&recs);
    cs__backend *b = coll->store->backend;
    rc = b->ops->scan(b, coll->name, coll->dim, NULL, false, CHECK_SAMPLE, &recs, err);
    checker c = {0};
    if (!rc && recs.n && !(c.metas = calloc(recs.n, sizeof *c.metas)))
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < recs.n; i++)
        if (recs.items[i].metadata_json)
            c.metas[c.n++] = json_loads(recs.items[i].metadata_json, 0, NULL);
    if (!rc && c.n) check_node(&c, f);
    for (size_t i = 0; i < c.n; i++) json_decref(c.metas[i]);
    free(c.metas);
    cs_records_free(&recs);
    cs__filter_free(f);
    if (!rc && c.oom) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    if (rc) free(c.text);
    else *warning = c.text;
    return rc;
}
