/* SQLite reads: fetch, scan and the exact top-k query. The query scans a per-collection
 * cache of the vectors (rowid order, plus float32 norms for cosine; vcache.h): kept in the
 * connection while the catalog's version is unchanged, else mapped from the cache file
 * that an earlier process wrote, else an older cache patched with the rows the change log
 * names (sqlite_changelog.c), else rebuilt from SQLite. A cold process thus pays one pass
 * over the page cache, and a query after a write reads the changed rows, instead of
 * stepping through every row. Filters are evaluated
 * in C over the cached metadata before the scan, so the result is the true top-k among
 * the matching records; unfiltered queries never touch the metadata pages and read ids
 * and metadata of the k hits only, by rowid. Every read runs in one read transaction, so
 * the version, the cache, the filter and the result rows come from the same snapshot. */
#include "store/sqlite_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/filter_eval.h"
#include "store/vscan.h"

static int read_vec(sqlite3_stmt *st, int col, int dim, const char *id, float **out,
                    cs_error *err)
{
    *out = NULL;
    if (sqlite3_column_bytes(st, col) != dim * 4)
        return cs_error_set(err, CS_E_FORMAT, "stored vector of record '%s' has %d bytes, not %d",
                            id ? id : "?", sqlite3_column_bytes(st, col), dim * 4);
    float *v = malloc((size_t)dim * sizeof *v);
    if (!v) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    sq_blob_to_vec(sqlite3_column_blob(st, col), dim, v);
    *out = v;
    return 0;
}

/* Appends a record from the current row: id at col 0, metadata at mcol, vector at vcol. */
static int push_row(sqlite3_stmt *st, int mcol, int vcol, int dim, cs_records *out, cs_error *err)
{
    cs_record *r = cs_records_push(out, err);
    if (!r) return CS_E_NOMEM;
    const char *id = (const char *)sqlite3_column_text(st, 0);
    if (!(r->id = strdup(id ? id : ""))) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    if (mcol >= 0 && !(r->metadata_json = strdup((const char *)sqlite3_column_text(st, mcol))))
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    if (vcol >= 0) return read_vec(st, vcol, dim, r->id, &r->vector, err);
    return 0;
}

int sq_fetch(cs_backend *base, const char *name, int dim, const char *const *ids, size_t n,
             cs_records *out, cs_error *err)
{
    sq_backend *b = (sq_backend *)base;
    int rc = sq_begin(b, false, err);
    if (rc) return rc;
    sq_coll c;
    sqlite3_stmt *st = NULL;
    if (!(rc = sq_coll_get(b, name, &c, err))) {
        sq_coll_clear(&c);
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT id, metadata, vec FROM \"%s\" WHERE id = ?1", c.tbl);
        rc = sq_prepare(b, sql, &st, err);
    }
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_bind_text(st, 1, ids[i], -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) rc = push_row(st, 1, 2, dim, out, err);
        else if (s != SQLITE_DONE) rc = sq_fail(b, s, "fetch", err);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sq_rollback(b);
    return rc;
}

int sq_scan(cs_backend *base, const char *name, int dim, const cs_filter *filter,
            bool include_vector, size_t limit, cs_records *out, cs_error *err)
{
    sq_backend *b = (sq_backend *)base;
    int rc = sq_begin(b, false, err);
    if (rc) return rc;
    sq_coll c;
    sqlite3_stmt *st = NULL;
    sq_sql s = {0};
    if (!(rc = sq_coll_get(b, name, &c, err))) {
        sq_coll_clear(&c);
        char head[128];
        snprintf(head, sizeof head, "SELECT id, metadata%s FROM \"%s\"",
                 include_vector ? ", vec" : "", c.tbl);
        sq_sql_add(&s, head);
        if (filter) {
            sq_sql_add(&s, " WHERE ");
            sq_sql_filter(&s, filter);
        }
        if (limit) {
            char lim[48];
            snprintf(lim, sizeof lim, " LIMIT %zu", limit);
            sq_sql_add(&s, lim);
        }
        if (s.oom) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
        else if (!(rc = sq_prepare(b, s.sql, &st, err))) rc = sq_sql_bind(b, st, &s, 1, err);
    }
    int r;
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW)
        rc = push_row(st, 1, include_vector ? 2 : -1, dim, out, err);
    if (!rc && r != SQLITE_DONE) rc = sq_fail(b, r, "scan", err);
    sqlite3_finalize(st);
    sq_sql_free(&s);
    sq_rollback(b);
    return rc;
}

