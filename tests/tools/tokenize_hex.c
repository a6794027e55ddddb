/* Test helper: tokenize_hex VOCAB MERGES [CONTEXT]
 * Reads one hex-encoded UTF-8 (or arbitrary bytes) text per stdin line and prints the
 * token ids (SOT..EOT, unpadded) space-separated, one line per input. A line of the
 * form "N:HEX" uses context length N for that text. Used by
 * scripts/tokenizer_crosscheck.py to compare against a Python reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipsearch/tokenizer.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s VOCAB MERGES [CONTEXT]\n", argv[0]);
        return 2;
    }
    int ctx = argc > 3 ? atoi(argv[3]) : 77;
    cs_error err = {0};
    cs_tokenizer *tok = NULL;
    if (cs_tokenizer_load(argv[1], argv[2], &tok, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int32_t *ids = malloc((size_t)ctx * sizeof *ids);
    size_t cap = 1 << 16;
    char *line = malloc(cap), *text = malloc(cap);
    int rc = 0;
    while (ids && line && text && fgets(line, (int)cap, stdin)) {
        char *hex = line, *colon = strchr(line, ':');
        int lctx = ctx;
        if (colon) {
            lctx = atoi(line);
            hex = colon + 1;
        }
        if (lctx > ctx) {
            int32_t *bigger = realloc(ids, (size_t)lctx * sizeof *ids);
            if (!bigger)
                break;
            ids = bigger;
            ctx = lctx;
        }
        size_t hl = strcspn(hex, "\r\n"), n = hl / 2;
        for (size_t k = 0; k < n; k++) {
            unsigned v = 0;
            sscanf(hex + 2 * k, "%2x", &v);
            text[k] = (char)v;
        }
        int cnt = 0;
        if (cs_tokenizer_encode_len(tok, text, n, lctx, ids, &cnt, &err) != 0) {
            printf("ERROR %s\n", err.msg);
            rc = 1;
            continue;
        }
        for (int i = 0; i < cnt; i++)
            printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
    }
    free(ids);
    free(line);
    free(text);
    cs_tokenizer_free(tok);
    return rc;
}
