/* Search answers as JSON (search_session.h): one shape for the CLI's --json and the web
 * API, written in one place. */
#include <jansson.h>
#include <stdlib.h>

#include "clipsearch/search_session.h"

/* json_string refuses invalid UTF-8: keep the key (as null) rather than drop it. */
static json_t *jstr(const char *s)
{
    json_t *j = s ? json_string(s) : NULL;
    return j ? j : json_null();
}

static json_t *hit_object(const cs_hit *h)
{
    json_t *meta = json_loads(h->metadata_json, JSON_DECODE_ANY, NULL);
    if (!meta) meta = jstr(h->metadata_json);
    json_t *o = json_object();
    if (!o) {
        json_decref(meta);
        return NULL;
    }
    json_object_set_new(o, "rank", json_integer(h->rank));
    json_object_set_new(o, "id", jstr(h->id));
    json_object_set_new(o, "score", json_real(h->score));
    json_object_set_new(o, "metadata", meta);
    if (h->missing) json_object_set_new(o, "missing", json_true());
    return o;
}

static char *dump(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII) : NULL;
    json_decref(j);
    return s;
}

char *cs_hit_json(const cs_hit *hit)
{
    return dump(hit_object(hit));
}

static json_t *query_object(const cs_search_request *req, const cs_search_echo *echo)
{
    json_t *q = json_object();
    json_object_set_new(q, "text", echo->text && *echo->text ? jstr(echo->text) : json_null());
    json_t *terms = json_array();
    for (size_t i = 0; req->terms && i < req->terms->n; i++) {
        const cs_query_term *t = &req->terms->items[i];
        json_array_append_new(terms, json_pack("{s:s,s:o,s:f}", "kind",
                                               t->kind == CS_TERM_TEXT ? "text" : "image",
                                               "value", jstr(t->value), "weight",
                                               (double)t->weight));
    }
    json_object_set_new(q, "terms", terms);
    json_object_set_new(q, "image", echo->image ? jstr(echo->image) : json_null());
    json_object_set_new(q, "like", req->like_id ? jstr(req->like_id) : json_null());
    json_object_set_new(q, "k", json_integer(req->k));
    json_t *filter = req->filter_json ? json_loads(req->filter_json, JSON_DECODE_ANY, NULL) : NULL;
    json_object_set_new(q, "filter", filter ? filter : json_null());
    json_object_set_new(q, "min_score", req->has_min_score ? json_real(req->min_score) : json_null());
    const char *const fields[][2] = {{"under", req->under}, {"name", req->name},
                                     {"after", req->after}, {"before", req->before}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        json_object_set_new(q, fields[i][0], fields[i][1] && *fields[i][1] ? jstr(fields[i][1])
                                                                            : json_null());
    json_object_set_new(q, "collection", echo->collection ? jstr(echo->collection) : json_null());
    return q;
}

char *cs_search_answer_json(const cs_search_request *req, const cs_search_echo *echo,
                            const cs_hits *hits)
{
    json_t *results = json_array(), *j = json_object();
    /* Out of memory anywhere is NULL, never a truncated answer. */
    int bad = !results || !j;
    for (size_t i = 0; !bad && i < hits->n; i++)
        bad = json_array_append_new(results, hit_object(&hits->items[i])) != 0;
    bad = bad || json_object_set_new(j, "query", query_object(req, echo)) != 0;
    bad = bad || json_object_set_new(j, "results", json_incref(results)) != 0;
    /* Records whose files are gone are dropped (query.h): how many. */
    bad = bad || json_object_set_new(j, "missing_skipped",
                                     json_integer((json_int_t)hits->missing_skipped)) != 0;
    /* A filter that quietly matches nothing (or, with $ne, everything): said, not refused. */
    bad = bad || json_object_set_new(j, "warning",
                                     hits->warning ? jstr(hits->warning) : json_null()) != 0;
    json_decref(results);
    if (bad) {
        json_decref(j);
        return NULL;
    }
    return dump(j);
}
