/* I/O fault injection, the companion of test_fault_alloc.c: the library must survive the
 * I/O a full disk, a failing disk and the kernel's partial reads hand it.
 *
 * - SQLite: a VFS shim, registered as the default VFS, wraps the real one and makes the
 *   Nth write fail with SQLITE_FULL (ENOSPC) or the Nth read with SQLITE_IOERR_READ. For
 *   every N a store scenario reaches (open, upsert with updates, delete, query), the run
 *   must end in success or in an error with a message, and the store reopened afterwards
 *   must hold exactly the records of a prefix of the scenario's writes (each write all or
 *   nothing, none lost), with queries that agree with a brute-force scan of them.
 * - read(2): the test is linked with -Wl,--wrap=read, which redirects the read calls of the
 *   static clipsearch libraries to __wrap_read below. In "short" mode every call returns at
 *   most a few bytes (what a pipe, a network file system or a signal may do): file reads,
 *   image decoding, the model's fingerprint and a whole indexer run must give the same
 *   results as with whole reads. In "fail" mode the Nth call fails with EIO: the indexer
 *   must count the file as failed (with a reason) or stop with a message, never crash.
 * The ASan build's leak check at exit covers every failure path. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "clipsearch/clip.h"
#include "clipsearch/image.h"
#include "clipsearch/indexer.h"
#include "clipsearch/store.h"
#include "test.h"

/* --- read(2) shim --------------------------------------------------------------------- */

enum { READ_WHOLE, READ_SHORT, READ_FAIL };
static atomic_int read_mode;
static atomic_long read_calls, read_fail_at;

ssize_t __real_read(int fd, void *buf, size_t n);

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
    int mode = atomic_load(&read_mode);
    long k = atomic_fetch_add(&read_calls, 1) + 1;
    if (mode == READ_FAIL && k == atomic_load(&read_fail_at)) {
        errno = EIO;
        return -1;
    }
    /* 1 to 7 bytes: odd sizes, so that no boundary a reader assumes lines up. */
    if (mode == READ_SHORT && n > 1) n = 1 + (size_t)(k % 7) < n ? 1 + (size_t)(k % 7) : n;
    return __real_read(fd, buf, n);
}

/* Under an emulator (the arm64 stage) every run is slow: fewer points per loop. */
static bool emulated(void)
{
    const char *e = getenv("CS_TEST_EXEC");
    return e && *e;
}

/* --- SQLite VFS shim ------------------------------------------------------------------ */

static atomic_long vfs_writes, vfs_reads, vfs_write_fail_at, vfs_read_fail_at;
static sqlite3_vfs *real_vfs;

typedef struct {
    sqlite3_file base;
    sqlite3_file *real;   /* the real VFS's file, allocated right after this struct */
} fault_file;

#define REAL(f) (((fault_file *)(f))->real)

static int f_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int f_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    long k = atomic_fetch_add(&vfs_reads, 1) + 1;
    if (k == atomic_load(&vfs_read_fail_at)) return SQLITE_IOERR_READ;
    return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}
static int f_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    long k = atomic_fetch_add(&vfs_writes, 1) + 1;
    if (k == atomic_load(&vfs_write_fail_at)) return SQLITE_FULL;
    return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int f_sync(sqlite3_file *f, int flags) { return REAL(f)->pMethods->xSync(REAL(f), flags); }
static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int f_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int f_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int f_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int f_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int f_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int f_device(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int f_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}
static int f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void f_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int f_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

/* Version 2 (WAL's shared memory); no xFetch, so SQLite reads through xRead, where the
 * faults are. */
