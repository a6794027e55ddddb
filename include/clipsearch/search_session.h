/* A search session: what every front end (the CLI's one-shot search, its REPL, the web
 * server) holds open to answer queries -- the store, its collections (opened once, each
 * checked against the model that built it), the model, the warm-up of the store's vector
 * cache -- and the one way a query runs: the collection checked before anything is
 * encoded, the query encoded (texts, images, or a stored record's vector), the store's
 * top-k turned into hits with their files' status, and the answer as JSON. Front ends
 * only parse their arguments and render what comes back. Owned by
 * src/app/search_session.c and search_json.c.
 *
 * A session may be used by several threads at once: the store and the collections are
 * used under the session's lock, the encoding outside it (so a long encoding never holds
 * up a record lookup), through opt.run_encoding when the front end wants encodings on a
 * thread of its choosing. */
#ifndef CLIPSEARCH_SEARCH_SESSION_H
#define CLIPSEARCH_SEARCH_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clipsearch/clip.h"
#include "clipsearch/error.h"
#include "clipsearch/query.h"
#include "clipsearch/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_search_session cs_search_session;

typedef struct cs_search_session_options {
    /* The store: an open one (not owned), or NULL and store_url, which is opened
     * read-only (CS_STORE_READ_ONLY: nothing is ever created) when first needed, and
     * again on each later need until a database is there. */
    cs_store *store;
    const char *store_url;
    const char *collection;       /* used when a call names none; default "image_vectors" */
    /* The command that fills the store, named by CS_E_STORE_NOT_FOUND ("nothing indexed
     * yet: run CMD"); default "clipsearch index DIR". */
    const char *index_command;
    bool apply_exif_orientation;  /* query images (and the model record check); default true */
    /* Open the default collection at cs_search_session_open (its absence is then the
     * open's error) and, where the store caches vectors, load them on a background
     * thread meanwhile (the model loads in the caller's thread). */
    bool warm;
    /* Where encodings run: fn(arg) must have run when this returns. NULL = the calling
     * thread. The web server runs them all on one long-lived thread (one encoding at a
     * time keeps scores identical under load; per-thread GEMM scratch stays warm). */
    void (*run_encoding)(void *ctx, void (*fn)(void *arg), void *arg);
    void *run_encoding_ctx;
    /* A warning to show (a collection without a model record): default stderr,
     * "clipsearch: warning: MSG". */
    void (*warn)(void *ctx, const char *msg);
    void *warn_ctx;
} cs_search_session_options;

void cs_search_session_options_init(cs_search_session_options *opt);

/* CS_E_ARG without a store or store_url. With opt->warm: CS_E_STORE_NOT_FOUND or
 * CS_E_COLLECTION_NOT_FOUND when there is nothing to search yet. */
int cs_search_session_open(const cs_search_session_options *opt, cs_search_session **out,
                           cs_error *err);
/* Waits for the warm-up, closes the collections and the store it opened. NULL is fine. */
void cs_search_session_close(cs_search_session *s);

/* The model that encodes queries (not owned; must outlive the session). Must be set
 * once, before the first query. Collections are checked against it (model_record.h)
 * when first used: CS_E_MODEL_MISMATCH names both models. */
int cs_search_session_set_model(cs_search_session *s, const cs_clip *model, cs_error *err);

/* Checks now what the first query would (the collection exists, its model record and
 * dimension fit the model), so that an interactive front end reports a mismatch before
 * anything is typed. Waits for the warm-up. */
int cs_search_session_check(cs_search_session *s, const char *collection, cs_error *err);

/* The store, opening it from store_url if needed (CS_E_STORE_NOT_FOUND until it
 * exists). The caller must not use it while another thread uses the session. */
int cs_search_session_store(cs_search_session *s, cs_store **out, cs_error *err);
const char *cs_search_session_default_collection(const cs_search_session *s);
/* The dimension the model embeds (-1 before set_model). */
int cs_search_session_model_dim(const cs_search_session *s);

/* One query on the collection named (NULL = the default): req->like_id's stored vector,
 * or req's terms / text / image encoded by the model. The collection's dimension and
 * model record are checked before anything is encoded. *out as cs_query_vector. */
int cs_search_session_run(cs_search_session *s, const char *collection,
                          const cs_search_request *req, cs_hits *out, cs_error *err);

/* One record of the collection (vector and metadata), for a front end's lookups
 * (thumbnails, the original file). CS_E_NOT_FOUND names the id and the collection. */
int cs_search_session_record(cs_search_session *s, const char *collection, const char *id,
                             cs_records *out, cs_error *err);

typedef struct cs_search_collection {
    char *name;
    int dimension;
    bool searchable;            /* the model's dimension */
    int64_t count;              /* records, or -1 when it could not be counted */
} cs_search_collection;

/* The store's collections (none while there is no database yet: *n = 0, not an error). */
int cs_search_session_list(cs_search_session *s, cs_search_collection **out, size_t *n,
                           cs_error *err);
void cs_search_collections_free(cs_search_collection *list, size_t n);

/* ---- answers as JSON (search_json.c) ---------------------------------------------- */

/* One hit: {"rank", "id", "score", "metadata"[, "missing": true]}; metadata parsed (kept
 * as a string when it is not JSON); a string that is not UTF-8 comes out null.
 * malloc'd compact JSON (ASCII, \u escapes), NULL when out of memory. */
char *cs_hit_json(const cs_hit *hit);

/* What a query was, echoed in the answer. */
typedef struct cs_search_echo {
    const char *text;           /* the query text as given (NULL: none) */
    const char *image;          /* the query image's name (NULL: none) */
    const char *collection;
} cs_search_echo;

/* The whole answer: {"query": {text, terms, image, like, k, filter, min_score, under,
 * name, after, before, collection}, "results": [hits], "missing_skipped": N,
 * "warning": the filter warning or null}. malloc'd; NULL when out of memory. */
char *cs_search_answer_json(const cs_search_request *req, const cs_search_echo *echo,
                            const cs_hits *hits);

#ifdef __cplusplus
}
#endif
#endif
