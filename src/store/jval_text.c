/* Finding one top-level key in JSON text without building the whole tree (jval.h): the
 * hot path of filters, which look at one or two keys of every record's metadata. */
#include "store/jval.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static const char *skip_string(const char *p, const char *end, bool *has_escape)
{
    p++;
    while (p < end) {
        if (*p == '\\') {
            if (has_escape) *has_escape = true;
            p += 2;
            continue;
        }
        if (*p == '"') return p + 1;
        p++;
    }
    return NULL;
}

static const char *skip_value(const char *p, const char *end)
{
    p = ws(p, end);
    if (p >= end) return NULL;
    if (*p == '"') return skip_string(p, end, NULL);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            char c = *p;
            if (c == '"') {
                p = skip_string(p, end, NULL);
                if (!p) return NULL;
                continue;
            }
            if (c == '{' || c == '[') depth++;
            else if (c == '}' || c == ']') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return NULL;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' &&
           *p != '\t' && *p != '\r')
        p++;
    return p;
}

static int find_key(const char *text, size_t len, const char *key, size_t klen,
                    const char **val, size_t *vlen, bool first);

int cs__jv_text_find_key(const char *text, size_t len, const char *key, size_t klen,
                     const char **val, size_t *vlen)
{
    return find_key(text, len, key, klen, val, vlen, false);
}

int cs__jv_text_find_key_unique(const char *text, size_t len, const char *key, size_t klen,
                            const char **val, size_t *vlen)
{
    return find_key(text, len, key, klen, val, vlen, true);
}

static int find_key(const char *text, size_t len, const char *key, size_t klen,
                    const char **val, size_t *vlen, bool first)
{
    const char *p = text, *end = text + len;
    p = ws(p, end);
    if (p >= end || *p != '{') return 0;
    p = ws(p + 1, end);
    int found = 0;
    if (p < end && *p == '}') return 0;
    while (p < end) {
        if (*p != '"') return -1;
        bool esc = false;
        const char *ks = p + 1, *ke = skip_string(p, end, &esc);
        if (!ke) return -1;
        bool match;
        if (!esc) {
            match = (size_t)(ke - 1 - ks) == klen && !memcmp(ks, key, klen);
        } else {
            cs__jv k;
            if (cs__jv_parse(p, (size_t)(ke - p), false, &k, NULL) || k.type != JV_STRING) {
                cs__jv_free(&k);
                return -1;
            }
            match = k.len == klen && !memcmp(k.s, key, klen);
            cs__jv_free(&k);
        }
        p = ws(ke, end);
        if (p >= end || *p != ':') return -1;
        const char *vs = ws(p + 1, end), *ve = skip_value(vs, end);
        if (!ve) return -1;
        if (match) {
            *val = vs;
            *vlen = (size_t)(ve - vs);
            found = 1;
            if (first) return 1;
        }
        p = ws(ve, end);
        if (p < end && *p == ',') { p = ws(p + 1, end); continue; }
        if (p < end && *p == '}') return found;
        return -1;
    }
    return -1;
}
