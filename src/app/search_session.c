/* The search session (search_session.h): the store and its collections under one lock,
 * each collection checked once against the model, the warm-up thread, and the one way a
 * query runs. */
#include "clipsearch/search_session.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/query_internal.h"
#include "clipsearch/model_record.h"

/* Open collection handles kept for reuse (a handle caches its vectors: forgetting one
 * costs its next query a reload). */
#define SESSION_MAX_COLLECTIONS 16

typedef struct session_coll {
    char *name;
    cs_collection *coll;
    bool checked;               /* its model record was checked against the model */
} session_coll;

struct cs_search_session {
    pthread_mutex_t lock;       /* the store, the collections, the warm-up's join */
    cs_store *store;            /* NULL until a database appears at store_url */
    bool own_store;
    char *store_url;
    char *default_collection;
    char *index_command;
    bool apply_exif;
    const cs_clip *model;       /* NULL until set_model */
    cs_model_identity ident;
    session_coll colls[SESSION_MAX_COLLECTIONS];
    size_t n_colls;
    pthread_t warm_thread;
    bool warming;               /* warm_thread runs, or ran and is not joined yet */
    cs_collection *warm_coll;   /* the default collection */
    int warm_dim;               /* its dimension, read before the thread started */
    void (*run_encoding)(void *ctx, void (*fn)(void *), void *arg);
    void *run_encoding_ctx;
    void (*warn)(void *ctx, const char *msg);
    void *warn_ctx;
};

void cs_search_session_options_init(cs_search_session_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->collection = "image_vectors";
    opt->apply_exif_orientation = true;
}

static void warn_stderr(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "clipsearch: warning: %s\n", msg);
}

/* ---- the store and the collections (caller holds s->lock) ------------------------- */

/* The warm-up thread uses the store alone: whoever needs the store next waits for it. */
static void join_warm_locked(cs_search_session *s)
{
    if (!s->warming) return;
    pthread_join(s->warm_thread, NULL);
    s->warming = false;
}

static int store_locked(cs_search_session *s, cs_store **out, cs_error *err)
{
    join_warm_locked(s);
    *out = s->store;
    if (s->store) return 0;
    int rc = cs_store_open_ex(s->store_url, CS_STORE_READ_ONLY, &s->store, err);
    if (rc == CS_E_STORE_NOT_FOUND)
        return cs_error_set(err, rc, "nothing indexed yet: run %s", s->index_command);
    if (rc != 0) return rc;
    s->own_store = true;
    *out = s->store;
    return 0;
}

/* A collection another model built would give meaningless rankings: refused, with the
 * reason, on every use (the check runs again until it passes). */
static int check_locked(cs_search_session *s, session_coll *c, cs_error *err)
{
    if (c->checked || !s->model) return 0;
    char *warning = NULL;
    int rc = cs_model_record_check(c->coll, &s->ident, CS_MODEL_USE_QUERY, &warning, err);
    if (warning) s->warn(s->warn_ctx, warning);
    free(warning);
    if (rc == 0) c->checked = true;
    return rc;
}

/* The collection by name (NULL = the default), opened once and kept. Its model record
 * is checked once a model is set. */
