/* text / image / mixed query -> hits. The store does the top-k; this file builds the
 * query vector, turns distances into similarity scores and drops records whose files are
 * gone. */
#include "clipsearch/query.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/query_internal.h"
#include "base/pathid.h"

/* The store's largest query limit (vecs refuses more). */
#define CS_QUERY_MAX_LIMIT 1000

void cs_search_request_init(cs_search_request *req)
{
    memset(req, 0, sizeof *req);
    req->text_weight = 0.5f;
    req->image_weight = 0.5f;
    req->k = 10;
    req->apply_exif_orientation = true;
}

void cs_hits_free(cs_hits *hits)
{
    if (!hits) return;
    for (size_t i = 0; i < hits->n; i++) {
        free(hits->items[i].id);
        free(hits->items[i].metadata_json);
    }
    free(hits->items);
    free(hits->warning);
    hits->warning = NULL;
    hits->items = NULL;
    hits->n = 0;
}

static int embed_image_part(const cs_clip *model, const cs_search_request *req, float *out,
                            cs_error *err)
{
    if (req->image) return cs_clip_embed_image(model, req->image, out, err);
    cs_image_options opt;
    cs_image_options_init(&opt);
    opt.apply_exif_orientation = req->apply_exif_orientation;
    cs_image img = {0};
    int rc = cs_image_decode_file(req->image_path, &opt, &img, NULL, err);
    if (rc != 0) return rc;
    rc = cs_clip_embed_image(model, &img, out, err);
    cs_image_free(&img);
    if (rc != 0) cs_error_prefix(err, "query image %s", req->image_path);
    return rc;
}

int cs_query_embed(const cs_clip *model, const cs_search_request *req, float *out,
                   cs_error *err)
{
    if (req->terms && req->terms->n) {
        if ((req->text && *req->text) || req->image || (req->image_path && *req->image_path))
            return cs_error_set(err, CS_E_ARG, "a query has either terms or a text/image, "
                                               "not both");
        return cs__query_embed_terms(model, req, out, err);
    }
    bool has_text = req->text && *req->text;
    bool has_image = req->image || (req->image_path && *req->image_path);
    if (!has_text && !has_image)
        return cs_error_set(err, CS_E_ARG, "a query needs a text, an image or both");
    size_t dim = (size_t)cs_clip_embed_dim(model);
    if (has_text && !has_image) {
        int rc = cs_clip_embed_texts(model, &req->text, 1, out, err);
        if (rc == 0) cs_l2_normalize(out, dim);
        return rc;
    }
    if (has_image && !has_text) {
        int rc = embed_image_part(model, req, out, err);
        if (rc == 0) cs_l2_normalize(out, dim);
        return rc;
    }
    float wt = req->text_weight, wi = req->image_weight;
    if (!isfinite(wt) || !isfinite(wi) || wt < 0 || wi < 0 || wt + wi <= 0)
        return cs_error_set(err, CS_E_ARG,
                            "text and image weights must be finite, >= 0 and not both 0 "
                            "(got %g and %g)", wt, wi);
    float *img = malloc(dim * sizeof *img);
    if (!img) return cs_error_set(err, CS_E_NOMEM, "out of memory (query vector)");
    int rc = cs_clip_embed_texts(model, &req->text, 1, out, err);
    if (rc == 0) rc = embed_image_part(model, req, img, err);
    if (rc == 0) {
        /* Normalise each part first so the weights, not the raw norms, set the mix. */
        cs_l2_normalize(out, dim);
        cs_l2_normalize(img, dim);
        for (size_t i = 0; i < dim; i++) out[i] = wt * out[i] + wi * img[i];
        cs_l2_normalize(out, dim);
    }
    free(img);
    return rc;
}