/* Builds the cache from SQLite: every row's vector, norm and metadata in rowid order. */
static int cache_build(sq_backend *b, const sq_coll *c, cs_vcache *vc, cs_error *err)
{
    char sql[128];
    sqlite3_stmt *st;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\"", c->tbl);
    int rc = sq_prepare(b, sql, &st, err);
    if (rc) return rc;
    int s = sqlite3_step(st);
    int64_t n = s == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (s != SQLITE_ROW) return sq_fail(b, s, "counting records", err);
    if (n > (int64_t)UINT32_MAX) return cs_error_set(err, CS_E_TOO_LARGE, "too many records");
    if (cs_vcache_init(vc, c->dim, (size_t)n, c->version))
        return cs_error_set(err, CS_E_NOMEM, "out of memory caching %lld vectors", (long long)n);
    snprintf(sql, sizeof sql, "SELECT rowid, vec, metadata FROM \"%s\" ORDER BY rowid", c->tbl);
    if ((rc = sq_prepare(b, sql, &st, err))) return rc;
    size_t dim = (size_t)c->dim;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t rowid = sqlite3_column_int64(st, 0);
        if (sqlite3_column_bytes(st, 1) != c->dim * 4) {
            rc = cs_error_set(err, CS_E_FORMAT, "stored vector at rowid %lld has %d bytes, not %d",
                              (long long)rowid, sqlite3_column_bytes(st, 1), c->dim * 4);
            break;
        }
        if (vc->n == vc->cap) {   /* same snapshot as the count: cannot happen */
            rc = cs_error_set(err, CS_E_INTERNAL, "table '%s' grew during a read", c->tbl);
            break;
        }
        float *v = vc->vecs + vc->n * dim;   /* decoded in place, no copy */
        sq_blob_to_vec(sqlite3_column_blob(st, 1), c->dim, v);
        const char *m = (const char *)sqlite3_column_text(st, 2);
        if (cs_vcache_append(vc, rowid, v, cs_vscan_norm2(v, dim), m,
                             (size_t)sqlite3_column_bytes(st, 2)))
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory caching metadata");
    }
    if (!rc && s != SQLITE_DONE) rc = sq_fail(b, s, "reading vectors", err);
    sqlite3_finalize(st);
    return rc;
}

static void *save_job(void *arg)
{
    sq_cache *k = arg;
    (void)cs_vcache_save(&k->vc, k->tbl, k->file);   /* best effort */
    return NULL;
}

/* Writes the cache file for the next process on a thread of its own, so that the query
 * that had to build the cache is not delayed by ~200 MB of writes per 100k 512-d rows:
 * the thread only reads k->vc, which stays unchanged until sq_cache_drop joins it (on
 * the next version, drop or close). Synchronously when no thread can be started. */
static void save_async(sq_cache *k, const char *file)
{
    if (!(k->file = strdup(file))) return;
    if (pthread_create(&k->saver, NULL, save_job, k) == 0) k->saving = true;
    else save_job(k);
}

/* The changed rows' current content, read in this transaction: row i of `rows` is present
 * (vector at vecs + i * dim, metadata) or deleted. */
typedef struct {
    float *vecs;
    char **meta;
    size_t *meta_len;
    bool *present;
} changed_rows;

static void changed_free(changed_rows *c, size_t n)
{
    for (size_t i = 0; c->meta && i < n; i++) free(c->meta[i]);
    free(c->vecs);
    free(c->meta);
    free(c->meta_len);
    free(c->present);
}

