/* Loading vocab.json + merges.txt into the structures encode needs: the 2x256
 * byte-alphabet ids, SOT/EOT, and a hash map (left id, right id) -> (rank, merged id).
 * The token-string map is only needed while loading and is freed afterwards. */
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "tokenizer/tokenizer_internal.h"

#define MAX_FILE_BYTES (256u << 20)

/* ---- byte alphabet -------------------------------------------------------------- */

/* GPT-2/CLIP bytes_to_unicode: printable Latin-1 bytes stand for themselves, the 68
 * others map to U+0100.. in ascending byte order. */
static uint32_t byte_to_cp(unsigned b)
{
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
        return b;
    uint32_t n = 0;
    for (unsigned k = 0; k < b; k++)
        if (!((k >= 0x21 && k <= 0x7E) || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF)))
            n++;
    return 256 + n;
}

static int load_alphabet(cs_tokenizer *t, const cs__tok_vmap *m, cs_error *err)
{
    for (unsigned b = 0; b < 256; b++) {
        uint8_t key[8];
        size_t k = cs__tok_utf8_encode(byte_to_cp(b), key);
        t->byte_id[b] = cs__tok_vmap_get(m, key, k);
        memcpy(key + k, "</w>", 4);
        t->byte_end_id[b] = cs__tok_vmap_get(m, key, k + 4);
        if (t->byte_id[b] < 0 || t->byte_end_id[b] < 0)
            return cs_error_set(err, CS_E_FORMAT,
                                "%s: byte-level symbol for byte 0x%02X%s is missing", m->path,
                                b, t->byte_id[b] < 0 ? "" : " + </w>");
    }
    t->sot = cs__tok_vmap_get(m, (const uint8_t *)"<|startoftext|>", 15);
    t->eot = cs__tok_vmap_get(m, (const uint8_t *)"<|endoftext|>", 13);
    if (t->sot < 0 || t->eot < 0)
        return cs_error_set(err, CS_E_FORMAT, "%s: no \"%s\" token", m->path,
                            t->sot < 0 ? "<|startoftext|>" : "<|endoftext|>");
    return 0;
}

/* ---- public --------------------------------------------------------------------- */

int cs_tokenizer_load(const char *vocab_json_path, const char *merges_path,
                      cs_tokenizer **out, cs_error *err)
{
    if (!out)
        return cs_error_set(err, CS_E_ARG, "cs_tokenizer_load: out is NULL");
    *out = NULL;
    if (!vocab_json_path || !merges_path)
        return cs_error_set(err, CS_E_ARG, "cs_tokenizer_load: %s path is NULL",
                            vocab_json_path ? "merges" : "vocab");
    uint8_t *json = NULL, *txt = NULL;
    size_t json_len = 0, txt_len = 0;
    cs__tok_vmap m = {.max_id = -1, .path = vocab_json_path, .err = err};
    cs_tokenizer *t = calloc(1, sizeof *t);
    int rc;
    if (!t)
        return cs_error_set(err, CS_E_NOMEM, "cs_tokenizer_load: out of memory");
    if ((rc = cs__read_file(vocab_json_path, MAX_FILE_BYTES, &json, &json_len, err)) != 0 ||
        (rc = cs__read_file(merges_path, MAX_FILE_BYTES, &txt, &txt_len, err)) != 0)
        goto fail;
    m.arena = malloc(json_len + 1);
    if (!m.arena) {
        rc = cs_error_set(err, CS_E_NOMEM, "%s: out of memory", vocab_json_path);
        goto fail;
    }
    /* Every entry has one ':' (keys may hold more): a cheap upper bound on the count. */
    size_t colons = 0;
    for (const uint8_t *q = json; (q = memchr(q, ':', (size_t)(json + json_len - q))) != NULL;
         q++)
        colons++;
    if ((rc = cs__tok_vmap_grow(&m, colons)) != 0 ||
        (rc = cs__tok_parse_vocab(json, json_len, vocab_json_path, cs__tok_vmap_add, &m, err)) != 0 ||
        (rc = load_alphabet(t, &m, err)) != 0)
        goto fail;
    t->n_entries = m.count;
    t->vocab_size = (size_t)m.max_id + 1;
    /* Only the merges that made the vocabulary: len(vocab) - 512 byte symbols - 2
     * specials (48,894 for CLIP, whose merges file holds many more lines). */
    if (m.count < 514) {
        rc = cs_error_set(err, CS_E_FORMAT,
                          "%s: %zu entries, fewer than 512 byte symbols + 2 special tokens",
                          vocab_json_path, m.count);
        goto fail;
    }
    if ((rc = cs__tok_load_merges(t, &m, txt, txt_len, merges_path, m.count - 514, err)) != 0)
        goto fail;
    free(m.slots);
    free(m.arena);
    free(json);
    free(txt);
    *out = t;
    return 0;
fail:
    free(m.slots);
    free(m.arena);
    free(json);
    free(txt);
    cs_tokenizer_free(t);
    return rc;
}

void cs_tokenizer_free(cs_tokenizer *tok)
{
    if (!tok)
        return;
    free(tok->merges);
    free(tok);
}

int32_t cs_tokenizer_sot(const cs_tokenizer *tok) { return tok ? tok->sot : -1; }
int32_t cs_tokenizer_eot(const cs_tokenizer *tok) { return tok ? tok->eot : -1; }
size_t cs_tokenizer_vocab_size(const cs_tokenizer *tok) { return tok ? tok->vocab_size : 0; }
