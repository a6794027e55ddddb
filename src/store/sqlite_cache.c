/* The vector cache of a SQLite collection (cs__sq_cache, sqlite_internal.h): how a query gets
 * the rows at the version it reads, in the cheapest of four ways:
 *   1. the cache this connection kept, when still current;
 *   2. the cache file an earlier process saved, when current (mapped, not read);
 *   3. an older cache (this connection's, or an older file) brought up to date from the
 *      change log (sqlite_changelog.c): the rows it names are read from SQLite into the
 *      delta and their old positions marked dead; the base is shared, not copied, so a
 *      query after a write of k rows costs reading k rows. Once dead + delta rows pass
 *      1/16 of the base the view is folded into a new base (a copy in runs), so the
 *      scan never carries much more than the collection;
 *   4. else a build from SQLite.
 * A new view is saved for the next process on a thread of its own, as one file. */
#include "store/sqlite_internal.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/vquant.h"
#include "store/vscan.h"

/* Builds the cache from SQLite: every row's vector, norm and metadata in rowid order. */
static int cache_build(cs__sq_backend *b, const cs__sq_coll *c, cs__vcache *vc, cs_error *err)
{
    int64_t n = 0;
    int rc = cs__sq_count_rows(b, c->tbl, &n, err);
    if (rc) return rc;
    if (n > (int64_t)UINT32_MAX) return cs_error_set(err, CS_E_TOO_LARGE, "too many records");
    if (cs__vcache_init(vc, c->dim, (size_t)n, c->version))
        return cs_error_set(err, CS_E_NOMEM, "out of memory caching %lld vectors", (long long)n);
    char sql[128];
    sqlite3_stmt *st;
    snprintf(sql, sizeof sql, "SELECT rowid, vec, metadata FROM \"%s\" ORDER BY rowid", c->tbl);
    if ((rc = cs__sq_prepare(b, sql, &st, err))) return rc;
    int s = SQLITE_DONE;
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
        cs__sq_blob_to_vec(sqlite3_column_blob(st, 1), c->dim, v);
        const char *m = (const char *)sqlite3_column_text(st, 2);
        size_t len = (size_t)sqlite3_column_bytes(st, 2);
        if ((!m && len) || cs__vcache_append(vc, rowid, v, cs__vscan_norm2(v, dim), m, len))
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory caching metadata");
    }
    if (!rc && s != SQLITE_DONE) rc = cs__sq_fail(b, s, "reading vectors", err);
    sqlite3_finalize(st);
    return rc;
}

/* First position in [from, n) whose rowid is >= row. */
static size_t rowid_lower_bound(const cs__vcache *vc, size_t from, int64_t row)
{
    size_t lo = from, hi = vc->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vc->rowids[mid] < row) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The view as runs of its base and delta in rowid order (see cs__sq_cache). */
static int view_runs(const cs__sq_cache *k, cs__vcache_run **out, size_t *nout)
{
    const cs__vcache *b = &k->vc, *x = &k->delta;
    size_t cap = 2 * (k->ndead + x->n) + 2, n = 0;
    cs__vcache_run *r = malloc(cap * sizeof *r);
    if (!r) return -1;
    size_t bi = 0, di = 0, xi = 0;
    while (bi < b->n || xi < x->n) {
        if (bi < b->n && di < k->ndead && k->dead[di] == bi) {
            bi++;
            di++;
        } else if (xi < x->n && (bi == b->n || x->rowids[xi] < b->rowids[bi])) {
            size_t end = bi < b->n ? rowid_lower_bound(x, xi, b->rowids[bi]) : x->n;
            r[n++] = (cs__vcache_run){x, xi, end};
            xi = end;
        } else {
            size_t end = di < k->ndead ? k->dead[di] : b->n;
            if (xi < x->n) {
                size_t before = rowid_lower_bound(b, bi, x->rowids[xi]);
                if (before < end) end = before;
            }
            r[n++] = (cs__vcache_run){b, bi, end};
            bi = end;
        }
    }
    *out = r;
    *nout = n;
    return 0;
}

