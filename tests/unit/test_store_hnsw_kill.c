/* kill -9 at the HNSW index's every step (store/sqlite_hnsw.c, hnsw_file.c): a child
 * process runs one step with CS_TEST_STOP_AT set (base/test_point.h), stops itself at the
 * named point, and is killed there by the parent; a new connection must then answer
 * exactly what an unindexed copy of the same records answers, and use, patch or rebuild
 * the index as the state left calls for:
 *   - create_index killed after building in memory, half-way through writing the file,
 *     and after writing it but before committing its description: the collection keeps
 *     its old index state (none, or the old parameters), a half-written file is never
 *     read, a file of the new parameters without its description is rebuilt;
 *   - the background save after a query that patched the index with other processes'
 *     upserts and deletes, killed half-way: the old file is patched again.
 * With ef_search above the number of nodes a search visits the whole graph, so the
 * indexed answer must equal the exact one: ids, order and distances bit for bit. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clipsearch/store.h"
#include "store/sqlite_internal.h"
#include "test.h"

#define N 600
#define DIM 24

static cs_error E;
static char DB[256], VCDIR[300];

/* Record id's vector: 6 groups of directions, a deterministic hash spread. */
static void vec_of(int id, int version, float *v)
{
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ull + (uint64_t)version * 0xBF58476D1CE4E5B9ull;
    for (int j = 0; j < DIM; j++) {
        x ^= x >> 31;
        x *= 0x94D049BB133111EBull;
        x ^= x >> 29;
        v[j] = (j % 6 == id % 6 ? 1.0f : 0.0f) + (float)((double)(x >> 11) / 9007199254740992.0) - 0.5f;
    }
}

/* Upserts ids [from, to) at `version` into the collections named ix and plain. */
static void upsert(cs_store *s, int from, int to, int version)
{
    const char *names[2] = {"ix", "plain"};
    for (int c = 0; c < 2; c++) {
        cs_collection *coll;
        CHECK_OK(cs_store_get(s, names[c], &coll, &E), &E);
        for (int id = from; id < to; id++) {
            float v[DIM];
            char rid[16];
            vec_of(id, version, v);
            snprintf(rid, sizeof rid, "r%d", id);
            cs_record_in r = {rid, v, "{}"};
            CHECK_OK(cs_collection_upsert(coll, &r, 1, &E), &E);
        }
        cs_collection_free(coll);
    }
}

static void delete_ids(cs_store *s, int from, int to)
{
    const char *names[2] = {"ix", "plain"};
    char ids[64][16];
    const char *p[64];
    int n = 0;
    for (int id = from; id < to && n < 64; id++, n++) {
        snprintf(ids[n], sizeof ids[n], "r%d", id);
        p[n] = ids[n];
    }
    for (int c = 0; c < 2; c++) {
        cs_collection *coll;
        CHECK_OK(cs_store_get(s, names[c], &coll, &E), &E);
        cs_records gone;
        memset(&gone, 0, sizeof gone);
        CHECK_OK(cs_collection_delete_ids(coll, p, (size_t)n, &gone, &E), &E);
        CHECK(gone.n == (size_t)n);
        cs_records_free(&gone);
        cs_collection_free(coll);
    }
}

/* One query's answer as text: ids and exact distances in order. */
static char *answer(cs_collection *c, const float *v)
{
    cs_query q;
    cs_query_init(&q);
    q.vector = v;
    q.vector_dim = DIM;
    q.limit = 10;
    q.include_value = true;
    q.ef_search = 1000;   /* > nodes: the search visits the whole graph */
    cs_records r;
    memset(&r, 0, sizeof r);
    CHECK_OK(cs_collection_query(c, &q, &r, &E), &E);
    size_t cap = 64 + r.n * 64, len = 0;
    char *out = malloc(cap);
    len += (size_t)snprintf(out, cap, "%zu:", r.n);
    for (size_t i = 0; i < r.n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s %a;", r.items[i].id, r.items[i].value);
    cs_records_free(&r);
    return out;
}

/* A new connection answers 30 queries with the index exactly as without it; returns the
 * index's counters (built, patched, loaded) and its description. */
static void verify(const char *when, unsigned long *built, unsigned long *patched,
                   unsigned long *loaded, char **index_name)
{
    cs_store *s;
    cs_collection *ix, *plain;
    CHECK_OK(cs_store_open(DB, &s, &E), &E);
    CHECK_OK(cs_store_get(s, "ix", &ix, &E), &E);
    CHECK_OK(cs_store_get(s, "plain", &plain, &E), &E);
    for (int qi = 0; qi < 30; qi++) {
        float v[DIM];
        vec_of(5000 + qi, 0, v);
        char *a = answer(ix, v), *e = answer(plain, v);
        CHECK_MSG(!strcmp(a, e), "%s: query %d: indexed %.120s, exact %.120s", when, qi, a, e);
        free(a);
        free(e);
    }
    CHECK(cs__sqlite_ann_counts(s, built, patched, loaded) == 0);
    CHECK_OK(cs_collection_index(ix, index_name, &E), &E);
    cs_collection_free(ix);
    cs_collection_free(plain);
    cs_store_close(s);
}

/* The index's files in the cache folder whose name contains `part` ("" for all of them). */
static int files_with(const char *part)
{
    DIR *d = opendir(VCDIR);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strstr(e->d_name, ".hnsw") && strstr(e->d_name, part)) n++;
    if (d) closedir(d);
    return n;
}

enum step { CREATE_M16, CREATE_M8_REPLACE, QUERY };

/* Runs `step` in a child that stops at `point`; kills it there. Returns false (and
 * fails the test) when the child never reached the point. */
