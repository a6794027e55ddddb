/* cs_index_run: folder -> collection. The steps live in their own files: the stored
 * state (indexer_db.c), the walk and the unchanged check (indexer_plan.c), decoding
 * (indexer_work.c), batching/embedding/writing (indexer_pipeline.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/indexer_internal.h"
#include "clipsearch/model_record.h"

void cs_indexer_options_init(cs_indexer_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->collection = "image_vectors";
    opt->apply_exif_orientation = true;
    opt->progress_interval_s = 0.25;
}

/* Before anything is written: the collection's model record must name this model and
 * these options, unless the run re-embeds (then the record names this model from now
 * on, remembering the previous one until every record is redone). */
static int check_model(cs__ix_run *r, cs_error *err)
{
    int rc = cs_model_identity_init(&r->ident, r->model, r->opt->apply_exif_orientation,
                                    r->opt->fast_decode, err);
    if (rc != 0) return rc;
    cs_model_identity_key(&r->ident, r->key);
    if (r->opt->reembed) return cs_model_record_begin_reembed(r->coll, &r->ident, err);
    char *warning = NULL;
    rc = cs_model_record_check(r->coll, &r->ident, CS_MODEL_USE_INDEX, &warning, err);
    if (rc == 0 && warning) {
        /* A new (empty) collection gets its record now, before the first batch: a first
         * run that is interrupted must still leave a collection whose model is known. */
        int64_t n = 0;
        rc = cs_collection_count(r->coll, &n, err);
        r->new_collection = rc == 0 && n == 0;
        if (r->new_collection) {
            bool recorded;
            rc = cs_model_record_update(r->coll, &r->ident, true, &recorded, err);
        } else if (rc == 0) {
            r->sum->model_unchecked = true;
            if (r->opt->warning) r->opt->warning(NULL, warning, r->opt->warning_user);
        }
    }
    free(warning);
    return rc;
}

/* After a complete run: a new collection gets its record (and each run adds its
 * precision); a re-embedding is finished once no record written by another model is
 * left. */
static int record_model(cs__ix_run *r, cs_error *err)
{
    if (!r->opt->reembed) {
        bool recorded;
        return cs_model_record_update(r->coll, &r->ident, r->new_collection, &recorded, err);
    }
    char filter[96];
    snprintf(filter, sizeof filter, "{\"embedder\": {\"$eq\": \"%s\"}}", r->key);
    cs_records done;
    int rc = cs_collection_scan(r->coll, filter, false, &done, err);
    if (rc != 0) return rc;
    cs__strmap *done_set = cs__strmap_new();
    if (!done_set) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    for (size_t i = 0; i < done.n && rc == 0; i++)
        if (cs__strmap_put(done_set, done.items[i].id, done_set) != 0)
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    if (rc == 0) rc = cs__ix_reembed_leftovers(r, done_set, err);
    int64_t total = 0;
    if (rc == 0) rc = cs_collection_count(r->coll, &total, err);
    if (rc == 0)
        r->sum->stale = total > (int64_t)done.n ? (uint64_t)(total - (int64_t)done.n) : 0;
    cs__strmap_free(done_set);
    cs_records_free(&done);
    if (rc != 0) return rc;
    return r->sum->stale == 0 ? cs_model_record_finish_reembed(r->coll, err) : 0;
}

int cs_index_run(cs_clip *model, cs_store *store, const char *const *dirs, size_t n_dirs,
                 const cs_indexer_options *opt_in, cs_index_summary *out, cs_error *err)
{
    memset(out, 0, sizeof *out);
    cs_indexer_options defaults;
    cs_indexer_options_init(&defaults);
    const cs_indexer_options *opt = opt_in ? opt_in : &defaults;
    if (!model || !store || (!dirs && n_dirs))
        return cs_error_set(err, CS_E_ARG, "cs_index_run: model, store and dirs are required");
    if (opt->jobs < 0 || opt->batch < 0)
        return cs_error_set(err, CS_E_ARG, "jobs and batch must be positive");
    if (opt->n_exclude && !opt->exclude)
        return cs_error_set(err, CS_E_ARG, "cs_index_run: n_exclude without exclude");
    cs__ix_run r;
    memset(&r, 0, sizeof r);
    r.opt = opt;
    /* Before the store is touched: a glob that can match nothing is a usage mistake. */
    int rc = 0;
    if (!(r.rules = cs__walk_rules_new())) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    cs__walk_rules_include_hidden(r.rules, opt->include_hidden);
    for (size_t i = 0; i < opt->n_exclude && rc == 0; i++)
        rc = cs__walk_rules_add_exclude(r.rules, opt->exclude[i], err);
    if (rc != 0) {
        cs__walk_rules_free(r.rules);
        return rc;
    }
    r.model = model;
    r.sum = out;
    r.t0 = cs__now();
    r.phase = "scan";
    r.dim = cs_clip_embed_dim(model);
    const char *name = opt->collection && *opt->collection ? opt->collection : "image_vectors";
    rc = cs_store_get_or_create(store, name, r.dim, &r.coll, err);
    if (rc != 0) {
        if (rc == CS_E_MISMATCHED_DIMENSION)
            cs_error_prefix(err, "collection %s cannot hold this model's %d-d embeddings", name,
                            r.dim);
        goto done;
    }
    if ((rc = check_model(&r, err)) != 0) goto done;
    if ((rc = cs__ix_db_load(r.coll, opt->reembed ? r.key : NULL, &r.db, err)) != 0) goto done;
    if ((rc = cs__ix_plan_build(&r, dirs, n_dirs, err)) != 0) goto done;
    cs__ix_progress(&r, true);
    if (cs__ix_stop_requested(&r)) {
        out->interrupted = true;
    } else {
        rc = cs__ix_pipeline_run(&r, err);
    }
    if (rc == 0 && !out->interrupted && opt->prune) rc = cs__ix_prune(&r, err);
    if (rc == 0 && !out->interrupted) rc = record_model(&r, err);
    /* A derived index (the SQLite store's HNSW) brought up to date with this run's writes
     * now, so that the next search does not pay for it (an interrupted run leaves it to
     * that search). The records are committed whatever happens here: a failure is a
     * warning, and the next search brings the index up to date instead. */
    if (rc == 0 && !out->interrupted) {
        cs_error ierr = {0};
        if (cs_collection_refresh_index(r.coll, &ierr) && opt->warning) {
            char msg[sizeof ierr.msg + 96];
            snprintf(msg, sizeof msg, "the collection's index was not brought up to date (the "
                     "next search will): %s", ierr.msg);
            opt->warning(NULL, msg, opt->warning_user);
        }
    }
    if (rc == 0 && out->interrupted)
        rc = cs_error_set(err, CS_E_INTERRUPTED, "interrupted: committed batches are kept");
done:
    out->seconds = cs__now() - r.t0;
    out->images_per_second =
        out->seconds > 0 ? (double)(out->indexed + out->reused) / out->seconds : 0;
    if (r.coll) cs__ix_progress(&r, true);
    cs__ix_plan_free(&r.plan);
    if (r.db.by_id || r.db.by_hash) cs__ix_db_free(&r.db);
    cs_collection_free(r.coll);
    cs__walk_rules_free(r.rules);
    return rc;
}
