/* src/base/pathid.c: record ids of paths are lossless and injective (decode(encode(p))
 * == p for hostile names, every 1- and 2-byte string and many random ones), plain for
 * clean paths, file: IRIs otherwise, always valid UTF-8 without control characters;
 * malformed file: ids are refused; display escaping. */
#include <stdint.h>
#include <stdlib.h>

#include "base/pathid.h"
#include "test.h"

/* Whether s is valid UTF-8 with no C0, DEL or C1 control: what every id must be. */
static bool printable_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t c = *p, cp;
        int n;
        if (c < 0x80) { n = 1; cp = c; }
        else if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
        else return false;
        for (int i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (p[i] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
            return false;
        p += n;
    }
    return true;
}

/* encode, check the id's form, decode, compare. Returns the id (caller frees). */
static char *round_trip(const char *path)
{
    char *id = cs__path_to_id(path);
    CHECK(id != NULL);
    if (!id) return NULL;
    char *back = NULL;
    cs_error err = {0};
    int rc = cs__path_from_id(id, &back, &err);
    CHECK_MSG(rc == 0 && back && !strcmp(back, path), "path of %zu bytes, id '%s': %s",
              strlen(path), id, err.msg);
    CHECK_MSG(printable_utf8(id), "id '%s' is not printable UTF-8", id);
    /* Plain exactly when the path is its own id; otherwise marked. */
    CHECK((strcmp(id, path) == 0) == cs__path_id_is_plain(path));
    CHECK(!strcmp(id, path) || !strncmp(id, "file:", 5));
    free(back);
    return id;
}

static void expect_id(const char *path, const char *want)
{
    char *id = round_trip(path);
    CHECK_MSG(id && !strcmp(id, want), "id '%s', expected '%s'", id ? id : "(null)", want);
    free(id);
}

