/* Record id <-> path bytes, and display text of paths (rules in pathid.h). */
#include "base/pathid.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARK "file:"
#define MARK_LEN 5

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid (overlong forms,
 * surrogates and code points beyond U+10FFFF are invalid). Stops at a NUL: a NUL is
 * never a continuation byte. */
static int utf8_seq(const unsigned char *s, uint32_t *cp_out)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp_out = c;
        return 1;
    }
    int n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
    else return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    *cp_out = cp;
    return n;
}

/* C0, DEL and C1: C1 too, because some terminals act on U+009B (CSI) like ESC [. */
static bool is_control(uint32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

bool cs__path_id_is_plain(const char *path)
{
    if (!strncmp(path, MARK, MARK_LEN)) return false;
    const unsigned char *p = (const unsigned char *)path;
    while (*p) {
        uint32_t cp;
        int n = utf8_seq(p, &cp);
        if (n == 0 || is_control(cp)) return false;
        p += n;
    }
    return true;
}

/* RFC 3986 pchar without pct-encoded, plus "/": kept as they are. */
static bool keep_ascii(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return c && strchr("-._~!$&'()*+,;=:@/", c) != NULL;
}

char *cs__path_to_id(const char *path)
{
    if (cs__path_id_is_plain(path)) return strdup(path);
    size_t len = strlen(path);
    /* Worst case: every byte as %XX, plus "file://". */
    char *out = malloc(MARK_LEN + 2 + len * 3 + 1);
    if (!out) return NULL;
    char *o = out;
    memcpy(o, path[0] == '/' ? MARK "//" : MARK, path[0] == '/' ? MARK_LEN + 2 : MARK_LEN);
    o += path[0] == '/' ? MARK_LEN + 2 : MARK_LEN;
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)path;
    while (*p) {
        uint32_t cp = 0;
        int n = *p >= 0x80 ? utf8_seq(p, &cp) : 0;
        if (n > 1 && !is_control(cp)) {
            memcpy(o, p, (size_t)n);
            o += n;
            p += n;
        } else if (keep_ascii(*p)) {
            *o++ = (char)*p++;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
            p++;
        }
    }
    *o = '\0';
    return out;
}

char *cs__path_to_file_url(const char *path)
{
    if (!path || path[0] != '/') return NULL;
    size_t len = strlen(path);
    char *out = malloc(7 + len * 3 + 1);
    if (!out) return NULL;
    memcpy(out, "file://", 7);
    char *o = out + 7;
    static const char hex[] = "0123456789ABCDEF";
    /* Every byte outside ASCII's safe set escaped: a URL that is plain ASCII whatever the
     * name's bytes, which browsers turn back into those bytes. */
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (keep_ascii(*p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int cs__path_from_id(const char *id, char **out, cs_error *err)
{
    *out = NULL;
    if (strncmp(id, MARK, MARK_LEN) != 0) {
        if (!(*out = strdup(id))) return cs_error_set(err, CS_E_NOMEM, "out of memory");
        return 0;
    }
    const char *s = id + MARK_LEN;
    if (s[0] == '/' && s[1] == '/') {
        s += 2;
        if (s[0] != '/')
            return cs_error_set(err, CS_E_ARG, "id '%.200s' names a file on another host", id);
    }
    char *buf = malloc(strlen(s) + 1), *o = buf;
    if (!buf) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    for (; *s; s++) {
        if (*s != '%') {
            *o++ = *s;
            continue;
        }
        int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(buf);
            return cs_error_set(err, CS_E_ARG, "id '%.200s' has a bad %%-escape", id);
        }
        *o++ = (char)(hi << 4 | lo);
        s += 2;
    }
    *o = '\0';
    *out = buf;
    return 0;
}

char *cs__path_escape(const char *raw)
{
    const unsigned char *p = (const unsigned char *)raw;
    char *out = malloc(strlen(raw) * 4 + 1);
    if (!out) return NULL;
    char *o = out;
    while (*p) {
        uint32_t cp = 0;
        int n = utf8_seq(p, &cp);
        if (n == 0 || is_control(cp)) {
            /* A control character's bytes each: C1 controls are two bytes in UTF-8. */
            for (int i = 0; i < (n ? n : 1); i++) o += sprintf(o, "\\x%02X", p[i]);
            p += n ? n : 1;
        } else {
            memcpy(o, p, (size_t)n);
            o += n;
            p += n;
        }
    }
    *o = '\0';
    return out;
}