bool cs_record_file_missing(const char *id, const char *metadata_json)
{
    if (!id || (id[0] != '/' && strncmp(id, "file:", 5) != 0)) return false;
    if (metadata_json && strstr(metadata_json, "\"text\"")) {
        json_t *m = json_loads(metadata_json, 0, NULL);
        const char *type = json_string_value(json_object_get(m, "type"));
        bool text = type && !strcmp(type, "text");
        json_decref(m);
        if (text) return false;
    }
    char *path = NULL;
    if (cs__path_from_id(id, &path, NULL) != 0) return false;
    struct stat st;
    /* Only "not there" counts: a file we may not read (EACCES) still exists. */
    bool missing = path[0] == '/' && stat(path, &st) != 0 && (errno == ENOENT || errno == ENOTDIR);
    free(path);
    return missing;
}

/* One store query of `limit` records turned into at most req->k hits (out is filled
 * afresh). *short_list: the store had no more records than these. */
static int query_round(cs_collection *coll, const float *vec, int dim,
                       const cs_search_request *req, const char *filter, int limit,
                       cs_hits *out, bool *short_list, cs_error *err)
{
    cs_query q;
    cs_query_init(&q);
    q.vector = vec;
    q.vector_dim = dim;
    q.limit = limit;
    q.filter_json = filter;
    q.measure = CS_MEASURE_COSINE;
    q.include_value = true;
    q.include_metadata = true;
    if (req->ef_search) q.ef_search = req->ef_search;
    cs_records recs = {0};
    int rc = cs_collection_query(coll, &q, &recs, err);
    if (rc != 0) {
        cs_records_free(&recs);   /* the store may have attached a warning already */
        return rc;
    }
    *short_list = recs.n < (size_t)limit;
    /* recs.warning ("no covering index") is not passed on: on SQLite every query is an
     * exact scan, and on PostgreSQL an unindexed query is exact too, only slower. */
    if (recs.n) {
        out->items = calloc(recs.n, sizeof *out->items);
        if (!out->items) {
            cs_records_free(&recs);
            return cs_error_set(err, CS_E_NOMEM, "out of memory (%zu hits)", recs.n);
        }
    }
    for (size_t i = 0; i < recs.n && out->n < (size_t)req->k; i++) {
        double score = 1.0 - recs.items[i].value;
        /* Results come in ascending distance, so the threshold cuts a suffix. */
        if (req->has_min_score && !(score >= req->min_score)) {
            *short_list = true;   /* nothing further down could be kept */
            break;
        }
        bool missing = cs_record_file_missing(recs.items[i].id, recs.items[i].metadata_json);
        if (missing && !req->include_missing) {
            out->missing_skipped++;
            continue;
        }
        cs_hit *h = &out->items[out->n];
        h->rank = (int)out->n + 1;
        h->score = score;
        h->missing = missing;
        h->id = recs.items[i].id;
        recs.items[i].id = NULL;
        h->metadata_json = recs.items[i].metadata_json ? recs.items[i].metadata_json
                                                       : strdup("{}");
        recs.items[i].metadata_json = NULL;
        out->n++;
        if (!h->id || !h->metadata_json) {
            cs_records_free(&recs);
            cs_hits_free(out);
            return cs_error_set(err, CS_E_NOMEM, "out of memory (hits)");
        }
    }
    cs_records_free(&recs);
    return 0;
}

int cs_query_vector(cs_collection *coll, const float *vec, int dim,
                    const cs_search_request *req, cs_hits *out, cs_error *err)
{
    out->items = NULL;
    out->n = 0;
    out->missing_skipped = 0;
    out->warning = NULL;
    int cdim = cs_collection_dimension(coll);
    if (cdim > 0 && cdim != dim)
        return cs_error_set(err, CS_E_MISMATCHED_DIMENSION,
                            "collection '%s' holds %d-d vectors but the query vector has %d "
                            "dimensions (was it built with another model?)",
                            cs_collection_name(coll), cdim, dim);
    /* Records of vanished files are dropped after the store's top-k, so a short list is
     * asked again with a larger limit (at least twice as many, or k plus twice the
     * vanished ones seen) until k hits are kept, the store has no more, or the store's
     * limit is reached: a few rounds at most, each an ordinary query. */
    char *filter = NULL, *warning = NULL;
    int rc = cs_search_filter_json(req, &filter, err);
    if (rc == 0 && filter) rc = cs_collection_filter_warnings(coll, filter, &warning, err);
    if (rc != 0) {
        free(filter);
        return rc;
    }
    int limit = req->k;
    for (;;) {
        bool short_list = false;
        rc = query_round(coll, vec, dim, req, filter, limit, out, &short_list, err);
        if (rc != 0 || out->n >= (size_t)req->k || short_list || !out->missing_skipped ||
            limit >= CS_QUERY_MAX_LIMIT) {
            if (rc == 0) out->warning = warning;
            else free(warning);
            free(filter);
            return rc;
        }
        size_t want = (size_t)req->k + 2 * out->missing_skipped;
        if (want < 2 * (size_t)limit) want = 2 * (size_t)limit;
        limit = want > CS_QUERY_MAX_LIMIT ? CS_QUERY_MAX_LIMIT : (int)want;
        cs_hits_free(out);
        out->missing_skipped = 0;
    }
}

