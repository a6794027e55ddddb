/* BPE merging: the pass semantics of SimpleTokenizer.bpe on hand-made merge tables, and
 * the two implementations (scan and heap) agreeing on many random words with the tiny
 * and (if present) the real CLIP vocabulary. */
#include <stdbool.h>
#include <unistd.h>

#include "tokenizer/tokenizer_internal.h"
#include "test.h"
#include "tok_fixture.h"

static char tmpdir[] = "/tmp/cs_tok_bpe_XXXXXX";

/* Loads a vocabulary of the byte alphabet + extras with the given merges text. */
static cs_tokenizer *load_custom(const char *const *extras, int n, const char *merges)
{
    char vp[256], mp[256];
    snprintf(vp, sizeof vp, "%s/vocab.json", tmpdir);
    snprintf(mp, sizeof mp, "%s/merges.txt", tmpdir);
    CHECK(fixture_write_vocab(vp, extras, n, -1, 1) == 0);
    CHECK(fixture_write_text(mp, merges) == 0);
    cs_error err = {0};
    cs_tokenizer *t = NULL;
    CHECK_OK(cs_tokenizer_load(vp, mp, &t, &err), &err);
    unlink(vp);
    unlink(mp);
    return t;
}

static int encode(const cs_tokenizer *t, const char *text, int32_t *ids)
{
    cs_error err = {0};
    int n = 0;
    CHECK_OK(cs_tokenizer_encode(t, text, 77, ids, &n, &err), &err);
    return n;
}

/* Runs both BPE paths on text's bytes (one piece) and returns whether they agree;
 * the scan result is left in out (count returned via *n). */
static bool both_paths(const cs_tokenizer *t, const uint8_t *s, size_t len, int32_t *out,
                       size_t *n)
{
    cs__tok_bpe_ws ws;
    cs__tok_bpe_ws_init(&ws);
    int32_t *first = malloc(len * sizeof *first);
    bool same = first && cs__tok_bpe_reserve(&ws, len);
    long r1 = -1, r2 = -1;
    for (int path = 1; same && path <= 2; path++) {
        for (size_t i = 0; i < len; i++)
            ws.sym[i] = i + 1 < len ? t->byte_id[s[i]] : t->byte_end_id[s[i]];
        long r = cs__tok_bpe(t, &ws, len, path);
        if (path == 1) {
            r1 = r;
            memcpy(first, ws.sym, (size_t)(r > 0 ? r : 0) * sizeof *first);
        } else {
            r2 = r;
            same = r1 == r2 && r1 >= 0 && memcmp(first, ws.sym, (size_t)r1 * sizeof *first) == 0;
        }
    }
    if (out && same) {
        memcpy(out, first, (size_t)r1 * sizeof *out);
        *n = (size_t)r1;
    }
    free(first);
    cs__tok_bpe_ws_free(&ws);
    return same;
}

static void test_pass_semantics(void)
{
    /* Rank 0 is (ab, a), rank 1 is (a, b). In "ababx" the pass merging (a, b) must
     * finish both occurrences before the new pair (ab, a) may be merged: the answer is
     * ab ab x</w>, not aba b x</w> (what a plain priority queue would give). */
    static const char *const extras[] = {"aba", "ab"};
    cs_tokenizer *t = load_custom(extras, 2, "#version: 0.2\nab a\na b\n");
    if (!t)
        return;
    CHECK(t->n_merges == 2 && cs_tokenizer_sot(t) == 514 && cs_tokenizer_eot(t) == 515);
    int32_t ids[77];
    int n = encode(t, "ababx", ids);
    CHECK(n == 5 && ids[0] == 514 && ids[1] == 513 && ids[2] == 513 &&
          ids[3] == 256 + 'x' && ids[4] == 515);
    int32_t out[16];
    size_t m = 0;
    CHECK(both_paths(t, (const uint8_t *)"ababx", 5, out, &m));
    CHECK(m == 3 && out[0] == 513 && out[1] == 513);
    /* Non-overlapping, left to right: "aaa" with (a, a) -> aa a</w>. */
    cs_tokenizer_free(t);
    static const char *const extras2[] = {"aa"};
    t = load_custom(extras2, 1, "#version: 0.2\na a\n");
    if (!t)
        return;
    n = encode(t, "aaa", ids);
    CHECK(n == 4 && ids[1] == 512 && ids[2] == 256 + 'a');
    CHECK(both_paths(t, (const uint8_t *)"aaaaaaa", 7, out, &m));
    CHECK(m == 4 && out[0] == 512 && out[1] == 512 && out[2] == 512 && out[3] == 256 + 'a');
    cs_tokenizer_free(t);
    /* A repeated merge line takes its later rank (Python dict semantics): with
     * "a b", "b c", "a b" the pair (b, c) now ranks first, so "abc" -> a bc</w>. */
    static const char *const extras3[] = {"ab", "bc</w>", "ab2"};
    t = load_custom(extras3, 3, "#version: 0.2\na b\nb c</w>\na b\n");
    if (!t)
        return;
    n = encode(t, "abc", ids);
    CHECK(n == 4 && ids[1] == 'a' && ids[2] == 513);
    cs_tokenizer_free(t);
}

/* Random words over a small alphabet: both BPE paths must agree. */
static void test_random(const char *vocab, const char *merges, const char *label, int words)
{
    cs_error err = {0};
    cs_tokenizer *t = NULL;
    CHECK_OK(cs_tokenizer_load(vocab, merges, &t, &err), &err);
    if (!t)
        return;
    static const char alphabet[] = "eeeeaaaaiioouttttnnssrrhhlldcmpfgwybvk.,!-'";
    uint8_t word[400];
    unsigned seed = 12345;
    int agree = 0;
    for (int w = 0; w < words; w++) {
        seed = seed * 1103515245u + 12345u;
        size_t len = 1 + (seed >> 16) % (w % 10 == 0 ? 400 : 40);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            word[i] = (uint8_t)alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        agree += both_paths(t, word, len, NULL, NULL);
    }
    CHECK_MSG(agree == words, "%s: scan and heap BPE agree on %d/%d words", label, agree, words);
    fprintf(stderr, "%s: scan and heap BPE agree on %d/%d random words\n", label, agree, words);
    cs_tokenizer_free(t);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "mkdtemp failed\n");
        return 1;
    }
    test_pass_semantics();
    const char *src = test_env("CS_SOURCE_DIR", ".");
    char v[4096], m[4096];
    snprintf(v, sizeof v, "%s/tests/fixtures/tiny/model/vocab.json", src);
    snprintf(m, sizeof m, "%s/tests/fixtures/tiny/model/merges.txt", src);
    test_random(v, m, "tiny", 3000);
    const char *shared = test_env("CS_SHARED_DIR", "../shared");
    snprintf(v, sizeof v, "%s/reference/clip-vocab/vocab.json", shared);
    snprintf(m, sizeof m, "%s/reference/clip-vocab/merges.txt", shared);
    if (access(v, R_OK) == 0)
        test_random(v, m, "real", 3000);
    else
        fprintf(stderr, "real vocabulary absent (%s): random check on the tiny one only\n", v);
    rmdir(tmpdir);
    return TEST_RESULT();
}
