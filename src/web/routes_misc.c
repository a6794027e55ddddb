/* /api/file, /api/collections and the page, and the lookup of a record's file that
 * /api/file and /api/thumb share. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/pathid.h"
#include "clipsearch/indexer.h"
#include "clipsearch/query.h"
#include "clipsearch/search_session.h"
#include "web/web_internal.h"

/* A metadata integer (-1 when absent or not an integer). */
static int64_t meta_int(json_t *meta, const char *key)
{
    json_t *v = json_object_get(meta, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* The id is looked up first and must name an absolute path of an image record, so no
 * request can name an arbitrary file. */
int cs__web_record_file(cs__web_state *st, struct MHD_Connection *c, const cs__web_request *r,
                    cs__web_record *out, cs_error *err)
{
    memset(out, 0, sizeof *out);
    out->bytes = out->mtime = out->mtime_ns = -1;
    const char *id = cs__web_param(c, r, "id");
    if (!id || !*id) return cs_error_set(err, CS_E_ARG, "id is required");
    cs_records rec = {0};
    int rc = cs_search_session_record(st->session, cs__web_param(c, r, "collection"), id, &rec, err);
    if (rc != 0) return rc;
    json_t *meta = rec.n ? json_loads(rec.items[0].metadata_json ? rec.items[0].metadata_json : "{}",
                                      JSON_DECODE_ANY, NULL)
                         : NULL;
    const char *type = json_string_value(json_object_get(meta, "type"));
    bool text = type && !strcmp(type, "text");
    /* What the indexer saw: the thumbnail cache keys by the content hash while the file
     * still has this size and mtime. */
    out->bytes = meta_int(meta, "bytes");
    out->mtime = meta_int(meta, "mtime");
    out->mtime_ns = meta_int(meta, "mtime_ns");
    const char *hash = json_string_value(json_object_get(meta, "hash"));
    if (hash && strlen(hash) == CS_HASH_HEX_LEN) memcpy(out->hash, hash, CS_HASH_HEX_LEN + 1);
    json_decref(meta);
    cs_records_free(&rec);
    /* The id names the file through base/pathid.h's mapping (non-UTF-8 names are
     * file: ids). */
    if (text || cs__path_from_id(id, &out->path, err) != 0 || out->path[0] != '/') {
        cs__web_record_free(out);
        if (err->code == CS_E_NOMEM) return CS_E_NOMEM;
        return cs_error_set(err, CS_E_NOT_FOUND, "record '%.300s' is not an image file", id);
    }
    return 0;
}

void cs__web_record_free(cs__web_record *rec)
{
    free(rec->path);
    rec->path = NULL;
}

int cs__web_open_file(const char *path, int *fd_out, struct stat *sb, cs_error *err)
{
    /* O_NONBLOCK: a FIFO put where the image was must not hang the server. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    int e = errno;
    *fd_out = -1;
    if (fd < 0 || fstat(fd, sb) != 0 || !S_ISREG(sb->st_mode)) {
        if (fd >= 0) close(fd);
        /* Indexed, but moved, deleted or replaced since: gone, as far as the page is
         * concerned. */
        return cs_error_set(err, CS_E_NOT_FOUND, "%.300s: %s", path,
                            fd >= 0 ? "not a regular file" : strerror(e));
    }
    /* What the indexer would not read is not read here either. */
    if ((uint64_t)sb->st_size > CS_INDEX_MAX_FILE_BYTES) {
        close(fd);
        return cs_error_set(err, CS_E_TOO_LARGE, "%.300s is larger than %llu bytes, the most "
                            "that is indexed or served", path,
                            (unsigned long long)CS_INDEX_MAX_FILE_BYTES);
    }
    *fd_out = fd;
    return 0;
}

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
 * thumbnail (a record of the collection, an image file, a regular file no larger than
 * the indexer reads), its type from its first bytes, never from its name, and sandboxed
 * so that a file that is not what it seems cannot run anything in the page's origin. */
enum MHD_Result cs__web_route_file(cs__web_state *st, struct MHD_Connection *c, const cs__web_request *r)
{
    cs_error err = {0};
    cs__web_record rec;
    if (cs__web_record_file(st, c, r, &rec, &err) != 0) return cs__web_send_error(c, &err);
    int fd;
    struct stat sb;
    int rc = cs__web_open_file(rec.path, &fd, &sb, &err);
    cs__web_record_free(&rec);
    if (rc != 0) return cs__web_send_error(c, &err);
    uint8_t head[64];
    ssize_t got = pread(fd, head, sizeof head, 0);
    const char *type = content_type(cs_image_sniff(head, got > 0 ? (size_t)got : 0));
    /* MHD owns fd from here (closed with the response). */
    struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)sb.st_size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    cs__web_add_common_headers(resp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            type ? type : "application/octet-stream");
    MHD_add_response_header(resp, "Content-Disposition", type ? "inline" : "attachment");
    MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'none'; sandbox");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "private, max-age=300");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result cs__web_route_collections(cs__web_state *st, struct MHD_Connection *c)
{
    cs_error err = {0};
    cs_search_collection *list = NULL;
    size_t n = 0;
    /* No database yet is an empty list: the page shows what to run. */
    if (cs_search_session_list(st->session, &list, &n, &err) != 0) return cs__web_send_error(c, &err);
    json_t *arr = json_array();
    int model_dim = -1;
    for (size_t i = 0; i < n; i++) {
        json_t *name = json_string(list[i].name);
        if (!name) continue;    /* not UTF-8: cannot be named in JSON (nor by the page) */
        json_t *o = json_object();
        json_object_set_new(o, "name", name);
        json_object_set_new(o, "dimension", json_integer(list[i].dimension));
        /* The page offers only the collections this model can search. */
        json_object_set_new(o, "searchable", json_boolean(list[i].searchable));
        json_object_set_new(o, "count", list[i].count >= 0 ? json_integer(list[i].count)
                                                           : json_null());
        json_array_append_new(arr, o);
    }
    model_dim = cs_search_session_model_dim(st->session);
    cs_search_collections_free(list, n);
    json_t *j = json_object();
    json_object_set_new(j, "default", json_string(cs_search_session_default_collection(st->session)));
    json_object_set_new(j, "model_dimension", json_integer(model_dim));
    json_object_set_new(j, "collections", arr);
    json_object_set_new(j, "index_command", json_string(st->index_command));
    return cs__web_send_json(c, MHD_HTTP_OK, j);
}

enum MHD_Result cs__web_route_page(struct MHD_Connection *c)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(cs__web_page_html), (void *)cs__web_page_html, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    cs__web_add_common_headers(resp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
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
