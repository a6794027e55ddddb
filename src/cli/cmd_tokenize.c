/* clipsearch tokenize [--model DIR] TEXT...
 * One JSON object per text: {"text":...,"ids":[SOT, BPE ids..., EOT]} — truncated to the
 * model's context length, not padded. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_json.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "clipsearch/clip.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: clipsearch tokenize [--model DIR] TEXT...\n"
                 "Prints one JSON line per text: text, ids (SOT ... EOT, no padding).\n");
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model_arg = NULL;
    int only_texts = 0;
    char **texts = calloc((size_t)argc + 1, sizeof *texts);
    int nt = 0;
    if (!texts) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_texts && !strcmp(a, "--")) {
            only_texts = 1;
        } else if (!only_texts && (!strcmp(a, "--help") || !strcmp(a, "-h"))) {
            usage(stdout);
            free(texts);
            return 0;
        } else if (!only_texts && !strcmp(a, "--model")) {
            if (i + 1 >= argc) {
                free(texts);
                return cli_usage_error("tokenize", "--model needs a value");
            }
            model_arg = argv[++i];
        } else if (!only_texts && a[0] == '-' && a[1] == '-') {
            free(texts);
            return cli_usage_error("tokenize", "unknown option '%s' (use -- before a text "
                                               "that starts with --)", a);
        } else {
            texts[nt++] = argv[i];
        }
    }
    if (nt == 0) {
        usage(stderr);
        free(texts);
        return 2;
    }
    cs_error err = {0};
    char dir[PATH_MAX];
    cs_clip *m = NULL;
    if (cs_clip_resolve_model_dir(model_arg, dir, sizeof dir, &err) ||
        cs_clip_load(dir, NULL, &m, &err)) {
        free(texts);
        return cli_fail(&err);
    }
    int ctx = cs_clip_context_length(m), status = 0;
    int32_t *ids = malloc((size_t)ctx * sizeof *ids);
    for (int t = 0; ids && t < nt; t++) {
        int n = 0;
        if (cs_tokenizer_encode(cs_clip_tokenizer(m), texts[t], ctx, ids, &n, &err) != 0) {
            status = cli_fail(&err);
            break;
        }
        printf("{\"text\":");
        cli_json_string(stdout, texts[t]);
        printf(",\"ids\":[");
        for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", (int)ids[i]);
        printf("]}\n");
    }
    if (!ids) status = 1;
    free(ids);
    free(texts);
    cs_clip_free(m);
    return status;
}
