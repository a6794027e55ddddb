/* Python's html.unescape on code points, driven by the generated HTML5 tables.
 * Python matches  &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)  left to
 * right and replaces each match once (replacements are not rescanned). */
#include <stdint.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"

/* Name lookup in the sorted entity table (sorted by bytes); name is ASCII. */
static const cs__tok_entity *find_entity(const char *name, size_t len)
{
    size_t lo = 0, hi = cs__tok_html5_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *key = cs__tok_html5[mid].name;
        size_t kl = strlen(key);
        /* memcmp, not strncmp: the name may contain NUL (Python accepts it there). */
        int c = memcmp(name, key, len < kl ? len : kl);
        if (c == 0)
            c = len < kl ? -1 : len > kl; /* a proper prefix sorts first */
        if (c < 0)
            hi = mid;
        else if (c > 0)
            lo = mid + 1;
        else
            return &cs__tok_html5[mid];
    }
    return NULL;
}

static bool is_hex(uint32_t c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static uint32_t hex_val(uint32_t c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Replacement for numeric reference value num (saturated above 0x10FFFF); returns the
 * number of code points written (0 or 1). */
static size_t numeric_ref(uint64_t num, uint32_t *out)
{
    for (size_t i = 0; i < cs__tok_invalid_charrefs_count; i++)
        if (cs__tok_invalid_charrefs[i].from == num) {
            out[0] = cs__tok_invalid_charrefs[i].to;
            return 1;
        }
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
        out[0] = 0xFFFD;
        return 1;
    }
    if (cs__tok_in_ranges(cs__tok_invalid_codepoints, cs__tok_invalid_codepoints_count,
                         (uint32_t)num))
        return 0;
    out[0] = (uint32_t)num;
    return 1;
}

static bool name_char(uint32_t c)
{
    return !(c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' ||
             c == '#' || c == ';');
}

/* Tries a reference at s[i] == '&'. On a match writes the replacement at s[*w] and
 * returns the matched length; returns 0 when nothing matches at i. */
static size_t replace_at(uint32_t *s, size_t n, size_t i, size_t *w)
{
    size_t j = i + 1;
    if (j < n && s[j] == '#') {
        size_t k = j + 1;
        uint64_t num = 0;
        size_t end;
        if (k < n && s[k] >= '0' && s[k] <= '9') {
            for (end = k; end < n && s[end] >= '0' && s[end] <= '9'; end++)
                num = num > 0x10FFFF ? num : num * 10 + (s[end] - '0');
        } else if (k + 1 < n && (s[k] == 'x' || s[k] == 'X') && is_hex(s[k + 1])) {
            for (end = k + 1; end < n && is_hex(s[end]); end++)
                num = num > 0x10FFFF ? num : num * 16 + hex_val(s[end]);
        } else {
            return 0;
        }
        if (end < n && s[end] == ';')
            end++;
        *w += numeric_ref(num, s + *w);
        return end - i;
    }
    /* Named: up to 32 name characters, then an optional ';'. */
    char name[34];
    size_t len = 0, ascii_len = SIZE_MAX; /* ascii_len: index of the first non-ASCII */
    while (len < 32 && j + len < n && name_char(s[j + len])) {
        uint32_t c = s[j + len];
        if (c >= 0x80 && ascii_len == SIZE_MAX)
            ascii_len = len;
        name[len++] = (char)(c & 0x7F);
    }
    if (len == 0)
        return 0;
    if (j + len < n && s[j + len] == ';')
        name[len++] = ';';
    const cs__tok_entity *e = ascii_len == SIZE_MAX ? find_entity(name, len) : NULL;
    size_t used = len; /* name characters replaced by the entity */
    /* Else the longest prefix (>= 2 characters) that is an entity; only the legacy names
     * without ';' can match since a prefix never contains ';'. */
    for (size_t x = len - 1; !e && x >= 2; x--) {
        if (x <= ascii_len && (e = find_entity(name, x)) != NULL)
            used = x;
    }
    if (!e) {
        /* Python returns '&' + s: the match stays as it is. */
        memmove(s + *w, s + i, (1 + len) * sizeof *s);
        *w += 1 + len;
        return 1 + len;
    }
    s[(*w)++] = e->cp[0];
    if (e->cp[1])
        s[(*w)++] = e->cp[1];
    size_t rest = len - used;
    memmove(s + *w, s + j + used, rest * sizeof *s);
    *w += rest;
    return 1 + len;
}

size_t cs__tok_html_unescape(uint32_t *s, size_t n)
{
    size_t w = 0, i = 0;
    while (i < n) {
        if (s[i] != '&') {
            s[w++] = s[i++];
            continue;
        }
        size_t m = replace_at(s, n, i, &w);
        if (m == 0) {
            s[w++] = s[i++];
        } else {
            i += m;
        }
    }
    return w;
}
