/* Private to the indexer (src/app/indexer*.c): the state of one run, shared by its
 * stages, in order: the plan (walk + compare with the stored records), the workers (read,
 * sniff, hash; then decode and preprocess what the reuse stage does not cover), the reuse
 * stage (which files take an existing vector), the pipeline (batch, embed, upsert) and
 * prune. */
#ifndef CS_APP_INDEXER_INTERNAL_H
#define CS_APP_INDEXER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/hash.h"
#include "base/progress.h"
#include "base/queue.h"
#include "base/strmap.h"
#include "base/walk.h"
#include "base/budget.h"
#include "clipsearch/model_record.h"
#include "clipsearch/indexer.h"

/* A record the collection held when the run started (fields -1 / "" when absent). */
typedef struct cs__ix_stored {
    char *id;
    int64_t bytes, mtime, mtime_ns;
    int width, height;
    bool meta_current;     /* metadata has "taken" and "dirs" (older records lack them) */
    char hash[CS_HASH_HEX_LEN + 1];
    char embedder[17];     /* metadata "embedder" (cs_model_identity_key), "" when absent */
} cs__ix_stored;

typedef struct cs__ix_db {
    cs__ix_stored *recs;
    size_t n;
    cs__strmap *by_id;      /* id -> cs__ix_stored* */
    cs__strmap *by_hash;    /* hash -> first cs__ix_stored* with that content */
} cs__ix_db;

/* A file that must be looked at (not skipped by the size+mtime check). */
typedef struct cs__ix_job {
    char *path;            /* as walked, raw bytes: what we open */
    char *id;              /* the record id: canonical path (base/pathid.h) */
    int64_t bytes, mtime, mtime_ns;
    const cs__ix_stored *stored;   /* the record with this id, or NULL */
} cs__ix_job;

typedef struct cs__ix_plan {
    cs__ix_job *jobs;
    size_t n_jobs, cap_jobs;
    char **seen;           /* every id found (jobs and unchanged), owned */
    size_t n_seen, cap_seen;
    cs__strmap *seen_set;   /* id -> non-NULL */
    /* Raw canonical paths (realpath bytes), compared with the paths ids decode to. */
    char **bad_dirs;       /* dirs that could not be read: records below are never pruned */
    size_t n_bad_dirs, cap_bad_dirs;
    char **roots;
    size_t n_roots;
    /* The excluded files and directories, collected only when the collection has
     * records: a stored record at or below one of them is kept, not pruned and not
     * reported as gone (its file is still there, just not walked). */
    char **excl;
    size_t n_excl, cap_excl;
    cs__strmap *excl_set;   /* path -> non-NULL */
} cs__ix_plan;

typedef enum { IX_FAILED, IX_IGNORED, IX_TOUCHED, IX_REUSE, IX_PIXELS } cs__ix_kind;

/* What a worker learned about one job. */
typedef struct cs__ix_result {
    cs__ix_kind kind;
    const cs__ix_job *job;
    char *reason;          /* IX_FAILED */
    char hash[CS_HASH_HEX_LEN + 1];
    const char *format;    /* detected format name (static) */
    const char *source_id; /* IX_TOUCHED: own id; IX_REUSE: the record whose vector we take */
    /* The reuse stage's claim of this content in this run (indexer_reuse.c): held by the
     * file decoded for it (claimant), or awaited by a REUSE of an in-run file. */
    struct cs__ix_claim *claim;
    bool claimant;
    /* The "embedder" of a vector taken from a stored record (TOUCHED, REUSE from the
     * collection): it keeps saying who computed it. NULL: computed in this run. */
    const char *source_embedder;
    int width, height;
    bool has_taken;        /* EXIF DateTimeOriginal found (taken) */
    int64_t taken;
    float *pixels;         /* IX_PIXELS: 3*side*side floats */
    const float *vec;      /* the vector to write, resolved while flushing a batch */
} cs__ix_result;

/* A growable list of results. */
typedef struct cs__ix_list {
    cs__ix_result **v;
    size_t n, cap;
} cs__ix_list;

/* The reuse stage (indexer_reuse.c), shared by the workers and the pipeline. */
typedef struct cs__ix_claim cs__ix_claim;
typedef struct cs__ix_reuse {
    const cs__ix_db *db;       /* the stored records: by id (job->stored) and by content */
    pthread_mutex_t mu;    /* the claims and their waiters */
    cs__strmap *claims;     /* hash -> cs__ix_claim*: this run's first file of each content */
    cs__ix_claim **all;
    size_t n_all, cap_all;
    cs__ix_list ready;         /* waiters whose claimant is now written: to write */
    cs__ix_list retry;         /* results whose source failed or went stale: to decode */
} cs__ix_reuse;

/* What the pipeline does with a result that arrives (cs__ix_reuse_arrive). */
typedef enum { IX_TO_BATCH, IX_WAITING, IX_TO_RETRY, IX_NO_MEMORY } cs__ix_arrival;

