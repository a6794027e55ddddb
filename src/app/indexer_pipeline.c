/* The pipeline: N worker threads read/decode/preprocess (indexer_work.c) into a bounded
 * queue; this thread collects their results into batches, runs the model on a batch of
 * pixels at once, takes reused vectors from the reuse stage (indexer_reuse.c), and
 * upserts each batch in one transaction
 * (so a crash leaves whole batches: the next run finds them "unchanged"). Only this
 * thread touches the store and the model, and calls the callbacks. */
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app/indexer_internal.h"

typedef struct batch {
    cs__ix_result **items;     /* results that become records: PIXELS, TOUCHED, REUSE */
    size_t n, cap, n_pix, limit;
    float *pixbuf;         /* n_pix images, contiguous, for one model call */
    float *vecs;           /* n_pix embeddings */
    cs__ix_reuse *reuse;       /* the reuse stage (indexer_reuse.c) */
} batch;

static bool store_is_broken(int code)
{
    return code == CS_E_DATABASE || code == CS_E_BUSY || code == CS_E_IO ||
           code == CS_E_NOMEM || code == CS_E_INTERNAL;
}

/* One more written file of a format in the summary's tally. */
static void count_format(cs_index_summary *sum, const char *format)
{
    if (!format) format = "unknown";
    for (size_t i = 0; i < sum->n_formats; i++) {
        if (!strcmp(sum->formats[i].name, format)) {
            sum->formats[i].n++;
            return;
        }
    }
    if (sum->n_formats == CS_INDEX_MAX_FORMATS) return;   /* more formats than decoders */
    snprintf(sum->formats[sum->n_formats].name, sizeof sum->formats[0].name, "%s", format);
    sum->formats[sum->n_formats++].n = 1;
}

static int count_written(cs__ix_run *r, batch *b, const cs__ix_result *it)
{
    if (it->kind == IX_PIXELS) {
        r->sum->indexed++;
        count_format(r->sum, it->format);
    } else if (it->kind == IX_REUSE) {
        r->sum->reused++;
        count_format(r->sum, it->format);
    } else {
        r->sum->unchanged++;
    }
    return cs__ix_reuse_written(b->reuse, it, true);
}

/* Writes the batch: one upsert (one transaction); if the store refuses it, record by
 * record so that one bad record costs only itself. */
static int write_batch(cs__ix_run *r, batch *b, cs_error *err)
{
    cs_record_in *recs = calloc(b->n ? b->n : 1, sizeof *recs);
    cs__ix_result **its = calloc(b->n ? b->n : 1, sizeof *its);
    char **metas = calloc(b->n ? b->n : 1, sizeof *metas);
    int rc = 0;
    if (!recs || !its || !metas) {
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        cs__ix_result *it = b->items[i];
        if (!it) continue;
        if (!(metas[n] = cs__ix_meta_build(it->job, it,
                                       it->source_embedder ? it->source_embedder : r->key))) {
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
            goto out;
        }
        recs[n] = (cs_record_in){it->job->id, it->vec, metas[n]};
        its[n++] = it;
    }
    if (n == 0) goto out;
    cs_error e1 = {0};
    if (cs_collection_upsert(r->coll, recs, n, &e1) == 0) {
        for (size_t i = 0; i < n && rc == 0; i++)
            if (count_written(r, b, its[i]) != 0) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
        goto out;
    }
    /* Record by record: a refused record is reported, a broken store stops the run. */
    for (size_t i = 0; i < n; i++) {
        cs_error e = {0};
        int wrc = 0;
        if (cs_collection_upsert(r->coll, &recs[i], 1, &e) == 0) {
            wrc = count_written(r, b, its[i]);
        } else if (store_is_broken(e.code)) {
            *err = e;
            rc = e.code;
            break;
        } else {
            cs__ix_fail(r, its[i]->job->id, e.msg);
            wrc = cs__ix_reuse_written(b->reuse, its[i], false);
        }
        if (wrc != 0) {
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
            break;
        }
    }
out:
    for (size_t i = 0; i < b->n; i++) free(metas ? metas[i] : NULL);
    free(metas);
    free(its);
    free(recs);
    return rc;
}

