/* JSON values with jsonb semantics (see jval.h for why this exists next to jansson). */
#include "store/jval.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JV_MAX_DEPTH 1000
/* PostgreSQL numeric limits: 131072 digits before the point, 16383 after. */
#define JV_MAX_INT_DIGITS 131072L
#define JV_MAX_SCALE 16383L

typedef struct {
    const char *p, *end;
    bool lenient;
    cs__jv_error *err;
    int depth;
} parser;

static int fail(parser *ps, cs__jv_status st, const char *what)
{
    if (ps->err->status == JV_OK || st != JV_ERR_VALUE) {
        ps->err->status = st;
        snprintf(ps->err->msg, sizeof ps->err->msg, "%s", what);
    }
    return st;
}

/* A value error stops strict parsing; lenient parsing records it and goes on. */
static int value_error(parser *ps, const char *what)
{
    fail(ps, JV_ERR_VALUE, what);
    return ps->lenient ? 0 : JV_ERR_VALUE;
}

/* A value error about a string that cannot be text (see cs__jv_error.not_text). */
static int text_error(parser *ps, const char *what)
{
    if (!ps->err->not_text) {
        ps->err->not_text = true;
        snprintf(ps->err->text_msg, sizeof ps->err->text_msg, "%s", what);
    }
    return value_error(ps, what);
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

typedef struct {
    char *buf;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->buf, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void sb_putc(sbuf *b, char c)
{
    sb_put(b, &c, 1);
}

static void put_utf8(sbuf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    sb_put(b, u, n);
}

/* Length of a valid UTF-8 sequence at s (max n bytes), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* Parses a string literal at ps->p (which points at the opening quote). */
static int parse_string(parser *ps, char **out, size_t *out_len)
{
    sbuf b = {0};
    int rc = 0;
    ps->p++;
    for (;;) {
        if (ps->p >= ps->end) { rc = fail(ps, JV_ERR_SYNTAX, "unterminated string"); break; }
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') { ps->p++; break; }
        if (c < 0x20) { rc = fail(ps, JV_ERR_SYNTAX, "control character in string must be escaped"); break; }
        if (c != '\\') {
            size_t n = utf8_seq((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));
            if (!n) {
                if ((rc = text_error(ps, "invalid byte sequence for encoding UTF8"))) break;
                n = 1;
            }
            sb_put(&b, ps->p, n);
            ps->p += n;
            continue;
        }
        if (ps->end - ps->p < 2) { rc = fail(ps, JV_ERR_SYNTAX, "unterminated escape"); break; }
        char e = ps->p[1];
        ps->p += 2;
        switch (e) {
        case '"': sb_putc(&b, '"'); break;
        case '\\': sb_putc(&b, '\\'); break;
        case '/': sb_putc(&b, '/'); break;
        case 'b': sb_putc(&b, '\b'); break;
        case 'f': sb_putc(&b, '\f'); break;
        case 'n': sb_putc(&b, '\n'); break;
        case 'r': sb_putc(&b, '\r'); break;
        case 't': sb_putc(&b, '\t'); break;
        case 'u': {
            uint32_t cp;
            if (ps->end - ps->p < 4 || hex4(ps->p, &cp)) { rc = fail(ps, JV_ERR_SYNTAX, "invalid \\u escape"); break; }
            ps->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u' &&
                    !hex4(ps->p + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                    ps->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else {
                    rc = text_error(ps, "Unicode low surrogate must follow a high surrogate");
                    break;
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                rc = text_error(ps, "Unicode low surrogate must follow a high surrogate");
                break;
            } else if (cp == 0) {
                rc = text_error(ps, "unsupported Unicode escape sequence: \\u0000 cannot be converted to text");
                break;
            }
            put_utf8(&b, cp);
            break;
        }
        default: rc = fail(ps, JV_ERR_SYNTAX, "invalid escape in string"); break;
        }
        if (rc) break;
    }
    if (!rc && b.oom) rc = fail(ps, JV_ERR_NOMEM, "out of memory");
    if (rc) {
        free(b.buf);
        return rc;
    }
    if (!b.buf) b.buf = calloc(1, 1);
    if (!b.buf) return fail(ps, JV_ERR_NOMEM, "out of memory");
    *out = b.buf;
    *out_len = b.len;
    return 0;
}

/* Splits a JSON number lexeme (already validated) into its parts. */
typedef struct {
    bool neg;
    const char *ip, *fp;   /* integer and fraction digits */
    size_t ilen, flen;
    long exp;              /* clamped to avoid overflow */
} numparts;

static void num_split(const char *s, size_t len, numparts *n)
{
    const char *p = s, *end = s + len;
    memset(n, 0, sizeof *n);
    if (p < end && *p == '-') { n->neg = true; p++; }
    n->ip = p;
    while (p < end && *p >= '0' && *p <= '9') p++;
    n->ilen = (size_t)(p - n->ip);
    n->fp = p;
    if (p < end && *p == '.') {
        n->fp = ++p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        n->flen = (size_t)(p - n->fp);
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        long e = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (e < 100000000L) e = e * 10 + (*p - '0');
            p++;
        }
        n->exp = eneg ? -e : e;
    }
}

char *cs__jv_numeric_canonical(const char *lex, size_t len, bool *overflow)
{
    numparts n;
    num_split(lex, len, &n);
    *overflow = false;
    /* All significant digits in one run: D = ip fp; value = D * 10^(exp - flen). */
    size_t dlen = n.ilen + n.flen;
    char *d = malloc(dlen + 1);
    if (!d) return NULL;
    memcpy(d, n.ip, n.ilen);
    memcpy(d + n.ilen, n.fp, n.flen);
    long scale = (long)n.flen - n.exp;          /* digits after the point (dscale) */
    long intdigits = (long)n.ilen + n.exp;      /* position of the point within D */
    size_t lead = 0;
    while (lead < dlen && d[lead] == '0') lead++;
    bool zero = lead == dlen;
    if (scale < 0) scale = 0;
    if (scale > JV_MAX_SCALE || (!zero && intdigits - (long)lead > JV_MAX_INT_DIGITS)) {
        free(d);
        *overflow = true;
        return NULL;
    }
    sbuf b = {0};
    if (n.neg && !zero) sb_putc(&b, '-');
    /* Integer part: digits of D before the point, without leading zeros. */
    bool any = false;
    for (long i = 0; i < intdigits; i++) {
        /* Past the digits with nothing but zeros so far (a zero with a huge exponent such
         * as 0e999999999): the rest are zeros too. Without this the loop ran up to the
         * clamped exponent, a second of CPU per literal. For a nonzero value intdigits is
         * bounded by JV_MAX_INT_DIGITS above, so the work is linear in the literal. */
        if (i >= (long)dlen && !any) break;
        char c = i < (long)dlen ? d[i] : '0';
        if (!any && c == '0') continue;
        any = true;
        sb_putc(&b, c);
    }
    if (!any) sb_putc(&b, '0');
    if (scale > 0) {
        sb_putc(&b, '.');
        for (long i = 0; i < scale; i++) {
            long pos = intdigits + i;
            sb_putc(&b, pos >= 0 && pos < (long)dlen ? d[pos] : '0');
        }
    }
    free(d);
    if (b.oom) {
        free(b.buf);
        return NULL;
    }
    return b.buf;
}

/* Canonical text: -?(0|[1-9][0-9]*)(\.[0-9]+)? */
int cs__jv_numeric_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    bool an = alen && a[0] == '-', bn = blen && b[0] == '-';
    if (an != bn) return an ? -1 : 1;
    if (an) { a++; alen--; b++; blen--; }
    const char *ad = memchr(a, '.', alen), *bd = memchr(b, '.', blen);
    size_t ai = ad ? (size_t)(ad - a) : alen, bi = bd ? (size_t)(bd - b) : blen;
    if (ai == 1 && a[0] == '0') ai = 0;   /* "0" has no integer digits */
    if (bi == 1 && b[0] == '0') bi = 0;
    int mag;
    if (ai != bi) {
        mag = ai < bi ? -1 : 1;
    } else {
        int c = memcmp(a, b, ai);
        if (c) {
            mag = c < 0 ? -1 : 1;
        } else {
            const char *af = ad ? ad + 1 : a + alen, *bf = bd ? bd + 1 : b + blen;
            size_t al = (size_t)(a + alen - af), bl = (size_t)(b + blen - bf);
            while (al && af[al - 1] == '0') al--;
            while (bl && bf[bl - 1] == '0') bl--;
            size_t m = al < bl ? al : bl;
            c = memcmp(af, bf, m);
            mag = c ? (c < 0 ? -1 : 1) : (al == bl ? 0 : (al < bl ? -1 : 1));
        }
    }
    return an ? -mag : mag;
}

static int parse_number(parser *ps, cs__jv *out)
{
    const char *s = ps->p, *p = s, *end = ps->end;
    if (p < end && *p == '-') p++;
    if (p >= end || *p < '0' || *p > '9') return fail(ps, JV_ERR_SYNTAX, "invalid number");
    if (*p == '0') p++;
    else while (p < end && *p >= '0' && *p <= '9') p++;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') return fail(ps, JV_ERR_SYNTAX, "invalid number");
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return fail(ps, JV_ERR_SYNTAX, "invalid number");
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    ps->p = p;
    bool overflow;
    char *canon = cs__jv_numeric_canonical(s, (size_t)(p - s), &overflow);
    if (!canon) {
        if (!overflow) return fail(ps, JV_ERR_NOMEM, "out of memory");
        int rc = value_error(ps, "value overflows numeric format");
        if (rc) return rc;
        canon = strndup(s, (size_t)(p - s));   /* lenient: keep the lexeme (strtod -> inf) */
        if (!canon) return fail(ps, JV_ERR_NOMEM, "out of memory");
    }
    out->type = JV_NUMBER;
    out->s = canon;
    out->len = strlen(canon);
    return 0;
}

static int key_cmp(const cs__jv *a, const cs__jv *b)
{
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return memcmp(a->s, b->s, a->len);
}

typedef struct {
    cs__jv key, val;
    size_t order;
} pair;

static int pair_cmp(const void *x, const void *y)
{
    const pair *a = x, *b = y;
    int c = key_cmp(&a->key, &b->key);
    if (c) return c;
    return a->order < b->order ? -1 : a->order > b->order;
}

static int parse_value(parser *ps, cs__jv *out);

static int parse_container(parser *ps, cs__jv *out, bool object)
{
    if (++ps->depth > JV_MAX_DEPTH) return fail(ps, JV_ERR_SYNTAX, "JSON nested too deeply");
    ps->p++;
    size_t n = 0, cap = 0;
    pair *pairs = NULL;
    int rc = 0;
    skip_ws(ps);
    char close = object ? '}' : ']';
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
    } else {
        for (;;) {
            if (n == cap) {
                cap = cap ? cap * 2 : 4;
                pair *np = realloc(pairs, cap * sizeof *np);
                if (!np) { rc = fail(ps, JV_ERR_NOMEM, "out of memory"); break; }
                pairs = np;
            }
            pair *pr = &pairs[n];
            memset(pr, 0, sizeof *pr);
            pr->order = n;
            skip_ws(ps);
            if (object) {
                if (ps->p >= ps->end || *ps->p != '"') { rc = fail(ps, JV_ERR_SYNTAX, "expected object key"); break; }
                pr->key.type = JV_STRING;
                if ((rc = parse_string(ps, &pr->key.s, &pr->key.len))) break;
                n++;
                skip_ws(ps);
                if (ps->p >= ps->end || *ps->p != ':') { rc = fail(ps, JV_ERR_SYNTAX, "expected ':'"); break; }
                ps->p++;
                if ((rc = parse_value(ps, &pr->val))) break;
            } else {
                n++;
                if ((rc = parse_value(ps, &pr->val))) break;
            }
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
            if (ps->p < ps->end && *ps->p == close) { ps->p++; break; }
            rc = fail(ps, JV_ERR_SYNTAX, object ? "expected ',' or '}'" : "expected ',' or ']'");
            break;
        }
    }
    ps->depth--;
    if (rc) {
        for (size_t i = 0; i < n; i++) { cs__jv_free(&pairs[i].key); cs__jv_free(&pairs[i].val); }
        free(pairs);
        return rc;
    }
    memset(out, 0, sizeof *out);
    out->type = object ? JV_OBJECT : JV_ARRAY;
    if (n == 0) {
        free(pairs);
        return 0;
    }
    size_t kept = n;
    if (object) {
        /* jsonb key order; of equal keys only the last one survives. */
        qsort(pairs, n, sizeof *pairs, pair_cmp);
        kept = 0;
        for (size_t i = 0; i < n; i++) {
            if (i + 1 < n && !key_cmp(&pairs[i].key, &pairs[i + 1].key)) {
                cs__jv_free(&pairs[i].key);
                cs__jv_free(&pairs[i].val);
                continue;
            }
            pairs[kept++] = pairs[i];
        }
    }
    out->items = malloc((object ? 2 : 1) * kept * sizeof *out->items);
    if (!out->items) {
        for (size_t i = 0; i < kept; i++) { cs__jv_free(&pairs[i].key); cs__jv_free(&pairs[i].val); }
        free(pairs);
        return fail(ps, JV_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < kept; i++) {
        if (object) {
            out->items[2 * i] = pairs[i].key;
            out->items[2 * i + 1] = pairs[i].val;
        } else {
            out->items[i] = pairs[i].val;
        }
    }
    out->n = kept;
    free(pairs);
    return 0;
}

static bool lit(parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) >= n && !memcmp(ps->p, word, n)) {
        ps->p += n;
        return true;
    }
    return false;
}