static const sqlite3_io_methods fault_methods = {
    2,          f_close, f_read,      f_write,   f_truncate,    f_sync,       f_size,
    f_lock,     f_unlock, f_reserved, f_control, f_sector,      f_device,     f_shm_map,
    f_shm_lock, f_shm_barrier, f_shm_unmap, NULL, NULL};

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    fault_file *ff = (fault_file *)f;
    ff->real = (sqlite3_file *)(ff + 1);
    int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
    /* SQLite calls xClose only when pMethods is set: set it only for an open file. */
    ff->base.pMethods = ff->real->pMethods ? &fault_methods : NULL;
    return rc;
}
static int v_delete(sqlite3_vfs *v, const char *n, int sync)
{
    (void)v;
    return real_vfs->xDelete(real_vfs, n, sync);
}
static int v_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
    (void)v;
    return real_vfs->xAccess(real_vfs, n, flags, out);
}
static int v_full(sqlite3_vfs *v, const char *n, int size, char *out)
{
    (void)v;
    return real_vfs->xFullPathname(real_vfs, n, size, out);
}
static void *v_dlopen(sqlite3_vfs *v, const char *n)
{
    (void)v;
    return real_vfs->xDlOpen(real_vfs, n);
}
static void v_dlerror(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    real_vfs->xDlError(real_vfs, n, out);
}
static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *s))(void)
{
    (void)v;
    return real_vfs->xDlSym(real_vfs, h, s);
}
static void v_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    real_vfs->xDlClose(real_vfs, h);
}
static int v_random(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs->xRandomness(real_vfs, n, out);
}
static int v_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return real_vfs->xSleep(real_vfs, us);
}
static int v_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return real_vfs->xCurrentTime(real_vfs, out);
}
static int v_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, out) : 0;
}
static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static sqlite3_vfs fault_vfs;

static void install_fault_vfs(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    fault_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(fault_file) + real_vfs->szOsFile,
        .mxPathname = real_vfs->mxPathname,
        .zName = "cs_fault",
        .xOpen = v_open,
        .xDelete = v_delete,
        .xAccess = v_access,
        .xFullPathname = v_full,
        .xDlOpen = v_dlopen,
        .xDlError = v_dlerror,
        .xDlSym = v_dlsym,
        .xDlClose = v_dlclose,
        .xRandomness = v_random,
        .xSleep = v_sleep,
        .xCurrentTime = v_time,
        .xGetLastError = v_last_error,
        .xCurrentTimeInt64 = v_time64,
    };
    sqlite3_vfs_register(&fault_vfs, 1);
}

/* --- store scenario under SQLite faults ------------------------------------------------ */

enum { DIM = 8, N0 = 40, N_UP = 25, N_DEL = 3, N_ALL = N0 + 20 };

typedef struct {
    float base[N_ALL][DIM];    /* every id's vector before the upsert (r40.. do not exist yet) */
    float upd[N_ALL][DIM];     /* after it: r35..r59 rewritten or new */
    char ids[N_ALL][8];
    char db[256];
} store_fixture;

static void vec_fill(float *v, unsigned seed)
{
    for (int j = 0; j < DIM; j++) {
        seed = seed * 1103515245u + 12345u;
        v[j] = (float)((seed >> 8) % 20011) / 20011.0f - 0.5f;
    }
}

/* Which records exist, with which vector, after the first `step` writes of the scenario
 * (0: the base, 1: + the upsert, 2: + the delete of r0..r2). */
static bool expected(const store_fixture *fx, int step, int i, const float **vec)
{
    if (step >= 2 && i < N_DEL) return false;
    if (i >= N0 && step < 1) return false;
    *vec = step >= 1 && i >= N_ALL - N_UP ? fx->upd[i] : fx->base[i];
    return true;
}

static int store_setup(const store_fixture *fx, cs_error *err)
{
    unlink(fx->db);
    char side[300];
    snprintf(side, sizeof side, "%s-wal", fx->db);
    unlink(side);
    snprintf(side, sizeof side, "rm -rf '%s.vcache'", fx->db);
    if (system(side) != 0) return cs_error_set(err, CS_E_IO, "cannot clear %s.vcache", fx->db);
    cs_record_in recs[N0];
    for (int i = 0; i < N0; i++) recs[i] = (cs_record_in){fx->ids[i], fx->base[i], "{}"};
    cs_store *s = NULL;
    cs_collection *c = NULL;
    int rc = cs_store_open(fx->db, &s, err);
    if (!rc) rc = cs_store_get_or_create(s, "docs", DIM, &c, err);
    if (!rc) rc = cs_collection_upsert(c, recs, N0, err);
    cs_collection_free(c);
    cs_store_close(s);
    return rc;
}

