/* The model record of a collection: which model (and which preprocessing options) built
 * its vectors, kept in the collection's attributes (store.h: where Python vecs never
 * looks). Searching a collection with another model, or adding to it with other options,
 * would silently mix incomparable vectors; these checks turn that into a clear error.
 * Owned by src/app/model_record.c. */
#ifndef CLIPSEARCH_MODEL_RECORD_H
#define CLIPSEARCH_MODEL_RECORD_H

#include <stdbool.h>

#include "clipsearch/clip.h"
#include "clipsearch/error.h"
#include "clipsearch/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What decides the numbers of an image's vector. */
typedef struct cs_model_identity {
    char fingerprint[33];         /* cs_clip_fingerprint */
    char name[256];               /* the model folder's name, e.g. "clip-ViT-B-32" */
    char path[4096];              /* the model folder */
    int dim;
    int precision;                /* cs_precision */
    bool exif_orientation;
    bool fast_decode;
} cs_model_identity;

/* precision is the model's own (cs_clip_precision). */
int cs_model_identity_init(cs_model_identity *id, const cs_clip *model, bool exif_orientation,
                           bool fast_decode, cs_error *err);
/* A short key (16 hex digits + NUL) of everything in id: stored in each record's
 * metadata ("embedder") by the indexer, so a re-embedding knows what is done. */
void cs_model_identity_key(const cs_model_identity *id, char out[17]);

typedef enum {
    CS_MODEL_USE_QUERY,   /* search, labels, serve: the model must match */
    CS_MODEL_USE_INDEX,   /* index: the model and the preprocessing options must match */
} cs_model_use;

/* Checks coll's record against id. 0 when they agree, or when the collection has no
 * record (written by Python vecs or an older clipsearch): then *warning (malloc'd; may be
 * NULL otherwise) says that the model cannot be checked. CS_E_MODEL_MISMATCH with a
 * message naming both models or options and what to do. An interrupted re-embedding
 * (index --reembed) is a mismatch for indexing without --reembed, and a warning for
 * queries with either model. */
int cs_model_record_check(cs_collection *coll, const cs_model_identity *id, cs_model_use use,
                          char **warning, cs_error *err);

/* After indexing: records id as the collection's model when it has no record and create
 * is set (the caller saw it empty before writing: a new collection), or when it already
 * names this model (adding id's precision to the list of precisions used). A collection
 * that had records but no record of its model is left alone (*recorded false): its
 * vectors may come from anywhere. */
int cs_model_record_update(cs_collection *coll, const cs_model_identity *id, bool create,
                           bool *recorded, cs_error *err);

/* index --reembed: marks the collection as being re-embedded with id (the record names
 * id from now on, and remembers the previous model until cs_model_record_finish_reembed).
 * Idempotent: resuming an interrupted re-embedding keeps the original "from". */
int cs_model_record_begin_reembed(cs_collection *coll, const cs_model_identity *id,
                                  cs_error *err);
int cs_model_record_finish_reembed(cs_collection *coll, cs_error *err);

#ifdef __cplusplus
}
#endif
#endif
