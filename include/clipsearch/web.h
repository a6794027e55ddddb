/* The web front end: an HTTP JSON API and a self-contained HTML page over one loaded
 * model and one open store (`clipsearch serve`). Owned by src/web/.
 *
 *   GET  /                      the search page (embedded CSS/JS, no external assets)
 *   GET  /api/search?q=TEXT&k=N&filter=JSON&min_score=S&collection=NAME
 *                               (like=ID instead of q: the records nearest a stored one)
 *   POST /api/search/image      multipart/form-data (field "image" + optional q, k, filter,
 *                               min_score, collection, text_weight, image_weight) or the
 *                               raw image bytes as the body (options in the URL)
 *   GET  /api/thumb?id=ID&size=N   JPEG thumbnail of a record of the collection, never of
 *                               any other path
 *   GET  /api/file?id=ID        the original file of such a record (same checks), for the
 *                               page's links
 *   GET  /api/collections       {"default": NAME, "collections": [{name, dimension, count}],
 *                               "index_command": the command that fills an empty store}
 *
 * Searches answer {"query": {text, image, like, k, filter, min_score, collection}, "results": [{"rank","id","score","metadata"}]}; errors
 * answer {"error": {"category", "message"}} with 400 (bad argument, filter, image), 404
 * (unknown collection, record or route), 405, 413 (upload too large) or 500.
 *
 * Every response carries nosniff, no-referrer and Cross-Origin-Resource-Policy:
 * same-origin. Requests whose Host is not a plain host[:port] naming this machine (unless
 * allow_remote) are refused (403), and so are POSTs another site sent (Sec-Fetch-Site
 * cross-site, or same-site or Origin that is not this server's origin: 403 "Forbidden").
 * Files over CS_INDEX_MAX_FILE_BYTES (indexer.h) are neither thumbnailed nor served (413).
 *
 * Each connection is served on its own thread (at most 256 connections, silent ones
 * closed after 30 s); the store is used under a mutex (its handle is single-threaded),
 * the model on one thread of its own (one encoding at a time: identical scores whatever
 * the load),
 * so neither waits for the other, nor for thumbnails, which are made on a few
 * lower-priority threads and kept in a disk cache (thumb_cache_dir). The caller keeps the
 * model and the store alive, and does not use the store, until cs_web_stop returns. */
#ifndef CLIPSEARCH_WEB_H
#define CLIPSEARCH_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clipsearch/clip.h"
#include "clipsearch/error.h"
#include "clipsearch/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_web_server cs_web_server;

typedef struct cs_web_options {
    const char *host;           /* default "127.0.0.1"; a numeric address or "localhost" */
    int port;                   /* default 8765; 0 = a free port (see cs_web_url) */
    bool allow_remote;          /* false: refuse a non-loopback host, and requests whose
                                 * Host header names another machine (DNS rebinding) */
    const char *collection;     /* default collection, default "image_vectors" */
    size_t max_upload;          /* bytes of an image upload; 0 = 32 MiB */
    bool apply_exif_orientation;  /* query images and thumbnails; default true */
    /* With a NULL store, cs_web_start serves an empty store until a database appears at
     * this URL (opened read-only, CS_STORE_READ_ONLY, at the first request after it
     * exists; owned by the server from then on). */
    const char *store_url;
    /* What the page tells to run when there is nothing to search (default
     * "clipsearch index DIR"). */
    const char *index_command;
    /* The thumbnails' disk cache (e.g. $XDG_CACHE_HOME/clipsearch/thumbs; created on the
     * first thumbnail): NULL or "" = none. Entries are keyed by the indexed content hash
     * (or path, size and mtime once the file changed) and the thumbnail size, written
     * atomically, checked when read; the folder may be deleted at any time. */
    const char *thumb_cache_dir;
    uint64_t thumb_cache_max;   /* bytes; least recently used entries go; 0 = 256 MiB */
    int thumb_threads;          /* thumbnails made at once; 0 = the CPUs (at most 8) */
} cs_web_options;

void cs_web_options_init(cs_web_options *opt);

/* Binds, listens and starts serving on a background thread. CS_E_ARG for a bad or
 * non-loopback host (without allow_remote), or neither a store nor opt->store_url;
 * CS_E_IO when the address cannot be bound. */
int cs_web_start(const cs_clip *model, cs_store *store, const cs_web_options *opt,
                 cs_web_server **out, cs_error *err);

/* "http://127.0.0.1:PORT/" ("http://[::1]:PORT/" for IPv6) into buf: PORT is the port
 * actually bound, also with opt->port 0. */
void cs_web_url(const cs_web_server *server, char *buf, size_t size);

/* Stops accepting, finishes the request in progress, frees everything. NULL is fine. */
void cs_web_stop(cs_web_server *server);

#ifdef __cplusplus
}
#endif
#endif