/* The writes under test; returns how many completed (their effect is committed). */
static int store_scenario(const store_fixture *fx, int *steps, cs_error *err)
{
    *steps = 0;
    cs_store *s = NULL;
    cs_collection *c = NULL;
    cs_records r = {0};
    int rc = cs_store_open(fx->db, &s, err);
    if (!rc) rc = cs_store_get(s, "docs", &c, err);
    if (!rc) {   /* warm the vector cache, so that the writes below patch it */
        cs_query q;
        cs_query_init(&q);
        q.vector = fx->base[5];
        q.vector_dim = DIM;
        q.limit = 5;
        rc = cs_collection_query(c, &q, &r, err);
        cs_records_free(&r);
    }
    if (!rc) {
        cs_record_in recs[N_UP];
        for (int i = 0; i < N_UP; i++) {
            int k = N_ALL - N_UP + i;
            recs[i] = (cs_record_in){fx->ids[k], fx->upd[k], "{\"new\":true}"};
        }
        rc = cs_collection_upsert(c, recs, N_UP, err);
        if (!rc) *steps = 1;
    }
    if (!rc) {
        const char *del[N_DEL] = {fx->ids[0], fx->ids[1], fx->ids[2]};
        cs_records gone = {0};
        rc = cs_collection_delete_ids(c, del, N_DEL, &gone, err);
        cs_records_free(&gone);
        if (!rc) *steps = 2;
    }
    if (!rc) {
        cs_query q;
        cs_query_init(&q);
        q.vector = fx->upd[N_ALL - 10];
        q.vector_dim = DIM;
        q.limit = 10;
        rc = cs_collection_query(c, &q, &r, err);
        cs_records_free(&r);
    }
    cs_collection_free(c);
    cs_store_close(s);
    return rc;
}

static float dist(const float *a, const float *b)
{
    /* Cosine distance as the store computes it, only for ranking here. */
    double ab = 0, aa = 0, bb = 0;
    for (int j = 0; j < DIM; j++) {
        ab += (double)a[j] * b[j];
        aa += (double)a[j] * a[j];
        bb += (double)b[j] * b[j];
    }
    return (float)(1.0 - ab / sqrt(aa * bb));
}

/* Reopens the store without faults: it must hold exactly the state after `step` writes
 * for some step >= done (a write reported as failed may still have committed if the
 * failure came after its commit, e.g. in the WAL checkpoint), and a query must rank as a
 * brute-force scan of that state does. Returns the step found, or -1. */
static int store_verify(const store_fixture *fx, int done, const char *what)
{
    cs_error err = {0};
    cs_store *s = NULL;
    cs_collection *c = NULL;
    cs_records all = {0}, top = {0};
    int found = -1;
    int rc = cs_store_open(fx->db, &s, &err);
    if (!rc) rc = cs_store_get(s, "docs", &c, &err);
    const char *ids[N_ALL];
    for (int i = 0; i < N_ALL; i++) ids[i] = fx->ids[i];
    if (!rc) rc = cs_collection_fetch(c, ids, N_ALL, &all, &err);
    CHECK_MSG(rc == 0, "%s: reopening the store: %s", what, err.msg);
    for (int step = done; rc == 0 && step <= 2 && found < 0; step++) {
        size_t want = 0;
        bool same = true;
        for (int i = 0; i < N_ALL && same; i++) {
            const float *v;
            bool exists = expected(fx, step, i, &v);
            want += exists;
            const cs_record *got = NULL;
            for (size_t k = 0; k < all.n; k++)
                if (!strcmp(all.items[k].id, fx->ids[i])) got = &all.items[k];
            same = exists ? got && got->vector && !memcmp(got->vector, v, sizeof(float) * DIM)
                          : got == NULL;
        }
        if (same && want == all.n) found = step;
    }
    CHECK_MSG(rc != 0 || found >= 0, "%s: the store holds %zu records matching no state at or "
              "after write %d", what, all.n, done);
    if (found >= 0) {
        /* The query must see exactly that state (the vector cache patched or rebuilt). */
        cs_query q;
        cs_query_init(&q);
        q.vector = fx->upd[N_ALL - 10];
        q.vector_dim = DIM;
        q.limit = 10;
        rc = cs_collection_query(c, &q, &top, &err);
        CHECK_MSG(rc == 0, "%s: query after reopening: %s", what, err.msg);
        int order[N_ALL], n = 0;
        for (int i = 0; i < N_ALL; i++) {
            const float *v;
            if (expected(fx, found, i, &v)) order[n++] = i;
        }
        for (int a = 0; a < 10 && a < n; a++)   /* the 10 nearest, by selection */
            for (int b = a + 1; b < n; b++) {
                const float *va = NULL, *vb = NULL;
                expected(fx, found, order[a], &va);
                expected(fx, found, order[b], &vb);
                if (dist(vb, q.vector) < dist(va, q.vector)) {
                    int t = order[a];
                    order[a] = order[b];
                    order[b] = t;
                }
            }
        for (size_t k = 0; rc == 0 && k < top.n && k < 10; k++)
            CHECK_MSG(!strcmp(top.items[k].id, fx->ids[order[k]]),
                      "%s: rank %zu is %s, a scan of the stored records says %s", what, k,
                      top.items[k].id, fx->ids[order[k]]);
        CHECK_MSG(rc != 0 || top.n == 10, "%s: %zu results", what, top.n);
    }
    cs_records_free(&all);
    cs_records_free(&top);
    cs_collection_free(c);
    cs_store_close(s);
    return found;
}

