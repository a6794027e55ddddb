/* A self-contained HTML page of duplicate groups: one section per group (kind, size,
 * similarity range), one card per member (thumbnail as a data: URI, path, size,
 * dimensions, best similarity, exact-copy mark). Every string from data is escaped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/gallery_internal.h"
#include "base/file.h"
#include "clipsearch/duplicates.h"

void cs_dup_html_options_init(cs_dup_html_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->thumb_size = 160;
    opt->apply_exif_orientation = true;
}

static const char STYLE[] =
    "body{font-family:system-ui,sans-serif;margin:1.5em;background:#fafafa;color:#222}"
    "h1{font-size:1.3em}h2{font-size:1.05em;margin:1.4em 0 .5em}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(%dpx,1fr));gap:10px}"
    ".m{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px;"
    "overflow-wrap:anywhere;font-size:.8em}.m.copy{border-color:#c60}"
    ".m img{display:block;max-width:100%%;margin:0 auto 4px}"
    ".tag{font-weight:bold;color:#c60}.missing{color:#a00}code{font-size:.95em}";

static void write_member(FILE *f, const cs_dup_member *m, const cs_dup_html_options *opt)
{
    fprintf(f, "<div class=\"m%s\" data-copy=\"%d\" data-similarity=\"%.6f\">\n",
            m->copy ? " copy" : "", m->copy, m->similarity);
    if (!cs__html_record_thumb(f, m->id, opt->thumb_size, opt->apply_exif_orientation))
        fputs("<div class=\"missing\">(image not readable)</div>", f);
    fputs("\n<div class=\"path\"><code>", f);
    cs__html_escape(f, m->id);
    fputs("</code></div>\n<div>", f);
    if (m->copy) fprintf(f, "<span class=\"tag\">copy %d</span> &middot; ", m->copy);
    fprintf(f, "best %.4f", m->similarity);
    if (m->bytes >= 0) fprintf(f, " &middot; %lld bytes", (long long)m->bytes);
    if (m->width >= 0 && m->height >= 0) fprintf(f, " &middot; %d&times;%d", m->width, m->height);
    fputs("</div>\n</div>\n", f);
}

static void write_page(FILE *f, const cs_dup_group *groups, size_t n,
                       const cs_dup_html_options *opt)
{
    const char *title = opt->title && *opt->title ? opt->title : "collection";
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"generator\" content=\"clipsearch\">\n"
          "<title>clipsearch duplicates: ", f);
    cs__html_escape(f, title);
    fputs("</title>\n<style>", f);
    fprintf(f, STYLE, opt->thumb_size > 100 ? opt->thumb_size : 100);
    fputs("</style></head>\n<body>\n<h1>clipsearch duplicates: ", f);
    cs__html_escape(f, title);
    fprintf(f, "</h1>\n<p>%zu group%s of %zu records, threshold %.4f</p>\n", n,
            n == 1 ? "" : "s", opt->records, opt->threshold);
    for (size_t i = 0; i < n; i++) {
        const cs_dup_group *g = &groups[i];
        fprintf(f,
                "<section class=\"group\" data-kind=\"%s\" data-size=\"%zu\">\n"
                "<h2>group %zu: %zu records, %s, similarity %.4f&ndash;%.4f</h2>\n"
                "<div class=\"grid\">\n",
                cs_dup_group_kind(g), g->n, i + 1, g->n, cs_dup_group_kind(g),
                g->min_similarity, g->max_similarity);
        for (size_t j = 0; j < g->n; j++) write_member(f, &g->members[j], opt);
        fputs("</div>\n</section>\n", f);
    }
    fputs("</body></html>\n", f);
}

typedef struct {
    const cs_dup_group *groups;
    size_t n;
    const cs_dup_html_options *opt;
} page;

static void write_page_cb(FILE *f, void *ctx)
{
    const page *pg = ctx;
    write_page(f, pg->groups, pg->n, pg->opt);
}

int cs_duplicates_write_html(const char *path, const cs_dup_group *groups, size_t n,
                             const cs_dup_html_options *opt_in, cs_error *err)
{
    cs_dup_html_options opt;
    if (opt_in) opt = *opt_in;
    else cs_dup_html_options_init(&opt);
    if (opt.thumb_size < 16) opt.thumb_size = 160;
    page pg = {groups, n, &opt};
    return cs__write_file_atomic(path, write_page_cb, &pg, err);
}