static void *save_job(void *arg)
{
    cs__sq_cache *k = arg;
    cs__vcache_run *runs;
    size_t n;
    char copy_file[4200];
    if (!view_runs(k, &runs, &n)) {   /* best effort, like the whole file */
        int rc = 0;
        if (k->save_bin)
            rc = cs__vcache_save_runs(runs, n, k->vc.dim, k->gen, k->tbl, k->file, &k->stop_saving);
        /* The copy names the generation of the rows it copies: the view's, as the file. */
        if (!rc && k->save_copy != CS_VECTOR_COPY_NONE &&
            !cs__vquant_path(k->file, k->save_copy, copy_file, sizeof copy_file))
            (void)cs__vquant_save_runs(runs, n, k->save_copy, k->vc.dim, k->gen, k->tbl,
                                       copy_file, &k->stop_saving);
        free(runs);
    }
    return NULL;
}

/* The saver's own thread, at the lowest priority (nice 19; the thread only, never the
 * caller's, which runs save_job inline when no thread starts): the file is for later
 * processes, and at normal priority its writes (200 MB per 100k 512-d rows) slow the
 * queries that run meanwhile (bench_store 100k, first query after 1000 upserts: 11.6-11.9
 * ms at nice 19, 15.1-15.9 ms without, on a 2-core VM). A superseded save gives up
 * (join_saver); closing the store waits for it, and the waiting thread leaves its core to
 * it (only other processes saturating the CPU slow that wait). */
static void *save_thread(void *arg)
{
    (void)setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
    return save_job(arg);
}

/* Writes the cache file for the next process on a thread of its own, so that the query
 * that had to build the cache is not delayed by ~200 MB of writes per 100k 512-d rows:
 * the thread only reads the view, which stays unchanged until it is joined (before the
 * view is freed or its base handed on). Synchronously when no thread can be started. */
static void save_async(cs__sq_cache *k, const char *file, bool bin, cs_vector_copy copy)
{
    if (!bin && copy == CS_VECTOR_COPY_NONE) return;
    free(k->file);
    if (!(k->file = strdup(file))) return;
    k->save_bin = bin;
    k->save_copy = copy;
    if (pthread_create(&k->saver, NULL, save_thread, k) == 0) k->saving = true;
    else save_job(k);
}

/* Waits for the saver; `superseded`: a newer view will be saved instead, so this save
 * gives up (within one 8 MiB write) rather than finish a file nobody will map. */
static void join_saver(cs__sq_cache *k, bool superseded)
{
    if (superseded) atomic_store(&k->stop_saving, true);
    if (k->saving) pthread_join(k->saver, NULL);
    k->saving = false;
}

void cs__sq_cache_free(cs__sq_cache *k, bool superseded)
{
    join_saver(k, superseded);
    free(k->file);
    free(k->tbl);
    free(k->dead);
    cs__vcache_free(&k->vc);
    cs__vcache_free(&k->delta);
    free(k);
}

/* Folds a view into one base (the rows copied in runs). */
static int fold(const cs__sq_cache *k, int dim, int64_t gen, cs__vcache *out, cs_error *err)
{
    cs__vcache_run *runs;
    size_t nruns, rows = 0, bytes = 0;
    if (view_runs(k, &runs, &nruns)) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    for (size_t i = 0; i < nruns; i++) {
        rows += runs[i].to - runs[i].from;
        bytes += runs[i].src->meta_off[runs[i].to] - runs[i].src->meta_off[runs[i].from];
    }
    int rc = cs__vcache_init(out, dim, rows, gen) || cs__vcache_reserve_meta(out, bytes);
    for (size_t i = 0; !rc && i < nruns; i++)
        rc = cs__vcache_append_rows(out, runs[i].src, runs[i].from, runs[i].to);
    free(runs);
    if (!rc) return 0;
    cs__vcache_free(out);
    return cs_error_set(err, CS_E_NOMEM, "out of memory caching %zu vectors", rows);
}

/* Brings the view `old` up to the version read in this transaction from the change log:
 * the changed rows are read from SQLite into a new delta (with the old delta's other
 * rows) and their positions in the base marked dead; `out` gets the dead list and the
 * delta, the caller the base. Returns 0, 1 when the log cannot tell what changed
 * (rebuild instead), or an error. */