static void expect_bad_id(const char *id)
{
    char *out = NULL;
    cs_error err = {0};
    CHECK_MSG(cs__path_from_id(id, &out, &err) == CS_E_ARG && !out, "'%s' accepted", id);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

int main(void)
{
    /* Clean paths are their own id, whatever they look like. */
    expect_id("/photos/caf\xc3\xa9 \xe2\x82\xac.jpg", "/photos/caf\xc3\xa9 \xe2\x82\xac.jpg");
    expect_id("/photos/caf\\xE9.jpg", "/photos/caf\\xE9.jpg");   /* the text \xE9 */
    expect_id("/photos/caf%E9.jpg", "/photos/caf%E9.jpg");
    expect_id("/photos/a\\x0Ab.jpg", "/photos/a\\x0Ab.jpg");
    expect_id("/photos/file:///x.jpg", "/photos/file:///x.jpg");
    expect_id("", "");

    /* Others are file: IRIs: bytes that are not printable UTF-8, and then also "%", "\",
     * blanks and URI delimiters, as %XX; printable UTF-8 beyond ASCII stays. */
    expect_id("/photos/caf\xe9.jpg", "file:///photos/caf%E9.jpg");
    expect_id("/photos/a\nb.jpg", "file:///photos/a%0Ab.jpg");
    expect_id("/photos/a\tb.jpg", "file:///photos/a%09b.jpg");
    expect_id("/p/\xff\\y%z \xc3\xa9#?.jpg", "file:///p/%FF%5Cy%25z%20\xc3\xa9%23%3F.jpg");
    expect_id("/p/\x7f", "file:///p/%7F");
    expect_id("/p/\xc2\x9b", "file:///p/%C2%9B");            /* C1 control (CSI) */
    expect_id("/p/\xed\xa0\x80", "file:///p/%ED%A0%80");     /* a surrogate is not UTF-8 */
    expect_id("/p/\xc0\xaf", "file:///p/%C0%AF");            /* overlong */
    expect_id("/p/\xe2\x82", "file:///p/%E2%82");            /* truncated */
    /* A clean path that starts with the mark is marked too, so it cannot be read as one. */
    expect_id("file:x", "file:file:x");
    expect_id("file:///etc/passwd", "file:file:///etc/passwd");
    expect_id("rel/\xff", "file:rel/%FF");
    expect_id("//\xff", "file:////%FF");

    /* The colliding names of the old "\xNN" escaping now have distinct ids. */
    const char *hostile[] = {
        "/d/a\\x0Ab.jpg", "/d/a\nb.jpg", "/d/caf\xe9.jpg", "/d/caf\\xE9.jpg", "/d/caf%E9.jpg",
        "/d/caf%e9.jpg", "/d/caf%25E9.jpg", "/d/t\tab", "/d/t\\tab", "/d/back\\slash",
        "/d/back\\slash\xff", "/d/back%5Cslash\xff", "/d/\x01", "/d/%01", "file:/d/x",
        "/d/\xc3\xa9", "/d/\xc3", "/d/\xc3%A9",
    };
    size_t nh = sizeof hostile / sizeof *hostile;
    char *ids[sizeof hostile / sizeof *hostile];
    for (size_t i = 0; i < nh; i++) ids[i] = round_trip(hostile[i]);
    for (size_t i = 0; i < nh; i++)
        for (size_t j = i + 1; j < nh; j++)
            CHECK_MSG(ids[i] && ids[j] && strcmp(ids[i], ids[j]) != 0, "'%s' == '%s'",
                      ids[i], ids[j]);
    for (size_t i = 0; i < nh; i++) free(ids[i]);

    /* Every string of one and two bytes, then random ones over an alphabet rich in the
     * characters that matter: round trips prove injectivity on all of them. */
    char buf[16];
    for (int a = 1; a < 256; a++) {
        buf[0] = (char)a;
        buf[1] = '\0';
        free(round_trip(buf));
        for (int b = 1; b < 256; b++) {
            buf[1] = (char)b;
            buf[2] = '\0';
            free(round_trip(buf));
        }
    }
    static const unsigned char alphabet[] = {
        '/', '%', '\\', 'f', 'i', 'l', 'e', ':', 'x', '0', 'E', '9', ' ', '\n', 0x7f,
        0x80, 0x9b, 0xa9, 0xbf, 0xc2, 0xc3, 0xe2, 0xed, 0xf0, 0xf4, 0xff};
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    int failures_before = test_failures_;
    for (int t = 0; t < 200000 && test_failures_ == failures_before; t++) {
        size_t len = rng_next(&seed) % (sizeof buf);
        for (size_t k = 0; k < len; k++)
            buf[k] = (char)alphabet[rng_next(&seed) % sizeof alphabet];
        buf[len] = '\0';
        free(round_trip(buf));
    }

    /* Decoding: plain ids are paths as they are (also ones other programs wrote with
     * control characters); any %XX is accepted; malformed file: ids are refused. */
    char *out = NULL;
    cs_error err = {0};
    CHECK_OK(cs__path_from_id("/x/a\nb", &out, &err), &err);
    CHECK(out && !strcmp(out, "/x/a\nb"));
    free(out);
    CHECK_OK(cs__path_from_id("file:///x/caf%e9%20%41.jpg", &out, &err), &err);
    CHECK(out && !strcmp(out, "/x/caf\xe9 A.jpg"));
    free(out);
    expect_bad_id("file://host/x.jpg");
    expect_bad_id("file:///x/a%");
    expect_bad_id("file:///x/a%4");
    expect_bad_id("file:///x/a%G1");
    expect_bad_id("file:///x/a%00b");

    /* Display text: readable, not lossless. */
    char *e = cs__path_escape("/x/bad\xff\xfe.jpg");
    CHECK(e && !strcmp(e, "/x/bad\\xFF\\xFE.jpg"));
    free(e);
    e = cs__path_escape("/x/caf\xc3\xa9 ok.jpg");
    CHECK(e && !strcmp(e, "/x/caf\xc3\xa9 ok.jpg"));
    free(e);
    e = cs__path_escape("a\nb\xc3");   /* control character, truncated sequence */
    CHECK(e && !strcmp(e, "a\\x0Ab\\xC3"));
    free(e);
    e = cs__path_escape("\xed\xa0\x80");
    CHECK(e && !strcmp(e, "\\xED\\xA0\\x80"));
    free(e);
    e = cs__path_escape("x\xc2\x9b[2J");  /* C1 CSI: never reaches a terminal raw */
    CHECK(e && !strcmp(e, "x\\xC2\\x9B[2J"));
    free(e);
    return TEST_RESULT();
}