static int flush(cs__ix_run *r, cs__ix_workers *w, batch *b, cs_error *err)
{
    if (b->n == 0) return 0;
    int rc = 0;
    if (b->n_pix > 0) {
        size_t k = 0;
        for (size_t i = 0; i < b->n; i++) {
            cs__ix_result *it = b->items[i];
            if (it->kind != IX_PIXELS) continue;
            memcpy(b->pixbuf + k * w->pixels_per_image, it->pixels,
                   w->pixels_per_image * sizeof(float));
            k++;
        }
        rc = cs_clip_embed_pixels(r->model, b->pixbuf, b->n_pix, b->vecs, err);
        if (rc != 0) return cs_error_prefix(err, "embedding a batch of %zu images", b->n_pix);
        k = 0;
        for (size_t i = 0; i < b->n; i++) {
            cs__ix_result *it = b->items[i];
            if (it->kind != IX_PIXELS) continue;
            float *v = b->vecs + k * (size_t)r->dim;
            cs_l2_normalize(v, (size_t)r->dim);
            it->vec = v;
            k++;
        }
    }
    cs_records fetched;
    rc = cs__ix_reuse_resolve(b->reuse, r, b->items, b->n, &fetched, err);
    if (rc == 0) rc = write_batch(r, b, err);
    cs_records_free(&fetched);
    for (size_t i = 0; i < b->n; i++) cs__ix_result_free(b->items[i]);
    b->n = b->n_pix = 0;
    return rc;
}

static bool batch_full(const batch *b) { return b->n_pix == b->limit || b->n >= b->cap; }

/* Puts a result into the batch (or settles it: failures and non-images are only
 * counted), unless the reuse stage keeps it waiting for the file whose vector it takes. */
static int add(cs__ix_run *r, batch *b, cs__ix_result *res, cs_error *err)
{
    switch (cs__ix_reuse_arrive(b->reuse, res)) {
    case IX_WAITING: return 0;
    case IX_TO_RETRY:
        if (cs__ix_list_push(&b->reuse->retry, res) == 0) return 0;
        /* fall through */
    case IX_NO_MEMORY:
        cs__ix_result_free(res);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    case IX_TO_BATCH: break;
    }
    switch (res->kind) {
    case IX_FAILED:
        cs__ix_fail(r, res->job->id, res->reason ? res->reason : "error");
        cs__ix_result_free(res);
        return 0;
    case IX_IGNORED:
        r->sum->ignored++;
        cs__ix_result_free(res);
        return 0;
    case IX_PIXELS: b->n_pix++; break;
    case IX_TOUCHED:
    case IX_REUSE: break;
    }
    b->items[b->n++] = res;
    return 0;
}

/* Writes the batch, then what the writes settled: results that waited for a file now
 * written, and files read and decoded again because the vector they were to take failed
 * or went stale (never reused a second time, so they cannot come back), until nothing is
 * left over. */
static int flush_all(cs__ix_run *r, cs__ix_workers *w, batch *b, cs_error *err)
{
    cs__ix_reuse *s = b->reuse;
    int rc = flush(r, w, b, err);
    while (rc == 0 && (s->ready.n > 0 || s->retry.n > 0)) {
        cs__ix_result *res;
        if (s->ready.n > 0) {
            res = s->ready.v[--s->ready.n];
        } else {
            cs__ix_result *old = s->retry.v[--s->retry.n];
            res = cs__ix_process_job(w, old->job, false);
            cs__ix_result_free(old);
            if (!res) return cs_error_set(err, CS_E_NOMEM, "out of memory");
        }
        rc = add(r, b, res, err);
        if (rc == 0 && (batch_full(b) || (s->ready.n == 0 && s->retry.n == 0)))
            rc = flush(r, w, b, err);
    }
    return rc;
}

