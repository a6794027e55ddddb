/* The web server: binds (loopback unless allowed otherwise), collects request bodies,
 * applies the guards (guard.c) and hands each complete request to its route, on the
 * connection's own thread. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "web/web_internal.h"

/* Connections at once (each has a thread): 64 slow clients leave room for the page. */
#define WEB_MAX_CONNECTIONS 256
/* With --allow-remote: connections from one address (a browser opens about 6). */
#define WEB_MAX_PER_IP 64
/* Seconds a connection may stay silent (idle keep-alive, a client that stalls). */
#define WEB_TIMEOUT_S 30
#define WEB_THUMB_THREADS_MAX 8
#define WEB_THUMB_CACHE_DEFAULT ((uint64_t)256 << 20)

struct cs_web_server {
    struct MHD_Daemon *daemon;
    cs__web_state st;
};

void cs_web_options_init(cs_web_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->host = "127.0.0.1";
    opt->port = 8765;
    opt->collection = "image_vectors";
    opt->apply_exif_orientation = true;
}

/* ---- encodings ------------------------------------------------------------------ */

/* The session's encodings, on the model's one thread (web_internal.h says why). */
static void run_encoding(void *ctx, void (*fn)(void *), void *arg)
{
    cs__web_pool_run(ctx, fn, arg);
}

/* ---- host checks ----------------------------------------------------------------- */

/* Resolves host (numeric or "localhost") to one address to bind. */
static int resolve(const char *host, struct sockaddr_storage *addr, socklen_t *len,
                   cs_error *err)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int g = getaddrinfo(host, NULL, &hints, &res);
    if (g != 0 || !res)
        return cs_error_set(err, CS_E_ARG, "cannot resolve host '%s': %s", host, gai_strerror(g));
    /* Prefer IPv4 for "localhost" (the URL printed is then 127.0.0.1). */
    struct addrinfo *pick = res;
    for (struct addrinfo *a = res; a; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    memcpy(addr, pick->ai_addr, pick->ai_addrlen);
    *len = pick->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static bool is_loopback(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)a;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)a;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return false;
}

/* ---- requests -------------------------------------------------------------------- */

static enum MHD_Result on_post_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *filename, const char *content_type,
                                     const char *transfer_encoding, const char *data,
                                     uint64_t off, size_t size)
{
    cs__web_request *r = cls;
    /* The file part (any field with a file name, or one called "image") is the image. */
    if (filename || !strcmp(key, "image")) {
        if (filename && !r->filename) r->filename = strdup(filename);
        cs__web_body_append(r, data, size);
    } else {
        cs__web_field_append(r, key, data, size);
    }
    return MHD_YES;
}

/* The guards (guard.c), checked as soon as the headers are in: a refused POST is
 * answered before its body is read. *refused says whether a response was queued. */
