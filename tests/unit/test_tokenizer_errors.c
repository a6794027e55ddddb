/* Tokenizer robustness: bad vocab/merges files are refused with a message naming the
 * file (and line), bad arguments with CS_E_ARG; odd texts (empty, huge, invalid UTF-8,
 * NUL bytes) encode sensibly; concurrent use of one tokenizer is safe. */
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include "tokenizer/tokenizer_internal.h"
#include "test.h"
#include "tok_fixture.h"

static char tmpdir[] = "/tmp/cs_tok_err_XXXXXX";
static char vpath[256], mpath[256];

static int load_text(const char *vocab_json, const char *merges, cs_tokenizer **t,
                     cs_error *err)
{
    if (vocab_json)
        CHECK(fixture_write_text(vpath, vocab_json) == 0);
    CHECK(fixture_write_text(mpath, merges) == 0);
    *t = NULL;
    return cs_tokenizer_load(vpath, mpath, t, err);
}

static void expect_format(const char *vocab_json, const char *merges, const char *needle,
                          const char *what)
{
    cs_error err = {0};
    cs_tokenizer *t = NULL;
    int rc = load_text(vocab_json, merges, &t, &err);
    CHECK_MSG(rc == CS_E_FORMAT && t == NULL, "%s: rc %d", what, rc);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what,
              err.msg, needle);
    cs_tokenizer_free(t);
}

static void test_bad_files(void)
{
    cs_error err = {0};
    cs_tokenizer *t = (cs_tokenizer *)&err; /* must be reset to NULL */
    int rc = cs_tokenizer_load("/nonexistent/vocab.json", mpath, &t, &err);
    CHECK(rc == CS_E_IO && t == NULL && strstr(err.msg, "/nonexistent/vocab.json"));
    CHECK(cs_tokenizer_load(NULL, mpath, &t, &err) == CS_E_ARG);
    CHECK(cs_tokenizer_load(vpath, mpath, NULL, &err) == CS_E_ARG);

    const char *m = "#version: 0.2\n";
    expect_format("", m, "vocab.json", "empty vocab");
    expect_format("{", m, "expected a string key", "truncated vocab");
    expect_format("[1, 2]", m, "expected '{'", "array vocab");
    expect_format("{\"a\": \"x\"}", m, "integer", "string id");
    expect_format("{\"a\": 1.5}", m, "not an integer", "float id");
    expect_format("{\"a\": -1}", m, "negative", "negative id");
    expect_format("{\"a\": 99999999999}", m, "too large", "huge id");
    expect_format("{\"a\": 1} x", m, "trailing", "trailing data");
    expect_format("{\"a\\q\": 1}", m, "escape", "bad escape");
    expect_format("{\"a\": 1,}", m, "string key", "trailing comma");
    expect_format("{\"a\": 1}", m, "byte-level symbol for byte", "no byte alphabet");

    /* A byte symbol missing: named by its byte value. */
    CHECK(fixture_write_vocab(vpath, NULL, 0, 'q', 1) == 0);
    expect_format(NULL, m, "0x71", "missing byte q");
    /* No special tokens. */
    static const char *const two[] = {"x1", "x2"};
    CHECK(fixture_write_vocab(vpath, two, 2, -1, 0) == 0);
    expect_format(NULL, m, "<|startoftext|>", "missing SOT");

    /* Merges: unknown tokens and results are refused with the line number. */
    static const char *const ext[] = {"ab", "bc"};
    CHECK(fixture_write_vocab(vpath, ext, 2, -1, 1) == 0);
    expect_format(NULL, "#version: 0.2\na b\nzz c\n", "line 3: left token", "unknown left");
    expect_format(NULL, "#version: 0.2\na b\nb zz\n", "line 3: right token", "unknown right");
    expect_format(NULL, "#version: 0.2\na b\nc d\n", "line 3: result", "unknown result");
    expect_format(NULL, "#version: 0.2\na b c\nb c\n", "line 2: expected", "three fields");
    expect_format(NULL, "#version: 0.2\na\nb c\n", "line 2: expected", "one field");
    expect_format(NULL, "#version: 0.2\n\nb c\n", "line 2: expected", "blank line");

    /* Accepted: CRLF line ends, trailing blank lines, fewer merges than the vocabulary
     * allows, and lines beyond len(vocab) - 514 are never read (even if invalid). */
    const char *ok[] = {"#version: 0.2\r\na b\r\nb c\r\n", "#version: 0.2\na b\nb c\n\n\n",
                        "#version: 0.2\na b\n", "header\na b\nb c\nnot a valid line at all\n",
                        ""};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        cs_error e2 = {0};
        CHECK_OK(load_text(NULL, ok[i], &t, &e2), &e2);
        CHECK(t && t->n_merges == (i < 2 || i == 3 ? 2u : i == 2 ? 1u : 0u));
        cs_tokenizer_free(t);
    }
    /* Too small a vocabulary to hold the alphabet + specials. */
    expect_format("{\"a\": 0, \"b\": 1}", m, "byte-level symbol", "tiny vocab");
}