static int jobs_default(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int cs__ix_pipeline_run(cs__ix_run *r, cs_error *err)
{
    const cs_indexer_options *opt = r->opt;
    size_t limit = opt->batch > 0 ? (size_t)opt->batch : 32;
    int n_threads = opt->jobs > 0 ? opt->jobs : jobs_default();
    if ((size_t)n_threads > r->plan.n_jobs) n_threads = (int)r->plan.n_jobs;
    if (n_threads < 1) n_threads = 1;

    const cs_preprocess_config *pp = cs_clip_preprocess_config(r->model);
    cs__ix_workers w;
    memset(&w, 0, sizeof w);
    w.jobs = r->plan.jobs;
    w.n_jobs = r->plan.n_jobs;
    cs__ix_reuse reuse;
    bool reuse_ok = cs__ix_reuse_init(&reuse, &r->db) == 0;
    w.reuse = &reuse;
    w.pp = pp;
    w.pixels_per_image = (size_t)3 * (size_t)pp->crop_height * (size_t)pp->crop_width;
    cs_image_options_init(&w.imgopt);
    w.imgopt.apply_exif_orientation = opt->apply_exif_orientation;
    w.imgopt.fast_jpeg_downscale = opt->fast_decode;
    if (opt->max_pixels) w.imgopt.max_pixels = opt->max_pixels;
    w.max_file_bytes = opt->max_file_bytes ? opt->max_file_bytes : CS_INDEX_MAX_FILE_BYTES;
    w.nice = 10;
    cs__budget budget;
    cs__budget_init(&budget, opt->max_memory ? opt->max_memory : cs__budget_default_bytes());
    w.budget = &budget;
    atomic_init(&w.next, 0);
    atomic_init(&w.cancel, 0);
    atomic_init(&w.live, n_threads);
    /* Two batches of decoded images in flight: enough to keep the model fed, bounded. */
    w.out = cs__queue_new(2 * limit);

    batch b;
    memset(&b, 0, sizeof b);
    b.limit = limit;
    b.cap = 2 * limit; /* pixel items + reuses, so reuses also commit in bounded batches */
    b.items = calloc(b.cap, sizeof *b.items);
    b.reuse = &reuse;
    b.pixbuf = malloc(limit * w.pixels_per_image * sizeof(float));
    b.vecs = malloc(limit * (size_t)r->dim * sizeof(float));
    pthread_t *th = calloc((size_t)n_threads, sizeof *th);
    int rc = 0;
    if (!reuse_ok || !w.out || !b.items || !b.pixbuf || !b.vecs || !th) {
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory for the indexing pipeline");
        goto out;
    }
    int started = 0;
    for (; started < n_threads; started++)
        if (pthread_create(&th[started], NULL, cs__ix_worker_main, &w) != 0) break;
    if (started == 0) {
        rc = cs_error_set(err, CS_E_INTERNAL, "cannot start decoding threads");
        goto out;
    }
    /* Threads that failed to start never decrement `live`. */
    atomic_fetch_sub(&w.live, n_threads - started);
    if (started < n_threads && atomic_load(&w.live) == 0) cs__queue_close(w.out);

    r->phase = "index";
    r->t_index = cs__now();
    cs__rate_init(&r->rate, r->t_index, r->done);
    bool stopping = false;
    for (;;) {
        if (!stopping && (rc != 0 || cs__ix_stop_requested(r))) {
            /* Finish the batch in hand (if nothing failed), then discard the rest. */
            stopping = true;
            atomic_store(&w.cancel, 1);
            if (rc == 0) rc = flush_all(r, &w, &b, err);
            r->sum->interrupted = rc == 0;
        }
        void *item;
        int got = cs__queue_pop(w.out, &item, 100);
        if (got < 0) break;
        if (got == 0) {
            cs__ix_progress(r, false);
            continue;
        }
        if (stopping) {
            cs__ix_result_free(item);
            continue;
        }
        r->done++;
        rc = add(r, &b, item, err);
        if (rc == 0 && batch_full(&b)) {
            rc = flush_all(r, &w, &b, err);
            cs__ix_progress(r, false);
        }
    }
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    if (!stopping) rc = flush_all(r, &w, &b, err);
    if (!stopping && rc == 0) {
        if (cs__ix_reuse_orphans(&reuse) != 0) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
        else rc = flush_all(r, &w, &b, err);
    }
out:
    for (size_t i = 0; i < b.n; i++) cs__ix_result_free(b.items[i]);
    free(b.items);
    free(b.pixbuf);
    free(b.vecs);
    cs__ix_reuse_free(&reuse);   /* also what still waits, after an interruption */
    free(th);
    cs__queue_free(w.out);
    r->sum->decode_memory_peak = budget.peak;
    cs__budget_destroy(&budget);
    return rc;
}
