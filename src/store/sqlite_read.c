/* SQLite reads: fetch, scan and the exact top-k query. The query scans the collection's
 * vector cache (sqlite_cache.c: a base, minus the rows changed since, plus those rows),
 * so a cold process pays one pass over the page cache and a query after a write reads
 * the changed rows, instead of stepping through every row. Filters are evaluated in C
 * over the cached metadata before the scan, so the result is the true top-k among the
 * matching records; unfiltered queries never touch the metadata pages and read ids and
 * metadata of the k hits only, by rowid. Every read runs in one read transaction, so the
 * version, the cache, the filter and the result rows come from the same snapshot. */
#include "store/sqlite_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "store/filter_eval.h"
#include "store/vquant.h"
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
    cs__sq_blob_to_vec(sqlite3_column_blob(st, col), dim, v);
    *out = v;
    return 0;
}

/* Appends a record from the current row: id at col 0, metadata at mcol, vector at vcol. */
static int push_row(sqlite3_stmt *st, int mcol, int vcol, int dim, cs_records *out, cs_error *err)
{
    cs_record *r = cs__records_push(out, err);
    if (!r) return CS_E_NOMEM;
    const char *id = (const char *)sqlite3_column_text(st, 0);
    if (!(r->id = strdup(id ? id : ""))) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    if (mcol >= 0 && !(r->metadata_json = strdup((const char *)sqlite3_column_text(st, mcol))))
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    if (vcol >= 0) return read_vec(st, vcol, dim, r->id, &r->vector, err);
    return 0;
}

int cs__sq_fetch(cs__backend *base, const char *name, int dim, const char *const *ids, size_t n,
             cs_records *out, cs_error *err)
{
    cs__sq_backend *b = (cs__sq_backend *)base;
    cs__sq_coll c;
    int rc = cs__sq_begin_coll(b, false, name, &c, err);
    if (rc) return rc;
    cs__sq_coll_clear(&c);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT id, metadata, vec FROM \"%s\" WHERE id = ?1", c.tbl);
    sqlite3_stmt *st = NULL;
    rc = cs__sq_prepare(b, sql, &st, err);
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_bind_text(st, 1, ids[i], -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) rc = push_row(st, 1, 2, dim, out, err);
        else if (s != SQLITE_DONE) rc = cs__sq_fail(b, s, "fetch", err);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    cs__sq_rollback(b);
    return rc;
}

int cs__sq_scan(cs__backend *base, const char *name, int dim, const cs__filter *filter,
            bool include_vector, size_t limit, cs_records *out, cs_error *err)
{
    cs__sq_backend *b = (cs__sq_backend *)base;
    int rc = cs__sq_begin(b, false, err);
    if (rc) return rc;
    cs__sq_coll c;
    sqlite3_stmt *st = NULL;
    cs__sq_sql s = {0};
    if (!(rc = cs__sq_coll_get(b, name, &c, err))) {
        cs__sq_coll_clear(&c);
        char head[128];
        snprintf(head, sizeof head, "SELECT id, metadata%s FROM \"%s\"",
                 include_vector ? ", vec" : "", c.tbl);
        cs__sq_sql_add(&s, head);
        if (filter) {
            cs__sq_sql_add(&s, " WHERE ");
            cs__sq_sql_filter(&s, filter);
        }
        if (limit) {
            char lim[48];
            snprintf(lim, sizeof lim, " LIMIT %zu", limit);
            cs__sq_sql_add(&s, lim);
        }
        if (s.oom) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
        else if (!(rc = cs__sq_prepare(b, s.sql, &st, err))) rc = cs__sq_sql_bind(b, st, &s, 1, err);
    }
    int r;
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW)
        rc = push_row(st, 1, include_vector ? 2 : -1, dim, out, err);
    if (!rc && r != SQLITE_DONE) rc = cs__sq_fail(b, r, "scan", err);
    sqlite3_finalize(st);
    cs__sq_sql_free(&s);
    cs__sq_rollback(b);
    return rc;
}

typedef struct {
    const cs__vcache *k;
    const cs__filter_eval *e;
    size_t from, to, n;
    uint32_t *out;   /* room for to - from positions */
    int64_t bad;     /* rowid of unparsable metadata, or -1 */
    bool nomem;      /* out of memory evaluating the filter */
} filter_job;

static void *run_filter(void *arg)
{
    filter_job *j = arg;
    const cs__vcache *k = j->k;
    for (size_t i = j->from; i < j->to; i++) {
        int m = cs__filter_eval_text(j->e, k->meta + k->meta_off[i],
                                    (size_t)(k->meta_off[i + 1] - k->meta_off[i]));
        if (m == -2 || m == -3) {
            if (m == -2) j->bad = k->rowids[i];
            else j->nomem = true;
            break;
        }
        if (m == 1) j->out[j->n++] = (uint32_t)i;
    }
    return NULL;
}

