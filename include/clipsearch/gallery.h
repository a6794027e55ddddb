/* The HTML gallery of a result list: one self-contained page (src/app/gallery_html.c). */
#ifndef CLIPSEARCH_GALLERY_H
#define CLIPSEARCH_GALLERY_H

#include <stdbool.h>

#include "clipsearch/error.h"
#include "clipsearch/query.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_gallery_options {
    const char *title;          /* e.g. the query as the user typed it */
    const char *query_image;    /* image of the query, shown at the top (may be NULL) */
    int thumb_size;             /* default 256 */
    bool apply_exif_orientation;
} cs_gallery_options;

void cs_gallery_options_init(cs_gallery_options *opt);

/* Writes a self-contained HTML page (thumbnails as data: URIs, scores, ids/paths, the
 * query) to path, atomically (temp file + rename). Records whose id is not a readable
 * image (text collections, deleted files) are shown as text. Everything is escaped. */
int cs_gallery_write_html(const char *path, const cs_hits *hits,
                          const cs_gallery_options *opt, cs_error *err);

#ifdef __cplusplus
}
#endif
#endif
