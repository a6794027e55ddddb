/* Output of search results (table, JSON lines, terminal previews, HTML gallery); used
 * by `search` (one-shot and REPL). */
#ifndef CS_CLI_SEARCH_OUTPUT_H
#define CS_CLI_SEARCH_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include "clipsearch/query.h"

typedef struct cs__search_output {
    bool json;
    bool paths;                 /* only the files' paths, one per line */
    bool preview;               /* only honoured when stdout is a terminal */
    const char *html_path;      /* write a gallery there too */
    bool apply_exif;
    bool per_query;             /* with json: one line per query (queries from a pipe) */
} cs__search_output;

/* Prints hits to out; writes the gallery when asked. title/query_image describe the
 * query for the gallery. Returns 0 or an error (gallery write). */
int search_print(FILE *out, const cs__search_output *o, const cs_hits *hits, const char *title,
                 const char *query_image, cs_error *err);

/* Terminal thumbnail of an image file via libchafa (src/cli/preview.c). Prints nothing
 * and returns false when the image cannot be read. */
bool preview_print(FILE *out, const char *path, int max_cols, int max_rows, bool apply_exif);

#endif
