/* The split pattern of SimpleTokenizer, hand-compiled:
 *   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 * with the `regex` module's findall semantics (IGNORECASE): at each position the first
 * alternative that matches wins; positions where nothing matches are skipped. */
#include "tokenizer/tokenizer_internal.h"

/* Matches the ASCII literal lit at s[i] the way IGNORECASE does (the text is already
 * lower-case, but e.g. U+017F LONG S still equals 's'). *exact is cleared when a
 * non-ASCII equivalent was used. */
static bool match_literal(const uint32_t *s, size_t n, size_t i, const char *lit,
                          size_t len, bool *exact)
{
    if (n - i < len)
        return false;
    for (size_t k = 0; k < len; k++) {
        uint32_t c = s[i + k];
        if (c == (uint8_t)lit[k])
            continue;
        uint32_t f = cs__tok_ascii_fold_cp(c);
        if (f >= 'A' && f <= 'Z')
            f += 32;
        if (f != (uint8_t)lit[k])
            return false;
        *exact = false;
    }
    return true;
}

bool cs__tok_next_piece(const uint32_t *s, size_t n, size_t *pos, size_t *start,
                       size_t *len, int *kind)
{
    static const char *const specials[2] = {"<|startoftext|>", "<|endoftext|>"};
    static const size_t special_len[2] = {15, 13};
    static const char *const contractions[7] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    static const size_t contraction_len[7] = {2, 2, 3, 3, 2, 3, 2};

    for (size_t i = *pos; i < n; i++) {
        uint32_t c = s[i];
        *start = i;
        *kind = CS_TOK_PIECE_TEXT;
        if (c == '<') {
            for (int k = 0; k < 2; k++) {
                bool exact = true;
                if (match_literal(s, n, i, specials[k], special_len[k], &exact)) {
                    *len = special_len[k];
                    *pos = i + *len;
                    /* Only the exact string hits SimpleTokenizer's cache of specials; a
                     * case-insensitive variant is an ordinary BPE word. */
                    if (exact)
                        *kind = k == 0 ? CS_TOK_PIECE_SOT : CS_TOK_PIECE_EOT;
                    return true;
                }
            }
        } else if (c == '\'') {
            for (int k = 0; k < 7; k++) {
                bool exact = true;
                if (match_literal(s, n, i, contractions[k], contraction_len[k], &exact)) {
                    *len = contraction_len[k];
                    *pos = i + *len;
                    return true;
                }
            }
        }
        cs__tok_class cls = cs__tok_classify(c);
        if (cls == CS_TOK_SPACE || cls == CS_TOK_UNMATCHED)
            continue;
        size_t e = i + 1;
        if (cls != CS_TOK_NUMBER)
            while (e < n && cs__tok_classify(s[e]) == cls)
                e++;
        *len = e - i;
        *pos = e;
        return true;
    }
    *pos = n;
    return false;
}
