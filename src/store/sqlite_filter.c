/* Filters on SQLite with PostgreSQL jsonb semantics (spec §7.3-7.5). A filter compiles to
 * SQL calls of one C function, cs_jsonb_match(metadata, key, op, operand), that reads
 * `metadata -> key` and compares it with the bound operand using jval.c's jsonb rules;
 * keys and operands are always bound parameters, never pasted into the SQL.
 * The function returns NULL when the key is missing or metadata is not an object (SQL
 * NULL of `metadata -> key`), so AND/OR get PostgreSQL's three-valued logic for free. */
#include "store/sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/filter_eval.h"
#include "store/jval.h"

static void free_jv(void *p)
{
    cs__jv_free(p);
    free(p);
}

static void fn_match(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *meta = (const char *)sqlite3_value_text(argv[0]);
    int mlen = sqlite3_value_bytes(argv[0]);
    const char *key = (const char *)sqlite3_value_text(argv[1]);
    int klen = sqlite3_value_bytes(argv[1]);
    int op = sqlite3_value_int(argv[2]);
    if (!meta || !key) return;   /* NULL */
    /* The operand is the same for every row: parse it once per statement. */
    cs__jv *operand = sqlite3_get_auxdata(ctx, 3);
    if (!operand) {
        const char *t = (const char *)sqlite3_value_text(argv[3]);
        if (!t) return;
        operand = malloc(sizeof *operand);
        if (!operand) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
        int prc = cs__jv_parse(t, (size_t)sqlite3_value_bytes(argv[3]), false, operand, NULL);
        if (prc) {
            free(operand);
            if (prc == JV_ERR_NOMEM) sqlite3_result_error_nomem(ctx);
            else sqlite3_result_error(ctx, "cs_jsonb_match: invalid operand", -1);
            return;
        }
        sqlite3_set_auxdata(ctx, 3, operand, free_jv);
        operand = sqlite3_get_auxdata(ctx, 3);
        if (!operand) {   /* SQLite may free it at once (e.g. OOM); parse again per row */
            sqlite3_result_error(ctx, "cs_jsonb_match: cannot cache operand", -1);
            return;
        }
    }
    const char *vs;
    size_t vl;
    int f = cs__jv_text_find_key_unique(meta, (size_t)mlen, key, (size_t)klen, &vs, &vl);
    if (f < 0) {
        sqlite3_result_error(ctx, "stored metadata is not valid JSON", -1);
        return;
    }
    if (f == 0) return;   /* missing key / not an object: NULL */
    cs__jv v;
    int prc = cs__jv_parse(vs, vl, false, &v, NULL);
    if (prc == JV_ERR_NOMEM) {   /* not the data's fault: SQLite reports SQLITE_NOMEM */
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (prc) {
        sqlite3_result_error(ctx, "stored metadata is not valid JSON", -1);
        return;
    }
    int res = cs__jsonb_op((cs__filter_op)op, &v, operand);
    cs__jv_free(&v);
    sqlite3_result_int(ctx, res);
}

int cs__sq_register_functions(sqlite3 *db)
{
    return sqlite3_create_function_v2(db, "cs_jsonb_match", 4,
                                      SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
                                      NULL, fn_match, NULL, NULL, NULL);
}

void cs__sq_sql_add(cs__sq_sql *s, const char *text)
{
    if (s->oom) return;
    size_t n = strlen(text);
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->len + n + 1) cap *= 2;
        char *p = realloc(s->sql, cap);
        if (!p) {
            s->oom = true;
            return;
        }
        s->sql = p;
        s->cap = cap;
    }
    memcpy(s->sql + s->len, text, n + 1);
    s->len += n;
}

static int add_param(cs__sq_sql *s, const char *text)
{
    if (s->oom) return 0;
    if (s->nparams == s->cap_params) {
        size_t cap = s->cap_params ? 2 * s->cap_params : 16;
        const char **p = realloc(s->params, cap * sizeof *p);
        if (!p) {
            s->oom = true;
            return 0;
        }
        s->params = p;
        s->cap_params = cap;
    }
    s->params[s->nparams++] = text;
    return (int)s->nparams;
}

void cs__sq_sql_filter(cs__sq_sql *s, const cs__filter *f)
{
    char buf[96];
    if (f->kind == CS_FILTER_CMP) {
        /* Parameter numbers are relative; cs__sq_sql_bind offsets them (?NNN + first - 1). */
        int k = add_param(s, f->key), v = add_param(s, f->value_json);
        snprintf(buf, sizeof buf, "cs_jsonb_match(metadata, ?%d, %d, ?%d)", k + 1000, (int)f->op,
                 v + 1000);
        cs__sq_sql_add(s, buf);
        return;
    }
    cs__sq_sql_add(s, "(");
    for (size_t i = 0; i < f->n_children; i++) {
        if (i) cs__sq_sql_add(s, f->kind == CS_FILTER_AND ? " AND " : " OR ");
        cs__sq_sql_filter(s, f->children[i]);
    }
    cs__sq_sql_add(s, ")");
}

void cs__sq_sql_free(cs__sq_sql *s)
{
    free(s->sql);
    free(s->params);
    memset(s, 0, sizeof *s);
}

int cs__sq_sql_bind(cs__sq_backend *b, sqlite3_stmt *st, const cs__sq_sql *s, int first, cs_error *err)
{
    (void)b;
    (void)first;
    for (size_t i = 0; i < s->nparams; i++) {
        char name[16];
        snprintf(name, sizeof name, "?%zu", i + 1 + 1000);
        int idx = sqlite3_bind_parameter_index(st, name);
        if (idx <= 0) return cs_error_set(err, CS_E_INTERNAL, "filter parameter %s missing", name);
        if (sqlite3_bind_text(st, idx, s->params[i], -1, SQLITE_STATIC) != SQLITE_OK)
            return cs_error_set(err, CS_E_INTERNAL, "cannot bind filter parameter %s", name);
    }
    return 0;
}
