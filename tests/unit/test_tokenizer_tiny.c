/* Tokenizer against the tiny fixture's goldens (tests/fixtures/tiny/golden.json, made
 * by openai/CLIP SimpleTokenizer semantics): every input_ids, truncation included. */
#include <jansson.h>
#include <stdbool.h>

#include "clipsearch/tokenizer.h"
#include "test.h"
#include "tokenizer_golden.h"

static void test_tiny(const char *src)
{
    char vocab[4096], merges[4096], golden[4096];
    snprintf(vocab, sizeof vocab, "%s/tests/fixtures/tiny/model/vocab.json", src);
    snprintf(merges, sizeof merges, "%s/tests/fixtures/tiny/model/merges.txt", src);
    snprintf(golden, sizeof golden, "%s/tests/fixtures/tiny/golden.json", src);
    cs_error err = {0};
    cs_tokenizer *tok = NULL;
    CHECK_OK(cs_tokenizer_load(vocab, merges, &tok, &err), &err);
    if (!tok)
        return;
    json_error_t jerr;
    json_t *root = json_load_file(golden, 0, &jerr);
    CHECK_MSG(root != NULL, "%s: %s", golden, jerr.text);
    if (!root) {
        cs_tokenizer_free(tok);
        return;
    }
    json_t *tk = json_object_get(root, "tokenizer");
    CHECK(cs_tokenizer_sot(tok) == json_integer_value(json_object_get(tk, "sot_id")));
    CHECK(cs_tokenizer_eot(tok) == json_integer_value(json_object_get(tk, "eot_id")));
    CHECK(cs_tokenizer_vocab_size(tok) ==
          (size_t)json_integer_value(json_object_get(tk, "vocab_size")));
    json_t *texts = json_object_get(root, "texts");
    CHECK(json_array_size(texts) >= 10);
    size_t i;
    json_t *e;
    int ok = 0;
    json_array_foreach(texts, i, e) {
        const char *text = json_string_value(json_object_get(e, "text"));
        int32_t ids[CTX];
        int n = 0;
        CHECK_OK(cs_tokenizer_encode(tok, text, CTX, ids, &n, &err), &err);
        json_t *want = json_object_get(e, "input_ids");
        bool same = same_ids(ids, n, want);
        CHECK_MSG(same, "tiny text %zu %s", i, text);
        CHECK(n == json_integer_value(json_object_get(e, "length")));
        if (!same)
            print_ids("ours", ids, n);
        ok += same;
    }
    fprintf(stderr, "tiny: %d/%zu texts match\n", ok, json_array_size(texts));
    json_decref(root);
    cs_tokenizer_free(tok);
}

int main(void)
{
    test_tiny(test_env("CS_SOURCE_DIR", "."));
    return TEST_RESULT();
}