static int patch(cs__sq_backend *b, const cs__sq_coll *c, const cs__sq_cache *old, cs__sq_cache *out,
                 cs_error *err)
{
    const cs__vcache *base = &old->vc, *delta = &old->delta;
    cs__sq_log_rows log;
    int rc = cs__sq_log_since(b, c->tbl, old->gen, c->version, (base->n - old->ndead + delta->n) / 2,
                          &log, err);
    if (rc) return rc;
    size_t dim = (size_t)c->dim;
    /* The dead list: the old one merged with the base positions of the changed rows (a
     * row changed again is dead already). */
    uint32_t *pos = NULL;
    size_t npos = 0;
    if (!rc && (!(pos = malloc((log.n + 1) * sizeof *pos)) ||
                !(out->dead = malloc((old->ndead + log.n + 1) * sizeof *out->dead))))
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    for (size_t j = 0, at = 0; !rc && j < log.n; j++) {
        at = rowid_lower_bound(base, at, log.rows[j]);
        if (at < base->n && base->rowids[at] == log.rows[j]) pos[npos++] = (uint32_t)at;
    }
    for (size_t i = 0, j = 0; !rc && (i < old->ndead || j < npos);) {
        uint32_t next = j == npos || (i < old->ndead && old->dead[i] < pos[j]) ? old->dead[i++]
                                                                                 : pos[j++];
        if (!out->ndead || out->dead[out->ndead - 1] != next) out->dead[out->ndead++] = next;
    }
    free(pos);
    /* The delta: the old delta's unchanged rows, and the changed rows still present read
     * from SQLite straight into it (both in rowid order). */
    sqlite3_stmt *st = NULL;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT vec, metadata FROM \"%s\" WHERE rowid = ?1", c->tbl);
    if (!rc && !(rc = cs__sq_prepare(b, sql, &st, err)) &&
        cs__vcache_init(&out->delta, c->dim, delta->n + log.n, c->version))
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory caching %zu vectors", log.n);
    size_t at = 0;
    for (size_t i = 0; !rc && i < log.n; i++) {
        size_t to = delta->n ? rowid_lower_bound(delta, at, log.rows[i]) : 0;
        if (cs__vcache_append_rows(&out->delta, delta, at, to)) rc = -1;
        at = to < delta->n && delta->rowids[to] == log.rows[i] ? to + 1 : to;
        sqlite3_bind_int64(st, 1, log.rows[i]);
        int s = rc ? SQLITE_DONE : sqlite3_step(st);
        if (s == SQLITE_ROW && sqlite3_column_bytes(st, 0) != c->dim * 4) {
            rc = cs_error_set(err, CS_E_FORMAT, "stored vector at rowid %lld has %d bytes, not %d",
                              (long long)log.rows[i], sqlite3_column_bytes(st, 0), c->dim * 4);
        } else if (s == SQLITE_ROW) {
            float *v = out->delta.vecs + out->delta.n * dim;   /* decoded in place */
            cs__sq_blob_to_vec(sqlite3_column_blob(st, 0), c->dim, v);
            const char *m = (const char *)sqlite3_column_text(st, 1);
            size_t len = (size_t)sqlite3_column_bytes(st, 1);
            if ((!m && len) ||
                cs__vcache_append(&out->delta, log.rows[i], v, cs__vscan_norm2(v, dim), m, len))
                rc = -1;
        } else if (s != SQLITE_DONE) {   /* SQLITE_DONE: the row was deleted */
            rc = cs__sq_fail(b, s, "reading changed rows", err);
        }
        sqlite3_reset(st);
    }
    if (!rc && cs__vcache_append_rows(&out->delta, delta, at, delta->n)) rc = -1;
    sqlite3_finalize(st);
    if (rc == -1) rc = cs_error_set(err, CS_E_NOMEM, "out of memory caching metadata");
    if (rc) {
        free(out->dead);
        out->dead = NULL;
        out->ndead = 0;
        cs__vcache_free(&out->delta);
    }
    cs__sq_log_rows_free(&log);
    return rc;
}

/* Renews the view from `old` (kept in this connection, or mapped from an older file):
 * patched, and folded when the changes have grown; the base moves from old to k. */
