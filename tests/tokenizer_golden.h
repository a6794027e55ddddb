/* Helpers shared by the tokenizer golden tests: comparing our unpadded ids with a golden
 * 77-long input_ids array (ids, then 0 padding) and printing ids on a mismatch. */
#ifndef CS_TEST_TOKENIZER_GOLDEN_H
#define CS_TEST_TOKENIZER_GOLDEN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CTX 77

static inline bool same_ids(const int32_t *ids, int n, json_t *golden)
{
    if (!json_is_array(golden) || json_array_size(golden) != CTX)
        return false;
    for (int i = 0; i < CTX; i++) {
        json_int_t want = json_integer_value(json_array_get(golden, (size_t)i));
        json_int_t have = i < n ? ids[i] : 0;
        if (want != have)
            return false;
    }
    return true;
}

static inline void print_ids(const char *label, const int32_t *ids, int n)
{
    fprintf(stderr, "  %s:", label);
    for (int i = 0; i < n; i++)
        fprintf(stderr, " %d", ids[i]);
    fputc('\n', stderr);
}

#endif
