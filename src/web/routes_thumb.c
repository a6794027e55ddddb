/* /api/thumb: a JPEG thumbnail of a record's file, from the disk cache when it holds one
 * for this content and size, else made on the thumbnail threads (cs__web_pool) and cached.
 * The store is consulted (under the lock) only to find the record; the file is opened
 * and checked once, and that descriptor is what is fingerprinted and decoded. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/budget.h"
#include "clipsearch/image.h"
#include "web/web_internal.h"

typedef struct thumb_job {
    int fd;
    size_t size;            /* of the file, from fstat */
    const char *path;       /* for messages */
    int max_side;
    bool exif;
    cs__budget *budget;
    uint8_t *jpeg;          /* out */
    size_t len;
    int rc;
    cs_error err;
} thumb_job;

/* Runs on a thumbnail thread: read the whole file, decode, shrink, encode. */
static void make_thumb(void *arg)
{
    thumb_job *j = arg;
    uint8_t *data = malloc(j->size ? j->size : 1);
    if (!data) {
        j->rc = cs_error_set(&j->err, CS_E_NOMEM, "out of memory reading %.300s", j->path);
        return;
    }
    size_t got = 0;
    while (got < j->size) {
        ssize_t n = pread(j->fd, data + got, j->size - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;   /* shorter now: decoding says what is wrong with it */
        got += (size_t)n;
    }
    /* The decode's share of the memory budget, estimated from the header as the indexer
     * does: a tiny file can declare a huge canvas, and the thumbnail threads' decodes
     * must not add up to more than the budget. */
    cs_image_info probe;
    cs_error ignored = {0};
    uint64_t cost = got;
    if (cs_image_probe_memory(data, got, NULL, &probe, &ignored) == 0)
        cost += cs_image_decode_cost(&probe);
    uint64_t taken = cs__budget_acquire(j->budget, cost);
    j->rc = cs_thumbnail_jpeg_memory(data, got, j->path, j->max_side, WEB_THUMB_QUALITY, j->exif,
                                     &j->jpeg, &j->len, &j->err);
    cs__budget_release(j->budget, taken);
    free(data);
}

static enum MHD_Result send_thumb(struct MHD_Connection *c, const uint8_t *jpeg, size_t len,
                                  const char *cache_state)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)jpeg, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    cs__web_add_common_headers(resp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "image/jpeg");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "private, max-age=300");
    /* hit, miss or off: for tests and for whoever wonders why a thumbnail was slow. */
    MHD_add_response_header(resp, "X-Thumb-Cache", cache_state);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result cs__web_route_thumb(cs__web_state *st, struct MHD_Connection *c, const cs__web_request *r)
{
    cs_error err = {0};
    long size = 256;
    const char *s = cs__web_param(c, r, "size");
    if (s && *s) {
        char *end;
        errno = 0;
        size = strtol(s, &end, 10);
        if (end == s || *end || errno || size < 16 || size > 2048) {
            cs_error_set(&err, CS_E_ARG, "size needs an integer 16..2048, got '%.100s'", s);
            return cs__web_send_error(c, &err);
        }
    }
    cs__web_record rec;
    if (cs__web_record_file(st, c, r, &rec, &err) != 0) return cs__web_send_error(c, &err);
    int fd;
    struct stat sb;
    if (cs__web_open_file(rec.path, &fd, &sb, &err) != 0) {
        cs__web_record_free(&rec);
        return cs__web_send_error(c, &err);
    }
    char key[CS_HASH_HEX_LEN + 1];
    uint8_t *jpeg = NULL;
    size_t len = 0;
    if (st->cache) {
        cs__web_cache_key(&rec, &sb, (int)size, st->apply_exif, key);
        if (cs__web_cache_get(st->cache, key, (int)size, &jpeg, &len)) {
            close(fd);
            cs__web_record_free(&rec);
            enum MHD_Result ret = send_thumb(c, jpeg, len, "hit");
            free(jpeg);
            return ret;
        }
    }
    thumb_job job = {.fd = fd, .size = (size_t)sb.st_size, .path = rec.path,
                     .max_side = (int)size, .exif = st->apply_exif,
                     .budget = &st->thumb_budget};
    cs__web_pool_run(st->thumb_pool, make_thumb, &job);
    close(fd);
    cs__web_record_free(&rec);
    if (job.rc != 0) {
        if (job.err.code == CS_E_IO) job.err.code = CS_E_NOT_FOUND;
        return cs__web_send_error(c, &job.err);
    }
    if (st->cache) cs__web_cache_put(st->cache, key, job.jpeg, job.len);
    enum MHD_Result ret = send_thumb(c, job.jpeg, job.len, st->cache ? "miss" : "off");
    free(job.jpeg);
    return ret;
}
