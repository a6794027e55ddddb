/* Text normalisation before splitting: UTF-8 decoding, whitespace cleaning and
 * Python's str.lower (html.unescape is in tokenizer_html.c). */
#include "tokenizer/tokenizer_internal.h"

/* Python's bytes.decode('utf-8', 'replace'): each maximal ill-formed subpart (a lead
 * byte followed by as many valid continuation bytes as it allows) becomes one U+FFFD.
 * Python would have a str already; for C callers this is the natural, documented
 * choice (invalid input never reaches the byte-level BPE as raw bytes). */
size_t cs__tok_utf8_decode(const uint8_t *s, size_t n, uint32_t *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t b = s[i];
        if (b < 0x80) {
            out[o++] = b;
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        uint8_t lo = 0x80, hi = 0xBF; /* valid range of the second byte */
        if (b >= 0xC2 && b <= 0xDF) {
            need = 1;
            cp = b & 0x1F;
        } else if (b >= 0xE0 && b <= 0xEF) {
            need = 2;
            cp = b & 0x0F;
            if (b == 0xE0)
                lo = 0xA0;
            else if (b == 0xED)
                hi = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            need = 3;
            cp = b & 0x07;
            if (b == 0xF0)
                lo = 0x90;
            else if (b == 0xF4)
                hi = 0x8F;
        } else {
            out[o++] = 0xFFFD; /* continuation byte, C0, C1, F5..FF */
            i++;
            continue;
        }
        size_t k = 1;
        for (; k <= need; k++) {
            if (i + k >= n)
                break;
            uint8_t c = s[i + k];
            if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF))
                break;
            cp = (cp << 6) | (c & 0x3F);
        }
        if (k <= need) {
            out[o++] = 0xFFFD; /* the lead plus the valid continuations seen */
            i += k;
        } else {
            out[o++] = cp;
            i += need + 1;
        }
    }
    return o;
}

size_t cs__tok_utf8_encode(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* str.strip() in place: Python's whitespace (includes U+001C..U+001F). */
static size_t py_strip(uint32_t *s, size_t n)
{
    size_t a = 0;
    while (n > 0 && cs__tok_is_py_space(s[n - 1]))
        n--;
    while (a < n && cs__tok_is_py_space(s[a]))
        a++;
    if (a > 0)
        for (size_t i = a; i < n; i++)
            s[i - a] = s[i];
    return n - a;
}

/* basic_clean's strip, then whitespace_clean: re.sub(r'\s+', ' ', text).strip() with
 * the `regex` module's \s (White_Space, which excludes U+001C..U+001F). */
size_t cs__tok_clean_whitespace(uint32_t *s, size_t n)
{
    n = py_strip(s, n);
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        if (cs__tok_is_white_space(s[i])) {
            while (i < n && cs__tok_is_white_space(s[i]))
                i++;
            s[w++] = ' ';
        } else {
            s[w++] = s[i++];
        }
    }
    return py_strip(s, w);
}

/* Python's handle_capital_sigma: U+03A3 lowers to final U+03C2 when preceded by a
 * cased letter and not followed by one (skipping case-ignorable characters). */
static uint32_t lower_sigma(const uint32_t *s, size_t n, size_t i)
{
    size_t j = i;
    int cls = CS_TOK_SIGMA_OTHER;
    while (j > 0) {
        cls = cs__tok_sigma_class(s[--j]);
        if (cls != CS_TOK_SIGMA_IGNORABLE)
            break;
    }
    bool final = cls == CS_TOK_SIGMA_CASED;
    if (final) {
        for (j = i + 1; j < n; j++) {
            cls = cs__tok_sigma_class(s[j]);
            if (cls != CS_TOK_SIGMA_IGNORABLE)
                break;
        }
        final = j == n || cls != CS_TOK_SIGMA_CASED;
    }
    return final ? 0x03C2 : 0x03C3;
}

size_t cs__tok_lower(const uint32_t *in, size_t n, uint32_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i];
        if (c < 0x80) {
            out[o++] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        } else if (c == 0x03A3) {
            out[o++] = lower_sigma(in, n, i);
        } else {
            o += cs__tok_lower_cp(c, out + o);
        }
    }
    return o;
}
