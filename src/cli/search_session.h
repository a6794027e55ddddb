/* What `search` holds open across queries (the model, the collection, the options that
 * every query shares), for the one-shot query and the REPL (search_repl.c). */
#ifndef CS_CLI_SEARCH_SESSION_H
#define CS_CLI_SEARCH_SESSION_H

#include <stdbool.h>

#include "cli/search_output.h"
#include "clipsearch/clip.h"
#include "clipsearch/query.h"
#include "clipsearch/store.h"

typedef struct search_session {
    cs_clip *model;
    cs_collection *coll;
    cs_search_request base;   /* k, filter, min score, weights, exif */
    search_output out;
} search_session;

/* Runs one query (its terms) and prints the hits under title (cmd_search.c). */
int search_session_run(search_session *s, const cs_query_terms *terms, const char *title,
                       cs_error *err);

/* Reads queries from stdin until end of input (or :quit) and answers each: on a terminal
 * with line editing, history and the ':' commands; from a pipe, one query per line (one
 * JSON line per query with --json). Returns the exit status: 0, or 1 when a piped query
 * failed (each failure is reported and the next query still runs), 2 when a pipe held no
 * query. */
int search_repl(search_session *s, bool terminal);

#endif