static int parse_value(parser *ps, cs__jv *out)
{
    memset(out, 0, sizeof *out);
    skip_ws(ps);
    if (ps->p >= ps->end) return fail(ps, JV_ERR_SYNTAX, "unexpected end of JSON");
    char c = *ps->p;
    if (c == '{') return parse_container(ps, out, true);
    if (c == '[') return parse_container(ps, out, false);
    if (c == '"') {
        out->type = JV_STRING;
        return parse_string(ps, &out->s, &out->len);
    }
    if (lit(ps, "null")) { out->type = JV_NULL; return 0; }
    if (lit(ps, "true")) { out->type = JV_BOOL; out->b = true; return 0; }
    if (lit(ps, "false")) { out->type = JV_BOOL; out->b = false; return 0; }
    /* NaN and Infinity are not JSON; Python's json module still writes them, and the
     * server then refuses the value (spec §1.5) - a value error, not a syntax error. */
    const char *start = ps->p;
    if (lit(ps, "NaN") || lit(ps, "Infinity") || lit(ps, "-Infinity")) {
        int rc = value_error(ps, "NaN and Infinity are not valid JSON numbers");
        if (rc) return rc;
        /* Lenient mode: a number whose text is the token, so shape checks see a scalar
         * number and strtod() still yields NaN / infinity. */
        out->type = JV_NUMBER;
        out->len = (size_t)(ps->p - start);
        out->s = strndup(start, out->len);
        return out->s ? 0 : fail(ps, JV_ERR_NOMEM, "out of memory");
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(ps, out);
    return fail(ps, JV_ERR_SYNTAX, "invalid JSON value");
}

int cs__jv_parse(const char *text, size_t len, bool lenient, cs__jv *out, cs__jv_error *err)
{
    cs__jv_error local;
    if (!err) err = &local;
    err->status = JV_OK;
    err->msg[0] = '\0';
    err->not_text = false;
    err->text_msg[0] = '\0';
    memset(out, 0, sizeof *out);
    parser ps = {text, text + len, lenient, err, 0};
    int rc = parse_value(&ps, out);
    if (!rc) {
        skip_ws(&ps);
        if (ps.p != ps.end) {
            cs__jv_free(out);
            return fail(&ps, JV_ERR_SYNTAX, "trailing characters after JSON value");
        }
    }
    if (rc) {
        cs__jv_free(out);
        err->status = (cs__jv_status)rc;
        return rc;
    }
    return err->status;
}

void cs__jv_free(cs__jv *v)
{
    if (!v) return;
    size_t m = v->type == JV_OBJECT ? 2 * v->n : v->type == JV_ARRAY ? v->n : 0;
    for (size_t i = 0; i < m; i++) cs__jv_free(&v->items[i]);
    free(v->items);
    free(v->s);
    memset(v, 0, sizeof *v);
}

static void ser_string(sbuf *b, const char *s, size_t len)
{
    sb_putc(b, '"');
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[8];
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\t') esc = "\\t";
        else if (c == '\r') esc = "\\r";
        else if (c == '\b') esc = "\\b";
        else if (c == '\f') esc = "\\f";
        else if (c < 0x20) { snprintf(u, sizeof u, "\\u%04x", c); esc = u; }
        if (esc) {
            sb_put(b, s + start, i - start);
            sb_put(b, esc, strlen(esc));
            start = i + 1;
        }
    }
    sb_put(b, s + start, len - start);
    sb_putc(b, '"');
}

