/* vecs filter language (spec §7): JSON text -> validated cs__filter tree, with vecs'
 * FilterError checks in vecs' order (depth-first, §7.2) and the documented deviations
 * (README "vecs compatibility notes"): empty $and/$or lists, a field mapped to a
 * non-operator value or to an empty operator object, and an empty condition {} inside
 * $and/$or are FilterErrors instead of silently matching everything or nothing. */
#include "store/filter.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/jval.h"

static const char *const OP_NAMES[] = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$contains",
                                          "$icontains"};

const char *cs__filter_op_name(cs__filter_op op)
{
    return (unsigned)op < sizeof OP_NAMES / sizeof OP_NAMES[0] ? OP_NAMES[op] : "?";
}

void cs__filter_free(cs__filter *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n_children; i++) cs__filter_free(f->children[i]);
    free(f->children);
    free(f->key);
    json_decref(f->value);
    free(f->value_json);
    for (size_t i = 0; i < f->n_elems; i++) free(f->elem_json[i]);
    free(f->elem_json);
    free(f);
}

static json_t *to_jansson(const cs__jv *v)
{
    switch (v->type) {
    case JV_NULL: return json_null();
    case JV_BOOL: return json_boolean(v->b);
    case JV_STRING: return json_stringn(v->s, v->len);
    case JV_NUMBER: {
        if (!memchr(v->s, '.', v->len)) {
            errno = 0;
            char *end;
            long long i = strtoll(v->s, &end, 10);
            if (!errno && *end == '\0') return json_integer((json_int_t)i);
        }
        double d = strtod(v->s, NULL);
        /* NaN / overflow only occur in a lenient tree that is about to be refused. */
        return isfinite(d) ? json_real(d) : json_null();
    }
    case JV_ARRAY: {
        json_t *a = json_array();
        for (size_t i = 0; a && i < v->n; i++)
            if (json_array_append_new(a, to_jansson(&v->items[i]))) {
                json_decref(a);
                return NULL;
            }
        return a;
    }
    case JV_OBJECT: {
        json_t *o = json_object();
        for (size_t i = 0; o && i < v->n; i++)
            if (json_object_setn_new(o, v->items[2 * i].s, v->items[2 * i].len,
                                     to_jansson(&v->items[2 * i + 1]))) {
                json_decref(o);
                return NULL;
            }
        return o;
    }
    }
    return NULL;
}

static bool is_scalar(const cs__jv *v)
{
    return v->type == JV_STRING || v->type == JV_NUMBER || v->type == JV_BOOL;
}

static bool key_is(const cs__jv *k, const char *s)
{
    return k->len == strlen(s) && !memcmp(k->s, s, k->len);
}

static int nomem(cs_error *err)
{
    return cs_error_set(err, CS_E_NOMEM, "out of memory parsing filter");
}

static int build(const cs__jv *v, cs__filter **out, cs_error *err);

static int build_logic(const cs__jv *key, const cs__jv *list, cs__filter **out, cs_error *err)
{
    if (list->type != JV_ARRAY)
        return cs_error_set(err, CS_E_FILTER,
                            "$and/$or filters must have associated list of conditions");
    if (list->n == 0)   /* deviation: vecs would match (or delete) every record */
        return cs_error_set(err, CS_E_FILTER,
                            "%.*s needs at least one condition (an empty list would match every record)",
                            (int)key->len, key->s);
    cs__filter *f = calloc(1, sizeof *f);
    if (!f || !(f->children = calloc(list->n, sizeof *f->children))) {
        free(f);
        return nomem(err);
    }
    f->kind = key_is(key, "$and") ? CS_FILTER_AND : CS_FILTER_OR;
    for (size_t i = 0; i < list->n; i++) {
        int rc = build(&list->items[i], &f->children[i], err);
        if (rc) {
            cs__filter_free(f);
            return rc;
        }
        f->n_children++;
    }
    *out = f;
    return 0;
}

