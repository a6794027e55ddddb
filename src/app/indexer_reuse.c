/* The reuse stage: every decision to give a file an existing vector instead of decoding
 * and embedding it, in one place. Identical content has an identical vector, so
 *   - a file whose content the collection already holds under its own id is "touched"
 *     (size or mtime changed, not its bytes): its vector stays;
 *   - a file whose content the collection holds under another id (moved, copied) takes
 *     that record's vector;
 *   - of the files with one content that this run has to embed, the first to be read
 *     "claims" it and is decoded; the others wait for its vector instead of decoding.
 * Workers ask before decoding (cs__ix_reuse_decide); the pipeline tells the stage what
 * arrived and what was written (cs__ix_reuse_arrive / _written), and checks at write time
 * that each vector taken is still the one of this content (cs__ix_reuse_resolve). A file
 * whose source turns out stale or failed is read and decoded again, never reused twice,
 * so every file ends written, failed or (interrupted) not done. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "app/indexer_internal.h"

typedef enum { CLAIM_PENDING, CLAIM_ARRIVED, CLAIM_WRITTEN, CLAIM_FAILED } claim_state;

struct cs__ix_claim {
    char hash[CS_HASH_HEX_LEN + 1];   /* the claims map's key */
    const char *id;                    /* the claimant's record id */
    claim_state state;
    cs__ix_list waiters;                   /* REUSE results waiting for the claimant's vector */
};

int cs__ix_list_push(cs__ix_list *l, cs__ix_result *res)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 16;
        cs__ix_result **nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) return -1;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = res;
    return 0;
}

/* Moves every result of from to the end of to (from is left empty). */
static int list_move(cs__ix_list *to, cs__ix_list *from)
{
    while (from->n > 0) {
        if (cs__ix_list_push(to, from->v[from->n - 1]) != 0) return -1;
        from->n--;
    }
    return 0;
}