static void store_faults(store_fixture *fx, bool writes)
{
    const char *kind = writes ? "write (SQLITE_FULL)" : "read (SQLITE_IOERR_READ)";
    atomic_long *counter = writes ? &vfs_writes : &vfs_reads;
    atomic_long *fail_at = writes ? &vfs_write_fail_at : &vfs_read_fail_at;
    cs_error err = {0};
    int steps;
    CHECK_OK(store_setup(fx, &err), &err);
    atomic_store(counter, 0);
    CHECK_OK(store_scenario(fx, &steps, &err), &err);
    long total = atomic_load(counter);
    CHECK_MSG(total > 0, "the scenario made no %s", kind);
    store_verify(fx, 2, "without faults");
    long failures = 0, successes = 0;
    for (long n = 1; n <= total; n += emulated() ? 3 : 1) {
        memset(&err, 0, sizeof err);
        if (store_setup(fx, &err) != 0) {
            CHECK_MSG(0, "setup: %s", err.msg);
            break;
        }
        atomic_store(counter, 0);
        atomic_store(fail_at, n);
        int rc = store_scenario(fx, &steps, &err);
        atomic_store(fail_at, 0);
        char what[96];
        snprintf(what, sizeof what, "%s %ld failing", kind, n);
        CHECK_MSG(rc == 0 || err.msg[0], "%s: error %d without a message", what, rc);
        if (rc && failures++ == 0) printf("  %s: error %d: %s\n", what, rc, err.msg);
        else if (!rc) successes++;
        int found = store_verify(fx, steps, what);
        CHECK_MSG(rc != 0 || found == 2, "%s: reported success, but the store is at write %d",
                  what, found);
    }
    printf("store: %ld %ss tried %s: %ld runs failed with an error, %ld succeeded; "
           "every store reopened at a whole write\n",
           total, writes ? "write" : "read", emulated() ? "every third" : "one by one", failures,
           successes);
}

/* --- short and failing read(2) ---------------------------------------------------------- */

typedef struct {
    char model[3000], images[3000], png[4200], jpg[4200], db[256];
} paths;

