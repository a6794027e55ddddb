/* Tokenizer text stages, each against results taken from Python 3.11
 * (bytes.decode('utf-8','replace'), html.unescape, str.strip / regex \s, str.lower,
 * the SimpleTokenizer split pattern). */
#include <stdbool.h>
#include <stdint.h>

#include "tokenizer/tokenizer_internal.h"
#include "test.h"

/* Decodes a UTF-8 literal (valid) into cps; returns the count. */
static size_t cps(const char *s, uint32_t *out)
{
    return cs__tok_utf8_decode((const uint8_t *)s, strlen(s), out);
}

static bool eq(const uint32_t *a, size_t na, const char *want)
{
    uint32_t w[256];
    size_t nw = cps(want, w);
    if (na != nw)
        return false;
    for (size_t i = 0; i < na; i++)
        if (a[i] != w[i])
            return false;
    return true;
}

static void test_utf8(void)
{
    uint32_t out[16];
    /* Python: b'...'.decode('utf-8', 'replace') */
    static const struct {
        const char *in;
        size_t n_in;
        size_t n_out;
        uint32_t first;
    } cases[] = {
        {"a", 1, 1, 'a'},
        {"\xc3\xa9", 2, 1, 0xE9},
        {"\xe2\x82\xac", 3, 1, 0x20AC},
        {"\xf0\x9f\x98\x80", 4, 1, 0x1F600},
        {"\xe2\x82", 2, 1, 0xFFFD},          /* truncated: one U+FFFD */
        {"\xed\xa0\x80", 3, 3, 0xFFFD},      /* surrogate: 3 */
        {"\xc0\xaf", 2, 2, 0xFFFD},          /* overlong lead: 2 */
        {"\xf4\x90\x80\x80", 4, 4, 0xFFFD},  /* > U+10FFFF: 4 */
        {"\xf0\x9f\x98", 3, 1, 0xFFFD},      /* truncated 4-byte: 1 */
        {"\xe0\x80\x80", 3, 3, 0xFFFD},      /* overlong 3-byte: 3 */
        {"\xff", 1, 1, 0xFFFD},
        {"\x80\x80", 2, 2, 0xFFFD},
        {"\xc2" "a", 2, 2, 0xFFFD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = cs__tok_utf8_decode((const uint8_t *)cases[i].in, cases[i].n_in, out);
        CHECK_MSG(n == cases[i].n_out && out[0] == cases[i].first, "utf8 case %zu: n=%zu", i,
                  n);
    }
    uint8_t b[4];
    CHECK(cs__tok_utf8_encode(0x10FFFF, b) == 4 && b[0] == 0xF4 && b[3] == 0xBF);
    CHECK(cs__tok_utf8_encode(0x7FF, b) == 2 && b[0] == 0xDF && b[1] == 0xBF);
}

static void test_unescape(void)
{
    /* in, Python's html.unescape(in) (one pass) */
    static const char *cases[][2] = {
        {"fish &amp; chips", "fish & chips"},
        {"&amp", "&"},
        {"&ampx", "&x"},
        {"&AMP;", "&"},
        {"&amp;amp;", "&amp;"},
        {"&lt;b&gt;", "<b>"},
        {"&notit;", "\xc2\xacit;"},
        {"&notin;", "\xe2\x88\x89"},
        {"&#39;", "'"},
        {"&#x27", "'"},
        {"&#X41;", "A"},
        {"&#0;", "\xef\xbf\xbd"},
        {"&#128;", "\xe2\x82\xac"},
        {"&#x80;", "\xe2\x82\xac"},
        {"&#13;", "\r"},
        {"&#1;", ""},
        {"&#xD800;", "\xef\xbf\xbd"},
        {"&#1114112;", "\xef\xbf\xbd"},
        {"&#99999999999999999999999;", "\xef\xbf\xbd"},
        {"&#x10FFFD;", "\xf4\x8f\xbf\xbd"},
        {"&#x10FFFF;", ""},
        {"&#xFFFE;", ""},
        {"&#", "&#"},
        {"&#x;", "&#x;"},
        {"&;", "&;"},
        {"& amp;", "& amp;"},
        {"&&amp;", "&&"},
        {"&xyz;&amp;", "&xyz;&"},
        {"&nvlt;", "<\xe2\x83\x92"},
        {"&NotNestedGreaterGreater;", "\xe2\xaa\xa2\xcc\xb8"},
        {"&aacute", "\xc3\xa1"},
        {"&aacutex", "\xc3\xa1x"},
        {"&amp\xc3\xa9", "&\xc3\xa9"},
        {"&\xc3\xa9;", "&\xc3\xa9;"},
        /* 33 name characters: the match stops after 32, the prefix rule still applies */
        {"&ampaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;", "&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t buf[128];
        size_t n = cps(cases[i][0], buf);
        n = cs__tok_html_unescape(buf, n);
        CHECK_MSG(eq(buf, n, cases[i][1]), "unescape case %zu: %s", i, cases[i][0]);
    }
    /* NUL is a name character: "&amp\0x" -> "&\0x", "&AMP\0;" -> "&\0;". */
    uint32_t z[] = {'&', 'a', 'm', 'p', 0, 'x'}, z2[] = {'&', 'A', 'M', 'P', 0, ';'};
    CHECK(cs__tok_html_unescape(z, 6) == 3 && z[0] == '&' && z[1] == 0 && z[2] == 'x');
    CHECK(cs__tok_html_unescape(z2, 6) == 3 && z2[0] == '&' && z2[1] == 0 && z2[2] == ';');
}

static void test_whitespace(void)
{
    static const char *cases[][2] = {
        {"  a  b  ", "a b"},
        {"\x1c a\tb\n\n c \x1f", "a b c"},
        {"a\x1c" "b", "a\x1c" "b"},           /* U+001C is not \s: stays inside */
        {"a \x1c b", "a \x1c b"},
        {"x\xe3\x80\x80\xc2\xa0y", "x y"},   /* U+3000, U+00A0 */
        {"x\xe2\x80\x8by", "x\xe2\x80\x8by"}, /* U+200B is not whitespace */
        {"\xc2\x85" "a\xe2\x80\xa8", "a"},     /* U+0085, U+2028 */
        {"   ", ""},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t buf[64];
        size_t n = cps(cases[i][0], buf);
        n = cs__tok_clean_whitespace(buf, n);
        CHECK_MSG(eq(buf, n, cases[i][1]), "whitespace case %zu", i);
    }
}

static void test_lower(void)
{
    static const char *cases[][2] = {
        {"MiXeD", "mixed"},
        {"\xc4\xb0stanbul", "i\xcc\x87stanbul"},                     /* İ -> i + U+0307 */
        {"\xce\x9f\xce\x94\xce\x9f\xce\xa3", "\xce\xbf\xce\xb4\xce\xbf\xcf\x82"}, /* final */
        {"\xce\xa3", "\xcf\x83"},                                    /* alone: not final */
        {"\xce\xa3\xce\x91", "\xcf\x83\xce\xb1"},                    /* initial */
        {"A\xce\xa3'", "a\xcf\x82'"},                                /* ' is case-ignorable */
        {"A\xce\xa3'B", "a\xcf\x83'b"},
        {"A'\xce\xa3", "a'\xcf\x82"},
        {"1\xce\xa3", "1\xcf\x83"},
        {"A\xce\xa3\xce\xa3", "a\xcf\x83\xcf\x82"},
        {"\xe1\xba\x9e", "\xc3\x9f"},     /* ẞ -> ß */
        {"\xe2\x84\xaa", "k"},            /* Kelvin sign */
        {"\xc7\x85", "\xc7\x86"},         /* Dž title case */
        {"\xef\xbc\xa1", "\xef\xbd\x81"}, /* fullwidth A */
        {"\xf0\x90\x90\x80", "\xf0\x90\x90\xa8"}, /* Deseret */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t in[64], out[192];
        size_t n = cps(cases[i][0], in);
        n = cs__tok_lower(in, n, out);
        CHECK_MSG(eq(out, n, cases[i][1]), "lower case %zu", i);
    }
    CHECK(cs__tok_lower_max >= 2);
}

/* Pieces joined with '|'. */
static void split(const char *text, char *out, size_t cap)
{
    uint32_t s[256];
    size_t n = cps(text, s), pos = 0, start, len, o = 0;
    int kind;
    out[0] = 0;
    while (cs__tok_next_piece(s, n, &pos, &start, &len, &kind)) {
        if (o && o + 1 < cap)
            out[o++] = '|';
        if (kind != CS_TOK_PIECE_TEXT && o + 1 < cap)
            out[o++] = kind == CS_TOK_PIECE_SOT ? 'S' : 'E';
        for (size_t i = 0; i < len; i++) {
            uint8_t b[4];
            size_t k = cs__tok_utf8_encode(s[start + i], b);
            for (size_t q = 0; q < k && o + 1 < cap; q++)
                out[o++] = (char)b[q];
        }
        out[o] = 0;
    }
}

static void test_split(void)
{
    /* Python: regex.findall(pattern, text, regex.IGNORECASE) joined with '|'. */
    static const char *cases[][2] = {
        {"it's 12:30pm, don't", "it|'s|1|2|:|3|0|pm|,|don|'t"},
        {"we're i've i'll i'd i'm", "we|'re|i|'ve|i|'ll|i|'d|i|'m"},
        {"'x 'sx", "'|x|'s|x"},
        {"?!'s", "?!'|s"},
        {"a<|endoftext|>b", "a|E<|endoftext|>|b"},
        {"<|startoftext|>", "S<|startoftext|>"},
        {"!!<|endoftext|>", "!!<||endoftext||>"},
        {"<|\xc5\xbftartoftext|>", "<|\xc5\xbftartoftext|>"}, /* long s: not special */
        {"'\xc5\xbft", "'\xc5\xbf|t"},
        {"caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80",
         "caf\xc3\xa9|\xe4\xbd\xa0\xe5\xa5\xbd|\xf0\x9f\x98\x80"},
        {"cafe\xcc\x81", "cafe|\xcc\x81"},
        {"x\xcd\x85y", "x|y"},          /* U+0345 matches no alternative */
        {"\xd9\xa3\xd9\xa4\xc2\xbd", "\xd9\xa3|\xd9\xa4|\xc2\xbd"},
        {"a\x1c" "b", "a|\x1c|b"},
        {"  ", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[512];
        split(cases[i][0], got, sizeof got);
        CHECK_MSG(strcmp(got, cases[i][1]) == 0, "split case %zu: got \"%s\" want \"%s\"", i,
                  got, cases[i][1]);
    }
    CHECK(cs__tok_classify('a') == CS_TOK_LETTER);
    CHECK(cs__tok_classify(0x4E00) == CS_TOK_LETTER);
    CHECK(cs__tok_classify(0x0663) == CS_TOK_NUMBER);
    CHECK(cs__tok_classify(0x3000) == CS_TOK_SPACE);
    CHECK(cs__tok_classify(0x1C) == CS_TOK_OTHER);
    CHECK(cs__tok_classify(0x0345) == CS_TOK_UNMATCHED);
    CHECK(cs__tok_is_py_space(0x1F) && !cs__tok_is_white_space(0x1F));
    CHECK(cs__tok_ascii_fold_cp(0x017F) == 's');
}

int main(void)
{
    test_utf8();
    test_unescape();
    test_whitespace();
    test_lower();
    test_split();
    return TEST_RESULT();
}
