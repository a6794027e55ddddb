/* /api/thumb, /api/file, /api/collections and the page. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/pathid.h"
#include "clipsearch/query.h"
#include "web/web_internal.h"

/* The file of a record of the collection named by ?collection= whose id is ?id=: the id
 * is looked up first and must name an absolute path of an image record, so no request
 * can name an arbitrary file. *path is malloc'd; on failure err says why (NotFound for
 * text records and ids that name no file). */
static int record_file(web_state *st, struct MHD_Connection *c, const web_request *r,
                       char **path, cs_error *err)
{
    *path = NULL;
    const char *id = web_param(c, r, "id");
    if (!id || !*id) return cs_error_set(err, CS_E_ARG, "id is required");
    cs_collection *coll = NULL;
    int rc = web_collection(st, web_param(c, r, "collection"), &coll, err);
    if (rc != 0) return rc;
    cs_records rec = {0};
    if ((rc = cs_collection_get_record(coll, id, &rec, err)) != 0) {
        if (rc == CS_E_NOT_FOUND)
            cs_error_set(err, CS_E_NOT_FOUND, "no record '%.300s' in collection '%.200s'", id,
                         cs_collection_name(coll));
        return rc;
    }
    json_t *meta = rec.n ? json_loads(rec.items[0].metadata_json ? rec.items[0].metadata_json : "{}",
                                      JSON_DECODE_ANY, NULL)
                         : NULL;
    const char *type = json_string_value(json_object_get(meta, "type"));
    bool text = type && !strcmp(type, "text");
    json_decref(meta);
    cs_records_free(&rec);
    /* The id names the file through base/pathid.h's mapping (non-UTF-8 names are
     * file: ids). */
    if (text || cs_path_from_id(id, path, err) != 0 || (*path)[0] != '/') {
        free(*path);
        *path = NULL;
        if (err->code == CS_E_NOMEM) return CS_E_NOMEM;
        return cs_error_set(err, CS_E_NOT_FOUND, "record '%.300s' is not an image file", id);
    }
    return 0;
}

enum MHD_Result web_route_thumb(web_state *st, struct MHD_Connection *c, const web_request *r)
{
    cs_error err = {0};
    long size = 256;
    const char *s = web_param(c, r, "size");
    if (s && *s) {
        char *end;
        errno = 0;
        size = strtol(s, &end, 10);
        if (end == s || *end || errno || size < 16 || size > 1024) {
            cs_error_set(&err, CS_E_ARG, "size needs an integer 16..1024, got '%.100s'", s);
            return web_send_error(c, &err);
        }
    }
    char *path = NULL;
    if (record_file(st, c, r, &path, &err) != 0) return web_send_error(c, &err);
    uint8_t *jpeg = NULL;
    size_t len = 0;
    int rc = cs_thumbnail_jpeg(path, (int)size, 82, st->apply_exif, &jpeg, &len, &err);
    free(path);
    if (rc != 0) {
        /* Indexed, but moved, deleted or unreadable since: gone, as far as the page is
         * concerned. */
        if (err.code == CS_E_IO) err.code = CS_E_NOT_FOUND;
        return web_send_error(c, &err);
    }
    enum MHD_Result ret = web_send(c, MHD_HTTP_OK, "image/jpeg", jpeg, len, "private, max-age=300");
    free(jpeg);
    return ret;
}

/* The largest file served, as for thumbnails: the image decoder reads at most this much. */
#define WEB_FILE_MAX ((off_t)1 << 30)

static const char *content_type(cs_image_format f)
{
    switch (f) {
    case CS_IMAGE_JPEG: return "image/jpeg";
    case CS_IMAGE_PNG: return "image/png";
    case CS_IMAGE_WEBP: return "image/webp";
    case CS_IMAGE_GIF: return "image/gif";
    case CS_IMAGE_BMP: return "image/bmp";
    case CS_IMAGE_TIFF: return "image/tiff";
    case CS_IMAGE_HEIF: return "image/heif";
    case CS_IMAGE_JXL: return "image/jxl";
    default: return NULL;   /* RAW and anything else: a download */
    }
}

