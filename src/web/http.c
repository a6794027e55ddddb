/* HTTP plumbing of the web front end: responses (JSON, errors with their status),
 * parameter lookup, and the buffers a request body is collected in. */
#include <stdlib.h>
#include <string.h>

#include "web/web_internal.h"

void cs__web_add_common_headers(struct MHD_Response *resp)
{
    /* The browser must never guess a type (a thumbnail is JPEG, JSON is JSON). */
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    /* Another site's page may not even embed what this server answers (<img> of a
     * thumbnail, <script> of a JSON answer): the browser drops it. */
    MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
}

enum MHD_Result cs__web_send(struct MHD_Connection *c, unsigned status, const char *type,
                         const void *body, size_t len, const char *cache_control)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    cs__web_add_common_headers(resp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                            cache_control ? cache_control : "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result cs__web_send_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (!s) {
        static const char oom[] =
            "{\"error\":{\"category\":\"OutOfMemory\",\"message\":\"cannot build the response\"}}";
        return cs__web_send(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json", oom,
                        sizeof oom - 1, NULL);
    }
    enum MHD_Result ret = cs__web_send(c, status, "application/json; charset=utf-8", s, strlen(s), NULL);
    free(s);
    return ret;
}

unsigned cs__web_status_of(int code)
{
    switch (code) {
    case CS_E_ARG:
    case CS_E_FILTER:
    case CS_E_DIMENSION:
    case CS_E_MISMATCHED_DIMENSION:
    case CS_E_INVALID_NAME:
    case CS_E_FORMAT:
    case CS_E_UNSUPPORTED:
        return MHD_HTTP_BAD_REQUEST;
    case CS_E_TOO_LARGE:
        return MHD_HTTP_CONTENT_TOO_LARGE;
    case CS_E_COLLECTION_NOT_FOUND:
    case CS_E_STORE_NOT_FOUND:
    case CS_E_NOT_FOUND:
        return MHD_HTTP_NOT_FOUND;
    case CS_E_BUSY:
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

enum MHD_Result cs__web_send_error_status(struct MHD_Connection *c, unsigned status,
                                      const char *category, const char *message)
{
    /* json_string refuses invalid UTF-8; messages quote user input, so fall back to a
     * generic text rather than lose the error. */
    json_t *msg = json_string(message);
    if (!msg) msg = json_string("(message not valid UTF-8)");
    json_t *e = json_object();
    json_object_set_new(e, "category", json_string(category));
    json_object_set_new(e, "message", msg);
    json_t *j = json_object();
    json_object_set_new(j, "error", e);
    return cs__web_send_json(c, status, j);
}

enum MHD_Result cs__web_send_error(struct MHD_Connection *c, const cs_error *err)
{
    int code = err->code ? err->code : CS_E_INTERNAL;
    return cs__web_send_error_status(c, cs__web_status_of(code), cs_error_category(code),
                                 err->msg[0] ? err->msg : "unknown error");
}

const char *cs__web_param(struct MHD_Connection *c, const cs__web_request *r, const char *name)
{
    for (size_t i = 0; r && i < r->n_fields; i++)
        if (!strcmp(r->fields[i].key, name)) return r->fields[i].value;
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

static bool grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return true;
    size_t n = *cap ? *cap : 4096;
    while (n < need) n *= 2;
    uint8_t *g = realloc(*buf, n);
    if (!g) return false;
    *buf = g;
    *cap = n;
    return true;
}

void cs__web_body_append(cs__web_request *r, const char *data, size_t len)
{
    if (r->too_large || r->bad_form || r->no_memory) return;
    /* Keep reading (and dropping) the rest so the 413 can be sent on a clean stream. */
    if (len > r->max_upload - r->len) {
        r->too_large = true;
        return;
    }
    if (!grow(&r->body, &r->cap, r->len + len)) {
        r->no_memory = true;
        return;
    }
    memcpy(r->body + r->len, data, len);
    r->len += len;
}

void cs__web_field_append(cs__web_request *r, const char *key, const char *data, size_t len)
{
    if (r->bad_form || r->no_memory) return;
    cs__web_field *f = NULL;
    for (size_t i = 0; i < r->n_fields; i++)
        if (!strcmp(r->fields[i].key, key)) f = &r->fields[i];
    if (!f) {
        if (r->n_fields >= 32) {
            r->bad_form = true;
            return;
        }
        cs__web_field *g = realloc(r->fields, (r->n_fields + 1) * sizeof *g);
        if (!g) {
            r->no_memory = true;
            return;
        }
        r->fields = g;
        f = &g[r->n_fields];
        f->key = strdup(key);
        f->value = calloc(1, 1);
        f->len = 0;
        if (!f->key || !f->value) {
            free(f->key);
            free(f->value);
            r->no_memory = true;
            return;
        }
        r->n_fields++;
    }
    if (len > WEB_MAX_FIELD - f->len) {
        r->bad_form = true;
        return;
    }
    char *v = realloc(f->value, f->len + len + 1);
    if (!v) {
        r->no_memory = true;
        return;
    }
    memcpy(v + f->len, data, len);
    f->len += len;
    v[f->len] = '\0';
    f->value = v;
}

void cs__web_request_free(cs__web_request *r)
{
    if (!r) return;
    if (r->pp) MHD_destroy_post_processor(r->pp);
    for (size_t i = 0; i < r->n_fields; i++) {
        free(r->fields[i].key);
        free(r->fields[i].value);
    }
    free(r->fields);
    free(r->body);
    free(r->filename);
    free(r);
}
