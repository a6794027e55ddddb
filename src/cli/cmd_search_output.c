/* Table / JSON lines / previews / gallery for search results. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/pathid.h"
#include "cli/search_output.h"
#include "clipsearch/gallery.h"
#include "clipsearch/search_session.h"

static bool all_text(const cs_hits *hits)
{
    if (!hits->n) return false;
    for (size_t i = 0; i < hits->n; i++) {
        json_t *m = json_loads(hits->items[i].metadata_json, 0, NULL);
        const char *t = json_string_value(json_object_get(m, "type"));
        bool text = t && !strcmp(t, "text");
        json_decref(m);
        if (!text) return false;
    }
    return true;
}

/* Queries read from a pipe: one line per query, {"query": TEXT, "results": [...]}, the
 * results as the library writes them (search_session.h). */
static void print_json_answer(FILE *out, const char *query, const cs_hits *hits)
{
    json_t *q = query ? json_string(query) : NULL;
    char *qs = json_dumps(q ? q : json_null(), JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
    json_decref(q);
    fprintf(out, "{\"query\":%s,\"results\":[", qs ? qs : "null");
    free(qs);
    for (size_t i = 0; i < hits->n; i++) {
        char *h = cs_hit_json(&hits->items[i]);
        fprintf(out, "%s%s", i ? "," : "", h ? h : "null");
        free(h);
    }
    fprintf(out, "]}\n");
}

static void print_hit_line(FILE *out, const cs_hit *hit)
{
    char *h = cs_hit_json(hit);
    if (h) fprintf(out, "%s\n", h);
    free(h);
}

/* The terminal thumbnail of a record whose id names an image file (base/pathid.h). */
static void preview_record(FILE *out, const char *id, bool apply_exif)
{
    char *path = NULL;
    if (cs__path_from_id(id, &path, NULL) != 0) return;
    if (preview_print(out, path, 40, 12, apply_exif)) fputc('\n', out);
    free(path);
}

/* The file an id names, as raw bytes (a file: id decoded), for --paths; an id that names
 * no file (a text record) as it is. */
static void print_path(FILE *out, const char *id)
{
    char *path = NULL;
    fprintf(out, "%s\n", cs__path_from_id(id, &path, NULL) == 0 ? path : id);
    free(path);
}

int search_print(FILE *out, const cs__search_output *o, const cs_hits *hits, const char *title,
                 const char *query_image, cs_error *err)
{
    bool preview = o->preview && !o->json && !o->paths && isatty(fileno(out));
    if (o->json && o->per_query) {
        print_json_answer(out, title, hits);
    } else if (o->json) {
        for (size_t i = 0; i < hits->n; i++) print_hit_line(out, &hits->items[i]);
    } else if (o->paths) {
        for (size_t i = 0; i < hits->n; i++) print_path(out, hits->items[i].id);
    } else if (hits->n == 0) {
        fprintf(out, "no results\n");
    } else {
        fprintf(out, "%4s  %7s  %s\n", "rank", "score", all_text(hits) ? "text" : "path");
        for (size_t i = 0; i < hits->n; i++) {
            const cs_hit *h = &hits->items[i];
            fprintf(out, "%4d  %7.4f  %s%s\n", h->rank, h->score, h->id,
                    h->missing ? "  (missing: file no longer exists)" : "");
            if (preview) preview_record(out, h->id, o->apply_exif);
        }
    }
    fflush(out);
    /* On stderr, so that --json and --paths stay clean for the next program. */
    if (hits->warning) fprintf(stderr, "clipsearch: warning: filter: %s\n", hits->warning);
    if (hits->missing_skipped)
        fprintf(stderr, "clipsearch: %zu result%s skipped: %s no longer exist%s; run "
                        "clipsearch index DIR --prune (or search --include-missing)\n",
                hits->missing_skipped, hits->missing_skipped == 1 ? "" : "s",
                hits->missing_skipped == 1 ? "its file" : "files",
                hits->missing_skipped == 1 ? "s" : "");
    if (o->html_path) {
        cs_gallery_options g;
        cs_gallery_options_init(&g);
        g.title = title;
        g.query_image = query_image;
        g.apply_exif_orientation = o->apply_exif;
        int rc = cs_gallery_write_html(o->html_path, hits, &g, err);
        if (rc != 0) return rc;
        fprintf(stderr, "clipsearch: wrote %s\n", o->html_path);
    }
    return 0;
}
