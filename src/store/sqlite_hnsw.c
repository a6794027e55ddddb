/* The SQLite store's HNSW index (vec create-index --method hnsw|auto): a real approximate
 * index (store/hnsw.c) kept as a derived structure, like the vector cache.
 *
 *   - Where it lives: "<db>.vcache/<table>.hnsw", tagged with the table, the build
 *     parameters (measure, m, ef_construction) and the catalog version it reflects. SQLite
 *     stays the only source of truth: a file that is absent, damaged, of other
 *     parameters or of another history is rebuilt from the rows.
 *   - Staying current: every write bumps the version and logs the rowids it touched
 *     (sqlite_changelog.c). A connection whose index is older reads just those rows and
 *     applies them (tombstone the old node, insert the row's vector again), so a query
 *     after `index` adds 1,000 photos costs 1,000 insertions, not a rebuild. Too many
 *     tombstones (a quarter of the nodes), or a log that cannot tell, rebuild instead.
 *     After kill -9 the file is simply older (or a temporary file is left): the same path.
 *   - Saving: after a query renewed it, on a thread of its own (the answer does not wait;
 *     closing the store does); after create_index and `index` runs, before returning, so
 *     the next search maps it ready.
 *   - Queries: only those whose measure is the index's (like pgvector's operator classes),
 *     searching with ef = max(ef_search, limit). Distances of the hits are the exact scan's
 *     own (hnsw.h). A filter is applied to the candidates of a search with ef_search
 *     candidates; when fewer than `limit` match, the caller scans exactly instead, so a
 *     filtered query is never silently short (vecs on pgvector < 0.8 would be). */
#include "store/sqlite_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/test_point.h"
#include "store/filter_eval.h"
#include "store/hnsw.h"

/* Rebuild when tombstones reach this fraction of the nodes: they cost search time and
 * memory, and a rebuild then is cheaper than carrying them. */
#define ANN_MAX_DEAD_FRACTION 4

/* The collection's HNSW parameters from its index description; false when it has no
 * HNSW index (none, or IVFFlat, which the SQLite store records but does not build). */
static bool ann_spec(const cs__sq_coll *c, cs__hnsw_params *p)
{
    if (!c->index_spec) return false;
    json_t *j = json_loads(c->index_spec, 0, NULL);
    const char *method = json_string_value(json_object_get(j, "method"));
    const char *measure = json_string_value(json_object_get(j, "measure"));
    cs_error ignore;
    bool ok = method && !strcmp(method, "hnsw") && measure &&
              !cs_measure_parse(measure, &p->measure, &ignore) &&
              json_is_integer(json_object_get(j, "m")) &&
              json_is_integer(json_object_get(j, "ef_construction"));
    if (ok) {
        p->dim = c->dim;
        p->m = (int)json_integer_value(json_object_get(j, "m"));
        p->ef_construction = (int)json_integer_value(json_object_get(j, "ef_construction"));
        p->seed = 0x5DEECE66Dull;   /* a fixed seed: the same rows in the same order, the same graph */
    }
    json_decref(j);
    return ok;
}

static void ann_tag(const cs__sq_coll *c, const cs__hnsw_params *p, char *tag, size_t cap)
{
    snprintf(tag, cap, "%s:%d:%d:%d", c->tbl, (int)p->measure, p->m, p->ef_construction);
}

/* "<db>.vcache/<tbl>.hnsw"; -1 when the database has no folder (":memory:"). */
static int ann_path(const cs__sq_backend *b, const char *tbl, char *out, size_t cap)
{
    char bin[4096];
    if (cs__vcache_path(b->path, tbl, bin, sizeof bin)) return -1;
    size_t len = strlen(bin);
    int w = snprintf(out, cap, "%.*s.hnsw", (int)(len - 4), bin);
    return w < 0 || (size_t)w >= cap ? -1 : 0;
}

static void join_saver(cs__sq_ann *a)
{
    if (a->saving) pthread_join(a->saver, NULL);
    a->saving = false;
    free(a->file);
    a->file = NULL;
}

static void *save_thread(void *arg)
{
    cs__sq_ann *a = arg;
    /* For later processes: at the lowest priority, as the vector cache's saver. */
    (void)setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
    cs_error ignore;
    (void)cs__hnsw_save(a->h, a->file, a->tag, a->gen, &ignore);   /* best effort */
    return NULL;
}

