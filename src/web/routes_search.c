/* /api/search (text, or like=ID: the records nearest a stored one) and /api/search/image
 * (image, or image + text): parameters in, cs_query_run / cs_query_vector, hits out as
 * JSON. The search itself is the library's (query.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clipsearch/query.h"
#include "web/web_internal.h"

static int parse_double(const char *name, const char *s, double lo, double *out, cs_error *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v < lo)
        return cs_error_set(err, CS_E_ARG, "%s needs a number%s, got '%.100s'", name,
                            lo > -INFINITY ? " >= 0" : "", s);
    *out = v;
    return 0;
}

/* k, filter, min_score, weights: the options every search takes. */
static int read_options(struct MHD_Connection *c, const web_request *r, cs_search_request *req,
                        cs_error *err)
{
    const char *k = web_param(c, r, "k");
    if (k && *k) {
        char *end;
        errno = 0;
        long v = strtol(k, &end, 10);
        if (end == k || *end || errno || v < 1 || v > 1000)
            return cs_error_set(err, CS_E_ARG, "k needs an integer 1..1000, got '%.100s'", k);
        req->k = (int)v;
    }
    const char *f = web_param(c, r, "filter");
    if (f && *f) req->filter_json = f;
    req->under = web_param(c, r, "under");
    req->name = web_param(c, r, "name");
    req->after = web_param(c, r, "after");
    req->before = web_param(c, r, "before");
    /* A relative folder would name one below the server's working directory. */
    if (req->under && *req->under && req->under[0] != '/')
        return cs_error_set(err, CS_E_ARG, "under needs an absolute folder (/...), got '%.200s'",
                            req->under);
    const char *m = web_param(c, r, "min_score");
    if (m && *m) {
        if (parse_double("min_score", m, -INFINITY, &req->min_score, err)) return err->code;
        req->has_min_score = true;
    }
    double w;
    const char *tw = web_param(c, r, "text_weight");
    if (tw && *tw) {
        if (parse_double("text_weight", tw, 0, &w, err)) return err->code;
        req->text_weight = (float)w;
    }
    const char *im = web_param(c, r, "include_missing");
    if (im && *im) req->include_missing = strcmp(im, "0") != 0 && strcmp(im, "false") != 0;
    const char *iw = web_param(c, r, "image_weight");
    if (iw && *iw) {
        if (parse_double("image_weight", iw, 0, &w, err)) return err->code;
        req->image_weight = (float)w;
    }
    return 0;
}

/* json_string refuses invalid UTF-8: keep the key (as null) rather than drop it. */
static json_t *jstr(const char *s)
{
    json_t *j = s ? json_string(s) : NULL;
    return j ? j : json_null();
}

static json_t *hits_json(const cs_hits *hits)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < hits->n; i++) {
        const cs_hit *h = &hits->items[i];
        json_t *meta = json_loads(h->metadata_json, JSON_DECODE_ANY, NULL);
        if (!meta) meta = jstr(h->metadata_json);
        json_t *o = json_object();
        json_object_set_new(o, "rank", json_integer(h->rank));
        json_object_set_new(o, "id", jstr(h->id));
        json_object_set_new(o, "score", json_real(h->score));
        json_object_set_new(o, "metadata", meta);
        if (h->missing) json_object_set_new(o, "missing", json_true());
        json_array_append_new(arr, o);
    }
    return arr;
}

/* {"query": {text, terms, image, like, k, filter, min_score, collection},
 *  "results": [...]}; text is q as given, terms how it was read. */
