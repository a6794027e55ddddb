/* cs_tokenizer_encode: normalise, split, BPE each piece, frame with SOT/EOT.
 * All scratch is per call (the tokenizer itself is immutable and shared by threads);
 * short texts use stack buffers and never touch malloc for the code points. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"

#define SMALL_TEXT 512    /* bytes of text handled with stack buffers */
#define PREFIX_BYTES 2048 /* see encode_prefix */
#define SAFE_MARGIN 16

/* Appends the BPE ids of one piece to ids[*count .. limit). */
static int encode_piece(const cs_tokenizer *t, const uint32_t *cp, size_t n,
                        cs__tok_bpe_ws *ws, int32_t *ids, int *count, int limit)
{
    /* UTF-8 bytes of the piece, then byte-alphabet ids; the last gets "</w>". */
    if (!cs__tok_bpe_reserve(ws, 4 * n))
        return CS_E_NOMEM;
    size_t m = 0;
    uint8_t b[4];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        k = cs__tok_utf8_encode(cp[i], b);
        for (size_t q = 0; q < k; q++)
            ws->sym[m++] = t->byte_id[b[q]];
    }
    ws->sym[m - 1] = t->byte_end_id[b[k - 1]];
    long r = cs__tok_bpe(t, ws, m, 0);
    if (r < 0)
        return CS_E_NOMEM;
    for (long i = 0; i < r && *count < limit; i++)
        ids[(*count)++] = ws->sym[i];
    return 0;
}

/* Appends the ids of the pieces of normalised text b[0..n) that end at or before
 * stop. Returns 0, or CS_E_NOMEM; *complete tells whether every piece was used or the
 * id limit was reached (false: a piece ended after stop and the caller must redo). */
static int emit_pieces(const cs_tokenizer *t, const uint32_t *b, size_t n, size_t stop,
                       cs__tok_bpe_ws *ws, int32_t *ids, int *count, int limit,
                       bool *complete)
{
    size_t pos = 0, start, plen;
    int kind, rc = 0;
    *complete = true;
    while (*count < limit && cs__tok_next_piece(b, n, &pos, &start, &plen, &kind)) {
        if (start + plen > stop) {
            *complete = false;
            break;
        }
        if (kind == CS_TOK_PIECE_SOT)
            ids[(*count)++] = t->sot;
        else if (kind == CS_TOK_PIECE_EOT)
            ids[(*count)++] = t->eot;
        else if ((rc = encode_piece(t, b + start, plen, ws, ids, count, limit)) != 0)
            break;
    }
    return rc;
}

/* The whole pipeline over the whole text. */
static int encode_all(const cs_tokenizer *t, const char *text, size_t len, cs__tok_bpe_ws *ws,
                      int32_t *ids, int *count, int limit)
{
    /* a: decoded text, normalised in place; b: its lower-case form. */
    uint32_t small_a[SMALL_TEXT], small_b[SMALL_TEXT * 3];
    uint32_t *a = small_a, *b = small_b, *heap = NULL;
    size_t lmax = cs__tok_lower_max < 3 ? cs__tok_lower_max : 3;
    if (len > SMALL_TEXT) {
        heap = malloc(len * (1 + lmax) * sizeof *heap);
        if (!heap)
            return CS_E_NOMEM;
        a = heap;
        b = heap + len;
    }
    size_t n = cs__tok_utf8_decode((const uint8_t *)text, len, a);
    if (memchr(text, '&', len)) {
        n = cs__tok_html_unescape(a, n);
        n = cs__tok_html_unescape(a, n);
    }
    n = cs__tok_clean_whitespace(a, n);
    n = cs__tok_lower(a, n, b);
    bool complete;
    int rc = emit_pieces(t, b, n, SIZE_MAX, ws, ids, count, limit, &complete);
    free(heap);
    return rc;
}

/* Long texts: only the first context_length-2 ids matter, so when the text starts with
 * PREFIX_BYTES of ASCII without '&' we tokenize just that prefix. Why this is exact:
 * for such a prefix P, decoding, lower-casing and whitespace collapsing are per
 * character or per run, so normalise(P) is a prefix of normalise(text) (only P's
 * trailing whitespace can differ, and the trailing strip removes it from ours). A piece
 * of normalise(P) that ends at least SAFE_MARGIN characters before its end was decided
 * by characters we have (the longest literal alternative, <|startoftext|>, looks 15
 * ahead), so it is a piece of the full text too. If the prefix yields too few ids we
 * discard them and run the full pipeline. */
static int encode_prefix(const cs_tokenizer *t, const char *text, cs__tok_bpe_ws *ws,
                         int32_t *ids, int *count, int limit)
{
    uint32_t a[PREFIX_BYTES], b[PREFIX_BYTES];
    for (size_t i = 0; i < PREFIX_BYTES; i++) {
        uint8_t c = (uint8_t)text[i];
        if (c >= 0x80 || c == '&')
            return 0;
        a[i] = c;
    }
    size_t n = cs__tok_clean_whitespace(a, PREFIX_BYTES);
    n = cs__tok_lower(a, n, b); /* ASCII: never longer */
    if (n <= SAFE_MARGIN)
        return 0;
    int saved = *count;
    bool complete;
    int rc = emit_pieces(t, b, n, n - SAFE_MARGIN, ws, ids, count, limit, &complete);
    if (rc == 0 && *count < limit)
        *count = saved; /* not enough: start again on the whole text */
    return rc;
}

int cs_tokenizer_encode(const cs_tokenizer *tok, const char *text, int context_length,
                        int32_t *ids, int *n_ids, cs_error *err)
{
    return cs_tokenizer_encode_len(tok, text, text ? strlen(text) : 0, context_length, ids,
                                   n_ids, err);
}

int cs_tokenizer_encode_len(const cs_tokenizer *tok, const char *text, size_t len,
                            int context_length, int32_t *ids, int *n_ids, cs_error *err)
{
    if (n_ids)
        *n_ids = 0;
    if (!tok || !text || !ids || !n_ids)
        return cs_error_set(err, CS_E_ARG, "cs_tokenizer_encode: %s is NULL",
                            !tok ? "tokenizer" : !text ? "text" : !ids ? "ids" : "n_ids");
    if (context_length < 2)
        return cs_error_set(err, CS_E_ARG,
                            "cs_tokenizer_encode: context_length %d < 2 (room for SOT and EOT)",
                            context_length);
    if (len > CS_TOK_MAX_TEXT_BYTES)
        return cs_error_set(err, CS_E_TOO_LARGE,
                            "cs_tokenizer_encode: text of %zu bytes exceeds the limit of %u",
                            len, CS_TOK_MAX_TEXT_BYTES);

    int count = 1, limit = context_length - 1; /* the last slot is EOT */
    int rc = 0;
    cs__tok_bpe_ws ws;
    cs__tok_bpe_ws_init(&ws);
    ids[0] = tok->sot;
    if (len > 2 * PREFIX_BYTES)
        rc = encode_prefix(tok, text, &ws, ids, &count, limit);
    if (rc == 0 && count < limit)
        rc = encode_all(tok, text, len, &ws, ids, &count, limit);
    cs__tok_bpe_ws_free(&ws);
    if (rc != 0)
        return cs_error_set(err, rc, "cs_tokenizer_encode: out of memory (text of %zu bytes)",
                            len);
    ids[count++] = tok->eot;
    *n_ids = count;
    return 0;
}
