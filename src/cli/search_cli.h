/* What `search` holds across queries: the library's search session (the model, the
 * store, the collection; search_session.h) and the options every query shares, for the
 * one-shot query and the REPL (search_repl.c). */
#ifndef CS_CLI_SEARCH_CLI_H
#define CS_CLI_SEARCH_CLI_H

#include <stdbool.h>

#include "cli/search_output.h"
#include "clipsearch/clip.h"
#include "clipsearch/query.h"
#include "clipsearch/search_session.h"

typedef struct cs__search_cli {
    cs_search_session *session;
    cs_search_request base;   /* k, filter, min score, weights, exif */
    cs__search_output out;
} cs__search_cli;

/* Runs one query (its terms, or base.like_id when terms is NULL) and prints the hits
 * under title (cmd_search.c). */
int search_cli_run(cs__search_cli *s, const cs_query_terms *terms, const char *title,
                   const char *image, cs_error *err);

/* Reads queries from stdin until end of input (or :quit) and answers each: on a terminal
 * with line editing, history and the ':' commands; from a pipe, one query per line (one
 * JSON line per query with --json). Returns the exit status: 0, or 1 when a piped query
 * failed (each failure is reported and the next query still runs), 2 when a pipe held no
 * query. */
int search_repl(cs__search_cli *s, bool terminal);

#endif
