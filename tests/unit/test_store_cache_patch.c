/* The SQLite store's vector cache catches up with a write by patching (sqlite_changelog.c,
 * sqlite_read.c): a connection whose cache (in memory, or mapped from the file an earlier
 * query wrote) is older than the collection reads only the rows the change log names.
 * Checked here: after updates, inserts, deletes by id and by filter, and a reused rowid,
 * the patched cache answers exactly as one built from SQLite (every record ranked, same
 * ids, distances bit for bit, metadata), in the writing connection and in another one;
 * the counters prove the patch path ran. A database restored from a backup and written
 * again (another history) and too many changes rebuild instead; a collection written
 * before the log existed (no log table) gets one at its next write. Separate store
 * handles stand in for separate processes. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clipsearch/store.h"
#include "store/sqlite_internal.h"
#include "test.h"

#define N 800
#define DIM 16

static cs_error E;
static char DB[256], VCDIR[300];
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2 - 1);
}

/* Upserts records id_from..id_to-1 with fresh random vectors and metadata tagged `tag`. */
static void upsert_range(cs_collection *c, int id_from, int id_to, const char *tag)
{
    int n = id_to - id_from;
    float *v = malloc(sizeof(float) * DIM * (size_t)n);
    char (*ids)[24] = malloc(sizeof *ids * (size_t)n);
    char (*meta)[96] = malloc(sizeof *meta * (size_t)n);
    cs_record_in *r = malloc(sizeof *r * (size_t)n);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < DIM; j++) v[i * DIM + j] = frand();
        snprintf(ids[i], sizeof ids[i], "r%d", id_from + i);
        snprintf(meta[i], sizeof meta[i], "{\"g\":%d,\"tag\":\"%s\",\"pad\":\"%.*s\"}",
                 (id_from + i) % 5, tag, (id_from + i) % 40, "........................................");
        r[i] = (cs_record_in){ids[i], v + i * DIM, meta[i]};
    }
    for (int at = 0; at < n; at += 500)
        CHECK_OK(cs_collection_upsert(c, r + at, (size_t)(n - at < 500 ? n - at : 500), &E), &E);
    free(v);
    free(ids);
    free(meta);
    free(r);
}

static void counts(cs_store *s, unsigned long *built, unsigned long *patched)
{
    CHECK(cs__sqlite_cache_counts(s, built, patched) == 0);
}

/* Every record ranked for query q (optionally filtered), as one string. */
static char *answer(cs_collection *c, const float *q, const char *filter)
{
    cs_query qq;
    cs_query_init(&qq);
    qq.vector = q;
    qq.vector_dim = DIM;
    qq.limit = 1000;   /* the most a query returns: more than the records */
    qq.include_value = qq.include_metadata = true;
    qq.filter_json = filter;
    cs_records r = {0};
    CHECK_OK(cs_collection_query(c, &qq, &r, &E), &E);
    size_t cap = 64 + r.n * 200, len = 0;
    char *out = malloc(cap);
    len += (size_t)snprintf(out, cap, "%zu:", r.n);
    for (size_t i = 0; i < r.n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s %a %s;", r.items[i].id, r.items[i].value,
                                r.items[i].metadata_json ? r.items[i].metadata_json : "");
    cs_records_free(&r);
    return out;
}

static void remove_cache_dir(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", VCDIR);
    CHECK(system(cmd) == 0);
}

static bool cache_file_exists(void)
{
    DIR *d = opendir(VCDIR);
    bool found = false;
    if (!d) return false;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".bin") && !strstr(e->d_name, ".tmp.")) found = true;
    closedir(d);
    return found;
}

