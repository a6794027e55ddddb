/* Worker side of the pipeline: for one file, read it (never blocking: regular files
 * only, O_NONBLOCK), recognise it by content, hash it, and either point at a stored
 * vector (same content already indexed) or decode + preprocess it for the model. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/indexer_internal.h"

/* Enough for a TIFF-based RAW's first IFD (Make, SubIFDs, DNGVersion), which tells it
 * from a plain TIFF. */
#define SNIFF_BYTES 4096

static cs__ix_result *new_result(const cs__ix_job *job, cs__ix_kind kind)
{
    cs__ix_result *res = calloc(1, sizeof *res);
    if (!res) return NULL;
    res->kind = kind;
    res->job = job;
    res->width = res->height = -1;
    return res;
}

static cs__ix_result *fail(cs__ix_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static cs__ix_result *fail(cs__ix_result *res, const char *fmt, ...)
{
    char buf[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(res->pixels);
    res->pixels = NULL;
    res->kind = IX_FAILED;
    free(res->reason);
    res->reason = strdup(buf);
    return res;
}

static ssize_t read_full(int fd, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Decode errors name the buffer, not the file; the file is named by the warning. */
static const char *short_reason(const cs_error *e)
{
    const char *m = e->msg;
    if (!strncmp(m, "<memory>: ", 10)) m += 10;
    return *m ? m : "error";
}

cs__ix_result *cs__ix_process_job(const cs__ix_workers *w, const cs__ix_job *job, bool allow_reuse)
{
    cs__ix_result *res = new_result(job, IX_FAILED);
    if (!res) return NULL;
    bool named_image = cs__ix_has_image_ext(job->path);
    int fd = open(job->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return fail(res, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        /* Replaced by something else since the walk. */
        close(fd);
        return fail(res, "not a regular file");
    }
    if (st.st_size == 0) {
        close(fd);
        if (!named_image) res->kind = IX_IGNORED;
        return named_image ? fail(res, "empty file (0 bytes)") : res;
    }
    uint8_t head[SNIFF_BYTES];
    ssize_t nh = read_full(fd, head, sizeof head);
    if (nh < 0) {
        int e = errno;
        close(fd);
        return fail(res, "read error: %s", strerror(e));
    }
    cs_image_format fmt = cs_image_sniff(head, (size_t)nh);
    if (fmt == CS_IMAGE_UNKNOWN) {
        close(fd);
        if (!named_image) {
            res->kind = IX_IGNORED;
            return res;
        }
        return fail(res, "not a supported image (content is not %s)", cs_image_supported_formats());
    }
    res->format = cs_image_format_name(fmt);
    if ((uint64_t)st.st_size > w->max_file_bytes) {
        close(fd);
        return fail(res, "file too large (%lld bytes, limit %llu)", (long long)st.st_size,
                    (unsigned long long)w->max_file_bytes);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size);
    if (!data) {
        close(fd);
        return fail(res, "out of memory reading %zu bytes", size);
    }
    memcpy(data, head, (size_t)nh);
    ssize_t rest = read_full(fd, data + nh, size - (size_t)nh);
    int e = errno;
    close(fd);
    if (rest < 0) {
        free(data);
        return fail(res, "read error: %s", strerror(e));
    }
    size = (size_t)nh + (size_t)rest; /* the file may have shrunk since fstat */
    cs__hash128_hex(data, size, res->hash);
    res->has_taken = cs_image_exif_taken(data, size, &res->taken);

    if (allow_reuse && cs__ix_reuse_decide(w->reuse, job, res)) {
        free(data);
        return res;
    }

    /* The decode's share of the memory budget, estimated from the header: a tiny file
     * can declare a huge canvas, and --jobs decodes at once must not add up to more
     * than the budget. A header that does not probe is left to the decoder to refuse. */
    cs_error err = {0};
    cs_image_info probe;
    uint64_t cost = size;
    if (cs_image_probe_memory(data, size, &w->imgopt, &probe, &err) == 0)
        cost += cs_image_decode_cost(&probe);
    uint64_t taken = w->budget ? cs__budget_acquire(w->budget, cost) : 0;
    cs_image img = {0};
    cs_image_info info;
    memset(&err, 0, sizeof err);
    int rc = cs_image_decode_memory(data, size, &w->imgopt, &img, &info, &err);
    free(data);
    if (rc == 0) {
        res->width = img.width;
        res->height = img.height;
        res->pixels = malloc(w->pixels_per_image * sizeof(float));
        if (res->pixels) rc = cs_preprocess_image(w->pp, &img, res->pixels, &err);
    }
    cs_image_free(&img);
    if (w->budget) cs__budget_release(w->budget, taken);
    if (rc != 0 && !res->pixels) return fail(res, "%s", short_reason(&err));
    if (!res->pixels) return fail(res, "out of memory");
    if (rc != 0) return fail(res, "preprocessing failed: %s", short_reason(&err));
    res->kind = IX_PIXELS;
    return res;
}

void cs__ix_result_free(cs__ix_result *res)
{
    if (!res) return;
    free(res->reason);
    free(res->pixels);
    free(res);
}

void *cs__ix_worker_main(void *arg)
{
    cs__ix_workers *w = arg;
    /* Decoders yield to the model: on a CPU-bound machine a preempted BLAS thread stalls
     * its whole GEMM, while a delayed decode only shortens the queue's lead. (Linux:
     * the nice value is per thread; failure just leaves the default priority.) */
    if (w->nice > 0) (void)setpriority(PRIO_PROCESS, (id_t)gettid(), w->nice);
    for (;;) {
        if (atomic_load(&w->cancel)) break;
        size_t i = atomic_fetch_add(&w->next, 1);
        if (i >= w->n_jobs) break;
        cs__ix_result *res = cs__ix_process_job(w, &w->jobs[i], true);
        if (!res) {
            /* OOM for the result itself: the file will be retried next run. */
            continue;
        }
        if (!cs__queue_push(w->out, res)) {
            cs__ix_result_free(res);
            break;
        }
    }
    /* The last worker out closes the queue: the consumer then drains and stops. */
    if (atomic_fetch_sub(&w->live, 1) == 1) cs__queue_close(w->out);
    return NULL;
}
