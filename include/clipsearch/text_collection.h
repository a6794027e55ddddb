/* Text collections: captions or labels embedded with the text tower and stored as
 * records, so an image can be matched against them (`add-text`; src/app/add_text.c). */
#ifndef CLIPSEARCH_TEXT_COLLECTION_H
#define CLIPSEARCH_TEXT_COLLECTION_H

#include <stddef.h>

#include "clipsearch/clip.h"
#include "clipsearch/error.h"
#include "clipsearch/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_add_text_stats {
    size_t lines;               /* non-empty lines given */
    size_t upserted;            /* distinct texts written */
    size_t duplicates;          /* repeated lines (each text is one record) */
    size_t added;               /* of upserted, texts the collection did not hold before */
} cs_add_text_stats;

/* Embeds texts (normalised) in batches of batch (0 = 64) and upserts them with id = the
 * text and metadata {"type":"text"}; repeated texts are written once. The collection
 * must have the model's dimension. */
int cs_add_texts(const cs_clip *model, cs_collection *coll, const char *const *texts,
                 size_t n, size_t batch, cs_add_text_stats *stats, cs_error *err);

#ifdef __cplusplus
}
#endif
#endif
