/* SQL text building with bound parameters, statement execution and value encodings for the
 * PostgreSQL backend. Every value reaches the server as a parameter ($n); only identifiers
 * (quoted) and integers that the caller validated are part of the SQL text. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/jval.h"
#include "store/pg_internal.h"

void cs__pg_sql_init(cs__pg_sql *s)
{
    memset(s, 0, sizeof *s);
}

void cs__pg_sql_free(cs__pg_sql *s)
{
    for (int i = 0; i < s->n_params; i++) free(s->params[i]);
    free(s->params);
    free(s->text);
    memset(s, 0, sizeof *s);
}

static bool sql_reserve(cs__pg_sql *s, size_t extra)
{
    if (s->oom) return false;
    if (s->len + extra + 1 <= s->cap) return true;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + extra + 1) cap *= 2;
    char *p = realloc(s->text, cap);
    if (!p) {
        s->oom = true;
        return false;
    }
    s->text = p;
    s->cap = cap;
    return true;
}

void cs__pg_sql_add(cs__pg_sql *s, const char *text)
{
    size_t n = strlen(text);
    if (!sql_reserve(s, n)) return;
    memcpy(s->text + s->len, text, n + 1);
    s->len += n;
}

void cs__pg_sql_addf(cs__pg_sql *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !sql_reserve(s, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(s->text + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
}

void cs__pg_sql_ident(cs__pg_sql *s, const char *name)
{
    size_t n = strlen(name);
    if (!sql_reserve(s, 2 * n + 2)) return;
    s->text[s->len++] = '"';
    for (const char *p = name; *p; p++) {
        if (*p == '"') s->text[s->len++] = '"';
        s->text[s->len++] = *p;
    }
    s->text[s->len++] = '"';
    s->text[s->len] = '\0';
}

void cs__pg_sql_table(cs__pg_sql *s, const char *table)
{
    cs__pg_sql_add(s, "vecs.");
    cs__pg_sql_ident(s, table);
}

int cs__pg_sql_bind(cs__pg_sql *s, char *value)
{
    if (s->oom) {
        free(value);
        return 0;
    }
    if (s->n_params == s->cap_params) {
        int cap = s->cap_params ? 2 * s->cap_params : 16;
        char **p = realloc(s->params, (size_t)cap * sizeof *p);
        if (!p) {
            free(value);
            s->oom = true;
            return 0;
        }
        s->params = p;
        s->cap_params = cap;
    }
    s->params[s->n_params++] = value;
    return s->n_params;
}

void cs__pg_sql_param_own(cs__pg_sql *s, char *value, const char *suffix)
{
    int n = cs__pg_sql_bind(s, value);
    if (n) cs__pg_sql_addf(s, "$%d%s", n, suffix ? suffix : "");
}

void cs__pg_sql_param(cs__pg_sql *s, const char *value, const char *suffix)
{
    char *copy = NULL;
    if (value && !(copy = strdup(value))) {
        s->oom = true;
        return;
    }
    cs__pg_sql_param_own(s, copy, suffix);
}

int cs__pg_sql_check(const cs__pg_sql *s, cs_error *err)
{
    if (s->oom) return cs_error_set(err, CS_E_NOMEM, "out of memory building SQL");
    /* PostgreSQL's protocol counts parameters in 16 bits. */
    if (s->n_params > 65535)
        return cs_error_set(err, CS_E_INTERNAL, "too many SQL parameters (%d)", s->n_params);
    return 0;
}

/* The server's message (primary text, detail, SQLSTATE) without libpq's "ERROR:  " prefix
 * and trailing newline; for a lost connection, libpq's own message and the masked URL. */
static void set_server_error(cs__pg *pg, const PGresult *res, cs_error *err)
{
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (primary) {
        const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        char extra[512] = "";
        if (detail) snprintf(extra, sizeof extra, " (%s)", detail);
        cs_error_set(err, CS_E_DATABASE, "%s%s [SQLSTATE %s]", primary, extra,
                     state ? state : "?");
        return;
    }
    char msg[512];
    snprintf(msg, sizeof msg, "%s", PQerrorMessage(pg->conn));
    size_t n = strlen(msg);
    while (n && isspace((unsigned char)msg[n - 1])) msg[--n] = '\0';
    cs_error_set(err, CS_E_DATABASE, "PostgreSQL at %s: %s", pg->masked_url,
                 *msg ? msg : "connection lost");
}

int cs__pg_exec(cs__pg *pg, const char *sql, int n_params, const char *const *params,
               PGresult **res, cs_error *err)
{
    if (res) *res = NULL;
    /* vecs' client reconnects after a dropped connection; do the same between statements
     * (inside a transaction the lost state makes the next statement fail anyway). */
    if (PQstatus(pg->conn) == CONNECTION_BAD) PQreset(pg->conn);
    PGresult *r = PQexecParams(pg->conn, sql, n_params, NULL, params, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        set_server_error(pg, r, err);
        PQclear(r);
        return CS_E_DATABASE;
    }
    if (res) *res = r;
    else PQclear(r);
    return 0;
}

int cs__pg_run(cs__pg *pg, const cs__pg_sql *s, PGresult **res, cs_error *err)
{
    int rc = cs__pg_sql_check(s, err);
    if (rc) return rc;
    return cs__pg_exec(pg, s->text, s->n_params, (const char *const *)s->params, res, err);
}

int cs__pg_begin(cs__pg *pg, cs_error *err)
{
    return cs__pg_exec(pg, "BEGIN", 0, NULL, NULL, err);
}