static void ser(sbuf *b, const cs__jv *v)
{
    switch (v->type) {
    case JV_NULL: sb_put(b, "null", 4); break;
    case JV_BOOL: v->b ? sb_put(b, "true", 4) : sb_put(b, "false", 5); break;
    case JV_NUMBER: sb_put(b, v->s, v->len); break;
    case JV_STRING: ser_string(b, v->s, v->len); break;
    case JV_ARRAY:
        sb_putc(b, '[');
        for (size_t i = 0; i < v->n; i++) {
            if (i) sb_putc(b, ',');
            ser(b, &v->items[i]);
        }
        sb_putc(b, ']');
        break;
    case JV_OBJECT:
        sb_putc(b, '{');
        for (size_t i = 0; i < v->n; i++) {
            if (i) sb_putc(b, ',');
            ser_string(b, v->items[2 * i].s, v->items[2 * i].len);
            sb_putc(b, ':');
            ser(b, &v->items[2 * i + 1]);
        }
        sb_putc(b, '}');
        break;
    }
}

char *cs__jv_serialize(const cs__jv *v, size_t *len_out)
{
    sbuf b = {0};
    ser(&b, v);
    if (b.oom) {
        free(b.buf);
        return NULL;
    }
    if (len_out) *len_out = b.len;
    return b.buf;
}