static int collection_locked(cs_search_session *s, const char *name, cs_collection **out,
                             cs_error *err)
{
    if (!name || !*name) name = s->default_collection;
    join_warm_locked(s);
    for (size_t i = 0; i < s->n_colls; i++)
        if (!strcmp(s->colls[i].name, name)) {
            /* Least recently used goes first when the cache is full: a hit moves last. */
            session_coll hit = s->colls[i];
            memmove(&s->colls[i], &s->colls[i + 1], (s->n_colls - i - 1) * sizeof hit);
            s->colls[s->n_colls - 1] = hit;
            int rc = check_locked(s, &s->colls[s->n_colls - 1], err);
            *out = rc == 0 ? hit.coll : NULL;
            return rc;
        }
    cs_store *store = NULL;
    int rc = store_locked(s, &store, err);
    if (rc != 0) return rc;
    session_coll c = {0};
    if ((rc = cs_store_get(store, name, &c.coll, err)) != 0) return rc;
    if ((rc = check_locked(s, &c, err)) != 0 || !(c.name = strdup(name))) {
        cs_collection_free(c.coll);
        return rc ? rc : cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    /* Full: forget the least recently used handle. */
    if (s->n_colls == SESSION_MAX_COLLECTIONS) {
        free(s->colls[0].name);
        cs_collection_free(s->colls[0].coll);
        memmove(&s->colls[0], &s->colls[1], (SESSION_MAX_COLLECTIONS - 1) * sizeof s->colls[0]);
        s->n_colls--;
    }
    s->colls[s->n_colls++] = c;
    *out = c.coll;
    return 0;
}

/* ---- open / close ----------------------------------------------------------------- */

static void *warm_main(void *arg)
{
    cs_search_session *s = arg;
    cs_error err = {0};
    /* A failure here shows up again, with its message, in the real query. */
    cs_query_warm(s->warm_coll, &err);
    return NULL;
}

int cs_search_session_open(const cs_search_session_options *opt, cs_search_session **out,
                           cs_error *err)
{
    *out = NULL;
    if (!opt->store && !(opt->store_url && *opt->store_url))
        return cs_error_set(err, CS_E_ARG, "a search session needs a store or a store URL");
    cs_search_session *s = calloc(1, sizeof *s);
    if (!s) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    s->store = opt->store;
    s->store_url = opt->store ? NULL : strdup(opt->store_url);
    s->default_collection = strdup(opt->collection && *opt->collection ? opt->collection
                                                                       : "image_vectors");
    s->index_command = strdup(opt->index_command && *opt->index_command ? opt->index_command
                                                                       : "clipsearch index DIR");
    s->apply_exif = opt->apply_exif_orientation;
    s->run_encoding = opt->run_encoding;
    s->run_encoding_ctx = opt->run_encoding_ctx;
    s->warn = opt->warn ? opt->warn : warn_stderr;
    s->warn_ctx = opt->warn_ctx;
    pthread_mutex_init(&s->lock, NULL);
    if (!s->default_collection || !s->index_command || (!opt->store && !s->store_url)) {
        cs_search_session_close(s);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    if (opt->warm) {
        cs_collection *coll = NULL;
        int rc = collection_locked(s, NULL, &coll, err);
        if (rc != 0) {
            cs_search_session_close(s);
            return rc;
        }
        /* The backend reads every vector on its first query: let it do so while the
         * caller loads the model (nothing else touches the store until the join). */
        s->warm_coll = coll;
        s->warm_dim = cs_collection_dimension(coll);
        s->warming = cs_store_caches_vectors(s->store) &&
                     pthread_create(&s->warm_thread, NULL, warm_main, s) == 0;
    }
    *out = s;
    return 0;
}

void cs_search_session_close(cs_search_session *s)
{
    if (!s) return;
    join_warm_locked(s);
    for (size_t i = 0; i < s->n_colls; i++) {
        free(s->colls[i].name);
        cs_collection_free(s->colls[i].coll);
    }
    if (s->own_store) cs_store_close(s->store);
    free(s->store_url);
    free(s->default_collection);
    free(s->index_command);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int cs_search_session_set_model(cs_search_session *s, const cs_clip *model, cs_error *err)
{
    if (s->model) return cs_error_set(err, CS_E_ARG, "the session's model is already set");
    int rc = cs_model_identity_init(&s->ident, model, s->apply_exif, false, err);
    if (rc != 0) return rc;
    pthread_mutex_lock(&s->lock);
    s->model = model;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int cs_search_session_check(cs_search_session *s, const char *collection, cs_error *err)
{
    if (!s->model) return cs_error_set(err, CS_E_ARG, "the search session has no model yet");
    cs_collection *coll = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = collection_locked(s, collection, &coll, err);
    if (rc == 0) rc = cs__query_check_dimension(s->model, coll, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int cs_search_session_store(cs_search_session *s, cs_store **out, cs_error *err)
{
    pthread_mutex_lock(&s->lock);
    int rc = store_locked(s, out, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

const char *cs_search_session_default_collection(const cs_search_session *s)
{
    return s->default_collection;
}

int cs_search_session_model_dim(const cs_search_session *s)
{
    return s->model ? cs_clip_embed_dim(s->model) : -1;
}

/* ---- queries ---------------------------------------------------------------------- */

typedef struct encode_job {
    const cs_clip *model;
    const cs_search_request *req;
    float *vec;
    int rc;
    cs_error *err;
} encode_job;

static void encode(void *arg)
{
    encode_job *j = arg;
    j->rc = cs_query_embed(j->model, j->req, j->vec, j->err);
}

int cs_search_session_run(cs_search_session *s, const char *collection,
                          const cs_search_request *req, cs_hits *out, cs_error *err)
{
    memset(out, 0, sizeof *out);
    if (!s->model) return cs_error_set(err, CS_E_ARG, "the search session has no model yet");
    cs_collection *coll = NULL;
    float *vec = NULL;
    int dim = cs_clip_embed_dim(s->model);
    /* Checked before encoding: a query for a collection that does not exist, or that
     * another model built, costs no encoding. Except while the warm-up still reads the
     * default collection: the encoding overlaps it, and the model record is checked
     * after (the dimension, known from the open, before). */
    pthread_mutex_lock(&s->lock);
    int rc = 0;
    bool overlap = s->warming && !req->like_id &&
                   (!collection || !*collection || !strcmp(collection, s->default_collection));
    if (overlap && s->warm_dim > 0 && s->warm_dim != dim)
        rc = cs_error_set(err, CS_E_MISMATCHED_DIMENSION,
                          "collection '%s' holds %d-d vectors but the model (%s) embeds "
                          "%d-d: search it with the model it was indexed with",
                          s->default_collection, s->warm_dim, cs_clip_model_dir(s->model), dim);
    else if (!overlap)
        rc = collection_locked(s, collection, &coll, err);
    if (rc == 0 && !overlap && req->like_id) rc = cs__query_like_vector(coll, req, &vec, &dim, err);
    else if (rc == 0 && !overlap) rc = cs__query_check_dimension(s->model, coll, err);
    pthread_mutex_unlock(&s->lock);
    if (rc != 0) return rc;
    if (!req->like_id) {
        if (!(vec = malloc((size_t)dim * sizeof *vec)))
            return cs_error_set(err, CS_E_NOMEM, "out of memory (query vector)");
        encode_job job = {s->model, req, vec, 0, err};
        if (s->run_encoding) s->run_encoding(s->run_encoding_ctx, encode, &job);
        else encode(&job);
        if ((rc = job.rc) != 0) {
            free(vec);
            return rc;
        }
    }
    /* Looked up again: another thread may have replaced the handle meanwhile. */
    pthread_mutex_lock(&s->lock);
    rc = collection_locked(s, collection, &coll, err);
    if (rc == 0) rc = cs_query_vector(coll, vec, dim, req, out, err);
    pthread_mutex_unlock(&s->lock);
    free(vec);
    return rc;
}

int cs_search_session_record(cs_search_session *s, const char *collection, const char *id,
                             cs_records *out, cs_error *err)
{
    memset(out, 0, sizeof *out);
    cs_collection *coll = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = collection_locked(s, collection, &coll, err);
    if (rc == 0) rc = cs_collection_get_record(coll, id, out, err);
    if (rc == CS_E_NOT_FOUND && coll)
        rc = cs_error_set(err, CS_E_NOT_FOUND, "no record '%.300s' in collection '%.200s'", id,
                          cs_collection_name(coll));
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int cs_search_session_list(cs_search_session *s, cs_search_collection **out, size_t *n,
                           cs_error *err)
{
    *out = NULL;
    *n = 0;
    cs_collection_info *infos = NULL;
    size_t count = 0;
    cs_store *store = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = store_locked(s, &store, err);
    if (rc == CS_E_STORE_NOT_FOUND) {
        /* No database yet: nothing to list, which is what a first run looks like. */
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    if (rc == 0) rc = cs_store_list(store, &infos, &count, err);
    cs_search_collection *list = rc == 0 && count ? calloc(count, sizeof *list) : NULL;
    if (rc == 0 && count && !list) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    int model_dim = s->model ? cs_clip_embed_dim(s->model) : -1;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        cs_search_collection *c = &list[i];
        c->name = infos[i].name;
        infos[i].name = NULL;
        c->dimension = infos[i].dimension;
        c->searchable = infos[i].dimension == model_dim;
        c->count = -1;
        /* Counted through the cached handle when there is one, else a short-lived one:
         * listing many collections must not evict the ones being searched. */
        cs_error ignored = {0};
        cs_collection *coll = NULL, *temp = NULL;
        for (size_t k = 0; k < s->n_colls && !coll; k++)
            if (!strcmp(s->colls[k].name, c->name)) coll = s->colls[k].coll;
        if (!coll && cs_store_get(store, c->name, &temp, &ignored) == 0) coll = temp;
        if (coll) cs_collection_count(coll, &c->count, &ignored);
        /* A collection another model built is not offered for search (said once a query
         * names it, not here). */
        char *warning = NULL;
        if (coll && s->model && c->searchable &&
            cs_model_record_check(coll, &s->ident, CS_MODEL_USE_QUERY, &warning, &ignored) ==
                CS_E_MODEL_MISMATCH)
            c->searchable = false;
        free(warning);
        cs_collection_free(temp);
    }
    pthread_mutex_unlock(&s->lock);
    cs_collection_info_free(infos, count);
    if (rc != 0) {
        cs_search_collections_free(list, count);
        return rc;
    }
    *out = list;
    *n = count;
    return 0;
}

void cs_search_collections_free(cs_search_collection *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) free(list[i].name);
    free(list);
}