typedef struct cs__ix_workers {
    const cs__ix_job *jobs;
    size_t n_jobs;
    atomic_size_t next;
    atomic_int cancel;
    atomic_int live;
    cs__queue *out;
    cs__ix_reuse *reuse;
    const cs_preprocess_config *pp;
    size_t pixels_per_image;
    cs_image_options imgopt;
    uint64_t max_file_bytes;
    cs__budget *budget;     /* decoding memory shared by the workers (and the retries) */
    int nice;              /* priority offset of the decoding threads */
} cs__ix_workers;

typedef struct cs__ix_run {
    const cs_indexer_options *opt;
    cs__walk_rules *rules;  /* built from opt: what the walk skips */
    cs_clip *model;
    cs_collection *coll;
    int dim;
    cs__ix_db db;
    cs__ix_plan plan;
    cs_index_summary *sum;
    cs_model_identity ident;   /* this run's model and options (model_record.h) */
    char key[17];              /* cs_model_identity_key: each record's "embedder" */
    bool new_collection;       /* empty and without a model record when the run began */
    double t0, last_progress, t_index;
    cs__rate rate;
    const char *phase;
    uint64_t done;
} cs__ix_run;

/* indexer_meta.c */
void cs__ix_meta_parse(const char *json, cs__ix_stored *s);
/* Metadata of a record about to be written; malloc'd JSON or NULL on OOM. */
/* embedder: who computed the vector (cs_model_identity_key; "" = unknown, not written). */
char *cs__ix_meta_build(const cs__ix_job *job, const cs__ix_result *res, const char *embedder);
/* "jpg" for x/a.JPG when the extension is an image one; else format (may be NULL). */
const char *cs__ix_type_for(const char *path, const char *format, char *buf, size_t bufsize);
bool cs__ix_has_image_ext(const char *path);
const char *cs__ix_basename(const char *path);

/* indexer_db.c */
/* only_embedder non-NULL: records another embedder wrote are known by id but are no
 * source of vectors (by_hash) for identical content (index --reembed). */
int cs__ix_db_load(cs_collection *coll, const char *only_embedder, cs__ix_db *db, cs_error *err);
void cs__ix_db_free(cs__ix_db *db);

/* indexer_plan.c */
int cs__ix_plan_build(cs__ix_run *r, const char *const *dirs, size_t n_dirs, cs_error *err);
void cs__ix_plan_free(cs__ix_plan *p);
int cs__ix_prune(cs__ix_run *r, cs_error *err);
/* --reembed, after a complete run: deletes the old-model records under the DIRs that
 * could not be redone (done: the ids this model's vectors are now stored under). */
int cs__ix_reembed_leftovers(cs__ix_run *r, const cs__strmap *done, cs_error *err);

/* indexer_work.c */
cs__ix_result *cs__ix_process_job(const cs__ix_workers *w, const cs__ix_job *job, bool allow_reuse);
void cs__ix_result_free(cs__ix_result *res);
void *cs__ix_worker_main(void *arg);

/* indexer_reuse.c */
int cs__ix_list_push(cs__ix_list *l, cs__ix_result *res);
void cs__ix_list_free(cs__ix_list *l);
int cs__ix_reuse_init(cs__ix_reuse *s, const cs__ix_db *db);
void cs__ix_reuse_free(cs__ix_reuse *s);
/* Worker, after hashing: true when res now takes an existing vector (IX_TOUCHED, or
 * IX_REUSE of a stored record or of a file this run decodes); false: decode it. */
bool cs__ix_reuse_decide(cs__ix_reuse *s, const cs__ix_job *job, cs__ix_result *res);
/* Pipeline, for each result that arrives: IX_WAITING when the stage keeps it until the
 * file it reuses is written (then it comes back through s->ready), IX_TO_RETRY when that
 * file failed (decode res's file instead). */
cs__ix_arrival cs__ix_reuse_arrive(cs__ix_reuse *s, cs__ix_result *res);
/* Pipeline, after writing res (ok) or failing to: releases the results waiting for it to
 * s->ready, or to s->retry. */
int cs__ix_reuse_written(cs__ix_reuse *s, const cs__ix_result *res, bool ok);
/* At the end of a run: results still waiting (their file's result was lost) to retry. */
int cs__ix_reuse_orphans(cs__ix_reuse *s);
/* Points each TOUCHED/REUSE item of a batch at its vector (in the batch, or fetched into
 * recs); an item whose source is gone or holds other content now goes to s->retry and its
 * slot becomes NULL. */
int cs__ix_reuse_resolve(cs__ix_reuse *s, cs__ix_run *r, cs__ix_result **items, size_t n, cs_records *recs,
                         cs_error *err);

/* indexer_pipeline.c */
int cs__ix_pipeline_run(cs__ix_run *r, cs_error *err);

/* indexer_summary.c */
void cs__ix_fail(cs__ix_run *r, const char *file, const char *reason);
void cs__ix_progress(cs__ix_run *r, bool force);
bool cs__ix_stop_requested(const cs__ix_run *r);

#endif