static int scalar_cmp(const cs__jv *a, const cs__jv *b)
{
    switch (a->type) {
    case JV_NULL: return 0;
    case JV_BOOL: return (int)a->b - (int)b->b;
    case JV_NUMBER: return cs__jv_numeric_cmp(a->s, a->len, b->s, b->len);
    case JV_STRING: {
        /* Collation "C": byte order, then length. */
        size_t m = a->len < b->len ? a->len : b->len;
        int c = memcmp(a->s, b->s, m);
        if (c) return c < 0 ? -1 : 1;
        return a->len == b->len ? 0 : (a->len < b->len ? -1 : 1);
    }
    default: return 0;
    }
}

/* Values inside containers: plain type order, then by content. */
static int nested_cmp(const cs__jv *a, const cs__jv *b)
{
    if (a->type != b->type) return a->type < b->type ? -1 : 1;
    if (a->type == JV_ARRAY || a->type == JV_OBJECT) {
        if (a->n != b->n) return a->n < b->n ? -1 : 1;
        size_t m = a->type == JV_OBJECT ? 2 * a->n : a->n;
        for (size_t i = 0; i < m; i++) {
            int c = nested_cmp(&a->items[i], &b->items[i]);
            if (c) return c;
        }
        return 0;
    }
    return scalar_cmp(a, b);
}