static void sql(const char *stmt)
{
    sqlite3 *db;
    CHECK(sqlite3_open(DB, &db) == SQLITE_OK);
    char *msg = NULL;
    CHECK_MSG(sqlite3_exec(db, stmt, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", stmt, msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(db);
}

/* Runs SQL naming the collection's table (every %1$s in fmt). */
static void sql_tbl(const char *fmt, const char *tbl)
{
    char stmt[600];
    snprintf(stmt, sizeof stmt, fmt, tbl);
    sql(stmt);
}

/* The answer of a copy of the database (VACUUM INTO: a path with no cache file), whose
 * cache is built from SQLite; the database under test and its cache files are left alone. */
static char *reference(const float *q, const char *filter)
{
    char ref[300], stmt[400], cmd[700];
    snprintf(ref, sizeof ref, "%s.ref", DB);
    unlink(ref);
    snprintf(stmt, sizeof stmt, "VACUUM INTO '%s'", ref);
    sql(stmt);
    cs_store *s = NULL;
    cs_collection *c = NULL;
    CHECK_OK(cs_store_open(ref, &s, &E), &E);
    CHECK_OK(cs_store_get(s, "c", &c, &E), &E);
    char *a = answer(c, q, filter);
    unsigned long built = 0, patched = 0;
    counts(s, &built, &patched);
    CHECK_MSG(built == 1 && patched == 0, "reference: built %lu, patched %lu", built, patched);
    cs_collection_free(c);
    cs_store_close(s);   /* joins its cache writer */
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s.vcache'", ref, ref);
    CHECK(system(cmd) == 0);
    return a;
}

/* Entries of the database's schema matching `where`. */
static int schema_count(const char *where)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    char q[200];
    snprintf(q, sizeof q, "SELECT count(*) FROM sqlite_master WHERE %s", where);
    int n = -1;
    CHECK(sqlite3_open(DB, &db) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void same_answers(cs_collection *c, const char *label)
{
    static const char *const filters[] = {NULL, "{\"g\":{\"$eq\":2}}", "{\"tag\":{\"$eq\":\"b\"}}"};
    float q[DIM];
    for (int t = 0; t < 3; t++) {
        for (int j = 0; j < DIM; j++) q[j] = frand();
        char *got = answer(c, q, filters[t]);
        char *want = reference(q, filters[t]);
        CHECK_MSG(!strcmp(got, want), "%s, query %d: patched cache answers differently (%.80s... vs %.80s...)",
                  label, t, got, want);
        free(got);
        free(want);
    }
}

int main(void)
{
    snprintf(DB, sizeof DB, "/tmp/cs_cache_patch_%d.db", (int)getpid());
    snprintf(VCDIR, sizeof VCDIR, "%s.vcache", DB);
    unlink(DB);
    remove_cache_dir();
    cs_store *sa = NULL, *sb = NULL;
    cs_collection *ca = NULL, *cb = NULL;
    CHECK_OK(cs_store_open(DB, &sa, &E), &E);
    CHECK_OK(cs_store_get_or_create(sa, "c", DIM, &ca, &E), &E);
    if (!ca) return TEST_RESULT();
    upsert_range(ca, 0, N, "a");

    /* A builds and writes the file; B maps it. */
    float q[DIM];
    for (int j = 0; j < DIM; j++) q[j] = frand();
    free(answer(ca, q, NULL));
    cs_collection_free(ca);
    cs_store_close(sa);   /* joins the writer: the file is there */
    CHECK_MSG(cache_file_exists(), "no cache file after the first query");
    CHECK_OK(cs_store_open(DB, &sa, &E), &E);
    CHECK_OK(cs_store_get(sa, "c", &ca, &E), &E);
    CHECK_OK(cs_store_open(DB, &sb, &E), &E);
    CHECK_OK(cs_store_get(sb, "c", &cb, &E), &E);
    free(answer(ca, q, NULL));
    free(answer(cb, q, NULL));
    unsigned long built, patched;
    counts(sb, &built, &patched);
    CHECK_MSG(built == 0 && patched == 0, "B should map the file: built %lu, patched %lu", built,
              patched);

    /* A writes: updates, inserts, deletes by id and by filter. */
    upsert_range(ca, 100, 160, "b");
    upsert_range(ca, N, N + 40, "b");
    const char *gone[3] = {"r5", "r700", "r799"};
    cs_records del = {0};
    CHECK_OK(cs_collection_delete_ids(ca, gone, 3, &del, &E), &E);
    cs_records_free(&del);
    CHECK_OK(cs_collection_delete_filter(ca, "{\"$and\":[{\"g\":{\"$eq\":4}},{\"tag\":{\"$eq\":\"b\"}}]}",
                                        &del, &E), &E);
    CHECK_MSG(del.n > 0, "the filtered delete removed nothing");
    cs_records_free(&del);

    same_answers(ca, "writing connection");   /* A: from its own in-memory copy */
    counts(sa, &built, &patched);
    CHECK_MSG(built == 0 && patched == 1, "A after the write: built %lu, patched %lu", built, patched);
    /* A second write: the file A saved is stale again, B still holds its mapping of the
     * first one, two writes behind. */
    upsert_range(ca, 600, 620, "b");
    same_answers(cb, "other connection");
    counts(sb, &built, &patched);
    CHECK_MSG(built == 0 && patched == 1, "B after the writes: built %lu, patched %lu", built, patched);

    /* The highest rowid deleted, then a new record: SQLite hands out that rowid again. */
    const char *last[1] = {"r838"};   /* r839 went with the filtered delete */
    CHECK_OK(cs_collection_delete_ids(ca, last, 1, &del, &E), &E);
    CHECK(del.n == 1);
    cs_records_free(&del);
    free(answer(cb, q, NULL));
    upsert_range(ca, 5000, 5001, "c");
    same_answers(cb, "reused rowid");
    counts(sb, &built, &patched);
    CHECK_MSG(built == 0 && patched == 3, "B after rowid reuse: built %lu, patched %lu", built, patched);

    /* A chain of small writes in one connection: each query keeps the base and patches
     * the dead list and delta of the previous view (rows changed again, a delta row
     * deleted, vectors equal to a base row's on both sides of it in rowid order). */
    upsert_range(ca, 200, 210, "e");
    same_answers(ca, "chain 1");
    upsert_range(ca, 205, 215, "e");
    const char *again[1] = {"r206"};
    CHECK_OK(cs_collection_delete_ids(ca, again, 1, &del, &E), &E);
    CHECK(del.n == 1);
    cs_records_free(&del);
    const char *src[1] = {"r300"};
    cs_records got = {0};
    CHECK_OK(cs_collection_fetch(ca, src, 1, &got, &E), &E);
    CHECK(got.n == 1 && got.items[0].vector);
    if (got.n == 1 && got.items[0].vector) {
        cs_record_in twins[2] = {{"r2", got.items[0].vector, "{\"g\":0,\"tag\":\"e\"}"},
                                 {"dup300", got.items[0].vector, "{\"g\":0,\"tag\":\"e\"}"}};
        CHECK_OK(cs_collection_upsert(ca, twins, 2, &E), &E);
    }
    cs_records_free(&got);
    same_answers(ca, "chain 2");
    CHECK_OK(cs_collection_delete_filter(ca, "{\"tag\":{\"$eq\":\"e\"}}", &del, &E), &E);
    CHECK_MSG(del.n == 16, "the chain's filtered delete removed %zu, not 16", del.n);
    cs_records_free(&del);
    upsert_range(ca, 230, 232, "e");
    same_answers(ca, "chain 3");
    counts(sa, &built, &patched);
    CHECK_MSG(built == 0 && patched == 4, "A after the chain: built %lu, patched %lu", built, patched);
    /* The file A saved from its last view (base, dead rows and delta written as one) is
     * current for the next process. */
    cs_collection_free(ca);
    cs_store_close(sa);   /* joins the writer */
    CHECK_OK(cs_store_open(DB, &sa, &E), &E);
    CHECK_OK(cs_store_get(sa, "c", &ca, &E), &E);
    same_answers(ca, "file saved from a patched view");
    counts(sa, &built, &patched);
    CHECK_MSG(built == 0 && patched == 0, "after reopening: built %lu, patched %lu", built, patched);
    upsert_range(ca, 240, 245, "f");   /* patched over the mapped file as the base */
    same_answers(ca, "mapped base");
    counts(sa, &built, &patched);
    CHECK_MSG(built == 0 && patched == 1, "mapped base: built %lu, patched %lu", built, patched);

    /* More changes than half the collection: rebuilt, not patched. */
    upsert_range(ca, 0, N, "d");
    free(answer(cb, q, NULL));
    counts(sb, &built, &patched);
    CHECK_MSG(built == 1 && patched == 3, "B after rewriting everything: built %lu, patched %lu",
              built, patched);
    cs_collection_free(cb);
    cs_store_close(sb);

    /* Another history: back up the database, write and query (B's cache file follows),
     * restore the backup and write something else. The file holds rows the restored
     * database never had, and the log has no marker of its version: rebuild. */
    free(answer(ca, q, NULL));
    cs_collection_free(ca);
    cs_store_close(sa);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s.bak'", DB, DB);
    CHECK(system(cmd) == 0);
    CHECK_OK(cs_store_open(DB, &sb, &E), &E);
    CHECK_OK(cs_store_get(sb, "c", &cb, &E), &E);
    upsert_range(cb, 200, 210, "e");
    free(answer(cb, q, NULL));
    cs_collection_free(cb);
    cs_store_close(sb);   /* joins its writer: the file is at the discarded version */
    snprintf(cmd, sizeof cmd, "cp '%s.bak' '%s' && rm -f '%s.bak' '%s-wal' '%s-shm'", DB, DB, DB, DB, DB);
    CHECK(system(cmd) == 0);
    CHECK_OK(cs_store_open(DB, &sa, &E), &E);
    CHECK_OK(cs_store_get(sa, "c", &ca, &E), &E);
    upsert_range(ca, 300, 310, "f");
    cs_collection_free(ca);
    cs_store_close(sa);
    CHECK_OK(cs_store_open(DB, &sb, &E), &E);
    CHECK_OK(cs_store_get(sb, "c", &cb, &E), &E);
    same_answers(cb, "restored backup");
    counts(sb, &built, &patched);
    CHECK_MSG(built == 1 && patched == 0, "after a restore: built %lu, patched %lu", built, patched);
    cs_collection_free(cb);
    cs_store_close(sb);

    /* A collection from before the change log: its next write creates the log, and a cache
     * of the version before that write patches. */
    remove_cache_dir();
    CHECK_OK(cs_store_open(DB, &sa, &E), &E);
    CHECK_OK(cs_store_get(sa, "c", &ca, &E), &E);
    char *tbl = NULL;
    {
        sqlite3 *db;
        sqlite3_stmt *st;
        CHECK(sqlite3_open(DB, &db) == SQLITE_OK);
        CHECK(sqlite3_prepare_v2(db, "SELECT tbl FROM cs_collections WHERE name = 'c'", -1, &st,
                                 NULL) == SQLITE_OK);
        if (sqlite3_step(st) == SQLITE_ROW) tbl = strdup((const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    CHECK(tbl != NULL);
    if (tbl) sql_tbl("DROP TABLE \"%1$s_changes\";", tbl);
    free(answer(ca, q, NULL));   /* built at the current version */
    upsert_range(ca, 400, 420, "g");
    same_answers(ca, "collection without a log");
    counts(sa, &built, &patched);
    CHECK_MSG(built == 1 && patched == 1, "legacy collection: built %lu, patched %lu", built, patched);

    /* A collection from the version whose triggers filled the log (they made SQLite keep a
     * statement journal per upsert): the next write drops them and logs as usual. */
    if (tbl)
        sql_tbl("CREATE TABLE \"%1$s_log\" (seq INTEGER PRIMARY KEY, row INTEGER, version INTEGER); "
                "CREATE TRIGGER \"%1$s_ins\" AFTER INSERT ON \"%1$s\" BEGIN "
                "INSERT INTO \"%1$s_log\"(row) VALUES (NEW.rowid); END; "
                "CREATE TRIGGER \"%1$s_del\" AFTER DELETE ON \"%1$s\" BEGIN "
                "INSERT INTO \"%1$s_log\"(row) VALUES (OLD.rowid); END;", tbl);
    upsert_range(ca, 420, 430, "h");
    same_answers(ca, "collection with the old triggers");
    int left = schema_count("type = 'trigger' OR name GLOB '*_log'");
    CHECK_MSG(left == 0, "%d old triggers or logs left after a write", left);
    counts(sa, &built, &patched);
    CHECK_MSG(built == 1 && patched == 2, "old triggers: built %lu, patched %lu", built, patched);

    /* A write that does not log (an older clipsearch, or plain SQL) moves the version
     * without a marker: the next query rebuilds rather than miss the change. */
    if (tbl)
        sql_tbl("UPDATE \"%1$s\" SET metadata = '{\"g\":2,\"tag\":\"b\"}', "
                "vec = (SELECT vec FROM \"%1$s\" WHERE id = 'r302') WHERE id = 'r301'; "
                "UPDATE cs_collections SET version = version + 7 WHERE name = 'c';", tbl);
    same_answers(ca, "unlogged write");
    counts(sa, &built, &patched);
    CHECK_MSG(built == 2 && patched == 2, "unlogged write: built %lu, patched %lu", built, patched);
    free(tbl);

    CHECK_OK(cs_store_drop(sa, "c", &E), &E);
    cs_collection_free(ca);
    cs_store_close(sa);
    left = schema_count("name GLOB 'cs_coll_*'");
    CHECK_MSG(left == 0, "drop left %d tables, indexes or triggers", left);
    remove_cache_dir();
    unlink(DB);
    return TEST_RESULT();
}
