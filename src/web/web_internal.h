/* Internals of the web front end (include/clipsearch/web.h): the server state shared by
 * the routes, the per-request state, and the HTTP response helpers. */
#ifndef CS_WEB_INTERNAL_H
#define CS_WEB_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <jansson.h>
#include <microhttpd.h>

#include "base/budget.h"
#include "base/hash.h"
#include "clipsearch/search_session.h"
#include "clipsearch/web.h"

#define WEB_MAX_FIELD 65536      /* bytes of one text form field (q, filter, ...) */

typedef struct cs__web_pool cs__web_pool;             /* pool.c */
typedef struct cs__web_thumb_cache cs__web_thumb_cache;   /* thumb_cache.c */

/* Everything a route may touch. Requests run on threads of their own (one per
 * connection). The store, the collections and the model are the search session's
 * (search_session.h), which locks what must be locked; its encodings run on model_pool's
 * one thread. A loaded model may be shared by threads (clip.h), but each encoding
 * already uses every core, and concurrent callers change how OpenBLAS splits a GEMM, so
 * scores would differ in their last bits with the load: one encoding at a time keeps
 * answers identical. And one long-lived thread keeps what the GEMM libraries set up per
 * thread (buffers, scratch) warm: on each new connection's fresh thread, a text query
 * took 2-3 times as long. The rest is read-only after start, except the pools and the
 * cache, which lock themselves. */
typedef struct cs__web_state {
    cs_search_session *session;
    char *index_command;        /* shown on an empty store */
    char *host;                 /* as given, e.g. "127.0.0.1", "::1", "localhost" */
    bool ipv6;
    bool allow_remote;
    bool apply_exif;
    size_t max_upload;
    int port;
    cs__web_pool *model_pool;       /* one thread: every query encoding */
    cs__web_pool *thumb_pool;       /* thumbnails are made on these threads */
    cs__budget thumb_budget;     /* memory their decodes hold at once (base/budget.h) */
    cs__web_thumb_cache *cache;     /* NULL: no disk cache */
    /* The request state of a request answered "out of memory" before it had one of its
     * own: its address marks such a request (never written, never freed). */
    char no_memory;
} cs__web_state;

/* What the store says about a record's file (metadata written by the indexer; -1 / ""
 * where absent). */
typedef struct cs__web_record {
    char *path;                 /* absolute, malloc'd */
    int64_t bytes, mtime, mtime_ns;
    char hash[CS_HASH_HEX_LEN + 1];   /* XXH3-128 of the content when indexed */
} cs__web_record;

/* Form fields of a POST; values are NUL-terminated. */
typedef struct cs__web_field {
    char *key;
    char *value;
    size_t len;
} cs__web_field;

typedef struct cs__web_request {
    bool is_post;
    struct MHD_PostProcessor *pp;   /* multipart/urlencoded; NULL = raw body */
    uint8_t *body;                  /* the raw body, or the uploaded file of a form */
    size_t len, cap;
    char *filename;                 /* of the uploaded file, when the form named one */
    bool too_large;
    bool answered;                  /* refused by a guard as soon as the headers came */
    bool bad_form;                  /* a field over WEB_MAX_FIELD, or too many fields */
    bool no_memory;                 /* out of memory receiving the body or a field */
    cs__web_field *fields;
    size_t n_fields;
    size_t max_upload;
} cs__web_request;

/* ---- http.c ---------------------------------------------------------------------- */

/* The headers every response carries: nosniff, no-referrer and a same-origin resource
 * policy (no other site may embed a thumbnail or read an answer). */
void cs__web_add_common_headers(struct MHD_Response *resp);
/* Queue a response (body copied), with the common headers. */
enum MHD_Result cs__web_send(struct MHD_Connection *c, unsigned status, const char *type,
                         const void *body, size_t len, const char *cache_control);
/* Dumps j (reference stolen) as the body, application/json. */
enum MHD_Result cs__web_send_json(struct MHD_Connection *c, unsigned status, json_t *j);
/* {"error": {"category", "message"}} with the status that fits err->code. */
enum MHD_Result cs__web_send_error(struct MHD_Connection *c, const cs_error *err);
/* Same, for errors of HTTP itself (unknown route, method): category given. */
enum MHD_Result cs__web_send_error_status(struct MHD_Connection *c, unsigned status,
                                      const char *category, const char *message);
unsigned cs__web_status_of(int code);

/* A parameter: the form field of a POST when present, else the URL's query argument.
 * NULL when absent. */