typedef struct {
    int n;
    uint8_t key[4][16];
    size_t len[4];
    int64_t id[4];
} collected;

static int collect(void *ctx, const uint8_t *tok, size_t len, int64_t id)
{
    collected *c = ctx;
    if (c->n < 4 && len <= 16) {
        memcpy(c->key[c->n], tok, len);
        c->len[c->n] = len;
        c->id[c->n++] = id;
    }
    return 0;
}

/* JSON string escapes decode to the UTF-8 that Python's json gives (lone surrogates
 * in their 3-byte form); duplicate keys reach the callback in order (last wins). */
static void test_vocab_escapes(void)
{
    const char *json = "\xef\xbb\xbf { \"\\u00e9\\ud83d\\ude00\\n\\\"\\/\" : 5,\n"
                       "  \"\\ud800x\": 6, \"\xc4\xa0" "a\": 7, \"\xc4\xa0" "a\": 8 }\n";
    collected c = {0};
    cs_error err = {0};
    CHECK_OK(cs__tok_parse_vocab((const uint8_t *)json, strlen(json), "v.json", collect, &c,
                                &err),
             &err);
    CHECK(c.n == 4);
    CHECK(c.len[0] == 9 && memcmp(c.key[0], "\xc3\xa9\xf0\x9f\x98\x80\n\"/", 9) == 0 &&
          c.id[0] == 5);
    CHECK(c.len[1] == 4 && memcmp(c.key[1], "\xed\xa0\x80x", 4) == 0 && c.id[1] == 6);
    CHECK(c.len[2] == 3 && c.len[3] == 3 && c.id[2] == 7 && c.id[3] == 8);
    c.n = 0;
    CHECK(cs__tok_parse_vocab((const uint8_t *)"{}", 2, "v.json", collect, &c, &err) == 0 &&
          c.n == 0);
    CHECK(cs__tok_parse_vocab((const uint8_t *)"{\"a\nb\": 1}", 10, "v.json", collect, &c,
                             &err) == CS_E_FORMAT);
    CHECK(strstr(err.msg, "v.json") && strstr(err.msg, "control character"));
    CHECK(cs__tok_parse_vocab((const uint8_t *)"{\"\\u12\": 1}", 10, "v.json", collect, &c,
                             &err) == CS_E_FORMAT);
}

static cs_tokenizer *tiny(void)
{
    const char *src = test_env("CS_SOURCE_DIR", ".");
    char v[4096], m[4096];
    snprintf(v, sizeof v, "%s/tests/fixtures/tiny/model/vocab.json", src);
    snprintf(m, sizeof m, "%s/tests/fixtures/tiny/model/merges.txt", src);
    cs_error err = {0};
    cs_tokenizer *t = NULL;
    CHECK_OK(cs_tokenizer_load(v, m, &t, &err), &err);
    return t;
}

static bool same(const int32_t *a, int na, const int32_t *b, int nb)
{
    return na == nb && memcmp(a, b, (size_t)na * sizeof *a) == 0;
}

