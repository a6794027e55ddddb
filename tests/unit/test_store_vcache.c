/* The SQLite store's persistent vector cache ("<db>.vcache/<table>.bin", vcache.h): built
 * by the first query, reused (not rewritten) by a later connection, ignored and rebuilt
 * when stale (a write through another connection), corrupt, truncated or restored from
 * an older state; queries still work where it cannot be written; dropped with the
 * collection. Every query result is compared with a double-precision brute force.
 * Separate store handles stand in for separate processes: each has its own in-memory
 * copy, so only the file connects them. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clipsearch/store.h"
#include "store/vcache.h"
#include "test.h"

#define N 700
#define DIM 24
#define K 10

static cs_error E;
static char DB[256], DIR_[300];
static float VEC[N + 1][DIM];   /* row N: the vector a later upsert puts into record 0 */
static uint64_t rng = 0x2545F4914F6CDD1Dull;

static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* Path of the single cache file, or "" when there is none. */
static void cache_file(char *out, size_t cap)
{
    out[0] = 0;
    DIR *d = opendir(DIR_);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".bin") && !strstr(e->d_name, ".tmp."))
            snprintf(out, cap, "%s/%s", DIR_, e->d_name);
    closedir(d);
}

typedef struct { ino_t ino; long long mtime_ns, size; } fid;

static fid file_id(void)
{
    char f[600];
    struct stat sb;
    cache_file(f, sizeof f);
    if (!f[0] || stat(f, &sb)) return (fid){0, 0, -1};
    return (fid){sb.st_ino, sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec, sb.st_size};
}

static bool same(fid a, fid b) { return a.ino == b.ino && a.mtime_ns == b.mtime_ns && a.size == b.size; }

/* The file's identity once it differs from `old` (the store writes it on a thread of its
 * own while the connection stays open). The 120 s limit only fails a hung test: a busy
 * machine may take long to schedule the writer. */
static fid changed_from(fid old)
{
    fid now = file_id();
    for (int i = 0; i < 12000 && (same(now, old) || now.size < 0); i++) {
        usleep(10000);
        now = file_id();
    }
    return now;
}

