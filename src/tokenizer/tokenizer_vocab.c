/* vocab.json reader: one flat JSON object {"token": id, ...}. A dedicated parser
 * instead of a DOM: the real vocabulary has 49,408 entries and loading must take
 * milliseconds. Accepts any key order and layout (one line or indented), standard
 * string escapes (\uXXXX with surrogate pairs), and like Python's json the last of
 * duplicate keys wins (the callback sees them in order). */
#include <stdio.h>
#include <stdlib.h>

#include "tokenizer/tokenizer_internal.h"

typedef struct {
    const uint8_t *p, *end, *start;
    const char *path;
    cs_error *err;
} parser;

static int fail(parser *ps, const char *what)
{
    return cs_error_set(ps->err, CS_E_FORMAT, "%s: invalid vocabulary JSON at byte %zu: %s",
                        ps->path, (size_t)(ps->p - ps->start), what);
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int hex4(parser *ps, uint32_t *v)
{
    if (ps->end - ps->p < 4)
        return fail(ps, "truncated \\u escape");
    *v = 0;
    for (int k = 0; k < 4; k++) {
        uint8_t c = *ps->p++;
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return fail(ps, "bad \\u escape");
        *v = (*v << 4) | d;
    }
    return 0;
}

/* Reads a string at ps->p (after the opening quote) into out (capacity: the rest of
 * the input suffices, escapes never expand). */
static int read_string(parser *ps, uint8_t *out, size_t *len)
{
    size_t o = 0;
    for (;;) {
        if (ps->p >= ps->end)
            return fail(ps, "unterminated string");
        uint8_t c = *ps->p++;
        if (c == '"')
            break;
        if (c < 0x20)
            return fail(ps, "control character in string");
        if (c != '\\') {
            out[o++] = c;
            continue;
        }
        if (ps->p >= ps->end)
            return fail(ps, "unterminated escape");
        c = *ps->p++;
        switch (c) {
        case '"': case '\\': case '/': out[o++] = c; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            int rc = hex4(ps, &cp);
            if (rc)
                return rc;
            if (cp >= 0xD800 && cp <= 0xDBFF && ps->end - ps->p >= 6 && ps->p[0] == '\\' &&
                ps->p[1] == 'u') {
                const uint8_t *save = ps->p;
                ps->p += 2;
                if ((rc = hex4(ps, &lo)) != 0)
                    return rc;
                if (lo >= 0xDC00 && lo <= 0xDFFF)
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                else
                    ps->p = save;
            }
            /* A lone surrogate (legal JSON) is kept in its 3-byte form: such a token can
             * never match text, which is what Python's str would give too. */
            uint8_t buf[4];
            size_t k;
            if (cp >= 0xD800 && cp <= 0xDFFF) {
                buf[0] = (uint8_t)(0xE0 | (cp >> 12));
                buf[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
                buf[2] = (uint8_t)(0x80 | (cp & 0x3F));
                k = 3;
            } else {
                k = cs__tok_utf8_encode(cp, buf);
            }
            for (size_t q = 0; q < k; q++)
                out[o++] = buf[q];
            break;
        }
        default:
            return fail(ps, "unknown escape");
        }
    }
    *len = o;
    return 0;
}

static int read_id(parser *ps, int64_t *id)
{
    if (ps->p < ps->end && *ps->p == '-')
        return fail(ps, "negative token id");
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
        return fail(ps, "expected an integer token id");
    int64_t v = 0;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        v = v * 10 + (*ps->p++ - '0');
        if (v > INT32_MAX - 1)
            return fail(ps, "token id too large");
    }
    if (ps->p < ps->end && (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E'))
        return fail(ps, "token id is not an integer");
    *id = v;
    return 0;
}

int cs__tok_parse_vocab(const uint8_t *json, size_t len, const char *path,
                       cs__tok_vocab_add_fn add, void *ctx, cs_error *err)
{
    parser ps = {json, json + len, json, path, err};
    if (len >= 3 && json[0] == 0xEF && json[1] == 0xBB && json[2] == 0xBF)
        ps.p += 3; /* tolerate a UTF-8 byte order mark */
    uint8_t *tok = NULL;
    int rc;
    skip_ws(&ps);
    if (ps.p >= ps.end || *ps.p != '{')
        return fail(&ps, "expected '{'");
    ps.p++;
    /* One reusable buffer for decoded keys: no key is longer than the input. */
    tok = malloc(len + 1);
    if (!tok)
        return cs_error_set(err, CS_E_NOMEM, "%s: out of memory", path);
    skip_ws(&ps);
    if (ps.p < ps.end && *ps.p == '}') {
        ps.p++;
    } else {
        for (;;) {
            skip_ws(&ps);
            if (ps.p >= ps.end || *ps.p != '"') {
                rc = fail(&ps, "expected a string key");
                goto out;
            }
            ps.p++;
            size_t tlen = 0;
            int64_t id = 0;
            if ((rc = read_string(&ps, tok, &tlen)) != 0)
                goto out;
            skip_ws(&ps);
            if (ps.p >= ps.end || *ps.p != ':') {
                rc = fail(&ps, "expected ':'");
                goto out;
            }
            ps.p++;
            skip_ws(&ps);
            if ((rc = read_id(&ps, &id)) != 0)
                goto out;
            if ((rc = add(ctx, tok, tlen, id)) != 0)
                goto out;
            skip_ws(&ps);
            if (ps.p < ps.end && *ps.p == ',') {
                ps.p++;
                continue;
            }
            if (ps.p < ps.end && *ps.p == '}') {
                ps.p++;
                break;
            }
            rc = fail(&ps, "expected ',' or '}'");
            goto out;
        }
    }
    skip_ws(&ps);
    rc = ps.p == ps.end ? 0 : fail(&ps, "trailing data after the object");
out:
    free(tok);
    return rc;
}
