#include "cli/cli_options.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"

/* getopt_long's value for opts[i] given by its long name; --help comes after the table.
 * Above every char, so that optopt tells a letter from a long option. */
#define LONG_VAL(i) (256 + (int)(i))

/* "-k" rather than "--name": a short option only. */
static bool is_letter(const cs__cli_option *o)
{
    return o->name[1] != '-';
}

/* The option getopt_long returned c for, or NULL (help, or an error). */
static const cs__cli_option *find(const cs__cli_option *opts, size_t n, int c)
{
    if (c >= LONG_VAL(0) && c < LONG_VAL(n)) return &opts[c - LONG_VAL(0)];
    for (size_t i = 0; i < n; i++)
        if (is_letter(&opts[i]) && opts[i].name[1] == c) return &opts[i];
    return NULL;
}

static bool takes_value(cs__cli_kind kind)
{
    return kind != CLI_KIND_SET && kind != CLI_KIND_CLEAR && kind != CLI_KIND_ACTION;
}

/* Stores value as o says; CLI_GO_ON, or the usage error's status. */
static int apply(const char *command, const cs__cli_option *o, const char *value)
{
    const char *refusal = NULL;
    long v;
    switch (o->kind) {
    case CLI_KIND_SET: *(bool *)o->target = true; break;
    case CLI_KIND_CLEAR: *(bool *)o->target = false; break;
    case CLI_KIND_STRING:
        if (o->target) *(const char **)o->target = value;
        break;
    case CLI_KIND_LIST: {
        cs__cli_list *list = o->target;
        list->items[list->n++] = value;
        break;
    }
    case CLI_KIND_INT:
        if (cli_parse_int(value, o->min, o->max, &v)) *(int *)o->target = (int)v;
        else refusal = o->refusal;
        break;
    case CLI_KIND_LONG:
        if (cli_parse_int(value, o->min, o->max, &v)) *(long *)o->target = v;
        else refusal = o->refusal;
        break;
    case CLI_KIND_PRECISION:
        if (!cli_parse_precision(value, o->target)) refusal = "is fp32 or bf16, got '%s'";
        break;
    case CLI_KIND_PARSE:
    case CLI_KIND_ACTION: refusal = o->parse(value, o->target); break;
    }
    if (!refusal) return CLI_GO_ON;
    /* The refusal is a literal of the command's table or of this file: a safe format. */
    int len = snprintf(NULL, 0, refusal, value);
    char *why = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (why) snprintf(why, (size_t)len + 1, refusal, value);
    int status = cli_usage_error(command, "%s %s", o->name, why ? why : refusal);
    free(why);
    return status;
}

/* getopt_long returned '?' (or ':'): an unknown option, or one without its value. */
static int report(const char *command, unsigned style, int c, char **argv)
{
    const char *arg = argv[optind - 1];
    if (style & CLI_NEEDS_VALUE) {
        if (c == ':') return cli_usage_error(command, "%s needs a value", arg);
        return cli_usage_error(command, "unknown option '%s'", arg);
    }
    const char *see = style & CLI_SEE_HELP ? " (see --help)" : "";
    if ((style & CLI_NAME_LETTER) && optopt && optopt < LONG_VAL(0))
        return cli_usage_error(command, "unknown or incomplete option '-%c'%s", optopt, see);
    return cli_usage_error(command, "unknown or incomplete option '%s'%s", arg, see);
}

int cli_parse_options(const char *command, void (*usage)(FILE *), unsigned style,
                      const cs__cli_option *opts, int argc, char **argv, int *first_operand)
{
    size_t n = 0;
    while (opts[n].name) n++;
    /* The long options, --help and the terminator; the letters ("k:"), "h", an optional
     * leading ':' (getopt then returns ':' for a missing value) and the NUL. */
    struct option *longs = calloc(n + 2, sizeof *longs);
    char *letters = malloc(2 * n + 4);
    if (!longs || !letters) {
        free(longs);
        free(letters);
        fprintf(stderr, "clipsearch: %s: out of memory\n", command);
        return 1;
    }
    size_t nl = 0, k = 0;
    if (style & CLI_NEEDS_VALUE) letters[k++] = ':';
    for (size_t i = 0; i < n; i++) {
        int has_arg = takes_value(opts[i].kind) ? required_argument : no_argument;
        if (is_letter(&opts[i])) {
            letters[k++] = opts[i].name[1];
            if (has_arg) letters[k++] = ':';
        } else {
            longs[nl++] = (struct option){opts[i].name + 2, has_arg, NULL, LONG_VAL(i)};
        }
    }
    longs[nl++] = (struct option){"help", no_argument, NULL, LONG_VAL(n)};
    letters[k++] = 'h';
    letters[k] = '\0';

    optind = 1;
    opterr = 0;   /* the errors are ours, in the CLI's format */
    int c, status = CLI_GO_ON;
    while (status == CLI_GO_ON && (c = getopt_long(argc, argv, letters, longs, NULL)) != -1) {
        const cs__cli_option *o = find(opts, n, c);
        if (o) {
            status = apply(command, o, optarg);
        } else if (c == 'h' || c == LONG_VAL(n)) {
            usage(stdout);
            status = 0;
        } else {
            status = report(command, style, c, argv);
        }
    }
    *first_operand = optind;
    free(longs);
    free(letters);
    return status;
}

int cli_dispatch_help(int argc, char **argv, void (*usage)(FILE *))
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    return CLI_GO_ON;
}
