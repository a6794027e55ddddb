/* clipsearch add-text FILE|-: embed each non-empty line into a text collection. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_model.h"
#include "cli/cli_options.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "clipsearch/labels.h"
#include "clipsearch/text_collection.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: clipsearch add-text FILE|- [options]\n"
        "\n"
        "Embeds each non-empty line (trimmed) with the CLIP text encoder into a collection:\n"
        "id = the text, metadata {\"type\":\"text\"}. Then\n"
        "  clipsearch search --image photo.jpg --collection captions   is image -> text,\n"
        "  clipsearch search \"TEXT\" --collection captions              is text -> text.\n"
        "\n"
        "options:\n"
        "  --collection NAME   collection, created when missing (default captions)\n"
        "  --batch N           texts per encoder batch and upsert (default 64)\n"
        "  --json              print the counts as one JSON object\n"
        "  --db URL            store (default $CLIPSEARCH_DB or the user data dir)\n"
        "  --model DIR         CLIP model directory (default $CLIPSEARCH_MODEL or cache)\n");
}

int cmd_add_text(int argc, char **argv)
{
    const char *coll_name = "captions", *db = NULL, *model_dir = NULL;
    int batch = 64;
    bool json = false;
    const cs__cli_option opts[] = {
        CLI_STRING("--collection", &coll_name),
        CLI_INT("--batch", &batch, 1, 4096, "needs an integer 1..4096, got '%s'"),
        CLI_SET("--json", &json),
        CLI_STRING("--db", &db),
        CLI_STRING("--model", &model_dir),
        CLI_END};
    int first, status = cli_parse_options("add-text", usage, CLI_SEE_HELP, opts, argc, argv,
                                          &first);
    if (status != CLI_GO_ON) return status;
    if (first != argc - 1)
        return cli_usage_error("add-text", "expected exactly one FILE (or - for stdin)");

    cs_error err = {0};
    char *text = cli_read_text(argv[first], &err);
    if (!text) return cli_fail(&err);
    char **lines = NULL;
    size_t n = 0;
    if (cs_lines_split(text, &lines, &n, &err) != 0) {
        free(text);
        return cli_fail(&err);
    }
    free(text);

    status = 0;
    cs_clip *model = NULL;
    cs_store *store = NULL;
    cs_collection *coll = NULL;
    char *url = NULL;
    cs_add_text_stats st = {0};
    if (!(model = cli_load_model(model_dir, CS_PRECISION_FP32, &err)) || !(url = cli_resolve_db(db, true, &err)) ||
        cs_store_open(url, &store, &err) != 0 ||
        cs_store_get_or_create(store, coll_name, cs_clip_embed_dim(model), &coll, &err) != 0 ||
        cs_add_texts(model, coll, (const char *const *)lines, n, (size_t)batch, &st, &err) != 0) {
        status = cli_fail(&err);
    } else if (json) {
        json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I}", "collection", coll_name, "lines",
                              (json_int_t)st.lines, "upserted", (json_int_t)st.upserted,
                              "duplicates", (json_int_t)st.duplicates, "new",
                              (json_int_t)st.added);
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (s) printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        printf("added %zu texts to collection '%s' (%zu new, %zu already there; %zu lines, "
               "%zu duplicates)\n", st.upserted, coll_name, st.added, st.upserted - st.added,
               st.lines, st.duplicates);
    }
    if (coll) cs_collection_free(coll);
    if (store) cs_store_close(store);
    if (model) cs_clip_free(model);
    free(url);
    cs_strings_free(lines, n);
    return status;
}
