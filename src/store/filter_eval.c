/* Filter evaluation in C (see filter_eval.h). */
#include "store/filter_eval.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct cs__filter_eval {
    cs__filter_kind kind;
    cs__filter_op op;
    const char *key;          /* borrowed from the cs__filter */
    size_t klen;
    cs__jv operand;
    struct cs__filter_eval *children;
    size_t n;
};

static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Whether s holds sub, ASCII letters case-insensitively and every other byte exactly:
 * what PostgreSQL's lower(... COLLATE "C") gives, whatever the server's locale. */
static bool ascii_icontains(const char *s, size_t n, const char *sub, size_t m)
{
    if (m > n) return false;
    for (size_t i = 0; i + m <= n; i++) {
        size_t j = 0;
        while (j < m && ascii_lower((unsigned char)s[i + j]) == ascii_lower((unsigned char)sub[j])) j++;
        if (j == m) return true;
    }
    return false;
}

int cs__jsonb_op(cs__filter_op op, const cs__jv *v, const cs__jv *operand)
{
    switch (op) {
    case CS_OP_EQ: return cs__jv_cmp(v, operand) == 0;
    case CS_OP_NE: return cs__jv_cmp(v, operand) != 0;
    case CS_OP_GT: return cs__jv_cmp(v, operand) > 0;
    case CS_OP_GTE: return cs__jv_cmp(v, operand) >= 0;
    case CS_OP_LT: return cs__jv_cmp(v, operand) < 0;
    case CS_OP_LTE: return cs__jv_cmp(v, operand) <= 0;
    case CS_OP_IN:
        for (size_t i = 0; operand->type == JV_ARRAY && i < operand->n; i++)
            if (cs__jv_cmp(v, &operand->items[i]) == 0) return 1;
        return 0;
    case CS_OP_CONTAINS: return cs__jv_array_has_scalar(v, operand);
    case CS_OP_ICONTAINS:
        return v->type == JV_STRING && operand->type == JV_STRING &&
               ascii_icontains(v->s, v->len, operand->s, operand->len);
    }
    return 0;
}

static void clear(cs__filter_eval *e)
{
    for (size_t i = 0; i < e->n; i++) clear(&e->children[i]);
    free(e->children);
    cs__jv_free(&e->operand);
}

static int build(const cs__filter *f, cs__filter_eval *e, cs_error *err)
{
    memset(e, 0, sizeof *e);
    e->kind = f->kind;
    if (f->kind == CS_FILTER_CMP) {
        e->op = f->op;
        e->key = f->key;
        e->klen = strlen(f->key);
        /* The operand was validated when the filter was parsed: only memory can fail. */
        int st = cs__jv_parse(f->value_json, strlen(f->value_json), false, &e->operand, NULL);
        if (st == JV_ERR_NOMEM) return cs_error_set(err, CS_E_NOMEM, "out of memory");
        if (st) return cs_error_set(err, CS_E_INTERNAL, "filter operand is not valid JSON");
        return 0;
    }
    if (!(e->children = calloc(f->n_children ? f->n_children : 1, sizeof *e->children)))
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    for (size_t i = 0; i < f->n_children; i++) {
        int rc = build(f->children[i], &e->children[i], err);
        e->n = i + 1;
        if (rc) return rc;
    }
    return 0;
}

int cs__filter_eval_new(const cs__filter *f, cs__filter_eval **out, cs_error *err)
{
    *out = NULL;
    cs__filter_eval *e = malloc(sizeof *e);
    if (!e) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    int rc = build(f, e, err);
    if (rc) {
        clear(e);
        free(e);
        return rc;
    }
    *out = e;
    return 0;
}

void cs__filter_eval_free(cs__filter_eval *e)
{
    if (!e) return;
    clear(e);
    free(e);
}

/* A non-owning view of a scalar span when no decoding is needed: canonical numbers
 * (stored metadata is normalised, so numbers are already in PostgreSQL's numeric form),
 * strings without escapes, literals. Saves two allocations per row on the hot path. */
static bool scalar_view(const char *s, size_t len, cs__jv *out)
{
    memset(out, 0, sizeof *out);
    if (len == 4 && !memcmp(s, "null", 4)) { out->type = JV_NULL; return true; }
    if (len == 4 && !memcmp(s, "true", 4)) { out->type = JV_BOOL; out->b = true; return true; }
    if (len == 5 && !memcmp(s, "false", 5)) { out->type = JV_BOOL; return true; }
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        for (size_t i = 1; i + 1 < len; i++)
            if (s[i] == '\\' || (unsigned char)s[i] < 0x20) return false;
        out->type = JV_STRING;
        out->s = (char *)s + 1;
        out->len = len - 2;
        return true;
    }
    /* -?(0|[1-9][0-9]*)(\.[0-9]+)? and not "-0" */
    size_t i = 0;
    if (i < len && s[i] == '-') i++;
    size_t int_start = i;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    size_t int_len = i - int_start;
    if (int_len == 0 || (int_len > 1 && s[int_start] == '0')) return false;
    if (i < len && s[i] == '.') {
        size_t f = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
        if (i == f) return false;
    }
    if (i != len) return false;
    if (s[0] == '-' && strspn(s + 1, "0.") >= len - 1) return false;
    out->type = JV_NUMBER;
    out->s = (char *)s;
    out->len = len;
    return true;
}

int cs__filter_eval_text(const cs__filter_eval *e, const char *meta, size_t len)
{
    if (e->kind == CS_FILTER_CMP) {
        const char *vs;
        size_t vl;
        int f = cs__jv_text_find_key_unique(meta, len, e->key, e->klen, &vs, &vl);
        if (f < 0) return -2;
        if (f == 0) return -1;   /* missing key or not an object: SQL NULL */
        cs__jv v;
        if (scalar_view(vs, vl, &v)) return cs__jsonb_op(e->op, &v, &e->operand);
        int prc = cs__jv_parse(vs, vl, false, &v, NULL);
        if (prc) return prc == JV_ERR_NOMEM ? -3 : -2;
        int r = cs__jsonb_op(e->op, &v, &e->operand);
        cs__jv_free(&v);
        return r;
    }
    /* Three-valued AND / OR, as SQL evaluates them. */
    bool and = e->kind == CS_FILTER_AND, unknown = false;
    for (size_t i = 0; i < e->n; i++) {
        int r = cs__filter_eval_text(&e->children[i], meta, len);
        if (r <= -2) return r;
        if (r == -1) unknown = true;
        else if (and && r == 0) return 0;
        else if (!and && r == 1) return 1;
    }
    return unknown ? -1 : (and ? 1 : 0);
}
