/* Tokenizer against the real CLIP vocabulary's goldens ($CS_SHARED_DIR/reference/
 * clip-vocab/tokens.json, 333 strings): every input_ids must match exactly, flagged
 * strings included. The vocabulary is not in the repository: skipped without it. */
#include <jansson.h>
#include <stdbool.h>

#include "clipsearch/tokenizer.h"
#include "test.h"
#include "tokenizer_golden.h"

static void test_real(const char *shared)
{
    char dir[4096], vocab[4200], merges[4200], golden[4200];
    snprintf(dir, sizeof dir, "%s/reference/clip-vocab", shared);
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    snprintf(golden, sizeof golden, "%s/tokens.json", dir);
    FILE *f = fopen(golden, "rb");
    if (!f)
        SKIP("real CLIP vocabulary goldens not found at %s (set CS_SHARED_DIR)", golden);
    fclose(f);
    cs_error err = {0};
    cs_tokenizer *tok = NULL;
    CHECK_OK(cs_tokenizer_load(vocab, merges, &tok, &err), &err);
    if (!tok)
        return;
    CHECK(cs_tokenizer_sot(tok) == 49406);
    CHECK(cs_tokenizer_eot(tok) == 49407);
    CHECK(cs_tokenizer_vocab_size(tok) == 49408);
    json_error_t jerr;
    json_t *root = json_load_file(golden, JSON_ALLOW_NUL, &jerr);
    CHECK_MSG(root != NULL, "%s: %s", golden, jerr.text);
    json_t *entries = json_object_get(root, "entries");
    size_t i, total = json_array_size(entries), ok = 0, flagged = 0, flagged_ok = 0;
    json_t *e;
    CHECK(total == 333);
    json_array_foreach(entries, i, e) {
        /* utf8_hex holds the exact bytes (the text may contain any code point). */
        const char *hex = json_string_value(json_object_get(e, "utf8_hex"));
        size_t hl = hex ? strlen(hex) : 0;
        char *text = malloc(hl / 2 + 1);
        for (size_t k = 0; k < hl / 2; k++) {
            unsigned v;
            sscanf(hex + 2 * k, "%2x", &v);
            text[k] = (char)v;
        }
        text[hl / 2] = 0;
        int32_t ids[CTX];
        int n = 0;
        CHECK_OK(cs_tokenizer_encode_len(tok, text, hl / 2, CTX, ids, &n, &err), &err);
        bool is_flagged = json_array_size(json_object_get(e, "flags")) > 0;
        bool same = same_ids(ids, n, json_object_get(e, "input_ids"));
        CHECK_MSG(same, "entry %zu (%s%s) %s", i,
                  json_string_value(json_object_get(e, "category")),
                  is_flagged ? ", flagged" : "", text);
        if (!same)
            print_ids("ours", ids, n);
        ok += same;
        flagged += is_flagged;
        flagged_ok += is_flagged && same;
        free(text);
    }
    fprintf(stderr, "real vocabulary: %zu/%zu match (flagged: %zu/%zu, unflagged: %zu/%zu)\n",
            ok, total, flagged_ok, flagged, ok - flagged_ok, total - flagged);
    json_decref(root);
    cs_tokenizer_free(tok);
}

int main(void)
{
    test_real(test_env("CS_SHARED_DIR", "../shared"));
    return TEST_RESULT();
}