/* Saves the index for later processes: now (sync) or on a thread of its own. */
static void ann_save(cs__sq_backend *b, cs__sq_ann *a, bool sync)
{
    char file[4200];
    if (ann_path(b, a->tbl, file, sizeof file)) return;
    join_saver(a);
    if (sync) {
        cs_error ignore;
        (void)cs__hnsw_save(a->h, file, a->tag, a->gen, &ignore);
        return;
    }
    if (!(a->file = strdup(file))) return;
    if (pthread_create(&a->saver, NULL, save_thread, a) == 0) a->saving = true;
    else join_saver(a);
}

void cs__sq_ann_drop(cs__sq_backend *b, const char *tbl_arg, bool remove_file)
{
    char tbl[40];   /* tbl_arg may be a node's own name, freed below */
    snprintf(tbl, sizeof tbl, "%s", tbl_arg);
    for (cs__sq_ann **p = &b->anns; *p;) {
        cs__sq_ann *a = *p;
        if (strcmp(a->tbl, tbl)) {
            p = &a->next;
            continue;
        }
        join_saver(a);
        cs__hnsw_free(a->h);
        *p = a->next;
        free(a);
    }
    char file[4200];
    if (remove_file && !ann_path(b, tbl, file, sizeof file)) unlink(file);
}

/* Every row of the collection into a new index, in rowid order, in batches inserted on
 * every CPU. */
static int ann_build(cs__sq_backend *b, const cs__sq_coll *c, const cs__hnsw_params *p, cs__hnsw **out,
                     cs_error *err)
{
    cs__hnsw *h;
    int rc = cs__hnsw_new(p, &h, err);
    if (rc) return rc;
    int64_t rows = 0;
    if (!(rc = cs__sq_count_rows(b, c->tbl, &rows, err)))
        rc = cs__hnsw_reserve(h, (size_t)rows, err);
    char sql[128];
    sqlite3_stmt *st;
    const size_t batch = 16384, dim = (size_t)c->dim;
    int64_t *keys = malloc(batch * sizeof *keys);
    float *vecs = malloc(batch * dim * sizeof *vecs);
    if (!rc && (!keys || !vecs)) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    snprintf(sql, sizeof sql, "SELECT rowid, vec FROM \"%s\" ORDER BY rowid", c->tbl);
    if (!rc) rc = cs__sq_prepare(b, sql, &st, err);
    else st = NULL;
    size_t n = 0;
    int s = SQLITE_DONE;
    while (!rc && st && (s = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 1) != c->dim * 4) {
            rc = cs_error_set(err, CS_E_FORMAT, "stored vector at rowid %lld has %d bytes, not %d",
                              (long long)sqlite3_column_int64(st, 0), sqlite3_column_bytes(st, 1),
                              c->dim * 4);
            break;
        }
        keys[n] = sqlite3_column_int64(st, 0);
        cs__sq_blob_to_vec(sqlite3_column_blob(st, 1), c->dim, vecs + n * dim);
        if (++n == batch) {
            rc = cs__hnsw_add_batch(h, keys, vecs, n, 0, err);
            n = 0;
        }
    }
    if (!rc && st && s != SQLITE_DONE) rc = cs__sq_fail(b, s, "reading vectors", err);
    if (!rc && n) rc = cs__hnsw_add_batch(h, keys, vecs, n, 0, err);
    sqlite3_finalize(st);
    free(keys);
    free(vecs);
    if (rc) {
        cs__hnsw_free(h);
        return rc;
    }
    cs__test_point("hnsw-built");   /* in memory only */
    *out = h;
    return 0;
}

/* Brings h from version `from` to the collection's version with the rows the change log
 * names: 0, 1 when the log cannot tell or tombstones pile up (rebuild), or an error (h is
 * then in an unknown state: the caller frees it). */