void cs__ix_list_free(cs__ix_list *l)
{
    for (size_t i = 0; i < l->n; i++) cs__ix_result_free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

int cs__ix_reuse_init(cs__ix_reuse *s, const cs__ix_db *db)
{
    memset(s, 0, sizeof *s);
    s->db = db;
    if (!(s->claims = cs__strmap_new())) return -1;
    pthread_mutex_init(&s->mu, NULL);
    return 0;
}

void cs__ix_reuse_free(cs__ix_reuse *s)
{
    cs__ix_list_free(&s->ready);
    cs__ix_list_free(&s->retry);
    if (!s->claims) return;
    for (size_t i = 0; i < s->n_all; i++) {
        cs__ix_list_free(&s->all[i]->waiters);
        free(s->all[i]);
    }
    free(s->all);
    cs__strmap_free(s->claims);
    pthread_mutex_destroy(&s->mu);
    memset(s, 0, sizeof *s);
}

/* A new claim of res's content by res's file (s->mu held); NULL when out of memory. */
static cs__ix_claim *claim_new(cs__ix_reuse *s, const cs__ix_result *res)
{
    if (s->n_all == s->cap_all) {
        size_t nc = s->cap_all ? 2 * s->cap_all : 64;
        cs__ix_claim **na = realloc(s->all, nc * sizeof *na);
        if (!na) return NULL;
        s->all = na;
        s->cap_all = nc;
    }
    cs__ix_claim *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    memcpy(c->hash, res->hash, sizeof c->hash);
    c->id = res->job->id;
    if (cs__strmap_put(s->claims, c->hash, c) != 0) {
        free(c);
        return NULL;
    }
    s->all[s->n_all++] = c;
    return c;
}

static void take_stored(cs__ix_result *res, cs__ix_kind kind, const cs__ix_stored *src)
{
    res->kind = kind;
    res->source_id = src->id;
    res->source_embedder = src->embedder;
    res->width = src->width;
    res->height = src->height;
}

bool cs__ix_reuse_decide(cs__ix_reuse *s, const cs__ix_job *job, cs__ix_result *res)
{
    if (job->stored && !strcmp(job->stored->hash, res->hash)) {
        take_stored(res, IX_TOUCHED, job->stored);
        return true;
    }
    const cs__ix_stored *same = cs__strmap_get(s->db->by_hash, res->hash);
    if (same) {
        take_stored(res, IX_REUSE, same);
        return true;
    }
    pthread_mutex_lock(&s->mu);
    cs__ix_claim *c = cs__strmap_get(s->claims, res->hash);
    bool reuse = c != NULL && c->state != CLAIM_FAILED;
    if (!c) {
        /* The first of its content: decode it. Without memory for the claim, duplicates
         * that follow are decoded too, which costs time, not correctness. */
        res->claim = claim_new(s, res);
        res->claimant = res->claim != NULL;
    } else if (reuse) {
        /* Another file of this run has this content and is (being) decoded. */
        res->kind = IX_REUSE;
        res->source_id = c->id;
        res->source_embedder = NULL;
        res->claim = c;
    }
    /* Else the first file of this content failed: this one is decoded here, in parallel
     * like any other, rather than retried later on the pipeline's thread. */
    pthread_mutex_unlock(&s->mu);
    return reuse;
}

cs__ix_arrival cs__ix_reuse_arrive(cs__ix_reuse *s, cs__ix_result *res)
{
    cs__ix_claim *c = res->claim;
    if (!c) return IX_TO_BATCH;
    pthread_mutex_lock(&s->mu);
    cs__ix_arrival to = IX_TO_BATCH;
    if (res->claimant) {
        if (res->kind == IX_PIXELS) {
            c->state = CLAIM_ARRIVED;
        } else {
            /* The claimant failed: whoever waits decodes for itself. */
            c->state = CLAIM_FAILED;
            if (list_move(&s->retry, &c->waiters) != 0) to = IX_NO_MEMORY;
        }
    } else if (c->state == CLAIM_PENDING) {
        to = cs__ix_list_push(&c->waiters, res) == 0 ? IX_WAITING : IX_NO_MEMORY;
    } else if (c->state == CLAIM_FAILED) {
        to = IX_TO_RETRY;
    }
    /* CLAIM_ARRIVED: the claimant is in the batch in hand; CLAIM_WRITTEN: in the store. */
    pthread_mutex_unlock(&s->mu);
    return to;
}

int cs__ix_reuse_written(cs__ix_reuse *s, const cs__ix_result *res, bool ok)
{
    if (!res->claimant) return 0;
    pthread_mutex_lock(&s->mu);
    cs__ix_claim *c = res->claim;
    c->state = ok ? CLAIM_WRITTEN : CLAIM_FAILED;
    int rc = list_move(ok ? &s->ready : &s->retry, &c->waiters);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int cs__ix_reuse_orphans(cs__ix_reuse *s)
{
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_all && rc == 0; i++) {
        /* A claimant that never arrived (its result was lost for want of memory). */
        if (s->all[i]->waiters.n) rc = list_move(&s->retry, &s->all[i]->waiters);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* The pixel item in the batch with the given content, if any. */
static const cs__ix_result *batch_source(cs__ix_result *const *items, size_t n, const char *hash)
{
    for (size_t i = 0; i < n; i++)
        if (items[i] && items[i]->kind == IX_PIXELS && items[i]->vec &&
            !strcmp(items[i]->hash, hash))
            return items[i];
    return NULL;
}

int cs__ix_reuse_resolve(cs__ix_reuse *s, cs__ix_run *r, cs__ix_result **items, size_t n, cs_records *recs,
                         cs_error *err)
{
    memset(recs, 0, sizeof *recs); /* the caller frees it whatever happens */
    const char **ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    size_t n_ids = 0;
    for (size_t i = 0; i < n; i++) {
        cs__ix_result *it = items[i];
        if (it->kind == IX_PIXELS) continue;
        const cs__ix_result *src = batch_source(items, n, it->hash);
        if (src) {
            /* Embedded by this run's model in this batch, whatever the source held; a
             * copy that waited for it was never decoded: the dimensions are the same. */
            it->vec = src->vec;
            it->source_embedder = NULL;
            if (it->claim) {
                it->width = src->width;
                it->height = src->height;
            }
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < n_ids && !dup; j++) dup = !strcmp(ids[j], it->source_id);
        if (!dup) ids[n_ids++] = it->source_id;
    }
    int rc = n_ids ? cs_collection_fetch(r->coll, ids, n_ids, recs, err) : 0;
    free(ids);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        cs__ix_result *it = items[i];
        if (it->kind == IX_PIXELS || it->vec) continue;
        for (size_t j = 0; j < recs->n; j++) {
            if (strcmp(recs->items[j].id, it->source_id) != 0 || !recs->items[j].vector) continue;
            cs__ix_stored now;
            cs__ix_meta_parse(recs->items[j].metadata_json, &now);
            /* Only a vector of exactly this content may be reused. */
            if (strcmp(now.hash, it->hash) != 0) continue;
            it->vec = recs->items[j].vector;
            if (it->claim) {   /* a copy of a file this run wrote: never decoded itself */
                it->width = now.width;
                it->height = now.height;
            }
            /* The source may have been re-embedded by this run since the scan
             * (--reembed), or written by it: then the vector is this model's. */
            if (!strcmp(now.embedder, r->key)) it->source_embedder = NULL;
        }
        if (!it->vec) {
            /* Gone or changed since: decoded again (the caller takes it out). */
            if (cs__ix_list_push(&s->retry, it) != 0)
                rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
            else
                items[i] = NULL;
        }
    }
    return rc;
}