static enum MHD_Result send_hits(struct MHD_Connection *c, const cs_search_request *req,
                                 const char *text, const char *image_name, const char *like,
                                 const char *collection, const cs_hits *hits)
{
    json_t *q = json_object();
    json_object_set_new(q, "text", text && *text ? jstr(text) : json_null());
    json_t *terms = json_array();
    for (size_t i = 0; req->terms && i < req->terms->n; i++) {
        const cs_query_term *t = &req->terms->items[i];
        json_array_append_new(terms, json_pack("{s:s,s:o,s:f}", "kind",
                                               t->kind == CS_TERM_TEXT ? "text" : "image",
                                               "value", jstr(t->value), "weight",
                                               (double)t->weight));
    }
    json_object_set_new(q, "terms", terms);
    json_object_set_new(q, "image", image_name ? jstr(image_name) : json_null());
    json_object_set_new(q, "like", like ? jstr(like) : json_null());
    json_object_set_new(q, "k", json_integer(req->k));
    json_t *filter = req->filter_json ? json_loads(req->filter_json, JSON_DECODE_ANY, NULL) : NULL;
    json_object_set_new(q, "filter", filter ? filter : json_null());
    json_object_set_new(q, "min_score", req->has_min_score ? json_real(req->min_score) : json_null());
    const char *const fields[][2] = {{"under", req->under}, {"name", req->name},
                                     {"after", req->after}, {"before", req->before}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        json_object_set_new(q, fields[i][0], fields[i][1] && *fields[i][1] ? jstr(fields[i][1])
                                                                            : json_null());
    json_object_set_new(q, "collection", jstr(collection));
    json_t *j = json_object();
    json_object_set_new(j, "query", q);
    json_object_set_new(j, "results", hits_json(hits));
    /* Records whose files are gone are dropped (query.h); the page says how many. */
    json_object_set_new(j, "missing_skipped", json_integer((json_int_t)hits->missing_skipped));
    /* A filter that quietly matches nothing (or, with $ne, everything): said, not refused. */
    json_object_set_new(j, "warning", hits->warning ? jstr(hits->warning) : json_null());
    return web_send_json(c, MHD_HTTP_OK, j);
}

/* The vector of a stored record: "more like this one" without embedding anything. */
static int like_vector(cs_collection *coll, const char *id, cs_records *rec, cs_error *err)
{
    int rc = cs_collection_get_record(coll, id, rec, err);
    if (rc == CS_E_NOT_FOUND)
        return cs_error_set(err, CS_E_NOT_FOUND, "no record '%.300s' in collection '%.200s'",
                            id, cs_collection_name(coll));
    if (rc == 0 && (rec->n != 1 || !rec->items[0].vector))
        return cs_error_set(err, CS_E_INTERNAL, "record '%.300s' came back without its vector", id);
    return rc;
}

/* The collection by name, checked for this model's dimension. Caller holds st->lock. */
static int searchable(web_state *st, const char *name, cs_collection **coll, cs_error *err)
{
    int rc = web_collection(st, name, coll, err);
    if (rc != 0) return rc;
    int dim = cs_clip_embed_dim(st->model), cdim = cs_collection_dimension(*coll);
    if (cdim > 0 && cdim != dim)
        return cs_error_set(err, CS_E_MISMATCHED_DIMENSION,
                            "collection '%s' holds %d-d vectors but the model (%s) embeds "
                            "%d-d: search it with the model it was indexed with (--model)",
                            cs_collection_name(*coll), cdim, cs_clip_model_dir(st->model), dim);
    return 0;
}

/* q in the query algebra's syntax (query.h), texts only: an image term would name a
 * file on the server, which a web client has no business reading. */
static int query_terms(const char *q, cs_query_terms *terms, cs_error *err)
{
    size_t before = terms->n;
    int rc = cs_query_terms_parse(q, terms, err);
    /* Only the terms q added: the image route's upload is already there as the first.
     * The message does not echo the term: the parser expanded '~/' with the server's
     * $HOME, which is none of the client's business. */
    for (size_t k = before; rc == 0 && k < terms->n; k++)
        if (terms->items[k].kind == CS_TERM_IMAGE)
            rc = cs_error_set(err, CS_E_ARG, "q: term %zu is an image path ('/', './', "
                                             "'../' or '~/'), which would name a file on the "
                                             "server: upload images to /api/search/image "
                                             "(q may add texts)",
                              k - before + 1);
    if (rc != 0)
        while (terms->n > before) free(terms->items[--terms->n].value);
    return rc;
}

typedef struct embed_job {
    const cs_clip *model;
    const cs_search_request *req;
    float *vec;
    int rc;
    cs_error *err;
} embed_job;

static void embed(void *arg)
{
    embed_job *j = arg;
    j->rc = cs_query_embed(j->model, j->req, j->vec, j->err);
}

/* The search itself. The encoding runs on the model's thread (st->model_pool), not under
 * the store lock, so it never holds up thumbnails or another search's store work; the
 * store and the collection handles only under st->lock. The collection is looked up
 * again after encoding: its handle may have been replaced meanwhile. */
static int search(web_state *st, const char *name, const char *like, cs_search_request *req,
                  cs_hits *hits, cs_error *err)
{
    cs_collection *coll = NULL;
    int dim = cs_clip_embed_dim(st->model);
    float *vec = NULL;
    int rc = 0;
    if (!like) {
        /* Check the collection before encoding: a query for one that does not exist, or
         * that another model built, costs no encoding. */
        pthread_mutex_lock(&st->lock);
        rc = searchable(st, name, &coll, err);
        pthread_mutex_unlock(&st->lock);
        if (rc != 0) return rc;
        if (!(vec = malloc((size_t)dim * sizeof *vec)))
            return cs_error_set(err, CS_E_NOMEM, "out of memory (query vector)");
        embed_job job = {st->model, req, vec, 0, err};
        web_pool_run(st->model_pool, embed, &job);
        if ((rc = job.rc) != 0) {
            free(vec);
            return rc;
        }
    }
    cs_records rec = {0};
    pthread_mutex_lock(&st->lock);
    if (like) {
        rc = web_collection(st, name, &coll, err);
        if (rc == 0) rc = like_vector(coll, like, &rec, err);
        if (rc == 0)
            rc = cs_query_vector(coll, rec.items[0].vector, cs_collection_dimension(coll), req,
                                 hits, err);
    } else {
        rc = searchable(st, name, &coll, err);
        if (rc == 0) rc = cs_query_vector(coll, vec, dim, req, hits, err);
    }
    pthread_mutex_unlock(&st->lock);
    cs_records_free(&rec);
    free(vec);
    return rc;
}

static enum MHD_Result run(web_state *st, struct MHD_Connection *c, const web_request *r,
                           cs_search_request *req, const char *image_name, const char *like)
{
    cs_error err = {0};
    const char *name = web_param(c, r, "collection");
    if (!name || !*name) name = st->default_collection;
    cs_hits hits = {0};
    int rc = read_options(c, r, req, &err);
    if (rc == 0) rc = search(st, name, like, req, &hits, &err);
    if (rc != 0) return web_send_error(c, &err);
    enum MHD_Result ret = send_hits(c, req, web_param(c, r, "q"), image_name, like, name, &hits);
    cs_hits_free(&hits);
    return ret;
}

enum MHD_Result web_route_search_text(web_state *st, struct MHD_Connection *c,
                                      const web_request *r)
{
    cs_search_request req;
    cs_search_request_init(&req);
    const char *q = web_param(c, r, "q");
    const char *like = web_param(c, r, "like");
    bool has_text = q && *q, has_like = like && *like;
    if (has_text == has_like)
        return web_send_error_status(c, MHD_HTTP_BAD_REQUEST, "ArgError",
                                     has_text ? "give q (a text) or like (a record id), not both"
                                              : "q (the text to search for) or like (the id of "
                                                "a record to find similar ones) is required; "
                                                "POST an image to /api/search/image to search "
                                                "by image");
    cs_query_terms terms = {0};
    if (has_text) {
        cs_error err = {0};
        if (query_terms(q, &terms, &err) != 0) {
            cs_query_terms_free(&terms);
            return web_send_error(c, &err);
        }
        req.terms = &terms;
    }
    enum MHD_Result ret = run(st, c, r, &req, NULL, has_like ? like : NULL);
    cs_query_terms_free(&terms);
    return ret;
}

enum MHD_Result web_route_search_image(web_state *st, struct MHD_Connection *c,
                                       const web_request *r)
{
    if (!r->len)
        return web_send_error_status(c, MHD_HTTP_BAD_REQUEST, "ArgError",
                                     "no image: send it as the request body or as the "
                                     "form field 'image'");
    cs_image_options opt;
    cs_image_options_init(&opt);
    opt.apply_exif_orientation = st->apply_exif;
    cs_image img = {0};
    cs_error err = {0};
    if (cs_image_decode_memory(r->body, r->len, &opt, &img, NULL, &err) != 0) {
        cs_error_prefix(&err, "uploaded image%s%s", r->filename ? " " : "",
                        r->filename ? r->filename : "");
        return web_send_error(c, &err);
    }
    cs_search_request req;
    cs_search_request_init(&req);
    req.apply_exif_orientation = st->apply_exif;
    /* The upload is the first term; q adds texts to it ("at night -rain"). */
    const char *name = r->filename ? r->filename : "upload";
    cs_query_terms terms = {0};
    const char *q = web_param(c, r, "q");
    int rc = cs_query_terms_add(&terms, CS_TERM_IMAGE, name, 1, &err);
    if (rc == 0) terms.items[0].image = &img;
    if (rc == 0 && q && *q) rc = query_terms(q, &terms, &err);
    enum MHD_Result ret;
    if (rc != 0) {
        ret = web_send_error(c, &err);
    } else {
        req.terms = &terms;
        ret = run(st, c, r, &req, name, NULL);
    }
    cs_query_terms_free(&terms);
    cs_image_free(&img);
    return ret;
}