static void test_texts(cs_tokenizer *t)
{
    cs_error err = {0};
    int32_t ids[77], ids2[77];
    int n = -1, n2 = -1;
    int32_t sot = cs_tokenizer_sot(t), eot = cs_tokenizer_eot(t);

    /* Arguments. */
    CHECK(cs_tokenizer_encode(NULL, "a", 77, ids, &n, &err) == CS_E_ARG);
    CHECK(cs_tokenizer_encode(t, NULL, 77, ids, &n, &err) == CS_E_ARG);
    CHECK(cs_tokenizer_encode(t, "a", 1, ids, &n, &err) == CS_E_ARG && n == 0);
    CHECK(strstr(err.msg, "context_length") != NULL);

    /* Empty and blank texts: just SOT, EOT. */
    const char *blank[] = {"", "   ", "\t\n \xe3\x80\x80", "&nbsp;", "\xcd\x85"};
    for (size_t i = 0; i < sizeof blank / sizeof blank[0]; i++) {
        CHECK_OK(cs_tokenizer_encode(t, blank[i], 77, ids, &n, &err), &err);
        CHECK_MSG(n == 2 && ids[0] == sot && ids[1] == eot, "blank %zu", i);
    }
    /* context_length 2: only the frame survives truncation. */
    CHECK_OK(cs_tokenizer_encode(t, "a photo of a cat", 2, ids, &n, &err), &err);
    CHECK(n == 2 && ids[0] == sot && ids[1] == eot);
    /* Truncation keeps SOT + the first context_length-2 ids + EOT. */
    CHECK_OK(cs_tokenizer_encode(t, "a photo of a cat", 77, ids, &n, &err), &err);
    CHECK_OK(cs_tokenizer_encode(t, "a photo of a cat", 4, ids2, &n2, &err), &err);
    CHECK(n > 4 && n2 == 4 && memcmp(ids, ids2, 3 * sizeof *ids) == 0 && ids2[3] == eot);

    /* Invalid UTF-8 is read as U+FFFD, exactly like the encoded replacement character. */
    CHECK_OK(cs_tokenizer_encode(t, "ab\xff" "cd", 77, ids, &n, &err), &err);
    CHECK_OK(cs_tokenizer_encode(t, "ab\xef\xbf\xbd" "cd", 77, ids2, &n2, &err), &err);
    CHECK(same(ids, n, ids2, n2) && n > 3);
    CHECK_OK(cs_tokenizer_encode(t, "\xe2\x82", 77, ids, &n, &err), &err);
    CHECK_OK(cs_tokenizer_encode(t, "\xef\xbf\xbd", 77, ids2, &n2, &err), &err);
    CHECK(same(ids, n, ids2, n2));

    /* NUL bytes through the explicit-length entry point: a Cc character like \x01. */
    CHECK_OK(cs_tokenizer_encode_len(t, "hello\0world", 11, 77, ids, &n, &err), &err);
    CHECK_OK(cs_tokenizer_encode(t, "hello\x01world", 77, ids2, &n2, &err), &err);
    CHECK(n == n2 && n > 4 && !same(ids, n, ids2, n2));
    CHECK_OK(cs_tokenizer_encode_len(t, "hello\0world", 5, 77, ids2, &n2, &err), &err);
    CHECK_OK(cs_tokenizer_encode(t, "hello", 77, ids, &n, &err), &err);
    CHECK(same(ids, n, ids2, n2));

    /* Very long texts: 1 MB of words, one 1 MB word, 1 MB of entities. */
    size_t big = 1 << 20;
    char *s = malloc(big + 1);
    if (!s)
        return;
    const char *phrase = "A Photo of a CAT, sitting on the mat! ";
    size_t pl = strlen(phrase);
    for (size_t i = 0; i < big; i++)
        s[i] = phrase[i % pl];
    s[big] = 0;
    CHECK_OK(cs_tokenizer_encode(t, s, 77, ids, &n, &err), &err);
    CHECK(n == 77 && ids[0] == sot && ids[76] == eot);
    s[2 * pl] = 0; /* two phrases: a prefix of the same ids */
    CHECK_OK(cs_tokenizer_encode(t, s, 77, ids2, &n2, &err), &err);
    CHECK(n2 < 77 && memcmp(ids, ids2, (size_t)(n2 - 1) * sizeof *ids) == 0);
    for (size_t i = 0; i < big; i++)
        s[i] = "ab"[i % 2 == 0 ? 0 : 1];
    s[big] = 0;
    CHECK_OK(cs_tokenizer_encode(t, s, 77, ids, &n, &err), &err);
    CHECK(n == 77 && ids[76] == eot);
    for (size_t i = 0; i < big; i++)
        s[i] = "&amp;"[i % 5];
    s[big] = 0;
    CHECK_OK(cs_tokenizer_encode(t, s, 77, ids, &n, &err), &err);
    CHECK(n == 77);
    free(s);
    /* Over the limit: refused, not truncated silently. */
    s = malloc(CS_TOK_MAX_TEXT_BYTES + 2);
    if (s) {
        memset(s, 'a', CS_TOK_MAX_TEXT_BYTES + 1);
        s[CS_TOK_MAX_TEXT_BYTES + 1] = 0;
        CHECK(cs_tokenizer_encode(t, s, 77, ids, &n, &err) == CS_E_TOO_LARGE);
        free(s);
    }
}

typedef struct {
    const cs_tokenizer *t;
    int ok;
} thread_arg;

static void *worker(void *p)
{
    thread_arg *a = p;
    const char *texts[] = {"a photo of a dog", "an astronaut riding a horse", "caf\xc3\xa9 &amp;",
                           "MiXeD   CaSe"};
    int32_t want[4][77], ids[77];
    int wn[4], n;
    cs_error err = {0};
    a->ok = 1;
    for (int k = 0; k < 4; k++)
        if (cs_tokenizer_encode(a->t, texts[k], 77, want[k], &wn[k], &err) != 0)
            a->ok = 0;
    for (int i = 0; i < 2000; i++) {
        int k = i % 4;
        if (cs_tokenizer_encode(a->t, texts[k], 77, ids, &n, &err) != 0 ||
            !same(ids, n, want[k], wn[k]))
            a->ok = 0;
    }
    return NULL;
}

static void test_threads(const cs_tokenizer *t)
{
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){t, 0};
        CHECK(pthread_create(&th[i], NULL, worker, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(args[i].ok);
    }
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "mkdtemp failed\n");
        return 1;
    }
    snprintf(vpath, sizeof vpath, "%s/vocab.json", tmpdir);
    snprintf(mpath, sizeof mpath, "%s/merges.txt", tmpdir);
    test_bad_files();
    test_vocab_escapes();
    cs_tokenizer *t = tiny();
    if (t) {
        test_texts(t);
        test_threads(t);
    }
    cs_tokenizer_free(t);
    cs_tokenizer_free(NULL);
    unlink(vpath);
    unlink(mpath);
    rmdir(tmpdir);
    return TEST_RESULT();
}