static int build_cmp(const cs__jv *key, const cs__jv *opobj, cs__filter **out, cs_error *err)
{
    if (opobj->type != JV_OBJECT)   /* deviation: vecs compiles this to NULL */
        return cs_error_set(err, CS_E_FILTER,
                            "field '%.*s' must map to an operator object such as {\"$eq\": value}",
                            (int)key->len, key->s);
    if (opobj->n > 1) return cs_error_set(err, CS_E_FILTER, "only one operator permitted");
    if (opobj->n == 0)
        return cs_error_set(err, CS_E_FILTER, "field '%.*s' has an empty operator object",
                            (int)key->len, key->s);
    const cs__jv *opk = &opobj->items[0], *val = &opobj->items[1];
    int op = -1;
    for (int i = 0; i < (int)(sizeof OP_NAMES / sizeof OP_NAMES[0]); i++)
        if (key_is(opk, OP_NAMES[i])) op = i;
    if (op < 0)
        return cs_error_set(err, CS_E_FILTER, "unknown operator '%.*s'", (int)opk->len, opk->s);
    if (op == CS_OP_IN) {
        if (val->type != JV_ARRAY)
            return cs_error_set(err, CS_E_FILTER, "argument to $in filter must be a list");
        for (size_t i = 0; i < val->n; i++)
            if (!is_scalar(&val->items[i]))
                return cs_error_set(err, CS_E_FILTER,
                                    "argument to $in filter must be a list of scalars");
    }
    if (op == CS_OP_CONTAINS && !is_scalar(val))
        return cs_error_set(err, CS_E_FILTER, "argument to $contains filter must be a scalar");
    if (op == CS_OP_ICONTAINS && val->type != JV_STRING)
        return cs_error_set(err, CS_E_FILTER, "argument to $icontains filter must be a string");
    cs__filter *f = calloc(1, sizeof *f);
    if (!f) return nomem(err);
    f->kind = CS_FILTER_CMP;
    f->op = (cs__filter_op)op;
    f->key = malloc(key->len + 1);
    f->value = to_jansson(val);
    f->value_json = cs__jv_serialize(val, NULL);
    if (!f->key || !f->value || !f->value_json) {
        cs__filter_free(f);
        return nomem(err);
    }
    memcpy(f->key, key->s, key->len);
    f->key[key->len] = '\0';
    if (op == CS_OP_IN && val->n) {
        if (!(f->elem_json = calloc(val->n, sizeof *f->elem_json))) {
            cs__filter_free(f);
            return nomem(err);
        }
        for (size_t i = 0; i < val->n; i++) {
            if (!(f->elem_json[i] = cs__jv_serialize(&val->items[i], NULL))) {
                cs__filter_free(f);
                return nomem(err);
            }
            f->n_elems++;
        }
    }
    *out = f;
    return 0;
}

static int build(const cs__jv *v, cs__filter **out, cs_error *err)
{
    *out = NULL;
    if (v->type != JV_OBJECT) return cs_error_set(err, CS_E_FILTER, "filters must be a dict");
    if (v->n > 1) return cs_error_set(err, CS_E_FILTER, "max 1 entry per filter");
    if (v->n == 0)   /* deviation: vecs compiles an empty condition to NULL */
        return cs_error_set(err, CS_E_FILTER, "empty condition {} inside $and/$or");
    const cs__jv *key = &v->items[0], *val = &v->items[1];
    if (key_is(key, "$and") || key_is(key, "$or")) return build_logic(key, val, out, err);
    return build_cmp(key, val, out, err);
}

/* Python truthiness: None, False, 0, "", [], {} all mean "no filter" (spec §6 step 7). */
static bool falsy(const cs__jv *v)
{
    switch (v->type) {
    case JV_NULL: return true;
    case JV_BOOL: return !v->b;
    case JV_STRING: return v->len == 0;
    case JV_NUMBER: return strspn(v->s, "-0.") == v->len;
    case JV_ARRAY:
    case JV_OBJECT: return v->n == 0;
    }
    return false;
}

int cs__filter_parse(const char *json_text, cs__filter **out, cs_error *err)
{
    *out = NULL;
    if (!json_text) return 0;
    cs__jv root;
    cs__jv_error je;
    int rc = cs__jv_parse(json_text, strlen(json_text), true, &root, &je);
    if (rc == JV_ERR_NOMEM) return nomem(err);
    if (rc == JV_ERR_SYNTAX)
        return cs_error_set(err, CS_E_FILTER, "filter is not valid JSON: %s", je.msg);
    /* With a value error the tree is only a shape: let the shape checks speak first. */
    if (je.status == JV_OK && falsy(&root)) {
        cs__jv_free(&root);
        return 0;
    }
    rc = build(&root, out, err);
    cs__jv_free(&root);
    if (rc) return rc;
    if (je.status == JV_ERR_VALUE) {
        /* What the server would refuse when the filter's values reach it (NaN, U+0000). */
        cs__filter_free(*out);
        *out = NULL;
        return cs_error_set(err, CS_E_DATABASE, "invalid filter value: %s", je.msg);
    }
    return 0;
}
