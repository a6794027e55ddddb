/* /api/search (text, or like=ID: the records nearest a stored one) and /api/search/image
 * (image, or image + text): parameters in, the search session's answer out
 * (search_session.h: the search and its JSON are the library's). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clipsearch/query.h"
#include "clipsearch/search_session.h"
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
static int read_options(struct MHD_Connection *c, const cs__web_request *r, cs_search_request *req,
                        cs_error *err)
{
    const char *k = cs__web_param(c, r, "k");
    if (k && *k) {
        char *end;
        errno = 0;
        long v = strtol(k, &end, 10);
        if (end == k || *end || errno || v < 1 || v > 1000)
            return cs_error_set(err, CS_E_ARG, "k needs an integer 1..1000, got '%.100s'", k);
        req->k = (int)v;
    }
    const char *f = cs__web_param(c, r, "filter");
    if (f && *f) req->filter_json = f;
    req->under = cs__web_param(c, r, "under");
    req->name = cs__web_param(c, r, "name");
    req->after = cs__web_param(c, r, "after");
    req->before = cs__web_param(c, r, "before");
    /* A relative folder would name one below the server's working directory. */
    if (req->under && *req->under && req->under[0] != '/')
        return cs_error_set(err, CS_E_ARG, "under needs an absolute folder (/...), got '%.200s'",
                            req->under);
    const char *m = cs__web_param(c, r, "min_score");
    if (m && *m) {
        if (parse_double("min_score", m, -INFINITY, &req->min_score, err)) return err->code;
        req->has_min_score = true;
    }
    double w;
    const char *tw = cs__web_param(c, r, "text_weight");
    if (tw && *tw) {
        if (parse_double("text_weight", tw, 0, &w, err)) return err->code;
        req->text_weight = (float)w;
    }
    const char *im = cs__web_param(c, r, "include_missing");
    if (im && *im) req->include_missing = strcmp(im, "0") != 0 && strcmp(im, "false") != 0;
    const char *iw = cs__web_param(c, r, "image_weight");
    if (iw && *iw) {
        if (parse_double("image_weight", iw, 0, &w, err)) return err->code;
        req->image_weight = (float)w;
    }
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

static enum MHD_Result run(cs__web_state *st, struct MHD_Connection *c, const cs__web_request *r,
                           cs_search_request *req, const char *image_name)
{
    cs_error err = {0};
    const char *name = cs__web_param(c, r, "collection");
    if (!name || !*name) name = cs_search_session_default_collection(st->session);
    cs_hits hits = {0};
    int rc = read_options(c, r, req, &err);
    if (rc == 0) rc = cs_search_session_run(st->session, name, req, &hits, &err);
    if (rc != 0) return cs__web_send_error(c, &err);
    cs_search_echo echo = {.text = cs__web_param(c, r, "q"), .image = image_name, .collection = name};
    char *body = cs_search_answer_json(req, &echo, &hits);
    cs_hits_free(&hits);
    if (!body) {
        cs_error_set(&err, CS_E_NOMEM, "out of memory (answer)");
        return cs__web_send_error(c, &err);
    }
    enum MHD_Result ret = cs__web_send(c, MHD_HTTP_OK, "application/json; charset=utf-8", body,
                                   strlen(body), NULL);
    free(body);
    return ret;
}

enum MHD_Result cs__web_route_search_text(cs__web_state *st, struct MHD_Connection *c,
                                      const cs__web_request *r)
{
    cs_search_request req;
    cs_search_request_init(&req);
    const char *q = cs__web_param(c, r, "q");
    const char *like = cs__web_param(c, r, "like");
    bool has_text = q && *q, has_like = like && *like;
    if (has_text == has_like)
        return cs__web_send_error_status(c, MHD_HTTP_BAD_REQUEST, "ArgError",
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
            return cs__web_send_error(c, &err);
        }
        req.terms = &terms;
    }
    if (has_like) req.like_id = like;
    enum MHD_Result ret = run(st, c, r, &req, NULL);
    cs_query_terms_free(&terms);
    return ret;
}

enum MHD_Result cs__web_route_search_image(cs__web_state *st, struct MHD_Connection *c,
                                       const cs__web_request *r)
{
    if (!r->len)
        return cs__web_send_error_status(c, MHD_HTTP_BAD_REQUEST, "ArgError",
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
        return cs__web_send_error(c, &err);
    }
    cs_search_request req;
    cs_search_request_init(&req);
    req.apply_exif_orientation = st->apply_exif;
    /* The upload is the first term; q adds texts to it ("at night -rain"). */
    const char *name = r->filename ? r->filename : "upload";
    cs_query_terms terms = {0};
    const char *q = cs__web_param(c, r, "q");
    int rc = cs_query_terms_add(&terms, CS_TERM_IMAGE, name, 1, &err);
    if (rc == 0) terms.items[0].image = &img;
    if (rc == 0 && q && *q) rc = query_terms(q, &terms, &err);
    enum MHD_Result ret;
    if (rc != 0) {
        ret = cs__web_send_error(c, &err);
    } else {
        req.terms = &terms;
        ret = run(st, c, r, &req, name);
    }
    cs_query_terms_free(&terms);
    cs_image_free(&img);
    return ret;
}
