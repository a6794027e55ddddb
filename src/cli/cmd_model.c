/* clipsearch model download|info */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_options.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "clipsearch/clip.h"
#include "clipsearch/models.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: clipsearch model download [NAME] [options]\n"
        "       clipsearch model info [--model DIR] [--json]\n"
        "\n"
        "download: fetches a CLIP checkpoint (default " CS_DEFAULT_MODEL_NAME ") from\n"
        "  Hugging Face ($CLIPSEARCH_HF_ENDPOINT overrides https://huggingface.co) into the\n"
        "  cache (${XDG_CACHE_HOME:-~/.cache}/clipsearch/models/<name>). Needs\n"
        "  model.safetensors (pytorch_model.bin-only checkpoints are not supported).\n"
        "  Interrupted downloads resume; files are checked by size and SHA-256 and the model\n"
        "  is installed only when complete. Offline? Copy a model folder by hand and use\n"
        "  --model DIR or CLIPSEARCH_MODEL=DIR.\n"
        "    --revision REV   branch, tag or commit (default main)\n"
        "    --dest DIR       install there instead of the cache\n"
        "    --force          download again even when installed\n"
        "    --retries N      resume attempts per file after a cut connection (default 3)\n"
        "    --quiet          no progress output\n"
        "info: shows the installed model (path, architecture, dims, dtype, files).\n"
        "    --model DIR      model directory (default $CLIPSEARCH_MODEL or the cache)\n"
        "    --json           one JSON object\n");
}

typedef struct {
    bool tty;
    char last_file[128];
    double last_print;
    int last_pct;
} progress_state;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* On a terminal: one line redrawn in place (at most 10 times a second). Otherwise: a
 * line per 10 %, so logs stay readable. */
static void on_progress(void *ud, const char *file, uint64_t done, uint64_t total)
{
    progress_state *p = ud;
    bool new_file = strcmp(p->last_file, file) != 0;
    if (new_file) {
        if (p->tty && p->last_file[0]) fputc('\n', stderr);
        snprintf(p->last_file, sizeof p->last_file, "%s", file);
        p->last_pct = -1;
    }
    int pct = total ? (int)(done * 100 / total) : -1;
    double t = now_s();
    bool finished = total && done >= total;
    if (p->tty) {
        if (!new_file && !finished && t - p->last_print < 0.1) return;
        fprintf(stderr, "\r  %-26s %8.1f MiB", file, done / 1048576.0);
        if (total) fprintf(stderr, " / %.1f MiB %3d%%", total / 1048576.0, pct);
        fflush(stderr);
    } else {
        if (pct / 10 == p->last_pct / 10 && !new_file) return;
        if (pct < 0 && !new_file) return;
        fprintf(stderr, "  %s: %.1f MiB", file, done / 1048576.0);
        if (total) fprintf(stderr, " / %.1f MiB (%d%%)", total / 1048576.0, pct);
        fputc('\n', stderr);
    }
    p->last_pct = pct;
    p->last_print = t;
}

static int download(int argc, char **argv)
{
    cs_model_download_options opt;
    cs_model_download_options_init(&opt);
    bool quiet = false;
    const cs__cli_option opts[] = {
        CLI_STRING("--revision", &opt.revision),
        CLI_STRING("--dest", &opt.dest_dir),
        CLI_SET("--force", &opt.force),
        CLI_INT("--retries", &opt.retries, 0, 100, "needs 0..100, got '%s'"),
        CLI_SET("--quiet", &quiet),
        CLI_END};
    int first, status = cli_parse_options("model download", usage, 0, opts, argc, argv, &first);
    if (status != CLI_GO_ON) return status;
    if (argc - first > 1) return cli_usage_error("model download", "expected at most one NAME");
    if (first < argc) opt.name = argv[first];
    if (!opt.name) opt.name = CS_DEFAULT_MODEL_NAME;
    progress_state ps = {.tty = isatty(STDERR_FILENO) != 0};
    if (!quiet) {
        opt.progress = on_progress;
        opt.progress_ud = &ps;
        fprintf(stderr, "clipsearch: downloading %s\n", opt.name);
    }
    cs_model_download_result res;
    cs_error err = {0};
    int rc = cs_model_download(&opt, &res, &err);
    if (ps.tty && ps.last_file[0]) fputc('\n', stderr);
    if (rc != 0) return cli_fail(&err);
    if (res.already_installed)
        printf("%s is already installed at %s (use --force to download again)\n", opt.name,
               res.dest_dir);
    else
        printf("installed %s at %s (%d files, %.1f MiB downloaded%s)\n", opt.name, res.dest_dir,
               res.files, res.bytes_downloaded / 1048576.0,
               res.bytes_resumed ? ", resumed an earlier download" : "");
    return 0;
}

static int info(int argc, char **argv)
{
    const char *model_arg = NULL;
    bool json = false;
    const cs__cli_option opts[] = {
        CLI_STRING("--model", &model_arg),
        CLI_SET("--json", &json),
        CLI_END};
    int first, status = cli_parse_options("model info", usage, 0, opts, argc, argv, &first);
    if (status != CLI_GO_ON) return status;
    if (first < argc) return cli_usage_error("model info", "unexpected argument '%s'", argv[first]);
    cs_error err = {0};
    char dir[PATH_MAX];
    if (cs_clip_resolve_model_dir(model_arg, dir, sizeof dir, &err) != 0) return cli_fail(&err);
    cs_model_info mi;
    if (cs_model_info_read(dir, &mi, &err) != 0) return cli_fail(&err);
    if (json) {
        char *s = cs_model_info_json(&mi);
        if (s) printf("%s\n", s);
        free(s);
    } else {
        printf("path:           %s\n", mi.dir);
        printf("layout:         %s\n", mi.layout);
        printf("architecture:   %s (%s)\n", mi.architecture ? mi.architecture : "?",
               mi.model_type ? mi.model_type : "?");
        printf("embedding dim:  %d\n", mi.projection_dim);
        printf("vision:         hidden %d, %d layers, %d heads, image %d, patch %d, %s\n",
               mi.vision_hidden, mi.vision_layers, mi.vision_heads, mi.image_size,
               mi.patch_size, mi.vision_act);
        printf("text:           hidden %d, %d layers, %d heads, vocab %d, context %d, %s\n",
               mi.text_hidden, mi.text_layers, mi.text_heads, mi.vocab_size,
               mi.context_length, mi.text_act);
        printf("dtype:          %s (stored %s), %.1f M parameters\n",
               mi.torch_dtype ? mi.torch_dtype : "?", mi.storage_dtypes, mi.n_params / 1e6);
        printf("files:\n");
        for (size_t i = 0; i < mi.n_files; i++)
            printf("  %-28s %12" PRIu64 " bytes\n", mi.files[i].name, mi.files[i].bytes);
        printf("total:          %.1f MiB\n", mi.total_bytes / 1048576.0);
        char compute[256];
        cs_clip_compute_info(compute, sizeof compute);
        printf("compute:        %s\n", compute);
    }
    cs_model_info_free(&mi);
    return 0;
}

int cmd_model(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "download")) return download(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info")) return info(argc - 1, argv + 1);
    return cli_usage_error("model", "unknown sub-command '%s' (download|info)", argv[1]);
}