static int renew(cs__sq_backend *b, const cs__sq_coll *c, cs__sq_cache *old, cs__sq_cache *k, cs_error *err)
{
    int rc = patch(b, c, old, k, err);
    if (rc) return rc;
    join_saver(old, true);   /* it reads the base that moves now */
    k->vc = old->vc;
    memset(&old->vc, 0, sizeof old->vc);
    if (k->ndead + k->delta.n <= k->vc.n / 16 + 64) return 0;
    cs__vcache folded;
    if ((rc = fold(k, c->dim, c->version, &folded, err))) return rc;
    cs__vcache_free(&k->vc);
    cs__vcache_free(&k->delta);
    free(k->dead);
    k->dead = NULL;
    k->ndead = 0;
    k->vc = folded;
    return 0;
}

/* Gives the view's base the compressed copy the collection asks for: mapped from the
 * copy file of the base's generation, else quantised here; returns whether the view's
 * copy file should be written. Out of memory leaves the base without a copy, which only
 * makes the scan the plain float32 one. */
static bool ensure_copy(cs__sq_cache *k, cs_vector_copy want, bool persist, const char *file)
{
    if (k->vc.copy == want) return false;
    if (k->save_copy != CS_VECTOR_COPY_NONE) join_saver(k, false);   /* it reads the copy */
    if (want == CS_VECTOR_COPY_NONE) {
        cs__vquant_release(&k->vc);
        return false;
    }
    char copy_file[4200];
    if (persist && k->vc.map && !cs__vquant_path(file, want, copy_file, sizeof copy_file) &&
        !cs__vquant_open(copy_file, k->tbl, &k->vc, want))
        return false;
    return !cs__vquant_build(&k->vc, want) && persist;
}

int cs__sq_cache_get(cs__sq_backend *b, const cs__sq_coll *c, cs__sq_cache **out, cs_error *err)
{
    cs__sq_cache *kept = NULL;
    char file[4096];
    bool persist = !cs__vcache_path(b->path, c->tbl, file, sizeof file);
    for (cs__sq_cache *k = b->caches; k; k = k->next)
        if (!strcmp(k->tbl, c->tbl) && k->vc.dim == c->dim) {
            if (k->gen == c->version) {
                /* The setting changed since the view was made: its copy file (of the
                 * view, base copy plus quantised delta) for the next process. */
                if (ensure_copy(k, c->copy, persist, file)) {
                    join_saver(k, false);
                    save_async(k, file, false, c->copy);
                }
                *out = k;
                return 0;
            }
            kept = k;
        }
    cs__sq_cache *k = calloc(1, sizeof *k);
    if (!k || !(k->tbl = strdup(c->tbl))) {
        free(k);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    k->gen = c->version;
    int rc = 1;
    if (persist)
        rc = cs__vcache_open_ex(file, c->tbl, c->dim, c->version, c->copy == CS_VECTOR_COPY_NONE,
                                &k->vc);
    if (rc) {
        cs__sq_cache older = {.tbl = k->tbl};
        cs__sq_cache *from = kept;
        if (!from && persist && !cs__vcache_open(file, c->tbl, c->dim, CS_VCACHE_ANY_GEN, &older.vc)) {
            older.gen = older.vc.gen;
            from = &older;
        }
        rc = from ? renew(b, c, from, k, err) : 1;
        cs__vcache_free(&older.vc);
        if (rc == 0) b->cache_patches++;
        if (rc == 1) {
            cs__sq_cache_drop(b, c->tbl, true);   /* frees memory before the full build */
            rc = cache_build(b, c, &k->vc, err);
            if (rc == 0) b->cache_builds++;
        }
        if (rc) {
            cs__sq_cache_free(k, true);
            return rc;
        }
        cs__sq_cache_drop(b, c->tbl, true);
        bool copy = ensure_copy(k, c->copy, persist, file) || k->vc.copy != CS_VECTOR_COPY_NONE;
        if (persist) save_async(k, file, true, copy ? c->copy : CS_VECTOR_COPY_NONE);
    } else {
        cs__sq_cache_drop(b, c->tbl, true);
        if (ensure_copy(k, c->copy, persist, file)) save_async(k, file, false, c->copy);
    }
    k->next = b->caches;
    b->caches = k;
    *out = k;
    return 0;
}
