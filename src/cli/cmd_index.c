/* clipsearch index DIR...: argument parsing, signals and rendering of the indexer's
 * progress, warnings and summary. The work is cs_index_run (src/app/indexer*.c). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/progress.h"
#include "base/pathid.h"
#include "base/walk.h"
#include "cli/cli_options.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "clipsearch/clip.h"
#include "clipsearch/indexer.h"
#include "clipsearch/store.h"

/* Set by the first SIGINT/SIGTERM; the indexer finishes its batch and returns. A second
 * one stops at once (the batch in hand is not committed: the store rolls it back) but
 * still says where the run stood, from the counters of the last progress report. */
static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_finishing;   /* the run returned: the summary is coming */
/* Written by on_progress on the indexing thread, read by the handler (aligned 64-bit
 * stores: no torn reads on the CPUs we build for). */
static volatile uint64_t g_done, g_total, g_new, g_reused, g_unchanged, g_failed;

static void put_str(char *buf, size_t *n, size_t cap, const char *s)
{
    while (*s && *n + 1 < cap) buf[(*n)++] = *s++;
}

static void put_u64(char *buf, size_t *n, size_t cap, uint64_t v)
{
    char tmp[24];
    int k = 0;
    do tmp[k++] = (char)('0' + v % 10); while ((v /= 10) && k < 23);
    while (k && *n + 1 < cap) buf[(*n)++] = tmp[--k];
}

static void on_signal(int sig)
{
    (void)sig;
    if (!g_stop) {
        g_stop = 1;
        static const char msg[] = "\nclipsearch: index: stopping after the batch in hand "
                                  "(Ctrl-C again to stop at once)\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        return;
    }
    if (g_finishing) return;
    /* Async-signal-safe: no stdio, no malloc. */
    char b[512];
    size_t n = 0;
    put_str(b, &n, sizeof b, "\nclipsearch: index: interrupted again: stopped without "
                             "committing the batch in hand; ");
    put_u64(b, &n, sizeof b, g_done);
    put_str(b, &n, sizeof b, " of ");
    put_u64(b, &n, sizeof b, g_total);
    put_str(b, &n, sizeof b, " files done (new ");
    put_u64(b, &n, sizeof b, g_new);
    put_str(b, &n, sizeof b, ", reused ");
    put_u64(b, &n, sizeof b, g_reused);
    put_str(b, &n, sizeof b, ", unchanged ");
    put_u64(b, &n, sizeof b, g_unchanged);
    put_str(b, &n, sizeof b, ", failed ");
    put_u64(b, &n, sizeof b, g_failed);
    put_str(b, &n, sizeof b, "); every committed batch is stored: run the same command to "
                             "resume\n");
    ssize_t w = write(STDERR_FILENO, b, n);
    (void)w;
    _exit(130);
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: clipsearch index [options] DIR...\n"
        "\n"
        "Embeds the images under each DIR (recursively; files are recognised by content)\n"
        "into a collection. Incremental: files whose size and mtime (or content) did not\n"
        "change are skipped; moved or duplicated files reuse their stored vector.\n"
        "Record id = absolute canonical path (a file: IRI with %%XX escapes when the path\n"
        "is not printable UTF-8); metadata: type, format, name, width, height, bytes,\n"
        "mtime (seconds), mtime_ns, hash (XXH3-128).\n"
        "\n"
        "Skipped below each DIR (a DIR itself is always walked): hidden names, the trees\n"
        ".git node_modules .thumbnails @eaDir .@__thumb $RECYCLE.BIN .Trash-* lost+found,\n"
        "--exclude globs, and the globs of .clipsearchignore files (one per line, # comments,\n"
        "relative to the folder holding the file). Records of files excluded later stay in\n"
        "the collection; --prune deletes only records of files that no longer exist.\n"
        "\n"
        "options:\n"
        "  --db URL              store (default $CLIPSEARCH_DB or the user data dir)\n"
        "  --collection NAME     collection (default image_vectors)\n"
        "  --model DIR           CLIP model directory (default $CLIPSEARCH_MODEL or cache)\n"
        "  --jobs N              decoding threads (default: number of CPUs)\n"
        "  --batch N             images per model call and per commit (default 32)\n"
        "  --prune               delete records under the DIRs whose file is gone\n"
        "  --max-memory SIZE     memory the decoding threads may hold at once, e.g. 2G\n"
        "                        (default a quarter of RAM); a larger image decodes alone\n"
        "  --reembed             re-embed every record under the DIRs with this model and\n"
        "                        these options (how a collection changes model; resumable)\n"
        "  --exclude GLOB        skip names matching GLOB (repeatable): without \"/\" it\n"
        "                        matches a base name at any depth, with \"/\" the path\n"
        "                        relative to the DIR, a leading \"/\" the absolute path;\n"
        "                        a trailing \"/\" matches directories only\n"
        "  --include-hidden      also index names starting with \".\" (skipped by default)\n"
        "  --no-exif-orientation embed images as stored, ignoring EXIF rotation\n"
        "  --precision P         fp32 (default: the reference numbers) or bf16 (faster on\n"
        "                        CPUs with AVX512-BF16 or AMX; refused elsewhere)\n"
        "  --fast-decode         let libjpeg shrink large JPEGs while decoding (faster;\n"
        "                        pixels no longer match PIL exactly)\n"
        "  --fast                --precision bf16 --fast-decode\n"
        "  --quiet               no progress, warnings or summary on the terminal\n"
        "  --json                print the summary as one JSON object on stdout\n"
        "\n"
        "Ctrl-C finishes the current batch, commits it and exits with status 130; a second\n"
        "Ctrl-C stops at once (the batch in hand is not committed) and says where it stood.\n");
}

