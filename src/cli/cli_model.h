/* Model loading for the query-side commands (search, labels, add-text): resolves
 * --model > $CLIPSEARCH_MODEL > the cache, and says how to get a model when none is
 * there. */
#ifndef CS_CLI_MODEL_H
#define CS_CLI_MODEL_H

#include <stdbool.h>

#include "clipsearch/clip.h"
#include "clipsearch/search_session.h"
#include "clipsearch/store.h"

/* Loads the model (CS_PRECISION_* GEMMs) or returns NULL with err set (message includes
 * the remedy). */
cs_clip *cli_load_model(const char *model_arg, int precision, cs_error *err);

/* Opens the store (--db > $CLIPSEARCH_DB > default) read-only and an EXISTING
 * collection; creates nothing. Returns 0, or prints why not and returns the exit status:
 * without a database or that collection, "clipsearch: nothing indexed yet in DB - run:
 * clipsearch index DIR" (naming the real store, --db and --collection as needed). */
int cli_open_collection(const char *db_arg, const char *name, cs_store **store,
                        cs_collection **coll);

/* Opens the search session over the store (as cli_open_collection: read-only, creating
 * nothing, the same first-run message) with the collection warming up (search_session.h
 * opt.warm). Returns 0 or the exit status, having printed why. */
int cli_open_search(const char *db_arg, const char *name, bool exif, cs_search_session **out);

/* Checks that model (with these options) is the one that built coll (model_record.h);
 * a warning (no record to check) goes to stderr. 0 or CS_E_MODEL_MISMATCH. */
int cli_check_model(cs_collection *coll, const cs_clip *model, bool exif, bool fast_decode,
                    int use, cs_error *err);

/* Whole text of a file, or of stdin for "-" (malloc'd, NUL-terminated). */
char *cli_read_text(const char *path, cs_error *err);

#endif