static int ann_patch(cs__sq_backend *b, const cs__sq_coll *c, cs__hnsw *h, int64_t from, cs_error *err)
{
    cs__sq_log_rows log;
    size_t live = cs__hnsw_live(h);
    int rc = cs__sq_log_since(b, c->tbl, from, c->version, live / 2 + 1000, &log, err);
    if (rc) return rc;
    if ((cs__hnsw_dead(h) + log.n) * ANN_MAX_DEAD_FRACTION > live + log.n) {
        cs__sq_log_rows_free(&log);
        return 1;
    }
    char sql[128];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof sql, "SELECT vec FROM \"%s\" WHERE rowid = ?1", c->tbl);
    const size_t dim = (size_t)c->dim;
    int64_t *keys = malloc((log.n ? log.n : 1) * sizeof *keys);
    float *vecs = malloc((log.n ? log.n : 1) * dim * sizeof *vecs);
    size_t n = 0;
    if (!keys || !vecs) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    else rc = cs__sq_prepare(b, sql, &st, err);
    for (size_t i = 0; !rc && i < log.n; i++) {
        cs__hnsw_remove(h, log.rows[i]);   /* changed or deleted: the old node goes */
        sqlite3_bind_int64(st, 1, log.rows[i]);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW && sqlite3_column_bytes(st, 0) == c->dim * 4) {
            keys[n] = log.rows[i];
            cs__sq_blob_to_vec(sqlite3_column_blob(st, 0), c->dim, vecs + n * dim);
            n++;
        } else if (s == SQLITE_ROW) {
            rc = cs_error_set(err, CS_E_FORMAT, "stored vector at rowid %lld has %d bytes, not %d",
                              (long long)log.rows[i], sqlite3_column_bytes(st, 0), c->dim * 4);
        } else if (s != SQLITE_DONE) {
            rc = cs__sq_fail(b, s, "reading changed rows", err);
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (!rc && n) rc = cs__hnsw_add_batch(h, keys, vecs, n, 0, err);
    free(keys);
    free(vecs);
    cs__sq_log_rows_free(&log);
    return rc;
}

/* The collection's index at the version read in this transaction: kept, loaded, patched
 * or built (in that order of preference); saved when it changed (sync: before returning). */
static int ann_get(cs__sq_backend *b, const cs__sq_coll *c, const cs__hnsw_params *p, bool sync,
                   cs__sq_ann **out, cs_error *err)
{
    char tag[64];
    ann_tag(c, p, tag, sizeof tag);
    cs__sq_ann *a = NULL;
    for (cs__sq_ann *x = b->anns; x; x = x->next)
        if (!strcmp(x->tbl, c->tbl)) a = x;
    if (a && strcmp(a->tag, tag)) {   /* built with other parameters: replaced */
        cs__sq_ann_drop(b, c->tbl, false);
        a = NULL;
    }
    if (a && a->gen == c->version) {
        *out = a;
        return 0;
    }
    int rc;
    if (!a) {
        if (!(a = calloc(1, sizeof *a))) return cs_error_set(err, CS_E_NOMEM, "out of memory");
        snprintf(a->tbl, sizeof a->tbl, "%s", c->tbl);
        snprintf(a->tag, sizeof a->tag, "%s", tag);
        char file[4200];
        if (!ann_path(b, c->tbl, file, sizeof file)) {
            rc = cs__hnsw_load(file, tag, c->dim, &a->h, &a->gen, err);
            if (rc < 0) {
                free(a);
                return rc;
            }
            if (rc == 0) b->ann_loads++;
        }
        a->next = b->anns;
        b->anns = a;
        if (a->h && a->gen == c->version) {
            *out = a;
            return 0;
        }
    }
    join_saver(a);   /* it reads the index that changes now */
    rc = a->h ? ann_patch(b, c, a->h, a->gen, err) : 1;
    if (rc == 0) b->ann_patches++;
    if (rc != 0) {   /* rebuild: the log cannot tell, too many tombstones, or an error */
        cs__hnsw_free(a->h);
        a->h = NULL;
        if (rc == 1) {
            rc = ann_build(b, c, p, &a->h, err);
            if (rc == 0) b->ann_builds++;
        }
    }
    if (rc) {
        cs__sq_ann_drop(b, c->tbl, false);
        return rc;
    }
    a->gen = c->version;
    ann_save(b, a, sync);
    *out = a;
    return 0;
}

int cs__sq_ann_refresh(cs__sq_backend *b, const cs__sq_coll *c, cs_error *err)
{
    cs__hnsw_params p;
    if (!ann_spec(c, &p)) return 0;
    cs__sq_ann *a;
    int rc = ann_get(b, c, &p, true, &a, err);
    if (!rc) join_saver(a);
    return rc;
}

