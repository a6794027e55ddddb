/* Internals of the web front end (include/clipsearch/web.h): the server state shared by
 * the routes, the per-request state, and the HTTP response helpers. */
#ifndef CS_WEB_INTERNAL_H
#define CS_WEB_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <microhttpd.h>

#include "clipsearch/model_record.h"
#include "clipsearch/web.h"

#define WEB_MAX_COLLECTIONS 16   /* open collection handles kept for reuse */
#define WEB_MAX_FIELD 65536      /* bytes of one text form field (q, filter, ...) */

typedef struct web_coll {
    char *name;
    cs_collection *coll;
} web_coll;

/* Everything a route may touch; the store and the collections only under lock. */
typedef struct web_state {
    const cs_clip *model;
    cs_model_identity ident;    /* of model: checked against each collection's record */
    cs_store *store;            /* NULL until a database appears at store_url */
    bool own_store;             /* opened here (from store_url): closed by cs_web_stop */
    char *store_url;            /* NULL when the caller gave the store */
    char *index_command;        /* shown on an empty store */
    char *host;                 /* as given, e.g. "127.0.0.1", "::1", "localhost" */
    bool ipv6;
    bool allow_remote;
    bool apply_exif;
    char *default_collection;
    size_t max_upload;
    int port;
    pthread_mutex_t lock;
    web_coll colls[WEB_MAX_COLLECTIONS];
    size_t n_colls;
} web_state;

/* Form fields of a POST; values are NUL-terminated. */
typedef struct web_field {
    char *key;
    char *value;
    size_t len;
} web_field;

typedef struct web_request {
    bool is_post;
    struct MHD_PostProcessor *pp;   /* multipart/urlencoded; NULL = raw body */
    uint8_t *body;                  /* the raw body, or the uploaded file of a form */
    size_t len, cap;
    char *filename;                 /* of the uploaded file, when the form named one */
    bool too_large;
    bool bad_form;                  /* a field over WEB_MAX_FIELD or out of memory */
    web_field *fields;
    size_t n_fields;
    size_t max_upload;
} web_request;

/* ---- http.c ---------------------------------------------------------------------- */

/* Queue a response (body copied). Adds nosniff and no-referrer headers everywhere. */
enum MHD_Result web_send(struct MHD_Connection *c, unsigned status, const char *type,
                         const void *body, size_t len, const char *cache_control);
/* Dumps j (reference stolen) as the body, application/json. */
enum MHD_Result web_send_json(struct MHD_Connection *c, unsigned status, json_t *j);
/* {"error": {"category", "message"}} with the status that fits err->code. */
enum MHD_Result web_send_error(struct MHD_Connection *c, const cs_error *err);
/* Same, for errors of HTTP itself (unknown route, method): category given. */
enum MHD_Result web_send_error_status(struct MHD_Connection *c, unsigned status,
                                      const char *category, const char *message);
unsigned web_status_of(int code);

/* A parameter: the form field of a POST when present, else the URL's query argument.
 * NULL when absent. */
const char *web_param(struct MHD_Connection *c, const web_request *r, const char *name);

/* Appends to the request body, respecting max_upload (sets too_large instead). */
void web_body_append(web_request *r, const char *data, size_t len);
/* Appends to a form field's value, creating it on first use. */
void web_field_append(web_request *r, const char *key, const char *data, size_t len);
void web_request_free(web_request *r);

/* ---- routes ---------------------------------------------------------------------- */

/* The store, opened read-only from store_url on first use once the database exists;
 * CS_E_STORE_NOT_FOUND (with the command to run) until then. */
int web_store(web_state *st, cs_store **out, cs_error *err);
/* The collection named by ?collection= (or the default), opened once and kept. */
int web_collection(web_state *st, const char *name, cs_collection **out, cs_error *err);

enum MHD_Result web_route_search_text(web_state *st, struct MHD_Connection *c,
                                      const web_request *r);
enum MHD_Result web_route_search_image(web_state *st, struct MHD_Connection *c,
                                       const web_request *r);
enum MHD_Result web_route_thumb(web_state *st, struct MHD_Connection *c,
                                const web_request *r);
enum MHD_Result web_route_file(web_state *st, struct MHD_Connection *c, const web_request *r);
enum MHD_Result web_route_collections(web_state *st, struct MHD_Connection *c);
enum MHD_Result web_route_page(struct MHD_Connection *c);

/* ---- page_html.c ----------------------------------------------------------------- */

extern const char cs_web_page_html[];

#endif
