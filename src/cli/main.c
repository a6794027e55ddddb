/* clipsearch: sub-command dispatch. Argument parsing and output live in cmd_*.c;
 * everything else is in the library. */
#include <stdio.h>
#include <string.h>

#include "cli/cli_options.h"
#include "cli/commands.h"
#include "clipsearch/image.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command;

static const command COMMANDS[] = {
    {"index", cmd_index, "embed images under DIR... (recursive, incremental)"},
    {"search", cmd_search, "search by text and/or --image FILE"},
    {"duplicates", cmd_duplicates, "exact copies and near-duplicate groups in a collection"},
    {"add-text", cmd_add_text, "embed lines of text into a collection"},
    {"labels", cmd_labels, "zero-shot: rank --labels a,b,c for an image"},
    {"embed", cmd_embed, "print embeddings of --text T / --image F as JSON lines"},
    {"tokenize", cmd_tokenize, "print CLIP token ids of TEXT... as JSON lines"},
    {"vec", cmd_vec, "raw vecs operations: list|create|describe|drop|upsert|fetch|get|delete|query|create-index"},
    {"model", cmd_model, "download|info: manage CLIP models"},
    {"serve", cmd_serve, "web UI + HTTP JSON API on 127.0.0.1 (--port, default 8765)"},
    {"finetune", cmd_finetune, "contrastive fine-tuning on image/caption pairs -> a new model"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: clipsearch <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(out, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].help);
    fprintf(out, "\nRun 'clipsearch <command> --help' for the options of a command;\n"
                 "'clipsearch --version' for the version and what this build reads.\n");
}

/* What a bug report needs: the version, and what this build was made with. */
static void version(void)
{
    printf("clipsearch %s\n", CS_VERSION_STRING);
    printf("image formats: %s\n", cs_image_supported_formats());
    printf("model engine: 'clipsearch model info' (GEMM engine and CPU features at run time)\n");
}

int main(int argc, char **argv)
{
    int status = cli_dispatch_help(argc, argv, usage);
    if (status != CLI_GO_ON) return status;
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V") || !strcmp(argv[1], "version")) {
        version();
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "clipsearch: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