typedef struct {
    bool tty;
    bool drawn;          /* a progress line is on screen (tty mode) */
    double last_line;    /* time of the last plain line (non-tty mode) */
    bool quiet;          /* --quiet: progress only feeds the second-signal counters */
    char last[512];      /* the progress line, redrawn under a warning (tty mode) */
} render;

static void clear_line(render *rd)
{
    if (rd->tty && rd->drawn) {
        fputs("\r\033[K", stderr);
        rd->drawn = false;
    }
}

static void on_progress(const cs_index_progress *p, void *user)
{
    render *rd = user;
    g_done = p->done;
    g_total = p->total;
    g_new = p->indexed;
    g_reused = p->reused;
    g_unchanged = p->unchanged;
    g_failed = p->failed;
    if (rd->quiet) return;
    char line[512];
    if (!strcmp(p->phase, "scan")) {
        snprintf(line, sizeof line, "scanning: %llu files", (unsigned long long)p->total);
    } else {
        char body[400];
        cs__progress_format(body, sizeof body, p->done, p->total, p->rate, rd->tty ? 30 : 0);
        snprintf(line, sizeof line, "%s  (new %llu, reused %llu, unchanged %llu, failed %llu)",
                 body, (unsigned long long)p->indexed, (unsigned long long)p->reused,
                 (unsigned long long)p->unchanged, (unsigned long long)p->failed);
    }
    if (rd->tty) {
        fprintf(stderr, "\r\033[K%s", line);
        rd->drawn = true;
        snprintf(rd->last, sizeof rd->last, "%s", line);
    } else {
        /* A log file gets a line every few seconds, not a redraw every 250 ms. */
        double now = cs__now();
        if (now - rd->last_line < 2.0) return;
        rd->last_line = now;
        fprintf(stderr, "clipsearch: index: %s\n", line);
    }
    fflush(stderr);
}

static void on_warning(const char *file, const char *reason, void *user)
{
    render *rd = user;
    clear_line(rd);
    /* file NULL: about the collection (e.g. no model record to check), not a file. */
    if (file) fprintf(stderr, "clipsearch: warning: %s: %s\n", file, reason);
    else fprintf(stderr, "clipsearch: warning: %s\n", reason);
    /* The bar stays under the warnings rather than vanishing until the next report. */
    if (rd->tty && rd->last[0]) {
        fputs(rd->last, stderr);
        rd->drawn = true;
    }
    fflush(stderr);
}

/* "no images found under DIR..." when the run met no image at all (not even a broken
 * one): an empty result is then explained, including by the rules that skipped
 * entries. */
static void print_no_images(FILE *f, const cs_index_summary *s, char *const *dirs, int n)
{
    if (s->interrupted || s->indexed + s->unchanged + s->reused + s->failed != 0) return;
    fputs("no images found under ", f);
    for (int i = 0; i < n; i++) {
        char *disp = cs__path_to_id(dirs[i]);
        fprintf(f, "%s%s", i ? ", " : "", disp ? disp : "?");
        free(disp);
    }
    if (s->excluded)
        fprintf(f, " (%llu %s excluded: hidden, built-in non-photo folders, --exclude or "
                   ".clipsearchignore)",
                (unsigned long long)s->excluded, s->excluded == 1 ? "entry" : "entries");
    fputc('\n', f);
}