static int changed_read(sq_backend *b, const sq_coll *c, const sq_log_rows *log, changed_rows *ch,
                        size_t *n_present, cs_error *err)
{
    size_t n = log->n, dim = (size_t)c->dim;
    *n_present = 0;
    ch->vecs = malloc((n ? n : 1) * dim * sizeof(float));
    ch->meta = calloc(n ? n : 1, sizeof *ch->meta);
    ch->meta_len = calloc(n ? n : 1, sizeof *ch->meta_len);
    ch->present = calloc(n ? n : 1, sizeof *ch->present);
    if (!ch->vecs || !ch->meta || !ch->meta_len || !ch->present)
        return cs_error_set(err, CS_E_NOMEM, "out of memory reading changed rows");
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT vec, metadata FROM \"%s\" WHERE rowid = ?1", c->tbl);
    sqlite3_stmt *st;
    int rc = sq_prepare(b, sql, &st, err);
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_bind_int64(st, 1, log->rows[i]);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            if (sqlite3_column_bytes(st, 0) != c->dim * 4) {
                rc = cs_error_set(err, CS_E_FORMAT, "stored vector at rowid %lld has %d bytes, not %d",
                                  (long long)log->rows[i], sqlite3_column_bytes(st, 0), c->dim * 4);
            } else {
                sq_blob_to_vec(sqlite3_column_blob(st, 0), c->dim, ch->vecs + i * dim);
                size_t len = (size_t)sqlite3_column_bytes(st, 1);
                const char *m = (const char *)sqlite3_column_text(st, 1);
                if (!(ch->meta[i] = malloc(len + 1)))
                    rc = cs_error_set(err, CS_E_NOMEM, "out of memory reading changed rows");
                else {
                    if (len) memcpy(ch->meta[i], m, len);
                    ch->meta[i][len] = 0;
                    ch->meta_len[i] = len;
                    ch->present[i] = true;
                    (*n_present)++;
                }
            }
        } else if (s != SQLITE_DONE) {
            rc = sq_fail(b, s, "reading changed rows", err);
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* First position in [from, n) whose rowid is >= row. */
static size_t rowid_lower_bound(const cs_vcache *vc, size_t from, int64_t row)
{
    size_t lo = from, hi = vc->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vc->rowids[mid] < row) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Brings an older cache up to the version read in this transaction from the change log:
 * the unchanged rows are copied in runs, the changed ones read from SQLite (replaced,
 * inserted in rowid order, or left out when deleted). Returns 0 with `out` filled, 1
 * when the log cannot tell what changed (rebuild instead), or an error. */
static int cache_patch(sq_backend *b, const sq_coll *c, const cs_vcache *old, cs_vcache *out,
                       cs_error *err)
{
    sq_log_rows log;
    int rc = sq_log_since(b, c->tbl, old->gen, old->n / 2, &log, err);
    if (rc) return rc;
    changed_rows ch = {0};
    size_t n_present = 0;
    rc = changed_read(b, c, &log, &ch, &n_present, err);
    size_t meta_bytes = (size_t)old->meta_off[old->n];
    for (size_t i = 0; !rc && i < log.n; i++) meta_bytes += ch.meta_len[i];
    if (!rc && (cs_vcache_init(out, c->dim, old->n + n_present, c->version) ||
                cs_vcache_reserve_meta(out, meta_bytes)))
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory caching %zu vectors", old->n + n_present);
    size_t at = 0, dim = (size_t)c->dim;
    for (size_t i = 0; !rc && i < log.n; i++) {
        size_t to = rowid_lower_bound(old, at, log.rows[i]);
        if (cs_vcache_append_rows(out, old, at, to)) rc = -1;
        at = to < old->n && old->rowids[to] == log.rows[i] ? to + 1 : to;
        const float *v = ch.vecs + i * dim;
        if (!rc && ch.present[i] &&
            cs_vcache_append(out, log.rows[i], v, cs_vscan_norm2(v, dim), ch.meta[i], ch.meta_len[i]))
            rc = -1;
    }
    if (!rc && cs_vcache_append_rows(out, old, at, old->n)) rc = -1;
    if (rc == -1) rc = cs_error_set(err, CS_E_NOMEM, "out of memory caching metadata");
    if (rc) cs_vcache_free(out);
    changed_free(&ch, log.n);
    sq_log_rows_free(&log);
    return rc;
}

/* The collection's cache at the catalog version read in this transaction: the one kept
 * in this connection, else the cache file when current, else an older cache (this
 * connection's or the file) patched from the change log, else built from SQLite; a new
 * one is saved for the next process (best effort: a read-only directory just skips it). */
static int cache_get(sq_backend *b, const sq_coll *c, sq_cache **out, cs_error *err)
{
    sq_cache *kept = NULL;
    for (sq_cache *k = b->caches; k; k = k->next)
        if (!strcmp(k->tbl, c->tbl) && k->vc.dim == c->dim) {
            if (k->vc.gen == c->version) {
                *out = k;
                return 0;
            }
            kept = k;
        }
    sq_cache *k = calloc(1, sizeof *k);
    if (!k || !(k->tbl = strdup(c->tbl))) {
        free(k);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    char file[4096];
    bool persist = !cs_vcache_path(b->path, c->tbl, file, sizeof file);
    int rc = 1;
    if (persist) rc = cs_vcache_open(file, c->tbl, c->dim, c->version, &k->vc);
    if (rc) {
        cs_vcache older = {0};
        const cs_vcache *base = kept ? &kept->vc : NULL;
        if (!base && persist && !cs_vcache_open(file, c->tbl, c->dim, CS_VCACHE_ANY_GEN, &older))
            base = &older;
        rc = base ? cache_patch(b, c, base, &k->vc, err) : 1;
        cs_vcache_free(&older);
        if (rc == 0) b->cache_patches++;
        if (rc == 1) {
            sq_cache_drop(b, c->tbl);   /* frees memory before the full build */
            rc = cache_build(b, c, &k->vc, err);
            if (rc == 0) b->cache_builds++;
        }
        if (rc) {
            cs_vcache_free(&k->vc);
            free(k->tbl);
            free(k);
            return rc;
        }
        sq_cache_drop(b, c->tbl);
        if (persist) save_async(k, file);
    } else {
        sq_cache_drop(b, c->tbl);
    }
    k->next = b->caches;
    b->caches = k;
    *out = k;
    return 0;
}

typedef struct {
    const sq_cache *k;
    const cs_filter_eval *e;
    size_t from, to, n;
    uint32_t *out;   /* room for to - from positions */
    int64_t bad;     /* rowid of unparsable metadata, or -1 */
} filter_job;

static void *run_filter(void *arg)
{
    filter_job *j = arg;
    const cs_vcache *k = &j->k->vc;
    for (size_t i = j->from; i < j->to; i++) {
        int m = cs_filter_eval_text(j->e, k->meta + k->meta_off[i],
                                    (size_t)(k->meta_off[i + 1] - k->meta_off[i]));
        if (m == -2) {
            j->bad = k->rowids[i];
            break;
        }
        if (m == 1) j->out[j->n++] = (uint32_t)i;
    }
    return NULL;
}

/* Positions (in the cache) of the rows matching the filter, in row order, evaluated in C
 * over the cached metadata (same jsonb rules as the SQL function, without a SQLite row
 * step and function call per record), split over threads for large collections. */
static int filter_rows(const sq_cache *k, const cs_filter *f, uint32_t **rows, size_t *nrows,
                       cs_error *err)
{
    cs_filter_eval *e;
    int rc = cs_filter_eval_new(f, &e, err);
    if (rc) return rc;
    /* Evaluating a filter costs about as much per row as scanning ~64 floats. */
    size_t total = k->vc.n;
    int t = cs_vscan_threads(total * 64);
    uint32_t *r = malloc((total ? total : 1) * sizeof *r);
    filter_job *jobs = calloc((size_t)t, sizeof *jobs);
    pthread_t *tids = calloc((size_t)t, sizeof *tids);
    if (!r || !jobs || !tids) {
        free(r);
        free(jobs);
        free(tids);
        cs_filter_eval_free(e);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    for (int i = 0; i < t; i++) {
        size_t from = total * (size_t)i / (size_t)t, to = total * (size_t)(i + 1) / (size_t)t;
        jobs[i] = (filter_job){k, e, from, to, 0, r + from, -1};
    }
    int started = 1;
    for (int i = 1; i < t && !pthread_create(&tids[i], NULL, run_filter, &jobs[i]); i++) started++;
    run_filter(&jobs[0]);
    for (int i = 1; i < started; i++) pthread_join(tids[i], NULL);
    for (int i = started; i < t; i++) run_filter(&jobs[i]);
    /* Each job wrote its matches at the start of its own slice: close the gaps. */
    size_t n = 0;
    for (int i = 0; i < t && !rc; i++) {
        if (jobs[i].bad >= 0)
            rc = cs_error_set(err, CS_E_FORMAT, "stored metadata at rowid %lld is not valid JSON",
                              (long long)jobs[i].bad);
        memmove(r + n, jobs[i].out, jobs[i].n * sizeof *r);
        n += jobs[i].n;
    }
    free(jobs);
    free(tids);
    cs_filter_eval_free(e);
    if (rc) {
        free(r);
        return rc;
    }
    *rows = r;
    *nrows = n;
    return 0;
}

static int emit_hits(sq_backend *b, const sq_coll *c, const sq_cache *k, const cs_query *q,
                     const cs_vscan_hit *hits, long nh, cs_records *out, cs_error *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT id, metadata FROM \"%s\" WHERE rowid = ?1", c->tbl);
    sqlite3_stmt *st;
    int rc = sq_prepare(b, sql, &st, err);
    for (long i = 0; !rc && i < nh; i++) {
        sqlite3_bind_int64(st, 1, k->vc.rowids[hits[i].row]);
        int s = sqlite3_step(st);
        if (s != SQLITE_ROW) {
            rc = s == SQLITE_DONE ? cs_error_set(err, CS_E_INTERNAL, "row vanished during query")
                                  : sq_fail(b, s, "query", err);
            break;
        }
        if (!(rc = push_row(st, q->include_metadata ? 1 : -1, -1, c->dim, out, err))) {
            cs_record *r = &out->items[out->n - 1];
            if (q->include_value) r->value = hits[i].dist;
            if (q->include_vector) {
                if (!(r->vector = malloc((size_t)c->dim * sizeof(float))))
                    rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
                else
                    memcpy(r->vector, k->vc.vecs + (size_t)hits[i].row * (size_t)c->dim,
                           (size_t)c->dim * sizeof(float));
            }
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

int sq_query(cs_backend *base, const char *name, int dim, const cs_query *q, const cs_filter *filter,
             cs_records *out, cs_error *err)
{
    sq_backend *b = (sq_backend *)base;
    int rc = sq_begin(b, false, err);
    if (rc) return rc;
    sq_coll c;
    sq_cache *k = NULL;
    uint32_t *rows = NULL;
    cs_vscan_hit *hits = NULL;
    if ((rc = sq_coll_get(b, name, &c, err))) goto done;
    sq_coll_clear(&c);
    if (c.dim != dim) {
        rc = cs_error_set(err, CS_E_DIMENSION, "collection '%s' now has dimension %d", name, c.dim);
        goto done;
    }
    if ((rc = cache_get(b, &c, &k, err))) goto done;
    size_t n = k->vc.n;
    if (filter && (rc = filter_rows(k, filter, &rows, &n, err))) goto done;
    size_t want = (size_t)q->limit;
    if (!(hits = malloc((want ? want : 1) * sizeof *hits))) {
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
        goto done;
    }
    long nh = cs_vscan_topk(q->measure, q->vector, k->vc.vecs, k->vc.norms2, (size_t)dim, rows, n, want,
                            hits);
    if (nh < 0) {
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory scanning");
        goto done;
    }
    rc = emit_hits(b, &c, k, q, hits, nh, out, err);
done:
    free(rows);
    free(hits);
    sq_rollback(b);
    return rc;
}