int cs__query_check_dimension(const cs_clip *model, cs_collection *coll, cs_error *err)
{
    int dim = cs_clip_embed_dim(model), cdim = cs_collection_dimension(coll);
    if (cdim > 0 && cdim != dim)
        return cs_error_set(err, CS_E_MISMATCHED_DIMENSION,
                            "collection '%s' holds %d-d vectors but the model (%s) embeds "
                            "%d-d: search it with the model it was indexed with",
                            cs_collection_name(coll), cdim, cs_clip_model_dir(model), dim);
    return 0;
}

int cs__query_like_vector(cs_collection *coll, const cs_search_request *req, float **vec,
                          int *dim, cs_error *err)
{
    *vec = NULL;
    if ((req->terms && req->terms->n) || (req->text && *req->text) || req->image ||
        (req->image_path && *req->image_path))
        return cs_error_set(err, CS_E_ARG, "a query is either like a stored record or texts "
                                           "and images, not both");
    cs_records rec = {0};
    int rc = cs_collection_get_record(coll, req->like_id, &rec, err);
    if (rc == CS_E_NOT_FOUND)
        rc = cs_error_set(err, CS_E_NOT_FOUND, "no record '%.300s' in collection '%.200s'",
                          req->like_id, cs_collection_name(coll));
    if (rc == 0 && (rec.n != 1 || !rec.items[0].vector))
        rc = cs_error_set(err, CS_E_INTERNAL, "record '%.300s' came back without its vector",
                          req->like_id);
    if (rc == 0) {
        /* Taken over from the record: the caller frees it. */
        *vec = rec.items[0].vector;
        rec.items[0].vector = NULL;
        *dim = cs_collection_dimension(coll);
    }
    cs_records_free(&rec);
    return rc;
}

int cs_query_run(const cs_clip *model, cs_collection *coll, const cs_search_request *req,
                 cs_hits *out, cs_error *err)
{
    out->items = NULL;
    out->warning = NULL;
    out->missing_skipped = 0;
    out->n = 0;
    float *vec = NULL;
    int dim = cs_clip_embed_dim(model);
    int rc = cs__query_check_dimension(model, coll, err);
    if (rc == 0 && req->like_id) {
        rc = cs__query_like_vector(coll, req, &vec, &dim, err);
    } else if (rc == 0) {
        if (!(vec = malloc((size_t)dim * sizeof *vec)))
            return cs_error_set(err, CS_E_NOMEM, "out of memory (query vector)");
        rc = cs_query_embed(model, req, vec, err);
    }
    if (rc == 0) rc = cs_query_vector(coll, vec, dim, req, out, err);
    free(vec);
    return rc;
}

int cs_query_warm(cs_collection *coll, cs_error *err)
{
    int dim = cs_collection_dimension(coll);
    if (dim < 1) return 0;
    float *v = calloc((size_t)dim, sizeof *v);
    if (!v) return cs_error_set(err, CS_E_NOMEM, "out of memory (warm-up vector)");
    v[0] = 1.0f;   /* any unit vector: only the side effect matters */
    cs_query q;
    cs_query_init(&q);
    q.vector = v;
    q.vector_dim = dim;
    q.limit = 1;
    cs_records recs = {0};
    int rc = cs_collection_query(coll, &q, &recs, err);
    cs_records_free(&recs);
    free(v);
    return rc;
}
