/* A self-contained HTML gallery of a result list: one file, no external resources
 * (thumbnails are data: URIs), so it can be mailed or opened offline; each image links
 * to its original file (file:// URL). Every string that
 * comes from data (paths, query, metadata) goes through cs__html_escape. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/pathid.h"
#include "app/gallery_internal.h"
#include "base/file.h"
#include "clipsearch/gallery.h"

void cs_gallery_options_init(cs_gallery_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->thumb_size = 256;
    opt->apply_exif_orientation = true;
}

void cs__html_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void base64(FILE *f, const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        fputc(tab[v >> 18], f);
        fputc(tab[(v >> 12) & 63], f);
        fputc(tab[(v >> 6) & 63], f);
        fputc(tab[v & 63], f);
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        fputc(tab[v >> 18], f);
        fputc(tab[(v >> 12) & 63], f);
        fputc(i + 1 < n ? tab[(v >> 6) & 63] : '=', f);
        fputc('=', f);
    }
}

/* An <img> with the thumbnail, or false when the path is not a readable image. */
static bool write_thumb(FILE *f, const char *path, const cs_gallery_options *opt,
                        const char *alt)
{
    uint8_t *jpeg = NULL;
    size_t len = 0;
    cs_error err = {0};
    if (cs_thumbnail_jpeg(path, opt->thumb_size, 85, opt->apply_exif_orientation, &jpeg,
                          &len, &err) != 0)
        return false;
    fputs("<img loading=\"lazy\" alt=\"", f);
    cs__html_escape(f, alt);
    fputs("\" src=\"data:image/jpeg;base64,", f);
    base64(f, jpeg, len);
    fputs("\">", f);
    free(jpeg);
    return true;
}

/* The file:// URL of an image record's file (its id names it, base/pathid.h), or NULL
 * when the id names no absolute path. */
static char *record_url(const char *id)
{
    char *path = NULL;
    if (cs__path_from_id(id, &path, NULL) != 0) return NULL;
    char *url = cs__path_to_file_url(path);
    free(path);
    return url;
}

/* The thumbnail of an image record, linked to the original file so that a click opens
 * it (the page is local, like the files). */
static bool write_record_thumb(FILE *f, const char *id, const char *url,
                               const cs_gallery_options *opt)
{
    char *path = NULL;
    if (cs__path_from_id(id, &path, NULL) != 0) return false;
    if (url) {
        fputs("<a class=\"open\" href=\"", f);
        cs__html_escape(f, url);
        fputs("\">", f);
    }
    bool ok = write_thumb(f, path, opt, id);
    if (url) fputs(ok ? "</a>" : "(image not readable)</a>", f);
    free(path);
    return ok || url;
}

bool cs__html_record_thumb(FILE *f, const char *id, int size, bool apply_exif)
{
    cs_gallery_options opt;
    cs_gallery_options_init(&opt);
    opt.thumb_size = size;
    opt.apply_exif_orientation = apply_exif;
    return write_record_thumb(f, id, NULL, &opt);
}

static bool is_text_record(const char *metadata_json)
{
    json_t *m = json_loads(metadata_json ? metadata_json : "{}", 0, NULL);
    const char *type = json_string_value(json_object_get(m, "type"));
    bool text = type && !strcmp(type, "text");
    json_decref(m);
    return text;
}

static const char STYLE[] =
    "body{font-family:system-ui,sans-serif;margin:1.5em;background:#fafafa;color:#222}"
    "h1{font-size:1.3em}.q img{max-height:160px;border:1px solid #ccc}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(%dpx,1fr));gap:12px}"
    ".hit{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;"
    "overflow-wrap:anywhere;font-size:.85em}"
    ".hit img{display:block;max-width:100%%;margin:0 auto 6px}"
    ".score{font-weight:bold}.text{font-size:1.1em;margin:6px 0}"
    ".missing{color:#a00}details{color:#555}pre{white-space:pre-wrap;margin:0}";

static void write_page(FILE *f, const cs_hits *hits, const cs_gallery_options *opt)
{
    const char *title = opt->title && *opt->title ? opt->title : "(image query)";
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"generator\" content=\"clipsearch\">\n<title>clipsearch: ", f);
    cs__html_escape(f, title);
    fputs("</title>\n<style>", f);
    fprintf(f, STYLE, opt->thumb_size > 120 ? opt->thumb_size : 120);
    fputs("</style></head>\n<body>\n<h1>clipsearch: <span class=\"query\">", f);
    cs__html_escape(f, title);
    fprintf(f, "</span></h1>\n<p>%zu result%s</p>\n", hits->n, hits->n == 1 ? "" : "s");
    if (opt->query_image) {
        fputs("<div class=\"q\"><p>query image: <code>", f);
        cs__html_escape(f, opt->query_image);
        fputs("</code></p>", f);
        write_thumb(f, opt->query_image, opt, "query image");
        fputs("</div>\n", f);
    }
    fputs("<div class=\"grid\">\n", f);
    for (size_t i = 0; i < hits->n; i++) {
        const cs_hit *h = &hits->items[i];
        fprintf(f, "<div class=\"hit\" data-rank=\"%d\" data-score=\"%.6f\"%s>\n", h->rank,
                h->score, h->missing ? " data-missing=\"true\"" : "");
        bool text = is_text_record(h->metadata_json);
        char *url = text || h->missing ? NULL : record_url(h->id);
        if (text) {
            fputs("<div class=\"text\">", f);
            cs__html_escape(f, h->id);
            fputs("</div>", f);
        } else if (h->missing) {
            fputs("<div class=\"missing\">(file no longer exists)</div>", f);
        } else if (!write_record_thumb(f, h->id, url, opt)) {
            fputs("<div class=\"missing\">(image not readable)</div>", f);
        }
        fprintf(f, "\n<div>#%d <span class=\"score\">%.4f</span></div>\n", h->rank, h->score);
        if (!text) {
            fputs(h->missing ? "<div class=\"path missing\"><code>" : "<div class=\"path\"><code>", f);
            if (url) {
                fputs("<a href=\"", f);
                cs__html_escape(f, url);
                fputs("\">", f);
            }
            cs__html_escape(f, h->id);
            fputs(url ? "</a></code></div>\n" : "</code></div>\n", f);
        }
        free(url);
        fputs("<details><summary>metadata</summary><pre>", f);
        cs__html_escape(f, h->metadata_json);
        fputs("</pre></details>\n</div>\n", f);
    }
    fputs("</div>\n</body></html>\n", f);
}

typedef struct {
    const cs_hits *hits;
    const cs_gallery_options *opt;
} page;

static void write_page_cb(FILE *f, void *ctx)
{
    const page *pg = ctx;
    write_page(f, pg->hits, pg->opt);
}

int cs_gallery_write_html(const char *path, const cs_hits *hits,
                          const cs_gallery_options *opt_in, cs_error *err)
{
    cs_gallery_options opt;
    if (opt_in) opt = *opt_in;
    else cs_gallery_options_init(&opt);
    if (opt.thumb_size < 16) opt.thumb_size = 256;
    page pg = {hits, &opt};
    return cs__write_file_atomic(path, write_page_cb, &pg, err);
}
