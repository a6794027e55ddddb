/* CLIP byte-level BPE tokenizer (openai/CLIP SimpleTokenizer semantics without ftfy).
 * Owned by src/tokenizer/tokenizer*.c. An immutable loaded tokenizer may be shared by threads. */
#ifndef CLIPSEARCH_TOKENIZER_H
#define CLIPSEARCH_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "clipsearch/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_tokenizer cs_tokenizer;

/* Loads vocab.json + merges.txt (either the one-line id-ordered file or the indented,
 * key-sorted save_pretrained form). SOT/EOT ids are looked up in the vocab
 * ("<|startoftext|>", "<|endoftext|>"). */
int cs_tokenizer_load(const char *vocab_json_path, const char *merges_path,
                      cs_tokenizer **out, cs_error *err);
void cs_tokenizer_free(cs_tokenizer *tok);

int32_t cs_tokenizer_sot(const cs_tokenizer *tok);
int32_t cs_tokenizer_eot(const cs_tokenizer *tok);
size_t cs_tokenizer_vocab_size(const cs_tokenizer *tok);

/* Encodes text: SOT, BPE ids, EOT; truncated to context_length keeping EOT as the last
 * id (SOT + first context_length-2 ids + EOT). No padding. ids must hold
 * context_length entries; *n_ids receives the count (>= 2). Texts over 1 MiB are
 * refused (CS_E_TOO_LARGE); context_length < 2 is CS_E_ARG. */
int cs_tokenizer_encode(const cs_tokenizer *tok, const char *text, int context_length,
                        int32_t *ids, int *n_ids, cs_error *err);
/* The same for text of len bytes that may contain NUL bytes. Invalid UTF-8 is decoded
 * as Python's bytes.decode('utf-8', 'replace') does (U+FFFD per bad sequence). */
int cs_tokenizer_encode_len(const cs_tokenizer *tok, const char *text, size_t len,
                            int context_length, int32_t *ids, int *n_ids, cs_error *err);

#ifdef __cplusplus
}
#endif
#endif
