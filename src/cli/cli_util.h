/* Helpers shared by the sub-commands: error printing in the CLI contract's format and
 * option lookups that every command accepts. */
#ifndef CS_CLI_UTIL_H
#define CS_CLI_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "clipsearch/error.h"

/* Prints "clipsearch: <Category>: <message>" to stderr and returns the exit status (1). */
int cli_fail(const cs_error *err);
/* Prints "clipsearch: <command>: <message>" for usage errors and returns 2. */
int cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Store URL: --db value > $CLIPSEARCH_DB > default path (creating its parent directory
 * when create_dirs: commands that write). Returns a malloc'd string or NULL with err set. */
char *cli_resolve_db(const char *db_arg, bool create_dirs, cs_error *err);

/* "clipsearch index DIR" plus the --db and --collection a user must repeat to fill what a
 * reader looked at: db_arg as given (for PostgreSQL the store's location, whose password is
 * masked), collection when not the default; shell-quoted where needed. */
void cli_index_command(const char *db_arg, const char *location, const char *collection,
                       char *buf, size_t size);

/* Parses a non-negative decimal int; false when not a number or out of range. */
bool cli_parse_int(const char *s, long min, long max, long *out);
/* "fp32" or "bf16" -> CS_PRECISION_*; false for anything else. */
bool cli_parse_precision(const char *s, int *out);
/* The one-line note printed when a run embeds with faster, slightly different arithmetic
 * or decoding than the reference (bf16, fast decode), to stderr. */
void cli_note_fast_mode(const char *cmd, int precision, bool fast_decode);

#endif
