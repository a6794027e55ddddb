/* libcurl transfers for model downloads. One easy handle per call: downloads are a few
 * files, so connection reuse is not worth shared state. */
#include "app/model_download_http.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define USER_AGENT "clipsearch/0.1 (+libcurl)"

/* Headers of the response being read; reset at each status line. */
typedef struct hdrs {
    char linked_etag[160], etag[160], location[2048], error_code[64], content_range[128];
    bool has_linked_size, has_length;
    uint64_t linked_size, length;
} hdrs;

static void copy_value(char *dst, size_t cap, const char *v, size_t n)
{
    while (n && isspace((unsigned char)*v)) v++, n--;
    while (n && isspace((unsigned char)v[n - 1])) n--;
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    hdrs *h = ud;
    size_t n = size * nitems;
    if (n >= 5 && !strncmp(buf, "HTTP/", 5)) {
        memset(h, 0, sizeof *h);
        return n;
    }
    const char *colon = memchr(buf, ':', n);
    if (!colon) return n;
    size_t klen = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vlen = n - klen - 1;
    char tmp[64];
#define IS(name) (klen == sizeof(name) - 1 && !strncasecmp(buf, name, klen))
    if (IS("x-linked-etag")) copy_value(h->linked_etag, sizeof h->linked_etag, v, vlen);
    else if (IS("etag")) copy_value(h->etag, sizeof h->etag, v, vlen);
    else if (IS("location")) copy_value(h->location, sizeof h->location, v, vlen);
    else if (IS("x-error-code")) copy_value(h->error_code, sizeof h->error_code, v, vlen);
    else if (IS("content-range")) copy_value(h->content_range, sizeof h->content_range, v, vlen);
    else if (IS("x-linked-size") || IS("content-length")) {
        copy_value(tmp, sizeof tmp, v, vlen);
        char *end;
        errno = 0;
        unsigned long long x = strtoull(tmp, &end, 10);
        if (!errno && end != tmp && !*end) {
            if (IS("x-linked-size")) h->has_linked_size = true, h->linked_size = x;
            else h->has_length = true, h->length = x;
        }
    }
#undef IS
    return n;
}

/* "\"abc\"" or W/"abc" -> abc */
static void unquote(char *dst, size_t cap, const char *etag)
{
    if (!strncmp(etag, "W/", 2)) etag += 2;
    size_t n = strlen(etag);
    if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') etag++, n -= 2;
    copy_value(dst, cap, etag, n);
}

static bool is_sha256_hex(const char *s)
{
    if (strlen(s) != 64) return false;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s)) return false;
    return true;
}

static struct curl_slist *auth_header(const cs__dl_http *h)
{
    if (!h->token || !*h->token) return NULL;
    char buf[1024];
    snprintf(buf, sizeof buf, "Authorization: Bearer %s", h->token);
    return curl_slist_append(NULL, buf);
}

static void common_setup(CURL *c, const cs__dl_http *h, const char *url, hdrs *hd,
                         struct curl_slist *headers, char *errbuf)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, hd);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->connect_timeout_s > 0 ? h->connect_timeout_s : 20L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* Sizes are compared byte for byte: no transparent compression. */
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, NULL);
    if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    errbuf[0] = '\0';
}

/* Host part of a URL for messages ("https://huggingface.co"). */
static void url_origin(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    size_t n = p ? (size_t)(p - url) : strlen(url);
    copy_value(out, cap, url, n);
}

static int network_error(CURLcode rc, const char *errbuf, const char *url, cs_error *err)
{
    char origin[256];
    url_origin(url, origin, sizeof origin);
    const char *why = *errbuf ? errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY ||
        rc == CURLE_COULDNT_CONNECT || (rc == CURLE_OPERATION_TIMEDOUT))
        return cs_error_set(err, CS_E_NETWORK,
                            "cannot reach %s (%s): you seem to be offline", origin, why);
    return cs_error_set(err, CS_E_NETWORK, "%s: %s", url, why);
}