static void print_summary(FILE *f, const cs_index_summary *s)
{
    fprintf(f, "%s%llu indexed, %llu unchanged, %llu reused, %llu failed, %llu pruned, "
               "%llu excluded in %.1f s (%.1f images/s)\n",
            s->interrupted ? "interrupted: " : "", (unsigned long long)s->indexed,
            (unsigned long long)s->unchanged, (unsigned long long)s->reused,
            (unsigned long long)s->failed, (unsigned long long)s->pruned,
            (unsigned long long)s->excluded, s->seconds, s->images_per_second);
    if (s->n_formats) {
        fprintf(f, "written by format:");
        for (size_t i = 0; i < s->n_formats; i++)
            fprintf(f, "%s %s %llu", i ? "," : "", s->formats[i].name,
                    (unsigned long long)s->formats[i].n);
        fputc('\n', f);
    }
    if (s->excluded_kept)
        fprintf(f, "note: %llu record%s of excluded files stay%s in the collection (--prune "
                   "deletes only records of files that no longer exist)\n",
                (unsigned long long)s->excluded_kept, s->excluded_kept == 1 ? "" : "s",
                s->excluded_kept == 1 ? "s" : "");
    if (s->dropped)
        fprintf(f, "note: %llu record%s deleted: %s file%s under the DIRs could not be "
                   "re-embedded (failed, excluded or no longer an image) and the previous "
                   "model's vector%s cannot be compared with this model's\n",
                (unsigned long long)s->dropped, s->dropped == 1 ? "" : "s",
                s->dropped == 1 ? "its" : "their", s->dropped == 1 ? "" : "s",
                s->dropped == 1 ? "" : "s");
    if (s->stale)
        fprintf(f, "note: %llu record%s still hold%s vectors of the previous model (files "
                   "outside the DIRs, below a folder that could not be read, or gone): the "
                   "re-embedding is unfinished until 'clipsearch index --reembed' covers "
                   "their folders or --prune removes the gone ones\n",
                (unsigned long long)s->stale, s->stale == 1 ? "" : "s", s->stale == 1 ? "s" : "");
    if (s->n_failures) {
        fprintf(f, "failed:\n");
        for (size_t i = 0; i < s->n_failures; i++)
            fprintf(f, "  %s: %s\n", s->failures[i].file, s->failures[i].reason);
    }
}

/* "512M", "2G", "1024K" or a plain number of MiB; at least 16 MiB. */
static const char *parse_size(const char *s, void *target)
{
    static const char refusal[] = "needs a size such as 512M or 2G (at least 16M), got '%s'";
    uint64_t *out = target;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno || *s == '-') return refusal;
    int shift = 20;
    if (*end == 'K' || *end == 'k') shift = 10, end++;
    else if (*end == 'M' || *end == 'm') shift = 20, end++;
    else if (*end == 'G' || *end == 'g') shift = 30, end++;
    if (*end == 'i' && end[1] == 'B') end += 2;
    else if (*end == 'B') end++;
    if (*end || v > (UINT64_MAX >> shift) || ((uint64_t)v << shift) < ((uint64_t)16 << 20))
        return refusal;
    *out = (uint64_t)v << shift;
    return NULL;
}

/* --precision and --fast set the precision; --fast-decode and --fast the decoding. */
typedef struct {
    int precision;
    bool fast_decode;
} speed;

static const char *set_fast(const char *value, void *target)
{
    speed *sp = target;
    sp->precision = CS_PRECISION_BF16;
    sp->fast_decode = true;
    return NULL;
}

