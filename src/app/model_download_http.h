/* The HTTP side of model downloads (libcurl): a HEAD that reads Hugging Face's file
 * metadata, and a ranged GET into a .part file. Private to src/app/model_download*.c. */
#ifndef CS_APP_MODEL_DOWNLOAD_HTTP_H
#define CS_APP_MODEL_DOWNLOAD_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "clipsearch/error.h"

/* Returned (positive, so never a cs_status) when a transfer was cut and may be resumed. */
#define DL_INTERRUPTED 1

typedef struct cs__dl_remote {
    long status;            /* last HTTP status of the HEAD chain */
    bool lfs;               /* X-Linked-ETag present: the file is an LFS object */
    bool size_known;
    uint64_t size;          /* X-Linked-Size, else Content-Length of a 200 */
    char sha256[65];        /* LFS object id (lower-case hex), when lfs */
    char etag[160];         /* identifies the remote version (for resuming safely) */
    char error_code[64];    /* X-Error-Code (EntryNotFound, RepoNotFound, GatedRepo) */
} cs__dl_remote;

typedef struct cs__dl_http {
    long connect_timeout_s;
    const char *token;      /* Bearer token ($HF_TOKEN) or NULL */
    /* progress of the current GET: done counts from byte 0 of the file */
    void (*progress)(void *ud, uint64_t done);
    void *progress_ud;
} cs__dl_http;

/* HEAD url, following relative redirects (repo renames) but not the redirect to the
 * CDN, whose response carries X-Linked-Size / X-Linked-ETag. Network failures ->
 * CS_E_NETWORK with "offline" wording when the host cannot be reached. HTTP statuses
 * (404, 401, ...) are not errors here: see remote->status. */
int cs__dl_head(const cs__dl_http *h, const char *url, cs__dl_remote *remote, cs_error *err);

/* GET url into part_path from byte offset (Range request when offset > 0; a server that
 * answers 200 restarts the file). Returns 0 when the transfer completed, DL_INTERRUPTED
 * when the connection was cut (the bytes received are kept), or a negative error.
 * *received = bytes written by this call. */
int cs__dl_get(const cs__dl_http *h, const char *url, const char *part_path, uint64_t offset,
           uint64_t *received, cs_error *err);

#endif