int cs__dl_head(const cs__dl_http *h, const char *url0, cs__dl_remote *remote, cs_error *err)
{
    memset(remote, 0, sizeof *remote);
    CURL *c = curl_easy_init();
    if (!c) return cs_error_set(err, CS_E_NOMEM, "cannot initialise libcurl");
    struct curl_slist *headers = auth_header(h);
    char *url = strdup(url0);
    char errbuf[CURL_ERROR_SIZE];
    int rc = 0;
    for (int hop = 0; url && hop < 6; hop++) {
        hdrs hd = {0};
        curl_easy_reset(c);
        common_setup(c, h, url, &hd, headers, errbuf);
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        CURLcode cr = curl_easy_perform(c);
        if (cr != CURLE_OK) {
            rc = network_error(cr, errbuf, url, err);
            break;
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &remote->status);
        copy_value(remote->error_code, sizeof remote->error_code, hd.error_code,
                   strlen(hd.error_code));
        bool redirect = remote->status >= 300 && remote->status < 400 && hd.location[0];
        /* Relative redirects stay on the Hub (renamed repos): follow them. An absolute
         * one goes to the CDN; this response already describes the LFS object. */
        if (redirect && hd.location[0] == '/' && !hd.linked_etag[0]) {
            char origin[256];
            url_origin(url, origin, sizeof origin);
            size_t n = strlen(origin) + strlen(hd.location) + 1;
            char *next = malloc(n);
            if (next) snprintf(next, n, "%s%s", origin, hd.location);
            free(url);
            url = next;
            continue;
        }
        if (redirect && !hd.linked_etag[0] && !hd.has_linked_size) {
            free(url);
            url = strdup(hd.location);
            continue;
        }
        if (hd.linked_etag[0]) {
            char v[160];
            unquote(v, sizeof v, hd.linked_etag);
            if (is_sha256_hex(v)) {
                remote->lfs = true;
                for (int i = 0; i < 64; i++) remote->sha256[i] = (char)tolower((unsigned char)v[i]);
                remote->sha256[64] = '\0';
            }
            snprintf(remote->etag, sizeof remote->etag, "%s", v);
        } else if (hd.etag[0]) {
            unquote(remote->etag, sizeof remote->etag, hd.etag);
        }
        if (hd.has_linked_size) {
            remote->size_known = true;
            remote->size = hd.linked_size;
        } else if (remote->status == 200 && hd.has_length) {
            remote->size_known = true;
            remote->size = hd.length;
        }
        break;
    }
    if (!url && rc == 0) rc = cs_error_set(err, CS_E_NOMEM, "out of memory (redirect)");
    free(url);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return rc;
}

typedef struct get_ctx {
    const char *path;
    uint64_t offset;        /* bytes already in the .part file */
    CURL *curl;
    FILE *f;
    long status;
    bool failed_open;
    int open_errno;
    uint64_t written;
    const cs__dl_http *h;
} get_ctx;

static size_t on_body(char *buf, size_t size, size_t nmemb, void *ud)
{
    get_ctx *g = ud;
    size_t n = size * nmemb;
    if (!g->f) {
        curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &g->status);
        if (g->status == 206 && g->offset > 0) {
            g->f = fopen(g->path, "ab");
        } else if (g->status == 200) {
            g->offset = 0;          /* the server ignored Range: start over */
            g->f = fopen(g->path, "wb");
        } else {
            return 0;               /* an error page: abort, status says why */
        }
        if (!g->f) {
            g->failed_open = true;
            g->open_errno = errno;
            return 0;
        }
    }
    if (fwrite(buf, 1, n, g->f) != n) {
        g->failed_open = true;
        g->open_errno = errno;
        return 0;
    }
    g->written += n;
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    get_ctx *g = ud;
    if (g->h->progress && g->f) g->h->progress(g->h->progress_ud, g->offset + g->written);
    return 0;
}

int cs__dl_get(const cs__dl_http *h, const char *url, const char *part_path, uint64_t offset,
           uint64_t *received, cs_error *err)
{
    *received = 0;
    CURL *c = curl_easy_init();
    if (!c) return cs_error_set(err, CS_E_NOMEM, "cannot initialise libcurl");
    struct curl_slist *headers = auth_header(h);
    hdrs hd = {0};
    char errbuf[CURL_ERROR_SIZE];
    common_setup(c, h, url, &hd, headers, errbuf);
    get_ctx g = {.path = part_path, .offset = offset, .curl = c, .h = h};
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &g);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &g);
    /* A stalled connection (no byte for 60 s) counts as cut: resumable. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    char range[48];
    if (offset > 0) {
        snprintf(range, sizeof range, "%" PRIu64 "-", offset);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    CURLcode cr = curl_easy_perform(c);
    if (!g.f && cr == CURLE_OK) {
        /* No body at all: an empty file (200) or an error status. */
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &g.status);
        if (g.status == 200) g.f = fopen(part_path, "wb");
    }
    int rc = 0;
    if (g.f && fclose(g.f) != 0 && cr == CURLE_OK) {
        g.failed_open = true;
        g.open_errno = errno;
    }
    *received = g.written;
    if (g.failed_open) {
        rc = cs_error_set(err, CS_E_IO, "cannot write %s: %s", part_path, strerror(g.open_errno));
    } else if (g.status && g.status != 200 && g.status != 206) {
        rc = cs_error_set(err, CS_E_NETWORK, "%s: HTTP %ld", url, g.status);
    } else if (cr == CURLE_PARTIAL_FILE || cr == CURLE_RECV_ERROR || cr == CURLE_GOT_NOTHING ||
               cr == CURLE_OPERATION_TIMEDOUT || cr == CURLE_SEND_ERROR ||
               (cr == CURLE_COULDNT_CONNECT && g.written > 0)) {
        rc = DL_INTERRUPTED;
        cs_error_set(err, CS_E_NETWORK, "%s: connection cut (%s)", url,
                     *errbuf ? errbuf : curl_easy_strerror(cr));
    } else if (cr != CURLE_OK) {
        rc = network_error(cr, errbuf, url, err);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return rc;
}