static void short_reads(const paths *p)
{
    cs_error err = {0};
    /* A whole file, read a few bytes at a time. */
    uint8_t *whole = NULL, *bits = NULL;
    size_t n_whole = 0, n_bits = 0;
    CHECK_OK(cs__read_file(p->png, 0, &whole, &n_whole, &err), &err);
    atomic_store(&read_mode, READ_SHORT);
    CHECK_OK(cs__read_file(p->png, 0, &bits, &n_bits, &err), &err);
    atomic_store(&read_mode, READ_WHOLE);
    CHECK(n_whole == n_bits && whole && bits && !memcmp(whole, bits, n_whole));
    free(whole);
    free(bits);

    /* Decoded pixels. */
    const char *files[2] = {p->png, p->jpg};
    for (int i = 0; i < 2; i++) {
        cs_image_options io;
        cs_image_options_init(&io);
        cs_image a = {0}, b = {0};
        CHECK_OK(cs_image_decode_file(files[i], &io, &a, NULL, &err), &err);
        atomic_store(&read_mode, READ_SHORT);
        CHECK_OK(cs_image_decode_file(files[i], &io, &b, NULL, &err), &err);
        atomic_store(&read_mode, READ_WHOLE);
        CHECK_MSG(a.width == b.width && a.height == b.height && a.rgb && b.rgb &&
                      !memcmp(a.rgb, b.rgb, (size_t)a.width * a.height * 3),
                  "%s decodes differently from short reads", files[i]);
        cs_image_free(&a);
        cs_image_free(&b);
    }

    /* The model: loading reads its files, the fingerprint hashes them. */
    cs_clip_options o;
    cs_clip_options_init(&o);
    o.n_threads = 1;
    cs_clip *m1 = NULL, *m2 = NULL;
    char f1[33] = "", f2[33] = "";
    CHECK_OK(cs_clip_load(p->model, &o, &m1, &err), &err);
    if (m1) CHECK_OK(cs_clip_fingerprint(m1, f1, &err), &err);
    atomic_store(&read_mode, READ_SHORT);
    CHECK_OK(cs_clip_load(p->model, &o, &m2, &err), &err);
    if (m2) CHECK_OK(cs_clip_fingerprint(m2, f2, &err), &err);
    atomic_store(&read_mode, READ_WHOLE);
    CHECK_MSG(f1[0] && !strcmp(f1, f2), "fingerprint %s, from short reads %s", f1, f2);
    cs_clip_free(m2);
    cs_clip_free(m1);
    printf("short reads: a file, 2 images and the model's fingerprint read 1-7 bytes at a time "
           "equal whole reads\n");
}

/* One indexer run over the fixture images into a fresh store: the summary's counts of
 * files indexed and failed, and (when stored is not NULL) every stored record ranked
 * against one query, with distances. */
static int index_once(const paths *p, cs_clip *m, uint64_t *indexed, uint64_t *failed,
                      uint64_t *other, cs_records *stored, cs_error *err)
{
    unlink(p->db);
    char side[300];
    snprintf(side, sizeof side, "%s-wal", p->db);
    unlink(side);
    cs_store *s = NULL;
    cs_collection *c = NULL;
    cs_index_summary sum;
    memset(&sum, 0, sizeof sum);
    int rc = cs_store_open(p->db, &s, err);
    if (!rc) {
        cs_indexer_options o;
        cs_indexer_options_init(&o);
        o.jobs = 2;
        o.batch = 4;
        const char *dirs[1] = {p->images};
        rc = cs_index_run(m, s, dirs, 1, &o, &sum, err);
        *indexed = sum.indexed;
        *failed = sum.failed;
        /* Found but neither: not images (ignored) and the like. */
        *other = sum.found - sum.indexed - sum.failed;
        if (getenv("CS_FAULT_IO_VERBOSE")) {
            char *js = NULL;
            cs_index_summary_json(&sum, &js, NULL);
            fprintf(stderr, "%s\n", js ? js : "?");
            free(js);
        }
        for (size_t i = 0; rc == 0 && i < sum.n_failures; i++)
            CHECK_MSG(sum.failures[i].reason && sum.failures[i].reason[0],
                      "failed file %s without a reason", sum.failures[i].file);
        cs_index_summary_free(&sum);
    }
    if (!rc && stored) {
        cs_query q;
        cs_query_init(&q);
        float zero[1024] = {0};
        zero[0] = 1.0f;
        q.vector = zero;
        q.vector_dim = cs_clip_embed_dim(m);
        q.limit = 1000;
        q.include_value = true;
        rc = cs_store_get(s, "image_vectors", &c, err);
        if (!rc) rc = cs_collection_query(c, &q, stored, err);
    }
    cs_collection_free(c);
    cs_store_close(s);
    return rc;
}

