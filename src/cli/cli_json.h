/* Minimal JSON output helpers for the JSON-lines commands (embed, tokenize). */
#ifndef CS_CLI_JSON_H
#define CS_CLI_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Writes s as a JSON string literal: quotes, backslashes and control characters are
 * escaped; other bytes (UTF-8) pass through unchanged. */
void cli_json_string(FILE *out, const char *s);
/* Writes [v0, v1, ...] with "%.9g" (round-trips float32); non-finite values as null. */
void cli_json_floats(FILE *out, const float *v, size_t n);

#endif