int cs__sq_refresh_index(cs__backend *base, const char *name, cs_error *err)
{
    cs__sq_backend *b = (cs__sq_backend *)base;
    cs__sq_coll c;
    int rc = cs__sq_begin_coll(b, false, name, &c, err);
    if (rc) return rc;
    rc = cs__sq_ann_refresh(b, &c, err);
    cs__sq_coll_clear(&c);
    cs__sq_rollback(b);
    return rc;
}

/* Whether the stored metadata of `row` matches the filter: 1, 0, or < 0 (error set). */
static int row_matches(cs__sq_backend *b, sqlite3_stmt *st, const cs__filter_eval *e, int64_t row,
                       cs_error *err)
{
    sqlite3_bind_int64(st, 1, row);
    int s = sqlite3_step(st), m = 0;
    if (s == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        m = cs__filter_eval_text(e, t ? t : "{}", t ? (size_t)sqlite3_column_bytes(st, 0) : 2);
        /* Unknown (SQL NULL: a key the row lacks) is no match, as in the scan; it is not
         * an error (it was returned as error 1 without a message). */
        if (m == -1)
            m = 0;
        else if (m == -2)
            m = -cs_error_set(err, CS_E_FORMAT, "stored metadata at rowid %lld is not valid JSON",
                              (long long)row);
        else if (m == -3)
            m = -cs_error_set(err, CS_E_NOMEM, "out of memory evaluating the filter");
    } else if (s != SQLITE_DONE) {
        m = -cs__sq_fail(b, s, "query", err);
    }
    sqlite3_reset(st);
    return m;
}

int cs__sq_ann_query(cs__sq_backend *b, const cs__sq_coll *c, const cs_query *q, const cs__filter *filter,
                     bool *answered, cs_records *out, cs_error *err)
{
    *answered = false;
    cs__hnsw_params p;
    if (!ann_spec(c, &p) || p.measure != q->measure) return 0;
    cs__sq_ann *a;
    int rc = ann_get(b, c, &p, false, &a, err);
    if (rc) return rc;
    size_t limit = (size_t)q->limit, ef = (size_t)q->ef_search;
    if (ef < limit) ef = limit;
    /* Filtered: the candidates of one search of width ef_search, filtered afterwards. */
    size_t k = filter ? ef : limit;
    cs__hnsw_hit *hits = malloc(k * sizeof *hits);
    int64_t *rows = malloc(k * sizeof *rows);
    double *dists = malloc(k * sizeof *dists);
    cs__filter_eval *e = NULL;
    sqlite3_stmt *st = NULL;
    long nh = hits && rows && dists ? cs__hnsw_search(a->h, q->vector, k, ef, hits) : -1;
    if (nh < 0) rc = cs_error_set(err, CS_E_NOMEM, "out of memory searching the index");
    size_t n = 0;
    if (!rc && filter) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT metadata FROM \"%s\" WHERE rowid = ?1", c->tbl);
        if (!(rc = cs__filter_eval_new(filter, &e, err))) rc = cs__sq_prepare(b, sql, &st, err);
        for (long i = 0; !rc && i < nh && n < limit; i++) {
            int m = row_matches(b, st, e, hits[i].key, err);
            if (m < 0) rc = -m;
            else if (m) rows[n] = hits[i].key, dists[n++] = hits[i].dist;
        }
    } else if (!rc) {
        for (long i = 0; i < nh; i++) rows[n] = hits[i].key, dists[n++] = hits[i].dist;
    }
    /* A search that saw every node (no more nodes than ef: hnsw.h scans them all) is exact:
     * its short answer is the true one. */
    bool complete = n >= limit || cs__hnsw_live(a->h) + cs__hnsw_dead(a->h) <= ef;
    if (!rc && complete) {
        rc = cs__sq_emit_rows(b, c, q, rows, dists, n, out, err);
        *answered = true;
    }
    sqlite3_finalize(st);
    cs__filter_eval_free(e);
    free(hits);
    free(rows);
    free(dists);
    return rc;
}

int cs__sqlite_ann_counts(const cs_store *s, unsigned long *built, unsigned long *patched,
                          unsigned long *loaded)
{
    if (strcmp(s->backend->ops->name, "sqlite")) return -1;
    const cs__sq_backend *b = (const cs__sq_backend *)s->backend;
    *built = b->ann_builds;
    *patched = b->ann_patches;
    *loaded = b->ann_loads;
    return 0;
}
