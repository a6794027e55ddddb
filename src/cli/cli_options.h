/* The sub-commands' options as a table: one line per option says its name, what it sets
 * and how its value is checked; cli_parse_options runs getopt_long over it and prints the
 * usage errors. Each command used to spell out the struct option array, the switch, the
 * range checks and the error cases itself. */
#ifndef CS_CLI_OPTIONS_H
#define CS_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum {
    CLI_KIND_SET,        /* no value: *(bool *)target = true */
    CLI_KIND_CLEAR,      /* no value: *(bool *)target = false (the --no-... options) */
    CLI_KIND_STRING,     /* *(const char **)target = the value (NULL target: ignored) */
    CLI_KIND_LIST,       /* appends the value to a cs__cli_list (a repeatable option) */
    CLI_KIND_INT,        /* *(int *)target = the value, a whole number in [min, max] */
    CLI_KIND_LONG,       /* *(long *)target = the same */
    CLI_KIND_PRECISION,  /* *(int *)target = CS_PRECISION_* for "fp32" or "bf16" */
    CLI_KIND_PARSE,      /* parse(value, target) */
    CLI_KIND_ACTION,     /* no value: parse(NULL, target), which returns NULL (an option
                          * that sets several things, as index's --fast) */
} cs__cli_kind;

/* Stores the value through target and returns NULL, or returns why it is refused: the
 * rest of the usage error after the option's name, a printf format that may name the
 * value with one %s ("needs a size such as 512M, got '%s'"). */
typedef const char *(*cs__cli_parse_fn)(const char *value, void *target);

typedef struct {
    const char *name;     /* as typed: "--jobs", or "-k" for a one-letter option */
    cs__cli_kind kind;
    void *target;
    long min, max;        /* CLI_KIND_INT, CLI_KIND_LONG */
    const char *refusal;  /* CLI_KIND_INT, CLI_KIND_LONG: as cs__cli_parse_fn's */
    cs__cli_parse_fn parse;   /* CLI_KIND_PARSE, CLI_KIND_ACTION */
} cs__cli_option;

/* The values of a repeatable option, in order; items has room for one per argument. */
typedef struct {
    const char **items;
    size_t n;
} cs__cli_list;

/* Table entries. The target's type is checked at compile time (a mismatched pointer
 * in the conditional is a diagnostic), since the table itself holds void pointers. */
#define CLI_TARGET_(type, p) ((void *)(1 ? (p) : (type *)NULL))
#define CLI_SET(name, p) {(name), CLI_KIND_SET, CLI_TARGET_(bool, p), 0, 0, NULL, NULL}
#define CLI_CLEAR(name, p) {(name), CLI_KIND_CLEAR, CLI_TARGET_(bool, p), 0, 0, NULL, NULL}
#define CLI_STRING(name, p) \
    {(name), CLI_KIND_STRING, CLI_TARGET_(const char *, p), 0, 0, NULL, NULL}
#define CLI_LIST(name, p) {(name), CLI_KIND_LIST, CLI_TARGET_(cs__cli_list, p), 0, 0, NULL, NULL}
#define CLI_INT(name, p, lo, hi, refusal) \
    {(name), CLI_KIND_INT, CLI_TARGET_(int, p), (lo), (hi), (refusal), NULL}
#define CLI_LONG(name, p, lo, hi, refusal) \
    {(name), CLI_KIND_LONG, CLI_TARGET_(long, p), (lo), (hi), (refusal), NULL}
#define CLI_PRECISION(name, p) {(name), CLI_KIND_PRECISION, CLI_TARGET_(int, p), 0, 0, NULL, NULL}
#define CLI_PARSE(name, p, fn) {(name), CLI_KIND_PARSE, (p), 0, 0, NULL, (fn)}
#define CLI_ACTION(name, p, fn) {(name), CLI_KIND_ACTION, (p), 0, 0, NULL, (fn)}
#define CLI_END {NULL, CLI_KIND_SET, NULL, 0, 0, NULL, NULL}

/* How an unknown option, or one without its value, is reported. The commands grew
 * apart here and scripts may match the words, so each keeps its own:
 *   0                   "unknown or incomplete option '--x'" (model download, info)
 *   CLI_SEE_HELP        ... adds " (see --help)" (add-text, labels)
 *   | CLI_NAME_LETTER   ... names an unknown or incomplete letter '-x' as getopt saw it
 *                       rather than by its argument (duplicates, finetune, search, serve)
 *   CLI_NEEDS_VALUE     "--x needs a value" apart from "unknown option '--x'" (index) */
enum { CLI_SEE_HELP = 1, CLI_NAME_LETTER = 2, CLI_NEEDS_VALUE = 4 };

/* What cli_parse_options returns when the command goes on. */
#define CLI_GO_ON (-1)

/* Parses argv[1..argc) against opts (ended by CLI_END) plus -h/--help with getopt_long:
 * options and operands may mix, "--" ends the options, a long name may be abbreviated,
 * the last of a repeated option wins (a CLI_LIST keeps them all). Returns CLI_GO_ON with
 * the operands permuted to argv[*first_operand..argc), or the exit status to return at
 * once: 0 after --help (usage on stdout), 2 after a usage error ("clipsearch: <command>:
 * ..." on stderr, as style says), 1 when out of memory. */
int cli_parse_options(const char *command, void (*usage)(FILE *), unsigned style,
                      const cs__cli_option *opts, int argc, char **argv, int *first_operand);

/* For a dispatcher (main, vec) whose argv[1] is a command: with none, the usage on stderr
 * and 2; for "--help", "-h" or "help", the usage on stdout and 0; else CLI_GO_ON. */
int cli_dispatch_help(int argc, char **argv, void (*usage)(FILE *));

#endif