static bool kill_at(enum step step, const char *point)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("CS_TEST_STOP_AT", point, 1);   /* before any thread of the store starts */
        cs_store *s;
        cs_collection *ix;
        if (cs_store_open(DB, &s, &E) || cs_store_get(s, "ix", &ix, &E)) _exit(3);
        cs_index_spec spec;
        cs_index_spec_init(&spec);
        spec.method = CS_INDEX_HNSW;
        spec.replace = true;
        if (step == CREATE_M8_REPLACE) spec.m = 8;
        if (step != QUERY && cs_collection_create_index(ix, &spec, &E)) _exit(4);
        if (step == QUERY) {
            float v[DIM];
            vec_of(7, 0, v);
            free(answer(ix, v));
        }
        cs_collection_free(ix);
        cs_store_close(s);   /* joins the background save */
        _exit(0);            /* the point was never reached */
    }
    if (pid < 0) {
        CHECK_MSG(0, "fork failed");
        return false;
    }
    int st = 0;
    bool stopped = waitpid(pid, &st, WUNTRACED) == pid && WIFSTOPPED(st);
    CHECK_MSG(stopped, "%s: the child did not stop there (status %d)", point, st);
    if (!stopped) return false;   /* exited: reaped already, its pid may be reused */
    kill(pid, SIGKILL);
    CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    return true;
}

int main(void)
{
    snprintf(DB, sizeof DB, "/tmp/cs_hnsw_kill_%d.db", (int)getpid());
    snprintf(VCDIR, sizeof VCDIR, "%s.vcache", DB);
    unsigned long built, patched, loaded;
    char *ixname = NULL;
    cs_store *s;
    CHECK_OK(cs_store_open(DB, &s, &E), &E);
    cs_collection *c;
    CHECK_OK(cs_store_get_or_create(s, "ix", DIM, &c, &E), &E);
    cs_collection_free(c);
    CHECK_OK(cs_store_get_or_create(s, "plain", DIM, &c, &E), &E);
    cs_collection_free(c);
    upsert(s, 0, N, 0);
    cs_store_close(s);

    /* 1. The first create_index, killed with the index built in memory only. */
    kill_at(CREATE_M16, "hnsw-built");
    verify("killed after the build", &built, &patched, &loaded, &ixname);
    CHECK_MSG(ixname == NULL, "an index is described: %s", ixname);
    CHECK(built == 0 && loaded == 0 && files_with("") == 0);
    free(ixname);

    /* 2. Killed half-way through writing the file: a temporary file stays (a younger
     * one may be another process's save), no index file, no description. */
    kill_at(CREATE_M16, "hnsw-save");
    verify("killed while saving", &built, &patched, &loaded, &ixname);
    CHECK_MSG(ixname == NULL, "an index is described: %s", ixname);
    CHECK(files_with(".tmp.") == 1 && files_with("") == 1);
    free(ixname);

    /* The create_index that succeeds: the next connection loads what it saved. */
    CHECK_OK(cs_store_open(DB, &s, &E), &E);
    CHECK_OK(cs_store_get(s, "ix", &c, &E), &E);
    cs_index_spec spec;
    cs_index_spec_init(&spec);
    spec.method = CS_INDEX_HNSW;
    CHECK_OK(cs_collection_create_index(c, &spec, &E), &E);
    cs_collection_free(c);
    cs_store_close(s);
    verify("after create_index", &built, &patched, &loaded, &ixname);
    CHECK_MSG(ixname != NULL && built == 0 && loaded == 1,
              "built %lu loaded %lu", built, loaded);
    free(ixname);

    /* 3. A replacing create_index (m 8) killed after saving its file, before committing
     * its description: the collection keeps m 16, and the m 8 file is rebuilt, never
     * used for it. */
    kill_at(CREATE_M8_REPLACE, "hnsw-saved");
    verify("killed before the commit", &built, &patched, &loaded, &ixname);
    CHECK_MSG(ixname && strstr(ixname, "_hnsw_m16_"), "index %s", ixname ? ixname : "(none)");
    CHECK_MSG(built == 1 && loaded == 0, "built %lu loaded %lu", built, loaded);
    free(ixname);
    verify("the rebuilt file", &built, &patched, &loaded, &ixname);
    CHECK_MSG(built == 0 && loaded == 1, "built %lu loaded %lu", built, loaded);
    free(ixname);

    /* 4. Other processes write (updates, inserts, deletes); a query patches the index,
     * and its background save is killed half-way: the next connection patches the old
     * file again, and deleted records never come back. */
    CHECK_OK(cs_store_open(DB, &s, &E), &E);
    upsert(s, 100, 160, 1);       /* updates */
    upsert(s, N, N + 60, 0);      /* inserts */
    delete_ids(s, 200, 240);
    cs_store_close(s);
    kill_at(QUERY, "hnsw-save");
    verify("killed while saving the patched index", &built, &patched, &loaded, &ixname);
    CHECK_MSG(built == 0 && loaded == 1 && patched == 1, "built %lu patched %lu loaded %lu",
              built, patched, loaded);
    free(ixname);

    CHECK_OK(cs_store_open(DB, &s, &E), &E);
    CHECK_OK(cs_store_drop(s, "ix", &E), &E);
    CHECK_OK(cs_store_drop(s, "plain", &E), &E);
    cs_store_close(s);
    /* A dropped collection takes its derived files with it, temporaries included. */
    CHECK(files_with("") == 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s-wal' '%s-shm'", VCDIR, DB, DB, DB);
    CHECK(system(cmd) == 0);
    return TEST_RESULT();
}