const char *cs__web_param(struct MHD_Connection *c, const cs__web_request *r, const char *name);

/* Appends to the request body, respecting max_upload (sets too_large instead). */
void cs__web_body_append(cs__web_request *r, const char *data, size_t len);
/* Appends to a form field's value, creating it on first use. */
void cs__web_field_append(cs__web_request *r, const char *key, const char *data, size_t len);
void cs__web_request_free(cs__web_request *r);

/* ---- guard.c ---------------------------------------------------------------------- */

/* The Host header is a plain host[:port] and (unless allow_remote) names this machine. */
bool cs__web_host_ok(const cs__web_state *st, const char *host);
/* NULL when a POST may be served; else why it is refused (another site sent it). */
const char *cs__web_cross_site(struct MHD_Connection *c);

/* ---- pool.c ----------------------------------------------------------------------- */

/* Threads (at a lower priority: nice) that run jobs handed to them; at most `threads`
 * jobs run at once, the rest wait in order. */
int cs__web_pool_start(int threads, int nice, cs__web_pool **out, cs_error *err);
/* Runs fn(arg) on a pool thread and returns when it is done. */
void cs__web_pool_run(cs__web_pool *p, void (*fn)(void *), void *arg);
/* Lets running and queued jobs finish, then ends the threads. NULL is fine. */
void cs__web_pool_stop(cs__web_pool *p);

/* ---- thumb_cache.c ---------------------------------------------------------------- */

#define WEB_THUMB_QUALITY 82
/* A cached thumbnail larger than this is not one we wrote (the viewer's 2048-px JPEG at
 * quality 82 is well under 8 MiB even for noise: about 4 MiB). */
#define WEB_THUMB_MAX_BYTES ((size_t)8 << 20)

/* A cache in dir (created on the first write, mode 0700) of at most max_bytes. */
int cs__web_cache_open(const char *dir, uint64_t max_bytes, cs__web_thumb_cache **out, cs_error *err);
void cs__web_cache_close(cs__web_thumb_cache *cache);
/* The entry name of a thumbnail (hex): the indexed content hash when the file's size and
 * mtime are still those indexed, else the path with the current size and mtime; plus
 * the thumbnail's size and options. */
void cs__web_cache_key(const cs__web_record *rec, const struct stat *now, int size, bool exif,
                   char key[CS_HASH_HEX_LEN + 1]);
/* A valid entry (a JPEG of at most WEB_THUMB_MAX_BYTES whose longest side is at most
 * size): true and *jpeg malloc'd. An invalid one is removed. */
bool cs__web_cache_get(cs__web_thumb_cache *cache, const char *key, int size, uint8_t **jpeg,
                   size_t *len);
/* Stores atomically (temp file + rename), then evicts the least recently used entries
 * when over the bound. Failures only mean no caching. */
void cs__web_cache_put(cs__web_thumb_cache *cache, const char *key, const uint8_t *jpeg, size_t len);

/* ---- routes ---------------------------------------------------------------------- */

/* The file of a record of the collection named by ?collection= whose id is ?id=. Free
 * with cs__web_record_free. */
int cs__web_record_file(cs__web_state *st, struct MHD_Connection *c, const cs__web_request *r,
                    cs__web_record *out, cs_error *err);
void cs__web_record_free(cs__web_record *rec);
/* Opens a record's file for reading: a regular file (never blocks on a FIFO) of at most
 * CS_INDEX_MAX_FILE_BYTES (CS_E_TOO_LARGE), else CS_E_NOT_FOUND. */
int cs__web_open_file(const char *path, int *fd, struct stat *sb, cs_error *err);

enum MHD_Result cs__web_route_search_text(cs__web_state *st, struct MHD_Connection *c,
                                      const cs__web_request *r);
enum MHD_Result cs__web_route_search_image(cs__web_state *st, struct MHD_Connection *c,
                                       const cs__web_request *r);
enum MHD_Result cs__web_route_thumb(cs__web_state *st, struct MHD_Connection *c,
                                const cs__web_request *r);
enum MHD_Result cs__web_route_file(cs__web_state *st, struct MHD_Connection *c, const cs__web_request *r);
enum MHD_Result cs__web_route_collections(cs__web_state *st, struct MHD_Connection *c);
enum MHD_Result cs__web_route_page(struct MHD_Connection *c);

/* ---- page_html.c ----------------------------------------------------------------- */

extern const char cs__web_page_html[];

#endif
