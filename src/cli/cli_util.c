#include "cli/cli_util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clipsearch/clip.h"
#include "clipsearch/store.h"

/* The library says what would fix an error (cs_remedy) but names no flag: these are the
 * CLI's words for it, appended to the one error line. */
static const char *remedy_hint(int remedy)
{
    switch (remedy) {
    case CS_REMEDY_CHOOSE_MODEL:
        return "pass --model DIR or set CLIPSEARCH_MODEL=DIR to use a model folder; "
               "`clipsearch model download` fetches one";
    case CS_REMEDY_NAME_MODEL:
        return "pass --model DIR or set CLIPSEARCH_MODEL=DIR to use a model folder you have";
    case CS_REMEDY_MATCH_MODEL:
        return "--model DIR picks the model; `clipsearch index --reembed --model DIR DIR...` "
               "re-embeds the collection; --collection NAME picks another collection";
    case CS_REMEDY_FINISH_REEMBED: return "run `clipsearch index --reembed DIR...` again";
    case CS_REMEDY_MATCH_PREPROCESS:
        return "the options are --no-exif-orientation and --fast-decode/--fast; "
               "`clipsearch index --reembed` re-embeds every record; --collection NAME picks "
               "another collection";
    case CS_REMEDY_RESUME: return "--resume continues the run";
    case CS_REMEDY_CHOOSE_DB: return "pass --db or set CLIPSEARCH_DB";
    case CS_REMEDY_ALLOW_REMOTE: return "serve --allow-remote allows it";
    default: return NULL;
    }
}

int cli_fail(const cs_error *err)
{
    const char *hint = remedy_hint(err->remedy);
    fprintf(stderr, "clipsearch: %s: %s%s%s%s\n", cs_error_category(err->code), err->msg,
            hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
    return 1;
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "clipsearch: %s: ", command);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

/* mkdir -p for the parent directory of a file path. */
static void make_parent_dirs(const char *file)
{
    char *p = strdup(file);
    if (!p) return;
    char *slash = strrchr(p, '/');
    if (slash && slash != p) {
        *slash = '\0';
        for (char *q = p + 1; *q; q++) {
            if (*q == '/') {
                *q = '\0';
                mkdir(p, 0755);
                *q = '/';
            }
        }
        mkdir(p, 0755);
    }
    free(p);
}

char *cli_resolve_db(const char *db_arg, bool create_dirs, cs_error *err)
{
    if (db_arg && *db_arg) return strdup(db_arg);
    char buf[PATH_MAX];
    if (cs_store_default_url(buf, sizeof buf, err) != 0) return NULL;
    /* Only a default SQLite file needs its folder; URLs are the user's business. Readers
     * create nothing, not even the folder. */
    if (create_dirs && strncmp(buf, "postgres", 8) != 0) {
        const char *path = buf;
        if (!strncmp(path, "sqlite://", 9)) path += 9;
        make_parent_dirs(path);
    }
    return strdup(buf);
}

/* Appends s to buf, single-quoted for the shell when it holds anything but safe
 * characters, so that the printed command can be pasted as it is. */
static void append_shell_word(char *buf, size_t size, const char *s)
{
    bool plain = *s != '\0';
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@%+=,", *p))
            plain = false;
    size_t n = strlen(buf);
    if (plain) {
        snprintf(buf + n, size - n, "%s", s);
        return;
    }
    if (n + 1 < size) buf[n++] = '\'';
    for (const char *p = s; *p && n + 5 < size; p++) {
        if (*p == '\'') {
            memcpy(buf + n, "'\\''", 4);
            n += 4;
        } else {
            buf[n++] = *p;
        }
    }
    if (n + 1 < size) buf[n++] = '\'';
    buf[n < size ? n : size - 1] = '\0';
}

void cli_index_command(const char *db_arg, const char *location, const char *collection,
                       char *buf, size_t size)
{
    snprintf(buf, size, "clipsearch index DIR");
    if (db_arg && *db_arg) {
        /* A PostgreSQL URL may carry a password: the store's masked form instead. */
        bool pg = !strncmp(db_arg, "postgres", 8);
        size_t n = strlen(buf);
        snprintf(buf + n, size - n, " --db ");
        append_shell_word(buf, size, pg && location && *location ? location : db_arg);
    }
    if (collection && strcmp(collection, "image_vectors") != 0) {
        size_t n = strlen(buf);
        snprintf(buf + n, size - n, " --collection ");
        append_shell_word(buf, size, collection);
    }
}

bool cli_parse_int(const char *s, long min, long max, long *out)
{
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

bool cli_parse_precision(const char *s, int *out)
{
    if (!strcmp(s, "fp32")) *out = CS_PRECISION_FP32;
    else if (!strcmp(s, "bf16")) *out = CS_PRECISION_BF16;
    else return false;
    return true;
}

void cli_note_fast_mode(const char *cmd, int precision, bool fast_decode)
{
    if (precision == CS_PRECISION_FP32 && !fast_decode) return;
    fprintf(stderr,
            "clipsearch: %s: note: %s%s%s: embeddings differ slightly from the reference "
            "(fp32, exact decoding; cosine about 0.999, measured by make bench)\n",
            cmd, precision == CS_PRECISION_BF16 ? "bf16 arithmetic" : "",
            precision == CS_PRECISION_BF16 && fast_decode ? " and " : "",
            fast_decode ? "fast JPEG decoding" : "");
}