/* Positions (in the cache) of the rows matching the filter, in row order, evaluated in C
 * over the cached metadata (same jsonb rules as the SQL function, without a SQLite row
 * step and function call per record), split over threads for large collections. */
static int filter_rows(const cs__vcache *k, const cs__filter *f, uint32_t **rows, size_t *nrows,
                       cs_error *err)
{
    cs__filter_eval *e;
    int rc = cs__filter_eval_new(f, &e, err);
    if (rc) return rc;
    /* Evaluating a filter costs about as much per row as scanning ~64 floats. */
    size_t total = k->n;
    int t = cs__vscan_threads(total * 64);
    uint32_t *r = malloc((total ? total : 1) * sizeof *r);
    filter_job *jobs = calloc((size_t)t, sizeof *jobs);
    pthread_t *tids = calloc((size_t)t, sizeof *tids);
    if (!r || !jobs || !tids) {
        free(r);
        free(jobs);
        free(tids);
        cs__filter_eval_free(e);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    for (int i = 0; i < t; i++) {
        size_t from = total * (size_t)i / (size_t)t, to = total * (size_t)(i + 1) / (size_t)t;
        jobs[i] = (filter_job){k, e, from, to, 0, r + from, -1, false};
    }
    cs__fork_join(run_filter, jobs, sizeof *jobs, t, tids);
    /* Each job wrote its matches at the start of its own slice: close the gaps. */
    size_t n = 0;
    for (int i = 0; i < t && !rc; i++) {
        if (jobs[i].nomem)
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory evaluating the filter");
        else if (jobs[i].bad >= 0)
            rc = cs_error_set(err, CS_E_FORMAT, "stored metadata at rowid %lld is not valid JSON",
                              (long long)jobs[i].bad);
        memmove(r + n, jobs[i].out, jobs[i].n * sizeof *r);
        n += jobs[i].n;
    }
    free(jobs);
    free(tids);
    cs__filter_eval_free(e);
    if (rc) {
        free(r);
        return rc;
    }
    *rows = r;
    *nrows = n;
    return 0;
}

/* A ranked row of the view: its rowid, its vector and its distance to the query. */
typedef struct {
    int64_t rowid;
    const float *vec;
    double dist;
} view_hit;

/* The ranking of vscan.c across the base and the delta: by distance, NaN last, then by
 * rowid, which is the order positions have in a cache built in one piece. */
static bool ranks_after(const view_hit *a, const view_hit *b)
{
    bool an = isnan(a->dist), bn = isnan(b->dist);
    if (an != bn) return an;
    if (!an && a->dist != b->dist) return a->dist > b->dist;
    return a->rowid > b->rowid;
}

static bool is_dead(const uint32_t *dead, size_t ndead, uint32_t pos)
{
    size_t lo = 0, hi = ndead;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (dead[mid] < pos) lo = mid + 1;
        else hi = mid;
    }
    return lo < ndead && dead[lo] == pos;
}

/* Removes the dead positions from the ascending list rows[0..n); returns the new n. */
static size_t drop_dead(uint32_t *rows, size_t n, const uint32_t *dead, size_t ndead)
{
    size_t m = 0;
    for (size_t i = 0, d = 0; i < n; i++) {
        while (d < ndead && dead[d] < rows[i]) d++;
        if (d == ndead || dead[d] != rows[i]) rows[m++] = rows[i];
    }
    return m;
}

/* The top `want` live rows of one part of the view (the base with its dead positions, or
 * the delta), matching the filter when there is one. Unfiltered, the scan asks for
 * `want + ndead` and skips the dead among them, which leaves exactly the top `want` of
 * the live rows without listing them. */