int cs__pg_end(cs__pg *pg, int rc, cs_error *err)
{
    if (rc == 0) return cs__pg_exec(pg, "COMMIT", 0, NULL, NULL, err);
    cs_error keep = err ? *err : (cs_error){0};
    cs__pg_exec(pg, "ROLLBACK", 0, NULL, NULL, NULL);
    if (err) *err = keep;
    return rc;
}

char *cs__pg_vector_text(const float *v, int dim)
{
    /* %.9g of a float32 is at most 15 characters ("-1.23456789e-38"). */
    size_t cap = (size_t)dim * 16 + 3, len = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    buf[len++] = '[';
    for (int i = 0; i < dim; i++) {
        if (i) buf[len++] = ',';
        len += (size_t)snprintf(buf + len, cap - len, "%.9g", (double)v[i]);
    }
    buf[len++] = ']';
    buf[len] = '\0';
    return buf;
}

int cs__pg_vector_parse(const char *text, int dim, float **out, cs_error *err)
{
    *out = NULL;
    const char *p = text;
    while (isspace((unsigned char)*p)) p++;
    if (*p++ != '[') return cs_error_set(err, CS_E_DATABASE, "malformed vector from server");
    size_t n = 0, cap = dim > 0 ? (size_t)dim : 16;
    float *v = malloc(cap * sizeof *v);
    if (!v) return cs_error_set(err, CS_E_NOMEM, "out of memory reading a vector");
    while (isspace((unsigned char)*p)) p++;
    if (*p == ']') goto done;
    for (;;) {
        char *end;
        errno = 0;
        float x = strtof(p, &end);
        if (end == p) break;
        if (n == cap) {
            float *q = realloc(v, 2 * cap * sizeof *v);
            if (!q) {
                free(v);
                return cs_error_set(err, CS_E_NOMEM, "out of memory reading a vector");
            }
            v = q;
            cap *= 2;
        }
        v[n++] = x;
        p = end;
        while (isspace((unsigned char)*p)) p++;
        if (*p == ',') {
            p++;
            continue;
        }
        break;
    }
    if (*p != ']') {
        free(v);
        return cs_error_set(err, CS_E_DATABASE, "malformed vector from server");
    }
done:
    if (dim > 0 && n != (size_t)dim) {
        free(v);
        return cs_error_set(err, CS_E_DATABASE,
                            "vector from server has %zu dimensions, expected %d", n, dim);
    }
    *out = v;
    return 0;
}

char *cs__pg_mask_url(const char *url)
{
    size_t n = strlen(url);
    char *out = malloc(n + 4 + 1);   /* masking can only shorten, except "" -> "***" */
    if (!out) return NULL;
    size_t o = 0;
    const char *p = url;
    const char *scheme = strstr(url, "://");
    if (scheme) {
        const char *auth = scheme + 3;
        const char *auth_end = auth + strcspn(auth, "/?#");
        const char *at = NULL;
        for (const char *q = auth; q < auth_end; q++)
            if (*q == '@') at = q;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            memcpy(out, url, (size_t)(colon + 1 - url));
            o = (size_t)(colon + 1 - url);
            memcpy(out + o, "***", 3);
            o += 3;
            p = at;
        }
    }
    /* Query parameters: password=... up to the next '&'. */
    while (*p) {
        if ((p == url || p[-1] == '?' || p[-1] == '&') && !strncmp(p, "password=", 9)) {
            memcpy(out + o, "password=***", 12);
            o += 12;
            p += 9 + strcspn(p + 9, "&#");
            continue;
        }
        out[o++] = *p++;
    }
    out[o] = '\0';
    return out;
}

/* jsonb's output puts spaces after ':' and ','; re-serialise compactly (same content, key
 * order and numeric text) so both backends print metadata identically. */
static char *compact_json(const char *text)
{
    cs__jv v;
    cs__jv_error jerr;
    if (cs__jv_parse(text, strlen(text), false, &v, &jerr)) return strdup(text);
    char *out = cs__jv_serialize(&v, NULL);
    cs__jv_free(&v);
    return out;
}

int cs__pg_records_push(cs_records *out, const char *id, float *vector_owned,
                       const char *metadata, double value, cs_error *err)
{
    if (out->n % 64 == 0) {
        cs_record *p = realloc(out->items, (out->n + 64) * sizeof *p);
        if (!p) {
            free(vector_owned);
            return cs_error_set(err, CS_E_NOMEM, "out of memory reading records");
        }
        out->items = p;
    }
    cs_record *r = &out->items[out->n];
    memset(r, 0, sizeof *r);
    r->value = value;
    r->vector = vector_owned;
    r->id = strdup(id);
    r->metadata_json = metadata ? compact_json(metadata) : NULL;
    out->n++;   /* counted before the checks so that cs_records_free releases it */
    if (!r->id || (metadata && !r->metadata_json))
        return cs_error_set(err, CS_E_NOMEM, "out of memory reading records");
    return 0;
}

const char *cs__pg_measure_operator(cs_measure m)
{
    switch (m) {
    case CS_MEASURE_L2: return "<->";
    case CS_MEASURE_IP: return "<#>";
    case CS_MEASURE_L1: return "<+>";
    default: return "<=>";
    }
}

const char *cs__pg_measure_opclass(cs_measure m)
{
    switch (m) {
    case CS_MEASURE_L2: return "vector_l2_ops";
    case CS_MEASURE_IP: return "vector_ip_ops";
    case CS_MEASURE_L1: return "vector_l1_ops";
    default: return "vector_cosine_ops";
    }
}
