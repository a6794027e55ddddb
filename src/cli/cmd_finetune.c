/* clipsearch finetune: contrastive fine-tuning of the projection heads on image/caption
 * pairs (clipsearch/finetune.h); prints one line (or JSON object) per epoch. */
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_json.h"
#include "base/progress.h"
#include "cli/cli_options.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "clipsearch/clip.h"
#include "clipsearch/finetune.h"

/* Set by SIGINT/SIGTERM: the run stops before its next batch, keeping the last finished
 * epoch for --resume. One-shot handler (SA_RESETHAND): a second Ctrl-C kills at once. */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: clipsearch finetune --pairs FILE --out DIR [options]\n"
        "\n"
        "Fine-tunes a CLIP model on image/caption pairs with the contrastive loss and\n"
        "writes a complete Hugging Face checkpoint (F32) to DIR, usable as --model DIR.\n"
        "The projection heads (visual_projection, text_projection) always train; --train\n"
        "last:K also trains the last K encoder layers of both towers and their final layer\n"
        "norms. What stays frozen runs once per image and caption and its output is cached\n"
        "(with last:K, the hidden states entering the trainable layers: about 150 KiB per\n"
        "image for ViT-B/32; each batch then runs forward and backward through K layers).\n"
        "\n"
        "pairs: TSV lines image_path<TAB>caption, or JSON lines {\"image\": ..., \"text\": ...};\n"
        "relative paths are relative to the file's folder; an image may have several\n"
        "captions. Pairs whose image is missing or undecodable are skipped and counted\n"
        "(an error when fewer than 2 remain).\n"
        "\n"
        "options:\n"
        "  --model DIR           model to start from (default $CLIPSEARCH_MODEL or cache)\n"
        "  --val FILE            held-out pairs for validation (same formats)\n"
        "  --val-split F         else hold out this fraction of the distinct images\n"
        "                        (seeded; default 0.1; 0 = no validation)\n"
        "  --train heads|last:K|all  what to train besides the heads (default heads;\n"
        "                        last:K: K >= 1 layers of each tower; all: every weight\n"
        "                        but logit_scale, embeddings included)\n"
        "  --loss clip|mnrl      clip: symmetric (image->text + text->image)/2 (default);\n"
        "                        mnrl: text->image only\n"
        "  --scale S             logit scale (default exp(logit_scale) of the model)\n"
        "  --optimizer adamw|sgd default adamw (betas 0.9/0.999, eps 1e-8)\n"
        "  --lr X                learning rate (default 1e-4)\n"
        "  --weight-decay X      AdamW's decoupled weight decay (default 0.01)\n"
        "  --epochs N            default 1\n"
        "  --batch N             pairs per batch, >= 2 (default 32)\n"
        "  --schedule constant|linear|cosine   after the warm-up (default constant)\n"
        "  --warmup-steps N      linear warm-up from 0 (default 0)\n"
        "  --seed N              shuffling and the validation split (default 0)\n"
        "  --no-shuffle          batches of consecutive pairs in file order\n"
        "  --st-layout           write sentence-transformers' layout (DIR/modules.json and\n"
        "                        the checkpoint in DIR/0_CLIPModel); --model DIR reads it\n"
        "  --resume              continue an interrupted run from DIR.partial (written\n"
        "                        after every epoch; same model, pairs and options)\n"
        "  --no-exif-orientation decode images as stored, not as displayed\n"
        "  --json                one JSON object per epoch (epoch 0 = before training),\n"
        "                        then a summary object\n"
        "  --quiet               no progress or epoch lines (warnings and errors only)\n"
        "\n"
        "Ctrl-C stops before the next batch (exit status 130); --resume continues from\n"
        "the last finished epoch. DIR must not exist (or be empty); it appears complete\n"
        "or not at all.\n");
}

typedef struct {
    bool json, quiet;
    bool bar;                   /* a progress line on stderr (a terminal) */
    bool bar_shown;
    cs__rate rate;               /* steps per second, smoothed */
    uint64_t steps_done;
} out_ctx;

/* Clears the progress line before anything else is printed. */
static void clear_bar(out_ctx *o)
{
    if (!o->bar_shown) return;
    fputs("\r\033[K", stderr);
    o->bar_shown = false;
}

static void on_step(void *ctx, const cs_ft_step *s)
{
    out_ctx *o = ctx;
    if (!o->bar) return;
    double now = cs__now();
    if (o->steps_done++ == 0) cs__rate_init(&o->rate, now, 0);
    else cs__rate_update(&o->rate, now, o->steps_done);
    enum { W = 24 };
    char bar[W + 1], eta[32] = "?";
    int fill = s->steps ? (int)(W * s->step / s->steps) : 0;
    for (int i = 0; i < W; i++) bar[i] = i < fill ? '#' : '.';
    bar[W] = '\0';
    long left = (long)(s->epochs - s->epoch) * s->steps + (s->steps - s->step);
    if (o->rate.rate > 0) cs__format_duration((double)left / o->rate.rate, eta, sizeof eta);
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %ld/%ld  loss %.4f (mean %.4f)  ETA %s", s->epoch,
            s->epochs, bar, s->step, s->steps, s->loss, s->mean_loss, eta);
    fflush(stderr);
    o->bar_shown = true;
}

