/* The vecs filter tree compiled to PostgreSQL, statement for statement as vecs builds it
 * (spec §7.3), so that jsonb itself decides equality and ordering. Keys and values are
 * always bound parameters; the SQL text holds only operators and parameter numbers. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store/pg_internal.h"

static char *dump_json(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* The operand's exact text from the parser (0.1 stays 0.1, 2^53+1 stays exact; jansson's
 * dump would print 0.10000000000000001, which jsonb compares as a different number). */
static char *operand(const cs__filter *f)
{
    return f->value_json ? strdup(f->value_json) : dump_json(f->value);
}

/* "(metadata -> $k::text)" */
static void field(cs__pg_sql *s, const char *key)
{
    cs__pg_sql_add(s, "(metadata -> ");
    cs__pg_sql_param(s, key, "::text)");
}

static void compare(cs__pg_sql *s, const cs__filter *f, const char *op)
{
    char *v = operand(f);
    if (!v) s->oom = true;
    cs__pg_sql_add(s, "(");
    field(s, f->key);
    cs__pg_sql_addf(s, " %s ", op);
    cs__pg_sql_param_own(s, v, "::jsonb)");
}

static void cmp_sql(cs__pg_sql *s, const cs__filter *f)
{
    switch (f->op) {
    case CS_OP_EQ:
        if (json_is_number(f->value) || json_is_boolean(f->value) || json_is_null(f->value)) {
            /* vecs: metadata @> {"key": value}, the form a GIN index could serve; the
             * object is built by the server so that key and value stay parameters. */
            char *v = operand(f);
            if (!v) s->oom = true;
            cs__pg_sql_add(s, "(metadata @> jsonb_build_object(");
            cs__pg_sql_param(s, f->key, "::text, ");
            cs__pg_sql_param_own(s, v, "::jsonb))");
        } else {
            compare(s, f, "=");
        }
        break;
    case CS_OP_NE: compare(s, f, "<>"); break;
    case CS_OP_GT: compare(s, f, ">"); break;
    case CS_OP_GTE: compare(s, f, ">="); break;
    case CS_OP_LT: compare(s, f, "<"); break;
    case CS_OP_LTE: compare(s, f, "<="); break;
    case CS_OP_IN: {
        size_t n = f->elem_json ? f->n_elems : json_array_size(f->value);
        if (n == 0) {   /* IN of nothing: matches nothing */
            cs__pg_sql_add(s, "false");
            break;
        }
        cs__pg_sql_add(s, "(");
        field(s, f->key);
        cs__pg_sql_add(s, " IN (");
        for (size_t i = 0; i < n; i++) {
            char *v = f->elem_json && i < f->n_elems ? strdup(f->elem_json[i])
                                                     : dump_json(json_array_get(f->value, i));
            if (!v) s->oom = true;
            cs__pg_sql_param_own(s, v, i + 1 < n ? "::jsonb, " : "::jsonb))");
        }
        break;
    }
    case CS_OP_CONTAINS: {
        /* v @> scalar is true for an array holding the scalar and for the equal scalar
         * itself; the jsonb_typeof test keeps only arrays, as vecs does. */
        char *v = operand(f);
        if (!v) s->oom = true;
        cs__pg_sql_add(s, "(");
        field(s, f->key);
        cs__pg_sql_add(s, " @> ");
        cs__pg_sql_param_own(s, v, "::jsonb AND jsonb_typeof");
        field(s, f->key);
        cs__pg_sql_add(s, " = 'array')");
        break;
    }
    case CS_OP_ICONTAINS: {
        /* COLLATE "C": lower() folds ASCII only, as the C evaluator does, whatever the
         * server's locale; strpos, not LIKE, so % and _ in the text are plain characters. */
        const char *text = json_string_value(f->value);
        char *v = strdup(text ? text : "");
        if (!v) s->oom = true;
        cs__pg_sql_add(s, "(jsonb_typeof");
        field(s, f->key);
        cs__pg_sql_add(s, " = 'string' AND strpos(lower((metadata ->> ");
        cs__pg_sql_param(s, f->key, "::text) COLLATE \"C\"), lower(");
        cs__pg_sql_param_own(s, v, "::text COLLATE \"C\")) > 0)");
        break;
    }
    }
}

void cs__pg_filter_sql(cs__pg_sql *s, const cs__filter *f)
{
    if (f->kind == CS_FILTER_CMP) {
        cmp_sql(s, f);
        return;
    }
    if (f->n_children == 0) {   /* the parser refuses empty lists; be safe: match nothing */
        cs__pg_sql_add(s, "false");
        return;
    }
    cs__pg_sql_add(s, "(");
    for (size_t i = 0; i < f->n_children; i++) {
        if (i) cs__pg_sql_add(s, f->kind == CS_FILTER_AND ? " AND " : " OR ");
        cs__pg_filter_sql(s, f->children[i]);
    }
    cs__pg_sql_add(s, ")");
}