static enum MHD_Result refuse(cs__web_state *st, struct MHD_Connection *c, const char *method,
                              bool *refused)
{
    *refused = true;
    if (!cs__web_host_ok(st, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host")))
        return cs__web_send_error_status(c, MHD_HTTP_FORBIDDEN, "ArgError",
                                     "this server answers only requests addressed to the "
                                     "loopback host by name or address (Host: "
                                     "127.0.0.1:PORT, localhost:PORT) unless it was "
                                     "started with remote access allowed");
    const char *why = !strcmp(method, "POST") ? cs__web_cross_site(c) : NULL;
    if (why) {
        char msg[200];
        snprintf(msg, sizeof msg, "refused %s: only this server's own page may POST here",
                 why);
        return cs__web_send_error_status(c, MHD_HTTP_FORBIDDEN, "Forbidden", msg);
    }
    *refused = false;
    return MHD_YES;
}

static enum MHD_Result dispatch(cs__web_state *st, struct MHD_Connection *c, const char *url,
                                const char *method, cs__web_request *r)
{
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    bool post = !strcmp(method, "POST");
    if (!strcmp(url, "/api/search/image")) {
        if (!post)
            return cs__web_send_error_status(c, MHD_HTTP_METHOD_NOT_ALLOWED, "ArgError",
                                         "POST the image to /api/search/image");
        if (r->too_large) {
            cs_error err = {0};
            cs_error_set(&err, CS_E_TOO_LARGE, "the upload is larger than %zu bytes",
                         st->max_upload);
            return cs__web_send_error(c, &err);
        }
        if (r->no_memory) {
            cs_error err = {0};
            cs_error_set(&err, CS_E_NOMEM, "out of memory receiving the upload");
            return cs__web_send_error(c, &err);
        }
        if (r->bad_form)
            return cs__web_send_error_status(c, MHD_HTTP_BAD_REQUEST, "ArgError",
                                         "malformed form: too many or too long fields");
    } else if (!get) {
        return cs__web_send_error_status(c, MHD_HTTP_METHOD_NOT_ALLOWED, "ArgError",
                                     "only GET is allowed here");
    }
    if (!strcmp(url, "/") || !strcmp(url, "/index.html")) return cs__web_route_page(c);

    if (!strcmp(url, "/api/search")) return cs__web_route_search_text(st, c, r);
    if (!strcmp(url, "/api/search/image")) return cs__web_route_search_image(st, c, r);
    if (!strcmp(url, "/api/thumb")) return cs__web_route_thumb(st, c, r);
    if (!strcmp(url, "/api/file")) return cs__web_route_file(st, c, r);
    if (!strcmp(url, "/api/collections")) return cs__web_route_collections(st, c);
    return cs__web_send_error_status(c, MHD_HTTP_NOT_FOUND, "NotFound", "no such page or API route");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    cs__web_state *st = cls;
    if (*con_cls == &st->no_memory) {   /* answered: the rest of the body is dropped */
        *upload_data_size = 0;
        return MHD_YES;
    }
    cs__web_request *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) {   /* answered, not dropped: a client sees why */
            *con_cls = &st->no_memory;
            cs_error err;
            cs_error_set(&err, CS_E_NOMEM, "out of memory");
            return cs__web_send_error(c, &err);
        }
        *con_cls = r;
        bool refused;
        enum MHD_Result ret = refuse(st, c, method, &refused);
        if (refused) {
            r->answered = true;
            return ret;
        }
        r->max_upload = st->max_upload;
        r->is_post = !strcmp(method, "POST");
        /* Only multipart forms are parsed; any other body (even one sent as
         * x-www-form-urlencoded, curl's default) is the raw image. */
        const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        if (r->is_post && type && !strncasecmp(type, "multipart/form-data", 19))
            r->pp = MHD_create_post_processor(c, 64 * 1024, on_post_field, r);
        return MHD_YES;
    }
    if (r->answered) {
        *upload_data_size = 0;   /* refused: the rest of the body is dropped */
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (r->pp) {
            if (MHD_post_process(r->pp, upload_data, *upload_data_size) != MHD_YES)
                r->bad_form = true;
        } else if (r->is_post) {
            cs__web_body_append(r, upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return dispatch(st, c, url, method, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    cs__web_state *st = cls;
    if (*con_cls != &st->no_memory) cs__web_request_free(*con_cls);
    *con_cls = NULL;
}

/* ---- lifecycle ------------------------------------------------------------------- */

static void state_free(cs__web_state *st)
{
    /* The session before the model's thread: nothing encodes any more. */
    cs_search_session_close(st->session);
    free(st->host);
    free(st->index_command);
    cs__web_pool_stop(st->thumb_pool);
    cs__web_pool_stop(st->model_pool);
    cs__web_cache_close(st->cache);
    cs__budget_destroy(&st->thumb_budget);
}

int cs_web_start(const cs_clip *model, cs_store *store, const cs_web_options *opt,
                 cs_web_server **out, cs_error *err)
{
    *out = NULL;
    cs_web_options def;
    if (!opt) {
        cs_web_options_init(&def);
        opt = &def;
    }
    bool lazy = !store && opt->store_url && *opt->store_url;
    if (!model || (!store && !lazy))
        return cs_error_set(err, CS_E_ARG, "web server needs a model and a store (or its URL)");
    if (opt->port < 0 || opt->port > 65535)
        return cs_error_set(err, CS_E_ARG, "port must be 0..65535, got %d", opt->port);
    const char *host = opt->host && *opt->host ? opt->host : "127.0.0.1";
    struct sockaddr_storage addr;
    socklen_t alen = 0;
    int rc = resolve(host, &addr, &alen, err);
    if (rc != 0) return rc;
    if (!opt->allow_remote && !is_loopback(&addr))
        return cs_error_set_remedy(err, CS_E_ARG, CS_REMEDY_ALLOW_REMOTE,
                                   "host '%s' is not a loopback address: the server has no "
                                   "authentication, so it listens on 127.0.0.1 unless remote "
                                   "access is allowed explicitly",
                                   host);
    bool ipv6 = addr.ss_family == AF_INET6;
    if (ipv6) ((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)opt->port);
    else ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)opt->port);

    cs_web_server *s = calloc(1, sizeof *s);
    if (!s) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    cs__web_state *st = &s->st;
    cs__budget_init(&st->thumb_budget, cs__budget_default_bytes());   /* as index's default */
    st->host = strdup(host);
    st->index_command = strdup(opt->index_command && *opt->index_command ? opt->index_command
                                                                         : "clipsearch index DIR");
    st->ipv6 = ipv6;
    st->allow_remote = opt->allow_remote;
    st->apply_exif = opt->apply_exif_orientation;
    st->max_upload = opt->max_upload ? opt->max_upload : (size_t)32 << 20;
    if (!st->host || !st->index_command) {
        state_free(st);
        free(s);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    int threads = opt->thumb_threads;
    if (threads <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus < 1 ? 1 : cpus > WEB_THUMB_THREADS_MAX ? WEB_THUMB_THREADS_MAX : (int)cpus;
    }
    /* Below the searches' priority, as the indexer's decoding threads are. */
    rc = cs__web_pool_start(threads, 10, &st->thumb_pool, err);
    if (rc == 0) rc = cs__web_pool_start(1, 0, &st->model_pool, err);
    if (rc == 0) {
        cs_search_session_options so;
        cs_search_session_options_init(&so);
        so.store = store;
        so.store_url = lazy ? opt->store_url : NULL;
        so.collection = opt->collection;
        so.index_command = st->index_command;
        so.apply_exif_orientation = opt->apply_exif_orientation;
        so.run_encoding = run_encoding;
        so.run_encoding_ctx = st->model_pool;
        rc = cs_search_session_open(&so, &st->session, err);
    }
    if (rc == 0) rc = cs_search_session_set_model(st->session, model, err);
    if (rc == 0 && opt->thumb_cache_dir && *opt->thumb_cache_dir)
        rc = cs__web_cache_open(opt->thumb_cache_dir,
                            opt->thumb_cache_max ? opt->thumb_cache_max : WEB_THUMB_CACHE_DEFAULT,
                            &st->cache, err);
    if (rc != 0) {
        state_free(st);
        free(s);
        return rc;
    }

    /* A thread per connection: a request waits only for the session's lock (held for
     * the store work alone), never behind a thumbnail being made or a slow client. Idle or
     * trickling connections cost a sleeping thread each, so the total is bounded, and
     * well above the few a browser opens; they are dropped after the timeout. A per-IP
     * bound would only lock the local user out on loopback (every client is 127.0.0.1),
     * so it is set only when the server is reachable from elsewhere. */
    unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_THREAD_PER_CONNECTION | (ipv6 ? MHD_USE_IPv6 : 0);
    s->daemon = MHD_start_daemon(flags, (uint16_t)opt->port, NULL, NULL, on_request, st,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, st,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)WEB_TIMEOUT_S,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)WEB_MAX_CONNECTIONS,
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                 (unsigned)(opt->allow_remote ? WEB_MAX_PER_IP : 0),
                                 MHD_OPTION_END);
    if (!s->daemon) {
        rc = cs_error_set(err, CS_E_IO, "cannot listen on %s port %d (in use, or not an "
                          "address of this machine?)", host, opt->port);
        state_free(st);
        free(s);
        return rc;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    st->port = info ? info->port : opt->port;
    *out = s;
    return 0;
}

void cs_web_url(const cs_web_server *server, char *buf, size_t size)
{
    const cs__web_state *st = &server->st;
    const char *h = st->host;
    /* "localhost" and the wildcard addresses are not what a browser should open. */
    if (!strcmp(h, "localhost")) h = st->ipv6 ? "::1" : "127.0.0.1";
    else if (!strcmp(h, "0.0.0.0")) h = "127.0.0.1";
    else if (!strcmp(h, "::")) h = "::1";
    if (strchr(h, ':')) snprintf(buf, size, "http://[%s]:%d/", h, st->port);
    else snprintf(buf, size, "http://%s:%d/", h, st->port);
}

void cs_web_stop(cs_web_server *server)
{
    if (!server) return;
    /* The connections' threads first (they may be waiting for thumbnails), then the
     * thumbnail threads (state_free). */
    MHD_stop_daemon(server->daemon);
    state_free(&server->st);
    free(server);
}