static int scan_part(const cs__vcache *vc, const uint32_t *dead, size_t ndead, const cs_query *q,
                     const cs__filter *filter, view_hit **out, size_t *nout, cs_error *err)
{
    *out = NULL;
    *nout = 0;
    size_t want = (size_t)q->limit, n = vc->n, dim = (size_t)vc->dim, ask = want + ndead;
    if (!n || !want) return 0;
    uint32_t *rows = NULL;
    if (filter) {
        int rc = filter_rows(vc, filter, &rows, &n, err);
        if (rc) return rc;
        n = drop_dead(rows, n, dead, ndead);
        ask = want;
    }
    /* Through the compressed copy when the base has one (same result, fewer bytes), which
     * leaves the dead positions out itself: no need to ask for ndead more. */
    bool copy = !filter && cs__vquant_usable(vc, q->measure);
    if (copy) ask = want;
    if (ask > n) ask = n;
    cs__vscan_hit *hits = malloc((ask ? ask : 1) * sizeof *hits);
    view_hit *v = malloc((want < ask ? want : ask ? ask : 1) * sizeof *v);
    long nh = !hits || !v ? -1
            : copy ? cs__vscan_topk_quant(q->measure, q->vector, vc, NULL, n, dead, ndead, ask, hits)
                   : cs__vscan_topk_quant(q->measure, q->vector, vc, rows, n, NULL, 0, ask, hits);
    for (long i = 0; i < nh && *nout < want; i++) {
        uint32_t pos = hits[i].row;
        if (!filter && is_dead(dead, ndead, pos)) continue;
        v[(*nout)++] = (view_hit){vc->rowids[pos], vc->vecs + (size_t)pos * dim, hits[i].dist};
    }
    free(rows);
    free(hits);
    if (nh < 0) {
        free(v);
        *nout = 0;
        return cs_error_set(err, CS_E_NOMEM, "out of memory scanning");
    }
    *out = v;
    return 0;
}

int cs__sq_emit_rows(cs__sq_backend *b, const cs__sq_coll *c, const cs_query *q, const int64_t *rows,
                     const double *dists, size_t n, cs_records *out, cs_error *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT id, metadata, vec FROM \"%s\" WHERE rowid = ?1", c->tbl);
    sqlite3_stmt *st;
    int rc = cs__sq_prepare(b, sql, &st, err);
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_bind_int64(st, 1, rows[i]);
        int s = sqlite3_step(st);
        if (s != SQLITE_ROW) {
            rc = s == SQLITE_DONE ? cs_error_set(err, CS_E_INTERNAL, "row vanished during query")
                                  : cs__sq_fail(b, s, "query", err);
            break;
        }
        if (!(rc = push_row(st, q->include_metadata ? 1 : -1, q->include_vector ? 2 : -1, c->dim,
                            out, err)) &&
            q->include_value)
            out->items[out->n - 1].value = dists[i];
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

static int emit_hits(cs__sq_backend *b, const cs__sq_coll *c, const cs_query *q, const view_hit *hits,
                     size_t nh, cs_records *out, cs_error *err)
{
    int64_t *rows = malloc((nh ? nh : 1) * sizeof *rows);
    double *dists = malloc((nh ? nh : 1) * sizeof *dists);
    int rc = rows && dists ? 0 : cs_error_set(err, CS_E_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < nh; i++) rows[i] = hits[i].rowid, dists[i] = hits[i].dist;
    if (!rc) rc = cs__sq_emit_rows(b, c, q, rows, dists, nh, out, err);
    free(rows);
    free(dists);
    return rc;
}

int cs__sq_query(cs__backend *base, const char *name, int dim, const cs_query *q, const cs__filter *filter,
             cs_records *out, cs_error *err)
{
    cs__sq_backend *b = (cs__sq_backend *)base;
    cs__sq_coll c;
    int rc = cs__sq_begin_coll(b, false, name, &c, err);
    if (rc) return rc;
    cs__sq_cache *k = NULL;
    view_hit *hb = NULL, *hd = NULL, *merged = NULL;
    size_t nb = 0, nd = 0, n = 0;
    bool answered = false;
    if (c.dim != dim) {
        rc = cs_error_set(err, CS_E_DIMENSION, "collection '%s' now has dimension %d", name, c.dim);
        goto done;
    }
    /* The HNSW index, when the collection has one for this measure; else (or when a
     * filtered search came back short) the exact scan. */
    if ((rc = cs__sq_ann_query(b, &c, q, filter, &answered, out, err)) || answered) goto done;
    if ((rc = cs__sq_cache_get(b, &c, &k, err)) ||
        (rc = scan_part(&k->vc, k->dead, k->ndead, q, filter, &hb, &nb, err)) ||
        (rc = scan_part(&k->delta, NULL, 0, q, filter, &hd, &nd, err)))
        goto done;
    /* Both lists are ranked: merge them up to the limit. */
    if (!(merged = malloc((nb + nd ? nb + nd : 1) * sizeof *merged))) {
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0, j = 0; n < (size_t)q->limit && (i < nb || j < nd);)
        merged[n++] = j == nd || (i < nb && !ranks_after(&hb[i], &hd[j])) ? hb[i++] : hd[j++];
    rc = emit_hits(b, &c, q, merged, n, out, err);
done:
    cs__sq_coll_clear(&c);
    free(hb);
    free(hd);
    free(merged);
    cs__sq_rollback(b);
    return rc;
}