/* The original file of a record, for the page's links: the same checks as the
 * thumbnail (a record of the collection, an image file, at most 1 GiB, a regular file),
 * its type from its first bytes, never from its name, and sandboxed so that a file
 * that is not what it seems cannot run anything in the page's origin. */
enum MHD_Result web_route_file(web_state *st, struct MHD_Connection *c, const web_request *r)
{
    cs_error err = {0};
    char *path = NULL;
    if (record_file(st, c, r, &path, &err) != 0) return web_send_error(c, &err);
    /* O_NONBLOCK: a FIFO put where the image was must not hang the server. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat sb;
    int e = errno;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0) e = ENOENT;
        cs_error_set(&err, CS_E_NOT_FOUND, "%.300s: %s", path,
                     fd >= 0 ? "not a regular file" : strerror(e));
        if (fd >= 0) close(fd);
        free(path);
        return web_send_error(c, &err);
    }
    free(path);
    if (sb.st_size > WEB_FILE_MAX) {
        close(fd);
        cs_error_set(&err, CS_E_TOO_LARGE, "the file is larger than %lld bytes",
                     (long long)WEB_FILE_MAX);
        return web_send_error(c, &err);
    }
    uint8_t head[64];
    ssize_t got = pread(fd, head, sizeof head, 0);
    const char *type = content_type(cs_image_sniff(head, got > 0 ? (size_t)got : 0));
    /* MHD owns fd from here (closed with the response). */
    struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)sb.st_size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            type ? type : "application/octet-stream");
    MHD_add_response_header(resp, "Content-Disposition", type ? "inline" : "attachment");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'none'; sandbox");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "private, max-age=300");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result web_route_collections(web_state *st, struct MHD_Connection *c)
{
    cs_error err = {0};
    cs_collection_info *infos = NULL;
    size_t n = 0;
    cs_store *store = NULL;
    /* No database yet is an empty store: the page shows what to run. */
    int rc = web_store(st, &store, &err);
    if (rc != 0 && rc != CS_E_STORE_NOT_FOUND) return web_send_error(c, &err);
    if (store && cs_store_list(store, &infos, &n, &err) != 0) return web_send_error(c, &err);
    int model_dim = cs_clip_embed_dim(st->model);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *name = json_string(infos[i].name);
        if (!name) continue;    /* not UTF-8: cannot be named in JSON (nor by the page) */
        json_t *o = json_object();
        json_object_set_new(o, "name", name);
        json_object_set_new(o, "dimension", json_integer(infos[i].dimension));
        /* The page offers only the collections this model can search. */
        json_object_set_new(o, "searchable", json_boolean(infos[i].dimension == model_dim));
        cs_collection *coll = NULL;
        int64_t count = -1;
        cs_error ignored = {0};
        if (web_collection(st, infos[i].name, &coll, &ignored) == 0)
            cs_collection_count(coll, &count, &ignored);
        json_object_set_new(o, "count", count >= 0 ? json_integer(count) : json_null());
        json_array_append_new(arr, o);
    }
    cs_collection_info_free(infos, n);
    json_t *j = json_object();
    json_object_set_new(j, "default", json_string(st->default_collection));
    json_object_set_new(j, "model_dimension", json_integer(model_dim));
    json_object_set_new(j, "collections", arr);
    json_object_set_new(j, "index_command", json_string(st->index_command));
    return web_send_json(c, MHD_HTTP_OK, j);
}

enum MHD_Result web_route_page(struct MHD_Connection *c)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(cs_web_page_html), (void *)cs_web_page_html, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    /* Defence in depth: even if some text were ever inserted as markup, no script or
     * resource from elsewhere could run or load. */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; "
                            "style-src 'unsafe-inline'; img-src 'self' blob:; "
                            "connect-src 'self'; base-uri 'none'; form-action 'none'; "
                            "frame-ancestors 'none'");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}