/* excludes: room for one --exclude value per argument. */
static int index_main(int argc, char **argv, const char **excludes)
{
    cs_indexer_options opt;
    cs_indexer_options_init(&opt);
    const char *db_arg = NULL, *model_arg = NULL;
    bool quiet = false, json = false;
    speed sp = {CS_PRECISION_FP32, opt.fast_decode};
    cs__cli_list exclude = {excludes, 0};
    const cs__cli_option opts[] = {
        CLI_STRING("--db", &db_arg),
        CLI_STRING("--collection", &opt.collection),
        CLI_STRING("--model", &model_arg),
        CLI_INT("--jobs", &opt.jobs, 1, 1024, "needs a number 1..1024, got '%s'"),
        CLI_INT("--batch", &opt.batch, 1, 4096, "needs a number 1..4096, got '%s'"),
        CLI_SET("--prune", &opt.prune),
        CLI_SET("--reembed", &opt.reembed),
        CLI_PARSE("--max-memory", &opt.max_memory, parse_size),
        CLI_LIST("--exclude", &exclude),
        CLI_SET("--include-hidden", &opt.include_hidden),
        CLI_CLEAR("--no-exif-orientation", &opt.apply_exif_orientation),
        CLI_PRECISION("--precision", &sp.precision),
        CLI_SET("--fast-decode", &sp.fast_decode),
        CLI_ACTION("--fast", &sp, set_fast),
        CLI_SET("--quiet", &quiet),
        CLI_SET("--json", &json),
        CLI_END};
    int first, status = cli_parse_options("index", usage, CLI_NEEDS_VALUE, opts, argc, argv,
                                          &first);
    if (status != CLI_GO_ON) return status;
    int precision = sp.precision;
    opt.fast_decode = sp.fast_decode;
    opt.exclude = excludes;
    opt.n_exclude = exclude.n;
    if (first >= argc) {
        usage(stderr);
        return 2;
    }
    /* A DIR that does not exist at all is a typo, not a file to skip: stop before work. */
    for (int i = first; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            char *disp = cs__path_to_id(argv[i]);
            fprintf(stderr, "clipsearch: IOError: %s: no such file or directory\n",
                    disp ? disp : "?");
            free(disp);
            return 1;
        }
    }

    cs_error err = {0};
    /* A glob that can match nothing is a usage mistake: say so before loading anything
     * (cs_index_run would refuse it too). */
    cs__walk_rules *check = cs__walk_rules_new();
    for (size_t i = 0; check && i < opt.n_exclude; i++) {
        if (cs__walk_rules_add_exclude(check, excludes[i], &err) != 0) {
            cs__walk_rules_free(check);
            return cli_usage_error("index", "%s", err.msg);
        }
    }
    cs__walk_rules_free(check);
    char model_dir[4096];
    if (cs_clip_resolve_model_dir(model_arg, model_dir, sizeof model_dir, &err) != 0)
        return cli_fail(&err);
    cs_clip_options copt;
    cs_clip_options_init(&copt);
    copt.precision = precision;
    cs_clip *model = NULL;
    if (cs_clip_load(model_dir, &copt, &model, &err) != 0) return cli_fail(&err);
    if (!quiet) cli_note_fast_mode("index", precision, opt.fast_decode);
    char *url = cli_resolve_db(db_arg, true, &err);
    if (!url) {
        cs_clip_free(model);
        return cli_fail(&err);
    }
    cs_store *store = NULL;
    int rc = cs_store_open(url, &store, &err);
    free(url);
    if (rc != 0) {
        cs_clip_free(model);
        return cli_fail(&err);
    }

    render rd = {isatty(STDERR_FILENO) != 0, false, cs__now(), quiet, ""};
    opt.progress = on_progress;
    opt.progress_user = &rd;
    if (!quiet) {
        opt.warning = on_warning;
        opt.warning_user = &rd;
    }
    g_stop = 0;
    g_finishing = 0;
    opt.stop = &g_stop;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    cs_index_summary sum;
    rc = cs_index_run(model, store, (const char *const *)argv + first, (size_t)(argc - first),
                      &opt, &sum, &err);
    /* From here a signal waits for the summary (the handler stays: the default action
     * would kill the process before it prints). */
    g_finishing = 1;
    clear_line(&rd);

    status = 0;
    if (rc == CS_E_INTERRUPTED) {
        status = 130;
    } else if (rc != 0) {
        status = cli_fail(&err);
    }
    if (rc == 0 && !quiet)
        print_no_images(json ? stderr : stdout, &sum, argv + first, argc - first);
    if (json) {
        char *text = NULL;
        cs_error jerr = {0};
        if (cs_index_summary_json(&sum, &text, &jerr) == 0) {
            printf("%s\n", text);
            free(text);
        } else if (status == 0) {
            status = cli_fail(&jerr);
        }
    } else if (!quiet) {
        print_summary(stdout, &sum);
    }
    fflush(stdout);
    cs_index_summary_free(&sum);
    cs_store_close(store);
    cs_clip_free(model);
    return status;
}

int cmd_index(int argc, char **argv)
{
    /* --exclude values point into argv; at most one per argument. */
    const char **excludes = calloc((size_t)argc + 1, sizeof *excludes);
    if (!excludes) {
        fprintf(stderr, "clipsearch: index: out of memory\n");
        return 1;
    }
    int status = index_main(argc, argv, excludes);
    free(excludes);
    return status;
}
