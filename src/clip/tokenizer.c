/* Temporary placeholder so other modules can link against tokenizer.h while the real
 * implementation (tokenizer_*.c) lands. Every entry point reports CS_E_UNSUPPORTED. */
#include <stdlib.h>

#include "clipsearch/tokenizer.h"

struct cs_tokenizer {
    int unused;
};

int cs_tokenizer_load(const char *vocab_json_path, const char *merges_path,
                      cs_tokenizer **out, cs_error *err)
{
    if (out)
        *out = NULL;
    return cs_error_set(err, CS_E_UNSUPPORTED, "tokenizer: not implemented yet (%s, %s)",
                        vocab_json_path ? vocab_json_path : "(null)",
                        merges_path ? merges_path : "(null)");
}

void cs_tokenizer_free(cs_tokenizer *tok) { free(tok); }

int32_t cs_tokenizer_sot(const cs_tokenizer *tok) { return tok ? 49406 : -1; }
int32_t cs_tokenizer_eot(const cs_tokenizer *tok) { return tok ? 49407 : -1; }
size_t cs_tokenizer_vocab_size(const cs_tokenizer *tok) { return 0; }

int cs_tokenizer_encode(const cs_tokenizer *tok, const char *text, int context_length,
                        int32_t *ids, int *n_ids, cs_error *err)
{
    if (n_ids)
        *n_ids = 0;
    return cs_error_set(err, CS_E_UNSUPPORTED, "tokenizer: not implemented yet");
}
