/* Pieces of the HTML gallery (gallery_html.c) shared with the other pages the library
 * writes (duplicates_html.c). Internal to src/app. */
#ifndef CS_APP_GALLERY_INTERNAL_H
#define CS_APP_GALLERY_INTERNAL_H

#include <stdbool.h>
#include <stdio.h>

/* Writes s with & < > " ' as HTML entities (NULL writes nothing). */
void cs__html_escape(FILE *f, const char *s);
/* An <img> with a data: URI JPEG thumbnail (longest side <= size) of the file a record id
 * names (base/pathid.h), alt text the id; false (nothing written) when it is not a
 * readable image. */
bool cs__html_record_thumb(FILE *f, const char *id, int size, bool apply_exif);

#endif