int cs__jv_cmp(const cs__jv *a, const cs__jv *b)
{
    bool aa = a->type == JV_ARRAY, ba = b->type == JV_ARRAY;
    bool ao = a->type == JV_OBJECT, bo = b->type == JV_OBJECT;
    if (ao || bo) return ao && bo ? nested_cmp(a, b) : (ao ? 1 : -1);
    if (aa != ba) {
        /* A top-level scalar is a one-element "raw scalar" array: element count decides,
         * and at equal count the raw scalar is smaller. */
        size_t an = aa ? a->n : 1, bn = ba ? b->n : 1;
        if (an != bn) return an < bn ? -1 : 1;
        return aa ? 1 : -1;
    }
    return nested_cmp(a, b);
}

bool cs__jv_equal(const cs__jv *a, const cs__jv *b)
{
    return nested_cmp(a, b) == 0;
}

bool cs__jv_array_has_scalar(const cs__jv *a, const cs__jv *s)
{
    if (a->type != JV_ARRAY) return false;
    for (size_t i = 0; i < a->n; i++) {
        const cs__jv *e = &a->items[i];
        if (e->type == s->type && e->type != JV_ARRAY && e->type != JV_OBJECT &&
            scalar_cmp(e, s) == 0)
            return true;
    }
    return false;
}

const cs__jv *cs__jv_object_get(const cs__jv *o, const char *key, size_t klen)
{
    if (o->type != JV_OBJECT) return NULL;
    cs__jv k = {.type = JV_STRING, .s = (char *)key, .len = klen};
    size_t lo = 0, hi = o->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = key_cmp(&o->items[2 * mid], &k);
        if (c == 0) return &o->items[2 * mid + 1];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}