/* Reference cosine distance in double. */
static double ref_dist(const float *a, const float *b)
{
    double d = 0, na = 0, nb = 0;
    for (int i = 0; i < DIM; i++) {
        d += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return 1 - d / sqrt(na * nb);
}

/* Query with q (optionally only even records via the filter) through a fresh handle on
 * coll `name` and compare with the brute force over the current contents; `row0` is the
 * vector record 0 currently holds. Returns the top hit's id number or -1. */
static int check_query(cs_collection *c, const float *q, bool even_only, const float *row0)
{
    cs_query qq;
    cs_query_init(&qq);
    qq.vector = q;
    qq.vector_dim = DIM;
    qq.limit = K;
    qq.include_value = true;
    qq.filter_json = even_only ? "{\"even\": {\"$eq\": true}}" : NULL;
    cs_records r = {0};
    CHECK_OK(cs_collection_query(c, &qq, &r, &E), &E);
    /* brute force: indices sorted by distance */
    int idx[N];
    double dist[N];
    int m = 0;
    for (int i = 0; i < N; i++) {
        if (even_only && i % 2) continue;
        dist[i] = ref_dist(q, i == 0 ? row0 : VEC[i]);
        idx[m++] = i;
    }
    for (int i = 1; i < m; i++)   /* insertion sort: small N */
        for (int j = i; j > 0 && dist[idx[j]] < dist[idx[j - 1]]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    CHECK_MSG(r.n == K, "got %zu hits", r.n);
    for (size_t j = 0; j < r.n && j < K; j++) {
        char want[32];
        snprintf(want, sizeof want, "r%d", idx[j]);
        double d = dist[idx[j]];
        bool tie = (j > 0 && fabs(dist[idx[j - 1]] - d) < 1e-5) ||
                   (j + 1 < (size_t)m && fabs(dist[idx[j + 1]] - d) < 1e-5);
        CHECK_MSG(tie || !strcmp(r.items[j].id, want), "rank %zu: %s, want %s", j, r.items[j].id,
                  want);
        CHECK_MSG(fabs(r.items[j].value - d) <= 1e-6 + 1e-5 * fabs(d), "rank %zu: %.9f vs %.9f",
                  j, r.items[j].value, d);
    }
    int top = r.n ? atoi(r.items[0].id + 1) : -1;
    cs_records_free(&r);
    return top;
}

static cs_collection *open_coll(cs_store **s)
{
    cs_collection *c = NULL;
    CHECK_OK(cs_store_open(DB, s, &E), &E);
    if (*s) CHECK_OK(cs_store_get(*s, "photos", &c, &E), &E);
    return c;
}

/* Damages the cache file with fn, then a new handle must still answer exactly and
 * replace the file. */
static void check_rebuilt_after(const char *what, void (*fn)(const char *), const float *q,
                                const float *row0)
{
    char f[600];
    cache_file(f, sizeof f);
    fn(f);
    fid before = file_id();
    cs_store *s;
    cs_collection *c = open_coll(&s);
    check_query(c, q, false, row0);
    check_query(c, q, true, row0);
    cs_collection_free(c);
    cs_store_close(s);   /* waits for the cache writer */
    fid after = file_id();
    CHECK_MSG(!same(before, after) && after.size > 0, "%s: cache file not rebuilt", what);
}

static void flip_header(const char *f)
{
    FILE *fp = fopen(f, "r+b");
    if (!fp) return;
    fseek(fp, 20, SEEK_SET);   /* inside the header (dimension) */
    fputc(0x7f, fp);
    fclose(fp);
}

static void truncate_tail(const char *f)
{
    struct stat sb;
    if (!stat(f, &sb)) CHECK(truncate(f, sb.st_size - 100) == 0);
}

static unsigned char *OLD;
static size_t OLD_N;
static void restore_old(const char *f)
{
    FILE *fp = fopen(f, "wb");
    if (!fp) return;
    fwrite(OLD, 1, OLD_N, fp);
    fclose(fp);
}

/* cs__vcache_save_runs: runs of two caches saved as one file map back as their
 * concatenation; a save told to stop leaves no file and no temporary one. */
static void test_save_runs(void)
{
    char dir[300], file[400];
    snprintf(dir, sizeof dir, "/tmp/cs_vcache_runs_%d", (int)getpid());
    snprintf(file, sizeof file, "%s/t.bin", dir);
    cs__vcache a, b;
    CHECK(cs__vcache_init(&a, DIM, 4, 7) == 0 && cs__vcache_init(&b, DIM, 4, 7) == 0);
    for (int i = 0; i < 4; i++) {
        CHECK(cs__vcache_append(&a, 10 * i, VEC[i], 1.0f, "ab", 2) == 0);
        CHECK(cs__vcache_append(&b, 10 * i + 5, VEC[4 + i], 2.0f, "xyz", 3) == 0);
    }
    /* a holds rowids 0, 10, 20, 30 and b 5, 15, 25, 35: a[1..3) b[2..3) a[3..4) */
    cs__vcache_run runs[3] = {{&a, 1, 3}, {&b, 2, 3}, {&a, 3, 4}};
    atomic_bool stop = true;
    CHECK(cs__vcache_save_runs(runs, 3, DIM, 9, "t", file, &stop) == -1);
    CHECK_MSG(access(file, F_OK) != 0, "a stopped save left its file");
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls '%s' 2>/dev/null | grep -q tmp", dir);
    CHECK_MSG(system(cmd) != 0, "a stopped save left a temporary file");
    atomic_store(&stop, false);
    CHECK(cs__vcache_save_runs(runs, 3, DIM, 9, "t", file, &stop) == 0);
    cs__vcache m;
    CHECK(cs__vcache_open(file, "t", DIM, 9, &m) == 0);
    const int64_t want[4] = {10, 20, 25, 30};
    const float *wv[4] = {VEC[1], VEC[2], VEC[6], VEC[3]};
    CHECK(m.n == 4);
    for (size_t i = 0; i < 4 && m.n == 4; i++) {
        CHECK(m.rowids[i] == want[i]);
        CHECK(!memcmp(m.vecs + i * DIM, wv[i], sizeof(float) * DIM));
        size_t len = (size_t)(m.meta_off[i + 1] - m.meta_off[i]);
        CHECK(len == (i == 2 ? 3u : 2u));
    }
    cs__vcache_free(&m);
    cs__vcache_free(&a);
    cs__vcache_free(&b);
    cs__vcache_remove(file);
    rmdir(dir);
}

int main(void)
{
    snprintf(DB, sizeof DB, "/tmp/cs_vcache_%d.db", (int)getpid());
    snprintf(DIR_, sizeof DIR_, "%s.vcache", DB);
    unlink(DB);
    for (int i = 0; i <= N; i++)
        for (int j = 0; j < DIM; j++) VEC[i][j] = (float)(urand() * 2 - 1);
    float q[DIM];
    for (int j = 0; j < DIM; j++) q[j] = VEC[N][j] + (float)(urand() * 0.01);
    test_save_runs();

    /* Writer: N records, metadata even: true/false. */
    cs_store *s1;
    cs_collection *c1 = NULL;
    CHECK_OK(cs_store_open(DB, &s1, &E), &E);
    CHECK_OK(cs_store_get_or_create(s1, "photos", DIM, &c1, &E), &E);
    if (!c1) return TEST_RESULT();
    static char ids[N][16], meta[N][32];
    cs_record_in recs[N];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "r%d", i);
        snprintf(meta[i], sizeof meta[i], "{\"even\": %s}", i % 2 ? "false" : "true");
        recs[i] = (cs_record_in){ids[i], VEC[i], meta[i]};
    }
    CHECK_OK(cs_collection_upsert(c1, recs, N, &E), &E);
    CHECK(file_id().size < 0);   /* writes never build the cache */

    /* 1. The first query builds and saves it; a second connection maps it unchanged. */
    check_query(c1, q, false, VEC[0]);
    fid built = changed_from((fid){0, 0, -1});
    CHECK_MSG(built.size > (long long)(N * DIM * 4), "cache file missing or small: %lld",
              built.size);
    cs_store *s2;
    cs_collection *c2 = open_coll(&s2);
    check_query(c2, q, false, VEC[0]);
    check_query(c2, q, true, VEC[0]);   /* filter over the mapped metadata */
    CHECK_MSG(same(built, file_id()), "second connection rewrote the cache");

    /* Keep the current bytes to restore them once they are stale. */
    char f[600];
    cache_file(f, sizeof f);
    FILE *fp = fopen(f, "rb");
    if (fp) {
        OLD = malloc((size_t)built.size);
        OLD_N = OLD ? fread(OLD, 1, (size_t)built.size, fp) : 0;
        fclose(fp);
    }

    /* 2. A write through connection 2 makes record 0 the nearest; connection 1 (with an
     * in-memory copy and the file of the old version) must see it and rebuild the file. */
    cs_record_in up = {"r0", VEC[N], "{\"even\": true}"};
    CHECK_OK(cs_collection_upsert(c2, &up, 1, &E), &E);
    CHECK(same(built, file_id()));
    CHECK(check_query(c1, q, false, VEC[N]) == 0);
    fid rebuilt = changed_from(built);
    CHECK_MSG(!same(built, rebuilt) && rebuilt.size > 0, "stale cache file not rebuilt");
    CHECK(check_query(c2, q, true, VEC[N]) == 0);
    CHECK(same(rebuilt, file_id()));
    cs_collection_free(c2);
    cs_store_close(s2);

    /* 3. Damaged or outdated files are ignored; the answers stay exact. */
    check_rebuilt_after("header byte", flip_header, q, VEC[N]);
    check_rebuilt_after("truncated", truncate_tail, q, VEC[N]);
    if (OLD_N == (size_t)built.size) check_rebuilt_after("old generation", restore_old, q, VEC[N]);
    free(OLD);

    /* 4. Where the cache cannot be written (its directory name taken by a plain file,
     * which holds even for root, unlike a read-only mode) queries still work. */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && touch '%s'", DIR_, DIR_);
    CHECK(system(cmd) == 0);
    cs_store *s3;
    cs_collection *c3 = open_coll(&s3);
    CHECK(check_query(c3, q, false, VEC[N]) == 0);
    check_query(c3, q, true, VEC[N]);
    cs_collection_free(c3);
    cs_store_close(s3);
    if (geteuid() != 0) {   /* a real read-only directory, when permissions apply */
        snprintf(cmd, sizeof cmd, "rm -f '%s' && mkdir '%s' && chmod 555 '%s'", DIR_, DIR_, DIR_);
        CHECK(system(cmd) == 0);
        c3 = open_coll(&s3);
        CHECK(check_query(c3, q, false, VEC[N]) == 0);
        CHECK(file_id().size < 0);
        cs_collection_free(c3);
        cs_store_close(s3);
        chmod(DIR_, 0755);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", DIR_);
    CHECK(system(cmd) == 0);

    /* 5. Dropping the collection removes its cache file (and the emptied directory). */
    check_query(c1, q, false, VEC[N]);   /* in-memory copy current: no file written */
    c3 = open_coll(&s3);
    check_query(c3, q, false, VEC[N]);
    cs_collection_free(c3);
    cs_store_close(s3);
    CHECK(file_id().size > 0);
    cs_collection_free(c1);
    CHECK_OK(cs_store_drop(s1, "photos", &E), &E);
    struct stat sb;
    CHECK_MSG(stat(DIR_, &sb) != 0, "cache directory left after drop");
    cs_store_close(s1);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'-wal '%s'-shm '%s'", DIR_, DB, DB, DB);
    CHECK(system(cmd) == 0);
    return TEST_RESULT();
}