static void json_num(const char *key, double v, bool comma)
{
    if (isfinite(v)) printf("\"%s\":%.9g%s", key, v, comma ? "," : "");
    else printf("\"%s\":null%s", key, comma ? "," : "");
}

static void on_epoch(void *ctx, const cs_ft_epoch *e)
{
    out_ctx *o = ctx;
    clear_bar(o);
    if (o->json) {
        printf("{\"epoch\":%d,\"epochs\":%d,\"steps\":%ld,", e->epoch, e->epochs, e->steps);
        json_num("lr", e->lr, true);
        json_num("train_loss", e->train_loss, true);
        json_num("val_loss", e->val_loss, true);
        json_num("val_recall_1", e->val_recall1, true);
        json_num("val_recall_5", e->val_recall5, true);
        json_num("val_i2t_recall_1", e->val_i2t_recall1, true);
        json_num("val_i2t_recall_5", e->val_i2t_recall5, true);
        printf("\"n_train\":%zu,\"n_val\":%zu,", e->n_train, e->n_val);
        json_num("seconds", e->seconds, false);
        printf("}\n");
    } else if (!o->quiet) {
        printf("epoch %d/%d  train loss %.4f", e->epoch, e->epochs, e->train_loss);
        if (e->n_val)
            printf("  val loss %.4f  text->image R@1 %.3f R@5 %.3f  image->text R@1 %.3f R@5 %.3f",
                   e->val_loss, e->val_recall1, e->val_recall5, e->val_i2t_recall1,
                   e->val_i2t_recall5);
        printf("  (%.2f s)%s\n", e->seconds, e->epoch == 0 ? "  before training" : "");
    }
    fflush(stdout);
}

static void on_notice(void *ctx, const char *msg)
{
    out_ctx *o = ctx;
    clear_bar(o);
    if (!o->quiet) fprintf(stderr, "clipsearch: finetune: %s\n", msg);
}

static void on_warning(void *ctx, const char *msg)
{
    clear_bar(ctx);
    fprintf(stderr, "clipsearch: finetune: warning: %s\n", msg);
}

static bool parse_double(const char *s, double min, bool min_open, double max, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v < min || (min_open && v == min) || v > max)
        return false;
    *out = v;
    return true;
}

/* One of names[] (NULL-terminated) -> *(int *)target = its index; false for others. */
static bool pick(const char *s, const char *const *names, void *target)
{
    for (int i = 0; names[i]; i++)
        if (!strcmp(s, names[i])) {
            *(int *)target = i;
            return true;
        }
    return false;
}

static const char *parse_loss(const char *s, void *target)
{
    static const char *const LOSSES[] = {"clip", "mnrl", NULL};
    return pick(s, LOSSES, target) ? NULL : "is clip or mnrl, got '%s'";
}

static const char *parse_optimizer(const char *s, void *target)
{
    static const char *const OPTIMIZERS[] = {"adamw", "sgd", NULL};
    return pick(s, OPTIMIZERS, target) ? NULL : "is adamw or sgd, got '%s'";
}

static const char *parse_schedule(const char *s, void *target)
{
    static const char *const SCHEDULES[] = {"constant", "linear", "cosine", NULL};
    return pick(s, SCHEDULES, target) ? NULL : "is constant, linear or cosine, got '%s'";
}

static const char *parse_val_split(const char *s, void *target)
{
    double d;
    if (!parse_double(s, 0.0, false, 1.0, &d) || d >= 1.0)
        return "needs a fraction in [0, 1), got '%s'";
    *(double *)target = d;
    return NULL;
}

static const char *parse_scale(const char *s, void *target)
{
    return parse_double(s, 0.0, true, 1e6, target) ? NULL : "needs a number > 0, got '%s'";
}

static const char *parse_lr(const char *s, void *target)
{
    return parse_double(s, 0.0, true, 1e3, target) ? NULL : "needs a number > 0, got '%s'";
}

static const char *parse_weight_decay(const char *s, void *target)
{
    return parse_double(s, 0.0, false, 1e3, target) ? NULL : "needs a number >= 0, got '%s'";
}

/* heads | last:K | all -> train_layers 0 | K | -1 */
static const char *parse_train(const char *s, void *target)
{
    int *layers = target;
    long k;
    if (!strcmp(s, "heads")) {
        *layers = 0;
    } else if (!strncmp(s, "last:", 5)) {
        if (!cli_parse_int(s + 5, 1, 1000, &k)) return "last:K needs K >= 1, got '%s'";
        *layers = (int)k;
    } else if (!strcmp(s, "all")) {
        *layers = -1;
    } else {
        return "is heads, last:K or all, got '%s'";
    }
    return NULL;
}