static void indexer_reads(const paths *p, cs_clip *m)
{
    cs_error err = {0};
    uint64_t ix1 = 0, f1 = 0, o1 = 0, ix2 = 0, f2 = 0, o2 = 0;
    cs_records r1 = {0}, r2 = {0};
    atomic_store(&read_calls, 0);
    CHECK_OK(index_once(p, m, &ix1, &f1, &o1, &r1, &err), &err);
    long total = atomic_load(&read_calls);
    atomic_store(&read_mode, READ_SHORT);
    CHECK_OK(index_once(p, m, &ix2, &f2, &o2, &r2, &err), &err);
    atomic_store(&read_mode, READ_WHOLE);
    CHECK_MSG(ix1 == ix2 && f1 == f2 && o1 == o2 && r1.n == r2.n && r1.n == ix1,
              "index: %llu indexed, %llu failed, %zu stored; from short reads %llu, %llu, %zu",
              (unsigned long long)ix1, (unsigned long long)f1, r1.n, (unsigned long long)ix2,
              (unsigned long long)f2, r2.n);
    /* Same files, same vectors: the ranking of one query agrees (distances within a BLAS's
     * rounding across thread schedules). */
    for (size_t i = 0; i < r1.n && i < r2.n; i++)
        CHECK_MSG(fabs(r1.items[i].value - r2.items[i].value) < 1e-5,
                  "index: rank %zu distance %g, from short reads %g", i, r1.items[i].value,
                  r2.items[i].value);
    cs_records_free(&r1);
    cs_records_free(&r2);

    /* EIO at each read the run makes: the file fails with a reason, or the run stops with a
     * message; never a crash or a leak. */
    long stride = emulated() ? 5 : total > 400 ? total / 400 : 1, failed_files = 0, errors = 0;
    for (long n = 1; n <= total; n += stride) {
        memset(&err, 0, sizeof err);
        uint64_t ix = 0, f = 0, o = 0;
        atomic_store(&read_calls, 0);
        atomic_store(&read_fail_at, n);
        atomic_store(&read_mode, READ_FAIL);
        int rc = index_once(p, m, &ix, &f, &o, NULL, &err);
        atomic_store(&read_mode, READ_WHOLE);
        CHECK_MSG(rc == 0 || err.msg[0], "index, read %ld failing: error %d without a message",
                  n, rc);
        if (rc) errors++;
        else failed_files += f > f1;
        /* Every file accounted for once: a read error turns an image (or a file that
         * would have been found not to be one) into a failure, nothing else. */
        CHECK_MSG(rc != 0 || (ix + f + o == ix1 + f1 + o1 && ix >= ix1 - 1 && f <= f1 + 1),
                  "index, read %ld failing: %llu indexed + %llu failed + %llu other", n,
                  (unsigned long long)ix, (unsigned long long)f, (unsigned long long)o);
    }
    printf("index: %llu files, %ld reads; EIO at every %ld-th read: %ld runs counted a failed "
           "file, %ld stopped with an error\n",
           (unsigned long long)ix1, total, stride, failed_files, errors);
}

int main(void)
{
    install_fault_vfs();
    const char *src = getenv("CS_SOURCE_DIR") ? getenv("CS_SOURCE_DIR") : ".";
    paths p;
    memset(&p, 0, sizeof p);
    snprintf(p.model, sizeof p.model, "%s/tests/fixtures/tiny/model", src);
    snprintf(p.images, sizeof p.images, "%s/tests/fixtures/tiny/images", src);
    snprintf(p.png, sizeof p.png, "%s/gradient_rgb_640x480.png", p.images);
    snprintf(p.jpg, sizeof p.jpg, "%s/exif_orient6_320x240.jpg", p.images);
    snprintf(p.db, sizeof p.db, "/tmp/cs_fault_io_%d.db", (int)getpid());

    static store_fixture fx;
    for (int i = 0; i < N_ALL; i++) {
        vec_fill(fx.base[i], 17u + (unsigned)i);
        vec_fill(fx.upd[i], 9001u + (unsigned)i);
        snprintf(fx.ids[i], sizeof fx.ids[i], "r%d", i);
    }
    snprintf(fx.db, sizeof fx.db, "/tmp/cs_fault_io_store_%d.db", (int)getpid());
    store_faults(&fx, true);
    store_faults(&fx, false);

    short_reads(&p);
    cs_error err = {0};
    cs_clip_options o;
    cs_clip_options_init(&o);
    o.n_threads = 2;
    cs_clip *m = NULL;
    CHECK_OK(cs_clip_load(p.model, &o, &m, &err), &err);
    if (m) indexer_reads(&p, m);
    cs_clip_free(m);

    const char *dbs[2] = {fx.db, p.db};
    for (int i = 0; i < 2; i++) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s-wal' '%s-shm' '%s.vcache'", dbs[i], dbs[i],
                 dbs[i], dbs[i]);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dbs[i]);
    }
    return TEST_RESULT();
}