int cmd_finetune(int argc, char **argv)
{
    cs_finetune_options fo;
    cs_finetune_options_init(&fo);
    const char *model_arg = NULL, *pairs = NULL, *out = NULL;
    out_ctx oc = {0};
    double val_split = -1;   /* < 0: not given */
    long seed = -1;
    const cs__cli_option opts[] = {
        CLI_STRING("--model", &model_arg),
        CLI_STRING("--pairs", &pairs),
        CLI_STRING("--out", &out),
        CLI_STRING("--val", &fo.val_path),
        CLI_PARSE("--val-split", &val_split, parse_val_split),
        CLI_PARSE("--train", &fo.train_layers, parse_train),
        CLI_PARSE("--loss", &fo.loss, parse_loss),
        CLI_PARSE("--scale", &fo.scale, parse_scale),
        CLI_PARSE("--optimizer", &fo.optimizer, parse_optimizer),
        CLI_PARSE("--lr", &fo.lr, parse_lr),
        CLI_PARSE("--weight-decay", &fo.weight_decay, parse_weight_decay),
        CLI_INT("--epochs", &fo.epochs, 1, 1000000, "needs an integer >= 1, got '%s'"),
        CLI_INT("--batch", &fo.batch, 2, 1000000, "needs an integer >= 2, got '%s'"),
        CLI_PARSE("--schedule", &fo.schedule, parse_schedule),
        CLI_LONG("--warmup-steps", &fo.warmup_steps, 0, 1000000000,
                 "needs an integer >= 0, got '%s'"),
        CLI_LONG("--seed", &seed, 0, LONG_MAX, "needs an integer >= 0, got '%s'"),
        CLI_CLEAR("--no-shuffle", &fo.shuffle),
        CLI_SET("--resume", &fo.resume),
        CLI_SET("--st-layout", &fo.st_layout),
        CLI_CLEAR("--no-exif-orientation", &fo.image.apply_exif_orientation),
        CLI_SET("--json", &oc.json),
        CLI_SET("--quiet", &oc.quiet),
        CLI_END};
    int first, status = cli_parse_options("finetune", usage, CLI_SEE_HELP | CLI_NAME_LETTER, opts,
                                          argc, argv, &first);
    if (status != CLI_GO_ON) return status;
    bool have_split = val_split >= 0;
    if (have_split) fo.val_split = val_split;
    if (seed >= 0) fo.seed = (uint64_t)seed;
    if (first < argc)
        return cli_usage_error("finetune", "unexpected argument '%s' (see --help)", argv[first]);
    if (!pairs || !out)
        return cli_usage_error("finetune", "--pairs FILE and --out DIR are required (see --help)");
    if (fo.val_path && have_split)
        return cli_usage_error("finetune", "--val and --val-split exclude each other");

    cs_error err = {0};
    char dir[PATH_MAX];
    if (cs_clip_resolve_model_dir(model_arg, dir, sizeof dir, &err)) return cli_fail(&err);
    fo.on_epoch = on_epoch;
    fo.on_notice = on_notice;
    fo.on_step = on_step;
    /* The progress line only where someone watches it. */
    oc.bar = !oc.quiet && isatty(STDERR_FILENO);
    fo.on_warning = on_warning;
    fo.ctx = &oc;
    g_stop = 0;
    fo.stop = &g_stop;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    cs_finetune_result res;
    int rc = cs_finetune_run(dir, pairs, out, &fo, &res, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    clear_bar(&oc);
    if (rc == CS_E_INTERRUPTED) {
        cli_fail(&err);
        return 130; /* as index: killed by SIGINT, by convention */
    }
    if (rc) return cli_fail(&err);
    if (oc.json) {
        printf("{\"out\":");
        cli_json_string(stdout, out);
        printf(",\"n_train\":%zu,\"n_val\":%zu,\"n_skipped\":%zu,\"n_images\":%zu,"
               "\"n_texts\":%zu,\"first_epoch\":%d,",
               res.n_train, res.n_val, res.n_skipped, res.n_images, res.n_texts, res.first_epoch);
        json_num("cache_seconds", res.cache_seconds, true);
        json_num("images_per_second", res.images_per_second, true);
        json_num("train_seconds", res.train_seconds, false);
        printf("}\n");
    } else if (!oc.quiet) {
        fprintf(stderr,
                "clipsearch: finetune: wrote %s (%zu training pairs, %zu validation pairs, %zu "
                "skipped; features of %zu images in %.1f s, %.1f images/s; epochs %.2f s)\n",
                out, res.n_train, res.n_val, res.n_skipped, res.n_images, res.cache_seconds,
                res.images_per_second, res.train_seconds);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
