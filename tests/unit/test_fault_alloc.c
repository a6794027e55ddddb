/* Out-of-memory fault injection, as SQLite's test suite does it: every allocation the
 * library's own code makes is counted, and each scenario below is run again and again with
 * allocation number N failing (N = 1, 2, ... until a run makes fewer than N allocations;
 * a sample of the Ns for the long scenarios, and then every call path the sample missed).
 * Every run must end in success or in an error with a message (CS_E_NOMEM where the
 * failure is the library's own), never in a crash; the ASan build's leak check at exit
 * then proves that every failure path frees what it took; the store scenario also checks
 * that a failed write left nothing behind.
 *
 * How: this test is linked with -Wl,--wrap for malloc, calloc, realloc, strdup, strndup,
 * aligned_alloc and posix_memalign, which redirects those calls in the static clipsearch
 * libraries (and here) to the __wrap_ functions below. Allocations inside shared system
 * libraries (SQLite, jansson, libpng, oneDNN...) are not counted: their own out-of-memory
 * handling is theirs to test. */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <execinfo.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <tiffio.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clipsearch/clip.h"
#include "clipsearch/duplicates.h"
#include "clipsearch/finetune.h"
#include "clipsearch/image.h"
#include "clipsearch/gallery.h"
#include "clipsearch/indexer.h"
#include "clipsearch/labels.h"
#include "clipsearch/model_record.h"
#include "clipsearch/models.h"
#include "clipsearch/query.h"
#include "clipsearch/text_collection.h"
#include "clipsearch/search_session.h"
#include "clipsearch/store.h"
#include "clipsearch/tokenizer.h"
#include "clipsearch/web.h"
#include "store/filter.h"
#include "store/hnsw.h"
#include "test.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);

static atomic_long calls;      /* allocations counted since the scenario started */
static atomic_long fail_at;    /* the one that fails (0: none) */
static atomic_bool failed;     /* it was reached */
static atomic_bool paused;     /* the test's own bookkeeping runs: nothing counted or failed */

/* Call paths. A sampled scenario (every k-th allocation) would leave most failure paths
 * untried, so the allocations are also told apart by where they come from: a "site" is a
 * hash of the return address into the allocation's caller and the two frames above it,
 * as offsets into this executable (the same in every process, whatever ASLR does; a
 * frame in a shared library counts as one "outside" value). The counting run records
 * every site; each one the sample did not fail is then failed at its first allocation,
 * one run per site. Unlike allocation numbers, this names the same allocation whatever
 * order the scenario's threads run in. */
enum { SITE_FRAMES = 3, SITE_CAP = 1 << 15 };
enum { MODE_INDEX, MODE_RECORD, MODE_SITE };
static atomic_int mode;                 /* what should_fail does */
static atomic_ullong fail_site;         /* MODE_SITE: the site whose first allocation fails */
static atomic_ullong failed_site;       /* MODE_INDEX: the site of the allocation that failed */
static pthread_mutex_t site_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t site_set[SITE_CAP];     /* open addressing, 0: empty */
static uint64_t site_list[SITE_CAP];    /* the same keys in the order first seen */
static bool site_tried[SITE_CAP];       /* by index in site_list */
static long n_sites;
static bool sites_full;                 /* more sites than the table holds were seen */
static long site_budget = LONG_MAX;     /* call paths tried per scenario at most */
extern char __executable_start[], etext[];   /* this executable's code (GNU ld) */

static uint64_t site_mix(uint64_t h, const void *p)
{
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)__executable_start, hi = (uintptr_t)etext;
    return (h ^ (uint64_t)(a >= lo && a < hi ? a - lo + 1 : 0)) * 0x100000001b3ull;
}

/* The site of an allocation whose __wrap_ function returns to `ra`. The frames above
 * are found from `ra` in the backtrace, not by counting frames: a sanitizer's own
 * backtrace adds a frame of its own. */
__attribute__((noinline)) static uint64_t site_key(const void *ra)
{
    void *f[16];
    int n = backtrace(f, 16), i = 0;
    while (i < n && f[i] != ra) i++;
    uint64_t h = site_mix(0xcbf29ce484222325ull, ra);
    for (int k = i + 1; k < n && k < i + SITE_FRAMES; k++) h = site_mix(h, f[k]);
    return h | 1;
}

/* The slot of `key` in site_set (site_lock held). */
static long site_slot(uint64_t key)
{
    long i = (long)(key % SITE_CAP);
    while (site_set[i] && site_set[i] != key) i = (i + 1) % SITE_CAP;
    return i;
}

static void site_record(uint64_t key)
{
    pthread_mutex_lock(&site_lock);
    long i = site_slot(key);
    if (!site_set[i] && n_sites < SITE_CAP / 2) {
        site_set[i] = key;
        site_tried[n_sites] = false;
        site_list[n_sites++] = key;
    } else if (!site_set[i]) {
        sites_full = true;
    }
    pthread_mutex_unlock(&site_lock);
}

static long site_index(uint64_t key)
{
    for (long i = 0; i < n_sites; i++)
        if (site_list[i] == key) return i;
    return -1;
}

/* ra: the return address into the allocation's caller. */
static bool should_fail(const void *ra)
{
    if (atomic_load(&paused)) return false;
    int m = atomic_load(&mode);
    if (m == MODE_SITE) {   /* one failure per run: no backtrace once it happened */
        if (atomic_load(&failed) || site_key(ra) != atomic_load(&fail_site)) return false;
        return !atomic_exchange(&failed, true);
    }
    long want = atomic_load(&fail_at);
    if (!want) return false;
    if (m == MODE_RECORD) site_record(site_key(ra));
    long k = atomic_fetch_add(&calls, 1) + 1;
    if (k != want) return false;
    atomic_store(&failed_site, site_key(ra));
    atomic_store(&failed, true);
    return true;
}

#define RA __builtin_return_address(0)
void *__wrap_malloc(size_t n) { return should_fail(RA) ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return should_fail(RA) ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return should_fail(RA) ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return should_fail(RA) ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return should_fail(RA) ? NULL : __real_strndup(s, n); }
void *__wrap_aligned_alloc(size_t align, size_t n)
{
    return should_fail(RA) ? NULL : __real_aligned_alloc(align, n);
}
int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
    return should_fail(RA) ? 12 /* ENOMEM */ : __real_posix_memalign(p, align, n);
}

typedef int (*scenario_fn)(void *ctx, cs_error *err);

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* What the failing runs of one scenario ended in. */
typedef struct {
    long tried, nomem, other, ok;
} tally;

/* Counts one failing run (`what` `which`: the allocation number or the call path) and
 * checks that it ended in success or in an error with a message. */
static void count_run(tally *t, const char *name, const char *what, long which, int rc,
                      const cs_error *err)
{
    t->tried++;
    if (rc == 0) t->ok++;
    else if (rc == CS_E_NOMEM) t->nomem++;
    else if (t->other++ == 0)
        printf("  %s, %s %ld failing: error %d: %s\n", name, what, which, rc, err->msg);
    CHECK_MSG(rc == 0 || err->msg[0], "%s, %s %ld failing: error %d without a message", name,
              what, which, rc);
}

/* Runs fn with allocation N failing for every N the scenario reaches (every `stride`-th
 * one when it makes more than `budget` allocations: the indexer's runs are long). The
 * first `head` allocations are always tried one by one: they happen before any thread
 * starts, in the same order on every machine, so a sampled stride would test a different
 * subset of them wherever the total differs. Then the call paths the sample missed
 * (see site_key). */
static void inject(const char *name, scenario_fn fn, void *ctx, long budget, long head)
{
    /* CS_FAULT_ONLY=<part of a name>: run just those scenarios (when working on one). */
    const char *only = getenv("CS_FAULT_ONLY");
    if (only && *only && !strstr(name, only)) return;
    cs_error err = {0};
    memset(site_set, 0, sizeof site_set);
    n_sites = 0;
    sites_full = false;
    atomic_store(&calls, 0);
    atomic_store(&mode, MODE_RECORD);
    atomic_store(&fail_at, LONG_MAX); /* count only */
    int rc = fn(ctx, &err);
    long total = atomic_load(&calls);
    atomic_store(&fail_at, 0);
    atomic_store(&mode, MODE_INDEX);
    CHECK_MSG(rc == 0, "%s without faults: %s", name, err.msg);
    long stride = total > budget ? (total + budget - 1) / budget : 1;
    tally t = {0};
    for (long n = 1; n <= total; n += n < head ? 1 : stride) {
        memset(&err, 0, sizeof err);
        atomic_store(&calls, 0);
        atomic_store(&failed, false);
        atomic_store(&failed_site, 0);
        atomic_store(&fail_at, n);
        rc = fn(ctx, &err);
        atomic_store(&fail_at, 0);
        long si = site_index(atomic_load(&failed_site));
        if (si >= 0) site_tried[si] = true;
        count_run(&t, name, "allocation", n, rc, &err);
    }
    printf("%-28s %6ld allocations, %ld tried (the first %ld, then every %ld): %ld out-of-memory "
           "errors, %ld other errors, %ld successes (the failure absorbed or retried)\n",
           name, total, t.tried, head < total ? head : total, stride, t.nomem, t.other, t.ok);
    if (stride == 1) return;   /* every allocation, so every site, was failed */
    /* The sites the sample missed, each failed at its first allocation (a sample of them
     * too when there are more than `budget`, as under an emulator: taken in key order, so
     * that every process picks the same ones whatever order its threads ran in). */
    uint64_t *untried = malloc((size_t)(n_sites ? n_sites : 1) * sizeof *untried);
    CHECK(untried != NULL);
    long nu = 0;
    for (long i = 0; untried && i < n_sites; i++)
        if (!site_tried[i]) untried[nu++] = site_list[i];
    if (nu > 1) qsort(untried, (size_t)nu, sizeof *untried, cmp_u64);
    long cap = budget < site_budget ? budget : site_budget;
    long site_stride = nu > cap ? (nu + cap - 1) / cap : 1;
    tally ts = {0};
    long missed = 0;
    atomic_store(&mode, MODE_SITE);
    for (long j = 0; j < nu; j += site_stride) {
        memset(&err, 0, sizeof err);
        atomic_store(&failed, false);
        atomic_store(&fail_site, untried[j]);
        rc = fn(ctx, &err);
        if (!atomic_load(&failed)) {   /* a path this run did not take: nothing failed */
            missed++;
            CHECK_MSG(rc == 0, "%s without faults (call path %ld): %s", name, j, err.msg);
            continue;
        }
        count_run(&ts, name, "call path", j, rc, &err);
    }
    free(untried);
    atomic_store(&fail_site, 0);
    atomic_store(&mode, MODE_INDEX);
    printf("%-28s %6ld call paths%s, %ld not in the sample, %ld failed once each: %ld "
           "out-of-memory errors, %ld other errors, %ld successes; %ld not taken on the rerun\n",
           "", n_sites, sites_full ? " (and more: the table is full)" : "", nu, ts.tried,
           ts.nomem, ts.other, ts.ok, missed);
}

/* --- scenarios ---------------------------------------------------------------------- */

static int filter_parse(void *ctx, cs_error *err)
{
    (void)ctx;
    cs__filter *f = NULL;
    int rc = cs__filter_parse("{\"$and\":[{\"kind\":{\"$in\":[\"a\",\"b\",\"c\"]}},"
                             "{\"$or\":[{\"n\":{\"$gte\":3}},{\"tags\":{\"$contains\":\"x\"}}]},"
                             "{\"name\":{\"$icontains\":\"Bike\"}}]}",
                             &f, err);
    cs__filter_free(f);
    /* A record as `vec upsert` reads it: id, vector, metadata kept verbatim. */
    static const char rec[] = "{\"id\":\"a\",\"vector\":[1,2.5,-3],\"metadata\":{\"k\":[1,\"v\"]}}";
    cs_record_buf b;
    if (!rc) rc = cs_record_parse_json(rec, sizeof rec - 1, &b, err);
    if (!rc) cs_record_buf_free(&b);
    /* A vector alone, as `vec query --vector` reads it. */
    float *v = NULL;
    int dim = 0;
    if (!rc) rc = cs_vector_parse_json("[0.5, -1, 2e-3]", &v, &dim, err);
    free(v);
    return rc;
}

typedef struct {
    char vocab[4200], merges[4200], model[3000], images[3000], png[4200], jpg[4200];
    char tiffs[3000], formats[256], thumbs[256];
    char record_id[600];       /* a record of the indexed collection (URL-escaped) */
    char hub[256], endpoint[64];   /* the Hugging Face stand-in's files and address */
    int nformats;              /* files made in `formats` (the encoders found) */
    char db[256], indexed[256], pairs[256], out[256], tree[256], prepared[256];
    cs_clip *clip;             /* loaded once, for the scenarios that only use it */
    char copies[256], copies_db[256];   /* index_copies' tree and its collection */
    char pending[256];         /* a copy of `indexed` whose re-embedding was interrupted */
    /* finetune_run's model, pairs and trained layers */
    char ft_model[3100], ft_pairs[256], ft_pairs_many[256];
    int ft_layers;
    bool ft_st;                /* finetune_run writes sentence-transformers' layout */
} paths;

static int tokenizer_load(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    cs_tokenizer *tok = NULL;
    int rc = cs_tokenizer_load(p->vocab, p->merges, &tok, err);
    int32_t ids[77];
    int n = 0;
    if (!rc) rc = cs_tokenizer_encode(tok, "A bike in front of a red brick wall!", 77, ids, &n, err);
    /* A text longer than the stack buffers, one word of it longer than the BPE workspace. */
    char text[1200];
    for (size_t i = 0; i + 1 < sizeof text; i++) text[i] = i < 700 ? "abcdefghij"[i % 10] : " xy"[i % 3];
    text[sizeof text - 1] = 0;
    if (!rc) rc = cs_tokenizer_encode(tok, text, 77, ids, &n, err);
    cs_tokenizer_free(tok);
    return rc;
}

static int image_decode(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    const cs_preprocess_config *pp = cs_clip_preprocess_config(p->clip);
    float *px = malloc(sizeof(float) * 3 * (size_t)pp->crop_width * (size_t)pp->crop_height);
    if (!px) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    cs_image_options io;
    cs_image_options_init(&io);
    int rc = 0;
    /* The third is already the model's size: preprocessing copies it, no resampling. */
    char square[3100];
    snprintf(square, sizeof square, "%s/noise_rgb_224x224.png", p->images);
    const char *files[3] = {p->png, p->jpg, square};
    for (int i = 0; i < 3 && !rc; i++) {
        cs_image img = {0};
        rc = cs_image_decode_file(files[i], &io, &img, NULL, err);
        if (!rc) rc = cs_preprocess_image(pp, &img, px, err);
        /* The resize alone: the square one needs none, so it is copied. */
        cs_image sized = {0};
        if (!rc && i == 2) rc = cs_preprocess_resize(pp, &img, &sized, err);
        cs_image_free(&sized);
        cs_image_free(&img);
    }
    free(px);
    return rc;
}

static int model_embed(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    cs_clip_options o;
    cs_clip_options_init(&o);
    o.n_threads = 2;
    cs_clip *m = NULL;
    int rc = cs_clip_load(p->model, &o, &m, err);
    float *out = NULL;
    if (!rc && !(out = malloc(sizeof(float) * 4 * (size_t)cs_clip_embed_dim(m))))
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    const char *texts[2] = {"a photo of a cat", "a bike in front of a red brick wall"};
    if (!rc) rc = cs_clip_embed_texts(m, texts, 2, out, err);
    if (!rc) {
        const cs_preprocess_config *pp = cs_clip_preprocess_config(m);
        size_t per = 3 * (size_t)pp->crop_width * (size_t)pp->crop_height;
        float *px = calloc(2 * per, sizeof(float));
        if (!px) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
        else rc = cs_clip_embed_pixels(m, px, 2, out, err);
        free(px);
    }
    free(out);
    cs_clip_free(m);
    return rc;
}

enum { STORE_N = 40, STORE_DIM = 8 };

static int store_count(const char *db, int64_t *count)
{
    cs_error err = {0};
    cs_store *s = NULL;
    cs_collection *c = NULL;
    *count = -1;
    int rc = cs_store_open(db, &s, &err);
    if (!rc) rc = cs_store_get(s, "docs", &c, &err);
    if (rc == CS_E_COLLECTION_NOT_FOUND) *count = 0;
    if (!rc) rc = cs_collection_count(c, count, &err);
    cs_collection_free(c);
    cs_store_close(s);
    return rc == CS_E_COLLECTION_NOT_FOUND ? 0 : rc;
}

/* Starts the store scenario from no collection: the SQLite file removed, or on
 * PostgreSQL the collection dropped (without faults). */
static void store_reset(const char *db)
{
    if (!strstr(db, "://")) {
        unlink(db);
        return;
    }
    bool was = atomic_exchange(&paused, true);
    cs_error e = {0};
    cs_store *s = NULL;
    if (!cs_store_open(db, &s, &e)) (void)cs_store_drop(s, "docs", &e);
    cs_store_close(s);
    atomic_store(&paused, was);
}

/* Open a new store, create a collection, upsert, query with a filter, upsert again, query
 * (the cache patched), fetch; list the collections, create an index and read its name, set
 * and read the attributes, delete by a filter, upsert a record without metadata. */
static int store_roundtrip(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    store_reset(p->db);
    static float vecs[STORE_N][STORE_DIM];
    static char ids[STORE_N][16], metas[STORE_N][64];
    cs_record_in recs[STORE_N];
    for (int i = 0; i < STORE_N; i++) {
        for (int j = 0; j < STORE_DIM; j++) vecs[i][j] = (float)((i * 7 + j * 3) % 11) - 5.0f;
        snprintf(ids[i], sizeof ids[i], "r%d", i);
        snprintf(metas[i], sizeof metas[i], "{\"n\":%d,\"kind\":\"%s\"}", i, i % 2 ? "odd" : "even");
        recs[i] = (cs_record_in){ids[i], vecs[i], metas[i]};
    }
    /* One record's metadata outgrows the vector cache's first guess at their size. */
    static char big[64 * STORE_N + 200];
    int at = snprintf(big, sizeof big, "{\"n\":0,\"kind\":\"even\",\"note\":\"");
    memset(big + at, 'x', sizeof big - (size_t)at - 3);
    memcpy(big + sizeof big - 3, "\"}", 3);
    recs[0].metadata_json = big;
    cs_store *s = NULL;
    cs_collection *c = NULL;
    cs_records r = {0};
    int rc = cs_store_open(p->db, &s, err);
    if (!rc) rc = cs_store_get_or_create(s, "docs", STORE_DIM, &c, err);
    if (!rc) rc = cs_collection_upsert(c, recs, STORE_N, err);
    int upsert_rc = rc;
    if (!rc) {
        cs_query q;
        cs_query_init(&q);
        q.vector = vecs[3];
        q.vector_dim = STORE_DIM;
        q.limit = 5;
        q.filter_json = "{\"kind\":{\"$eq\":\"odd\"}}";
        q.include_value = q.include_metadata = true;
        rc = cs_collection_query(c, &q, &r, err);
        cs_records_free(&r);
    }
    if (!rc) {   /* a write, then a query: the cache is patched from the change log */
        rc = cs_collection_upsert(c, recs, 5, err);
        cs_query q;
        cs_query_init(&q);
        q.vector = vecs[7];
        q.vector_dim = STORE_DIM;
        q.limit = 3;
        if (!rc) rc = cs_collection_query(c, &q, &r, err);
        cs_records_free(&r);
    }
    if (!rc) {
        const char *want[2] = {"r1", "r2"};
        rc = cs_collection_fetch(c, want, 2, &r, err);
        cs_records_free(&r);
    }
    if (!rc) {   /* the catalog: the listing, an index and its name, the attributes */
        cs_collection_info *infos = NULL;
        size_t ni = 0;
        char *name = NULL, *attrs = NULL;
        rc = cs_store_list(s, &infos, &ni, err);
        cs_collection_info_free(infos, ni);
        cs_index_spec spec;
        cs_index_spec_init(&spec);
        spec.method = CS_INDEX_HNSW;
        if (!rc) rc = cs_collection_create_index(c, &spec, err);
        if (!rc) rc = cs_collection_index(c, &name, err);
        free(name);
        if (!rc) rc = cs_collection_set_attrs(c, "{\"model\":{\"name\":\"tiny\"}}", err);
        if (!rc) rc = cs_collection_get_attrs(c, &attrs, err);
        free(attrs);
    }
    if (!rc) {   /* a delete by a filter that matches nothing; an upsert without metadata */
        rc = cs_collection_delete_filter(c, "{\"n\":{\"$gt\":1000}}", NULL, err);
        cs_record_in plain = {ids[1], vecs[1], NULL};
        if (!rc) rc = cs_collection_upsert(c, &plain, 1, err);
    }
    cs_collection_free(c);
    cs_store_close(s);
    /* All or nothing: the upsert's transaction either committed every record or none. */
    int64_t n = -1;
    bool was = atomic_exchange(&paused, true);
    int crc = store_count(p->db, &n);
    atomic_store(&paused, was);
    CHECK_MSG(crc == 0 && (n == 0 || n == STORE_N), "store holds %lld records", (long long)n);
    CHECK_MSG(upsert_rc != 0 || n == STORE_N, "upsert reported success but %lld stored", (long long)n);
    return rc;
}

/* Removes the files of a store's derived folder (a fresh store per run). */
static void clear_derived(const char *db)
{
    char dir[300], f[600];
    snprintf(dir, sizeof dir, "%s.vcache", db);
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') {
            snprintf(f, sizeof f, "%s/%s", dir, e->d_name);
            unlink(f);
        }
    closedir(d);
}

/* A collection with an int8 copy and an HNSW index: a query through the copy, a third of
 * the rows replaced (the cached view folded), the index built, a query through it (plain,
 * filtered, filtered on an array some rows lack), a write, the index patched by the next
 * query and refreshed; then a new connection that loads both derived files. */
enum { ANN_N = 150 };
static int store_ann(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    unlink(p->db);
    clear_derived(p->db);
    static float vecs[ANN_N][STORE_DIM];
    static char ids[ANN_N][16], metas[ANN_N][40];
    cs_record_in recs[ANN_N];
    for (int i = 0; i < ANN_N; i++) {
        for (int j = 0; j < STORE_DIM; j++) vecs[i][j] = (float)((i * 13 + j * 5) % 17) - 8.0f + (float)i / ANN_N;
        snprintf(ids[i], sizeof ids[i], "r%d", i);
        /* An array in every tenth (a filter on it parses each one it meets). */
        snprintf(metas[i], sizeof metas[i], i % 10 ? "{\"n\":%d}" : "{\"n\":%d,\"t\":[1]}", i % 3);
        recs[i] = (cs_record_in){ids[i], vecs[i], metas[i]};
    }
    cs_store *s = NULL;
    cs_collection *c = NULL;
    cs_records r = {0};
    cs_query q;
    cs_query_init(&q);
    q.vector = vecs[3];
    q.vector_dim = STORE_DIM;
    q.limit = 5;
    q.ef_search = 8;   /* fewer than the rows: the graph is searched, not scanned */
    int rc = cs_store_open(p->db, &s, err);
    if (!rc) rc = cs_store_get_or_create(s, "docs", STORE_DIM, &c, err);
    if (!rc) rc = cs_collection_upsert(c, recs, ANN_N, err);
    if (!rc) rc = cs_collection_set_vector_copy(c, CS_VECTOR_COPY_INT8, err);
    if (!rc) rc = cs_collection_query(c, &q, &r, err);
    cs_records_free(&r);
    /* Enough rows replaced that the next query folds the cached view into one base. */
    if (!rc) rc = cs_collection_upsert(c, recs + 40, 40, err);
    if (!rc) rc = cs_collection_query(c, &q, &r, err);
    cs_records_free(&r);
    cs_index_spec spec;
    cs_index_spec_init(&spec);
    spec.method = CS_INDEX_HNSW;
    spec.m = 4;
    spec.ef_construction = 8;
    if (!rc) rc = cs_collection_create_index(c, &spec, err);
    if (!rc) rc = cs_collection_query(c, &q, &r, err);
    cs_records_free(&r);
    q.filter_json = "{\"n\":{\"$eq\":1}}";
    if (!rc) rc = cs_collection_query(c, &q, &r, err);
    cs_records_free(&r);
    /* An array in the metadata: parsed (not a scalar) while the graph is filtered. */
    q.filter_json = "{\"t\":{\"$contains\":1}}";
    if (!rc) rc = cs_collection_query(c, &q, &r, err);
    cs_records_free(&r);
    q.filter_json = NULL;
    if (!rc) rc = cs_collection_upsert(c, recs, 20, err);
    if (!rc) rc = cs_collection_query(c, &q, &r, err);
    cs_records_free(&r);
    if (!rc) rc = cs_collection_upsert(c, recs + 20, 10, err);
    if (!rc) rc = cs_collection_refresh_index(c, err);
    cs_collection_free(c);
    cs_store_close(s);
    c = NULL;
    s = NULL;
    if (!rc) rc = cs_store_open(p->db, &s, err);
    if (!rc) rc = cs_store_get(s, "docs", &c, err);
    if (!rc) rc = cs_collection_query(c, &q, &r, err);
    cs_records_free(&r);
    cs_collection_free(c);
    cs_store_close(s);
    return rc;
}

/* The HNSW graph built one insert at a time (the stores bulk-load theirs): each add
 * reserves its room first, then searches for its neighbours; an update replaces a key. */
static int hnsw_inserts(void *ctx, cs_error *err)
{
    (void)ctx;
    enum { N = 40, D = 4 };
    cs__hnsw_params hp = {.dim = D, .measure = CS_MEASURE_L2, .m = 4, .ef_construction = 8,
                          .seed = 7};
    cs__hnsw *h = NULL;
    int rc = cs__hnsw_new(&hp, &h, err);
    float v[D];
    for (int i = 0; i < N && !rc; i++) {
        for (int j = 0; j < D; j++) v[j] = (float)((i * 7 + j * 3) % 13) - 6.0f;
        rc = cs__hnsw_add(h, i, v, err);
    }
    if (!rc) rc = cs__hnsw_add(h, 3, v, err);
    cs__hnsw_free(h);
    return rc;
}

static int index_run(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    unlink(p->db);
    cs_store *s = NULL;
    cs_index_summary sum;
    memset(&sum, 0, sizeof sum);
    int rc = cs_store_open(p->db, &s, err);
    if (!rc) {
        cs_indexer_options o;
        cs_indexer_options_init(&o);
        o.jobs = 2;
        o.batch = 4;
        const char *dirs[1] = {p->images};
        rc = cs_index_run(p->clip, s, dirs, 1, &o, &sum, err);
        cs_index_summary_free(&sum);
    }
    cs_store_close(s);
    return rc;
}

/* Every TIFF layout the fixtures hold (strips, tiles, CMYK, palettes, 16-bit, float...). */
static int tiff_decode(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    static const char *const names[] = {"cmyk_tiled_packbits.tif", "gray16_be.tif",
                                        "gray_float.tif", "palette_lzw.tif", "la_raw.tif",
                                        "multipage.tif", "bilevel_g4.tif"};
    cs_image_options io;
    cs_image_options_init(&io);
    int rc = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !rc; i++) {
        char path[3100];
        snprintf(path, sizeof path, "%s/%s", p->tiffs, names[i]);
        cs_image img = {0};
        rc = cs_image_decode_file(path, &io, &img, NULL, err);
        cs_image_free(&img);
    }
    return rc;
}

/* The formats whose files are made at test time by their reference encoders (HEIC and
 * AVIF by heif-enc, JPEG XL by cjxl, a DNG by cs_make_dng), a GIF and a YCbCr TIFF written
 * here: probed, then decoded. */
static int other_formats(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    cs_image_options io;
    cs_image_options_init(&io);
    DIR *d = opendir(p->formats);
    int rc = d ? 0 : cs_error_set(err, CS_E_IO, "no folder %s", p->formats);
    for (struct dirent *e; !rc && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", p->formats, e->d_name);
        cs_image_info info;
        cs_image img = {0};
        if (!(rc = cs_image_probe_file(path, &info, err)))
            rc = cs_image_decode_file(path, &io, &img, NULL, err);
        cs_image_free(&img);
    }
    if (d) closedir(d);
    return rc;
}

/* Makes the files other_formats decodes, with the encoders this machine has (the
 * Debian packages scripts/install-deps.sh installs). */
static void make_formats(paths *p)
{
    snprintf(p->formats, sizeof p->formats, "/tmp/cs_fault_alloc_%d_formats", (int)getpid());
    const char *exec = getenv("CS_TEST_EXEC") ? getenv("CS_TEST_EXEC") : "";
    const char *build = getenv("CS_BUILD_DIR") ? getenv("CS_BUILD_DIR") : ".";
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p->formats);
    CHECK(system(cmd) == 0);
    const char *const make[] = {
        "heif-enc -q 80 '%s/gradient_rgb_640x480.png' -o '%s/a.heic' >/dev/null 2>&1",
        "heif-enc -A -q 70 '%s/noise_rgb_224x224.png' -o '%s/b.avif' >/dev/null 2>&1",
        "cjxl -d 1 '%s/gradient_rgb_640x480.png' '%s/c.jxl' >/dev/null 2>&1",
    };
    for (size_t i = 0; i < sizeof make / sizeof *make; i++) {
        snprintf(cmd, sizeof cmd, make[i], p->images, p->formats);
        if (system(cmd) == 0) p->nformats++;
    }
    /* A DNG with an embedded preview (libraw's path); the tool also writes the preview
     * as a PPM, not needed here. */
    snprintf(cmd, sizeof cmd,
             "%s '%s/cs_make_dng' '%s/d.dng' '%s/d.ppm' 6 >/dev/null 2>&1 && rm '%s/d.ppm'",
             exec, build, p->formats, p->formats, p->formats);
    if (system(cmd) == 0) p->nformats++;
    /* A 1x1 GIF89a: a global palette of 2 colours, one frame (LZW: clear, 0, end). */
    static const unsigned char gif[] = {
        'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0xff, 0xff, 0xff, 0, 0, 0,
        0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3b};
    char path[600];
    snprintf(path, sizeof path, "%s/e.gif", p->formats);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(gif, sizeof gif, 1, f) == 1 && fclose(f) == 0);
    p->nformats++;
    /* An 8x8 YCbCr TIFF without JPEG compression (tests/fixtures/tiff has none): decoded
     * through libtiff's RGBA interface. */
    snprintf(path, sizeof path, "%s/f.tif", p->formats);
    TIFF *t = TIFFOpen(path, "w");
    CHECK(t != NULL);
    if (t) {
        enum { W = 8, H = 8 };
        unsigned char px[W * H * 3];
        for (int i = 0; i < W * H; i++) {
            px[3 * i] = (unsigned char)(16 + 3 * i);
            px[3 * i + 1] = 100;
            px[3 * i + 2] = 160;
        }
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, W);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, H);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 3);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_YCBCR);
        TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
        TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
        TIFFSetField(t, TIFFTAG_YCBCRSUBSAMPLING, 1, 1);
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, H);
        CHECK(TIFFWriteEncodedStrip(t, 0, px, sizeof px) == (tmsize_t)sizeof px);
        TIFFClose(t);
        p->nformats++;
    }
}

static int quiet_system(const char *cmd);

/* One HTTP/1.0 exchange with the server on 127.0.0.1:port: the answer's status, 0 when
 * there was none. */
static int http(int port, const char *method, const char *path, const char *content_type,
                const void *body, size_t body_len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A regression that leaves a request unanswered fails here, not at ctest's limit. */
    struct timeval limit = {.tv_sec = 60};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) ||
        connect(fd, (struct sockaddr *)&a, sizeof a)) {
        if (fd >= 0) close(fd);
        return 0;
    }
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nContent-Length: %zu\r\n%s%s%s\r\n",
                     method, path, port, body_len, content_type ? "Content-Type: " : "",
                     content_type ? content_type : "", content_type ? "\r\n" : "");
    bool ok = send(fd, head, (size_t)n, MSG_NOSIGNAL) == n &&
              (!body_len || send(fd, body, body_len, MSG_NOSIGNAL) == (ssize_t)body_len);
    char got[16] = {0};
    size_t have = 0;
    for (ssize_t r; ok && have < sizeof got - 1 &&
                    (r = read(fd, got + have, sizeof got - 1 - have)) > 0;)
        have += (size_t)r;
    char sink[4096];
    while (ok && read(fd, sink, sizeof sink) > 0) {}
    close(fd);
    return ok && have >= 12 && !strncmp(got, "HTTP/1.", 7) ? atoi(got + 9) : 0;
}

/* The web server over the indexed collection: start, the collections, a text search
 * with a filter, a like search, a thumbnail (through the thumbnail cache), an image
 * search (raw body, then a multipart form with a text field), stop. A request that runs out of memory must still be answered. */
static int web_session(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    /* No thumbnail cached by an earlier run: each run makes its thumbnail. */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'/*", p->thumbs);
    if (quiet_system(cmd) != 0) return cs_error_set(err, CS_E_IO, "cannot clear %s", p->thumbs);
    cs_store *store = NULL;
    cs_web_server *w = NULL;
    int rc = cs_store_open(p->indexed, &store, err);
    cs_web_options o;
    cs_web_options_init(&o);
    o.port = 0;
    o.collection = "image_vectors";
    o.thumb_cache_dir = p->thumbs;
    o.thumb_threads = 1;
    if (!rc) rc = cs_web_start(p->clip, store, &o, &w, err);
    if (!rc) {
        char url[128];
        cs_web_url(w, url, sizeof url);
        int port = atoi(strrchr(url, ':') + 1);
        static unsigned char png[8192];
        size_t png_len = 0;
        char small[3100];
        snprintf(small, sizeof small, "%s/palette_P_200x150.png", p->images);
        FILE *f = fopen(small, "rb");
        if (f) {
            png_len = fread(png, 1, sizeof png, f);
            fclose(f);
        }
        char like[1400], thumb[1400];
        snprintf(like, sizeof like, "/api/search?like=%s&k=2", p->record_id);
        snprintf(thumb, sizeof thumb, "/api/thumb?id=%s&size=64", p->record_id);
        const char *const gets[] = {
            "/api/collections",
            "/api/search?q=a%20photo&k=3&filter=%7B%22format%22%3A%7B%22%24in%22%3A%5B%22png%22"
            "%2C%22jpeg%22%5D%7D%7D",
            like, thumb};
        /* The same image as a browser's form sends it: the file part and a text field. */
        static char form[sizeof png + 512];
        size_t form_len = 0;
        if (png_len < sizeof png) {
            form_len = (size_t)snprintf(form, sizeof form,
                                        "--b0undary\r\nContent-Disposition: form-data; name=\"image\"; "
                                        "filename=\"p.png\"\r\nContent-Type: image/png\r\n\r\n");
            memcpy(form + form_len, png, png_len);
            form_len += png_len;
            form_len += (size_t)snprintf(form + form_len, sizeof form - form_len,
                                         "\r\n--b0undary\r\nContent-Disposition: form-data; "
                                         "name=\"q\"\r\n\r\nat night\r\n--b0undary--\r\n");
        }
        const size_t ngets = sizeof gets / sizeof *gets;
        for (size_t i = 0; !rc && i < ngets + 2; i++) {
            int status = i < ngets ? http(port, "GET", gets[i], NULL, NULL, 0)
                         : png_len >= sizeof png ? -1
                         : i == ngets ? http(port, "POST", "/api/search/image?k=2", NULL, png, png_len)
                                      : http(port, "POST", "/api/search/image?k=2",
                                             "multipart/form-data; boundary=b0undary", form,
                                             form_len);
            /* Answered, always; anything but 200 only when an allocation failed. */
            CHECK_MSG(status, "request %zu got no HTTP answer (allocation %ld or call path "
                      "%llx failing)", i, atomic_load(&fail_at),
                      (unsigned long long)atomic_load(&fail_site));
            CHECK_MSG(status == 200 || atomic_load(&failed), "request %zu answered %d", i, status);
            if (status != 200)   /* 500 is the answer to running out of memory */
                rc = cs_error_set(err, status == 500 ? CS_E_NOMEM : CS_E_IO,
                                  "request %zu answered %d", i, status);
        }
    }
    cs_web_stop(w);
    cs_store_close(store);
    return rc;
}

/* A model download from the loopback Hugging Face stand-in (tests/tools/hf_server.py):
 * every file fetched again (force), sizes and SHA-256 checked, the result loaded. */
static int model_download(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    char dest[400];
    snprintf(dest, sizeof dest, "%s/installed/tiny-clip", p->hub);
    cs_model_download_options o;
    cs_model_download_options_init(&o);
    o.name = "testorg/tiny-clip";
    o.endpoint = p->endpoint;
    o.dest_dir = dest;
    o.force = true;
    o.retries = 0;
    cs_model_download_result res;
    return cs_model_download(&o, &res, err);
}

static void stop_hub(const paths *p);

/* Starts hf_server.py over a copy of the tiny model: 1, or 0 without python3 (the
 * scenario is skipped), or -1 when it did not start (a failure). The server writes its
 * port to a file once it listens: polled. */
static int start_hub(paths *p, const char *src)
{
    snprintf(p->hub, sizeof p->hub, "/tmp/cs_fault_alloc_%d_hub", (int)getpid());
    if (system("command -v python3 >/dev/null") != 0) return 0;
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/testorg/tiny-clip' && "
             "cp '%s'/* '%s/testorg/tiny-clip/' && "
             "{ python3 '%s/tests/tools/hf_server.py' --root '%s' --port-file '%s/port' "
             "--log /dev/null >/dev/null 2>&1 & echo $! > '%s/pid'; }",
             p->hub, p->model, p->hub, src, p->hub, p->hub, p->hub);
    if (system(cmd) != 0) {
        stop_hub(p);
        return -1;
    }
    char port_file[300];
    snprintf(port_file, sizeof port_file, "%s/port", p->hub);
    for (int i = 0; i < 1200; i++) {   /* the limit only fails a hung start */
        FILE *f = fopen(port_file, "r");
        int port = 0;
        if (f) {
            if (fscanf(f, "%d", &port) != 1) port = 0;
            fclose(f);
        }
        if (port > 0) {
            snprintf(p->endpoint, sizeof p->endpoint, "http://127.0.0.1:%d", port);
            return 1;
        }
        usleep(50000);
    }
    stop_hub(p);
    return -1;
}

static void stop_hub(const paths *p)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "kill $(cat '%s/pid') 2>/dev/null; rm -rf '%s'", p->hub, p->hub);
    if (system(cmd) != 0) fprintf(stderr, "could not stop the test server\n");
}

/* A search session over an indexed collection: an algebra query with filters, the like
 * query of a record, and the listing of collections. */
static int search_session(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    cs_search_session_options o;
    cs_search_session_options_init(&o);
    o.store_url = p->indexed;
    cs_search_session *s = NULL;
    cs_query_terms terms = {0};
    cs_hits h = {0};
    int rc = cs_search_session_open(&o, &s, err);
    if (!rc) rc = cs_search_session_set_model(s, p->clip, err);
    if (!rc) rc = cs_query_terms_parse("a colourful gradient + shapes - noise", &terms, err);
    if (!rc) {
        cs_search_request r;
        cs_search_request_init(&r);
        r.terms = &terms;
        r.k = 5;
        r.name = "png";
        r.filter_json = "{\"format\":{\"$in\":[\"png\",\"jpeg\"]}}";
        rc = cs_search_session_run(s, NULL, &r, &h, err);
    }
    if (!rc) {
        cs_search_request r;
        cs_search_request_init(&r);
        r.text = "a photo";
        r.k = 3;
        cs_hits_free(&h);
        rc = cs_search_session_run(s, NULL, &r, &h, err);
    }
    if (!rc) {
        cs_search_collection *list = NULL;
        size_t n = 0;
        rc = cs_search_session_list(s, &list, &n, err);
        cs_search_collections_free(list, n);
    }
    cs_hits_free(&h);
    cs_query_terms_free(&terms);
    cs_search_session_close(s);
    return rc;
}

/* The query forms the other scenarios do not use: a term with "~/", a text and an image
 * mixed, --under a folder that does not exist, and the warm-up query. */
static int query_forms(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    cs_query_terms terms = {0};
    int rc = cs_query_terms_parse("a bike + ~/park.png", &terms, err);
    cs_query_terms_free(&terms);
    cs_store *s = NULL;
    cs_collection *c = NULL;
    cs_hits h = {0};
    if (!rc) rc = cs_store_open(p->indexed, &s, err);
    if (!rc) rc = cs_store_get(s, "image_vectors", &c, err);
    if (!rc) rc = cs_query_warm(c, err);
    if (!rc) {
        cs_search_request r;
        cs_search_request_init(&r);
        r.text = "a colourful gradient";
        r.image_path = p->png;
        r.k = 3;
        r.under = "/nonexistent/cs_fault_alloc";
        rc = cs_query_run(p->clip, c, &r, &h, err);
    }
    cs_hits_free(&h);
    cs_collection_free(c);
    cs_store_close(s);
    return rc;
}

/* Model folders read without fine-tuning: the listing of one, and a bf16 checkpoint
 * (its tensors widened to F32 when loaded). */
static int model_folders(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    cs_model_info info;
    memset(&info, 0, sizeof info);
    int rc = cs_model_info_read(p->model, &info, err);
    cs_model_info_free(&info);
    char dir[3100];
    snprintf(dir, sizeof dir, "%s-bf16", p->model);
    cs_clip_options o;
    cs_clip_options_init(&o);
    o.n_threads = 1;
    cs_clip *m = NULL;
    if (!rc) rc = cs_clip_load(dir, &o, &m, err);
    cs_clip_free(m);
    return rc;
}

/* The model record of a collection whose re-embedding was interrupted: a query with the
 * model is allowed, with a warning that results mix both models. */
static int model_record_pending(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    cs_store *s = NULL;
    cs_collection *c = NULL;
    cs_model_identity id;
    char *warning = NULL;
    int rc = cs_store_open(p->pending, &s, err);
    if (!rc) rc = cs_store_get(s, "image_vectors", &c, err);
    if (!rc) rc = cs_model_identity_init(&id, p->clip, true, false, err);
    if (!rc) rc = cs_model_record_check(c, &id, CS_MODEL_USE_QUERY, &warning, err);
    CHECK_MSG(rc || warning, "no warning for an interrupted re-embedding");
    free(warning);
    cs_collection_free(c);
    cs_store_close(s);
    return rc;
}

/* cmd with the fault injection paused (its allocations are neither counted nor failed). */
static int quiet_system(const char *cmd)
{
    bool was = atomic_exchange(&paused, true);
    int rc = system(cmd);
    atomic_store(&paused, was);
    return rc;
}

/* An incremental run over a collection prepared without faults: one file gone (pruned),
 * the JPEGs excluded (kept, as their files are still there), one file changed; then the
 * whole tree re-embedded. */
static int index_prune_reembed(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'* && cp '%s' '%s' && cp '%s/small_31x17.png' '%s/changed.png'",
             p->db, p->prepared, p->db, p->images, p->tree);
    if (quiet_system(cmd) != 0) return cs_error_set(err, CS_E_IO, "cannot prepare %s", p->db);
    cs_store *s = NULL;
    cs_index_summary sum;
    memset(&sum, 0, sizeof sum);
    int rc = cs_store_open(p->db, &s, err);
    const char *dirs[1] = {p->tree};
    const char *excl[1] = {"*.jpg"};
    if (!rc) {
        cs_indexer_options o;
        cs_indexer_options_init(&o);
        o.jobs = 2;
        o.batch = 2;
        o.prune = true;
        o.exclude = excl;
        o.n_exclude = 1;
        rc = cs_index_run(p->clip, s, dirs, 1, &o, &sum, err);
        cs_index_summary_free(&sum);
    }
    if (!rc) {
        cs_indexer_options o;
        cs_indexer_options_init(&o);
        o.jobs = 2;
        o.batch = 2;
        o.reembed = true;
        rc = cs_index_run(p->clip, s, dirs, 1, &o, &sum, err);
        cs_index_summary_free(&sum);
    }
    cs_store_close(s);
    return rc;
}

/* A re-embedding of a tree of many copies of one image (one is decoded, the others wait
 * for its vector), copies of a file that does not decode (whoever waited for it decodes
 * for itself), a name that is not UTF-8 (a "file:" id) and a .clipsearchignore; the
 * collection, prepared without faults, holds more records than the maps' first size.
 * Then an incremental run that excludes the copies (their records kept). */
static int index_copies(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'* && cp '%s' '%s'", p->db, p->copies_db, p->db);
    if (quiet_system(cmd) != 0) return cs_error_set(err, CS_E_IO, "cannot prepare %s", p->db);
    cs_store *s = NULL;
    cs_index_summary sum;
    memset(&sum, 0, sizeof sum);
    int rc = cs_store_open(p->db, &s, err);
    const char *dirs[1] = {p->copies};
    if (!rc) {
        cs_indexer_options o;
        cs_indexer_options_init(&o);
        o.jobs = 2;
        o.batch = 8;
        o.reembed = true;
        rc = cs_index_run(p->clip, s, dirs, 1, &o, &sum, err);
        cs_index_summary_free(&sum);
    }
    if (!rc) {   /* the copies excluded: more kept records than the exclusion map's first size */
        const char *excl[1] = {"c*.png"};
        cs_indexer_options o;
        cs_indexer_options_init(&o);
        o.jobs = 2;
        o.exclude = excl;
        o.n_exclude = 1;
        rc = cs_index_run(p->clip, s, dirs, 1, &o, &sum, err);
        cs_index_summary_free(&sum);
    }
    cs_store_close(s);
    return rc;
}

/* Zero-shot labels of an image, a query with every kind of filter written as a gallery,
 * and texts added as a collection of their own. */
static int labels_gallery_texts(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    char **labels = NULL;
    size_t n_labels = 0;
    cs_image img = {0};
    cs_image_options io;
    cs_image_options_init(&io);
    cs_label_score scores[3];
    int rc = cs_labels_split("a gradient, a photo of a cat,, noise ", &labels, &n_labels, err);
    if (!rc) rc = cs_image_decode_file(p->png, &io, &img, NULL, err);
    if (!rc) rc = cs_labels_rank(p->clip, &img, (const char *const *)labels, n_labels, scores, err);
    cs_image_free(&img);
    cs_strings_free(labels, n_labels);

    cs_store *s = NULL;
    cs_collection *c = NULL, *texts = NULL;
    cs_hits h = {0};
    if (!rc) rc = cs_store_open(p->indexed, &s, err);
    if (!rc) rc = cs_store_get(s, "image_vectors", &c, err);
    if (!rc) {
        cs_search_request r;
        cs_search_request_init(&r);
        r.text = "a colourful gradient";
        r.k = 4;
        r.under = p->images;
        r.name = "g";
        r.after = "2001-02";
        r.before = "2100";
        r.filter_json = "{\"format\":{\"$ne\":\"gif\"}}";
        rc = cs_query_run(p->clip, c, &r, &h, err);
    }
    if (!rc) {
        char html[300];
        snprintf(html, sizeof html, "%s.gallery.html", p->out);
        rc = cs_gallery_write_html(html, &h, NULL, err);
        unlink(html);
    }
    if (!rc) rc = cs_store_get_or_create(s, "fault_texts", cs_clip_embed_dim(p->clip), &texts, err);
    if (!rc) {
        const char *t[3] = {"a red bike", "a brick wall", "a red bike"};
        cs_add_text_stats st;
        rc = cs_add_texts(p->clip, texts, t, 3, 2, &st, err);
    }
    cs_hits_free(&h);
    cs_collection_free(texts);
    cs_collection_free(c);
    cs_store_close(s);
    return rc;
}

/* Near-duplicate groups of an indexed collection, written as an HTML page. */
static int duplicates_find(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    cs_store *s = NULL;
    cs_collection *c = NULL;
    cs_dup_groups g = {0};
    int rc = cs_store_open(p->indexed, &s, err);
    if (!rc) rc = cs_store_get(s, "image_vectors", &c, err);
    if (!rc) {
        cs_dup_options o;
        cs_dup_options_init(&o);
        o.threshold = 0.5;   /* loose: the tiny model's vectors must form groups */
        o.block_rows = 16;   /* the 14 records fit one block; the default 1024 is slow */
        rc = cs_duplicates_find(c, &o, &g, err);
    }
    if (!rc) {
        char html[300];
        snprintf(html, sizeof html, "%s.html", p->out);
        rc = cs_duplicates_write_html(html, g.items, g.n, NULL, err);
        unlink(html);
    }
    cs_dup_groups_free(&g);
    if (!rc) {
        /* The default threshold: tight enough for the int8 pass to prefilter. */
        cs_dup_options o;
        cs_dup_options_init(&o);
        o.block_rows = 16;
        rc = cs_duplicates_find(c, &o, &g, err);
        cs_dup_groups_free(&g);
    }
    cs_collection_free(c);
    cs_store_close(s);
    return rc;
}

/* Fine-tuning reports each epoch: the validation loss and recall are computed. */
static void on_epoch(void *ctx, const cs_ft_epoch *e)
{
    (void)ctx;
    (void)e;
}

/* Fine-tuning (what trains is p->ft_layers): caching, the backward pass, AdamW, the resume
 * state and the checkpoint written at the end. */
static int finetune_run(void *ctx, cs_error *err)
{
    const paths *p = ctx;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s.partial'", p->out, p->out);
    if (system(cmd) != 0) return cs_error_set(err, CS_E_IO, "cannot clear %s", p->out);
    cs_finetune_options o;
    cs_finetune_options_init(&o);
    o.epochs = 1;
    o.batch = 4;
    o.val_split = 0.25;
    o.train_layers = p->ft_layers;
    o.n_threads = 1;
    o.on_epoch = on_epoch;
    o.st_layout = p->ft_st;
    cs_finetune_result res;
    memset(&res, 0, sizeof res);
    return cs_finetune_run(p->ft_model, p->ft_pairs, p->out, &o, &res, err);
}

int main(void)
{
    /* backtrace's first call loads libgcc's unwinder: here, not inside a scenario's thread. */
    void *warm[2];
    (void)backtrace(warm, 2);
    paths p;
    memset(&p, 0, sizeof p);
    const char *src = getenv("CS_SOURCE_DIR") ? getenv("CS_SOURCE_DIR") : ".";
    snprintf(p.model, sizeof p.model, "%s/tests/fixtures/tiny/model", src);
    snprintf(p.vocab, sizeof p.vocab, "%s/vocab.json", p.model);
    snprintf(p.merges, sizeof p.merges, "%s/merges.txt", p.model);
    snprintf(p.images, sizeof p.images, "%s/tests/fixtures/tiny/images", src);
    snprintf(p.png, sizeof p.png, "%s/gradient_rgb_640x480.png", p.images);
    snprintf(p.jpg, sizeof p.jpg, "%s/exif_orient6_320x240.jpg", p.images);
    snprintf(p.tiffs, sizeof p.tiffs, "%s/tests/fixtures/tiff", src);
    snprintf(p.db, sizeof p.db, "/tmp/cs_fault_alloc_%d.db", (int)getpid());
    snprintf(p.indexed, sizeof p.indexed, "/tmp/cs_fault_alloc_%d_indexed.db", (int)getpid());
    snprintf(p.pairs, sizeof p.pairs, "/tmp/cs_fault_alloc_%d_pairs.tsv", (int)getpid());
    snprintf(p.out, sizeof p.out, "/tmp/cs_fault_alloc_%d_tuned", (int)getpid());
    cs_error err = {0};
    /* Against PostgreSQL (ctest's fault_alloc_pg, CS_TEST_DB_URL from the pgvector
     * fixture): the store scenario only, through the pg backend. */
    const char *url = getenv("CS_TEST_DB_URL");
    if (url && *url) {
        if (strlen(url) >= sizeof p.db) SKIP("server URL too long");
        snprintf(p.db, sizeof p.db, "%s", url);
        inject("store open/upsert/query on PostgreSQL", store_roundtrip, &p, 100000, 0);
        store_reset(p.db);
        return TEST_RESULT();
    }
    cs_clip_options o;
    cs_clip_options_init(&o);
    o.n_threads = 2;
    CHECK_OK(cs_clip_load(p.model, &o, &p.clip, &err), &err);
    if (!p.clip) return TEST_RESULT();
    /* Under an emulator (the arm64 stage) every run is slow: fewer points per scenario. */
    bool emulated = getenv("CS_TEST_EXEC") && getenv("CS_TEST_EXEC")[0];
    long budget = emulated ? 150 : 100000;
    /* The long scenarios below (a run costs seconds under the emulator): a sample. */
    long sampled = emulated ? 30 : 300;
    /* Under the emulator a few call paths per scenario: the aarch64 stage checks that the
     * failure paths hold on that architecture; the native stages try them all. */
    if (emulated) site_budget = 8;
    /* CS_FAULT_ALL=1: every allocation of every scenario, no sample (what
     * scripts/nomem_coverage.sh runs; too long for make check's ASan stage). */
    if (getenv("CS_FAULT_ALL") && getenv("CS_FAULT_ALL")[0] == '1') budget = sampled = LONG_MAX;

    inject("filter parse", filter_parse, NULL, budget, 0);
    inject("tokenizer load + encode", tokenizer_load, &p, budget, 0);
    inject("image decode + preprocess", image_decode, &p, budget, 0);
    inject("model load + embed", model_embed, &p, budget, 0);
    inject("store open/upsert/query", store_roundtrip, &p, budget, 0);
    bool all = budget == LONG_MAX;
    inject("store int8 copy + HNSW", store_ann, &p, all || budget < 1500 ? budget : 1500, 0);
    inject("HNSW one insert at a time", hnsw_inserts, NULL, budget, 0);
    /* Each run loads a model: a sample under the emulator. */
    inject("model folders", model_folders, &p, emulated ? 30 : budget, 0);
    inject("indexer run", index_run, &p, all || budget < 250 ? budget : 250,
           budget < 250 ? 0 : 120);
    inject("TIFF decode", tiff_decode, &p, budget, 0);
    make_formats(&p);
    {
        cs_error e = {0};
        CHECK_OK(other_formats(&p, &e), &e);   /* every file made decodes without faults */
    }
    fprintf(stderr, "other formats: %d files made\n", p.nformats);
    inject("HEIC, AVIF, JPEG XL, DNG, GIF decode", other_formats, &p, budget, 0);

    /* The scenarios below read a collection indexed once, without faults. */
    {
        char db[256];
        memcpy(db, p.db, sizeof db);
        memcpy(p.db, p.indexed, sizeof p.db);
        CHECK_OK(index_run(&p, &err), &err);
        memcpy(p.db, db, sizeof db);
    }
    inject("search session", search_session, &p, sampled, 0);
    inject("query forms", query_forms, &p, sampled, 0);
    {
        /* A copy of the indexed collection, marked as being re-embedded (without faults). */
        snprintf(p.pending, sizeof p.pending, "/tmp/cs_fault_alloc_%d_pending.db", (int)getpid());
        char cmd[600];
        snprintf(cmd, sizeof cmd, "cp '%s' '%s'", p.indexed, p.pending);
        CHECK(system(cmd) == 0);
        cs_store *s = NULL;
        cs_collection *c = NULL;
        cs_model_identity id;
        CHECK_OK(cs_store_open(p.pending, &s, &err), &err);
        if (s) CHECK_OK(cs_store_get(s, "image_vectors", &c, &err), &err);
        if (c) CHECK_OK(cs_model_identity_init(&id, p.clip, true, false, &err), &err);
        if (c) CHECK_OK(cs_model_record_begin_reembed(c, &id, &err), &err);
        cs_collection_free(c);
        cs_store_close(s);
    }
    inject("interrupted re-embedding", model_record_pending, &p, sampled, 0);
    {
        /* The web scenario's record: the first of the indexed collection, URL-escaped. */
        snprintf(p.thumbs, sizeof p.thumbs, "/tmp/cs_fault_alloc_%d_thumbs", (int)getpid());
        cs_store *s = NULL;
        cs_collection *c = NULL;
        cs_records r = {0};
        CHECK_OK(cs_store_open(p.indexed, &s, &err), &err);
        if (s) CHECK_OK(cs_store_get(s, "image_vectors", &c, &err), &err);
        if (c) CHECK_OK(cs_collection_scan(c, NULL, false, &r, &err), &err);
        size_t at = 0;
        for (const char *q = r.n ? r.items[0].id : ""; *q && at + 4 < sizeof p.record_id; q++)
            at += (size_t)(isalnum((unsigned char)*q) || strchr("-_.~", *q)
                               ? snprintf(p.record_id + at, 2, "%c", *q)
                               : snprintf(p.record_id + at, 4, "%%%02X", (unsigned char)*q));
        CHECK(r.n > 0);
        cs_records_free(&r);
        cs_collection_free(c);
        cs_store_close(s);
    }
    inject("web server", web_session, &p, emulated ? 15 : sampled, 0);
    const char *only = getenv("CS_FAULT_ONLY");
    if (!only || !*only || strstr("model download", only)) {
        int hub = start_hub(&p, src);
        CHECK_MSG(hub >= 0, "the Hugging Face stand-in (tests/tools/hf_server.py) did not start");
        if (hub > 0) {
            inject("model download", model_download, &p, emulated ? 15 : sampled, 0);
            stop_hub(&p);
        } else if (hub == 0) {
            printf("model download: skipped (no python3 for the test server)\n");
        }
    }
    {
        /* A tree indexed once: 4 images and one that is then deleted. */
        snprintf(p.tree, sizeof p.tree, "/tmp/cs_fault_alloc_%d_tree", (int)getpid());
        snprintf(p.prepared, sizeof p.prepared, "/tmp/cs_fault_alloc_%d_prepared.db", (int)getpid());
        char cmd[8192];
        snprintf(cmd, sizeof cmd,
                 "mkdir -p '%s' && cd '%s' && cp gradient_rgb_640x480.png exif_orient6_320x240.jpg "
                 "noise_rgb_224x224.png palette_P_200x150.png '%s' && cp small_31x17.png '%s/gone.png' "
                 "&& cp strip_rgb_1000x37.png '%s/changed.png'",
                 p.tree, p.images, p.tree, p.tree, p.tree);
        CHECK(system(cmd) == 0);
        cs_store *s = NULL;
        cs_index_summary sum;
        memset(&sum, 0, sizeof sum);
        CHECK_OK(cs_store_open(p.prepared, &s, &err), &err);
        cs_indexer_options o;
        cs_indexer_options_init(&o);
        const char *dirs[1] = {p.tree};
        if (s) CHECK_OK(cs_index_run(p.clip, s, dirs, 1, &o, &sum, &err), &err);
        cs_index_summary_free(&sum);
        cs_store_close(s);
        snprintf(cmd, sizeof cmd, "rm '%s/gone.png'", p.tree);
        CHECK(system(cmd) == 0);
    }
    inject("index: prune, exclude, re-embed", index_prune_reembed, &p, sampled, 0);
    {
        /* 50 copies of one image, 3 of a file cut short, a name that is not UTF-8 and an
         * ignore file (with a file it ignores), indexed once without faults. */
        snprintf(p.copies, sizeof p.copies, "/tmp/cs_fault_alloc_%d_copies", (int)getpid());
        snprintf(p.copies_db, sizeof p.copies_db, "/tmp/cs_fault_alloc_%d_copies.db", (int)getpid());
        char cmd[16384];
        snprintf(cmd, sizeof cmd,
                 "mkdir -p '%s' && for i in $(seq 10 59); do cp '%s/small_31x17.png' '%s'/c$i.png; done "
                 "&& for i in 1 2 3; do head -c 300 '%s/gradient_rgb_640x480.png' > '%s'/cut$i.png; done "
                 "&& cp '%s/palette_P_200x150.png' '%s'/\"$(printf 'bad\\377.png')\" "
                 "&& echo '*.tmp' > '%s/.clipsearchignore' && echo x > '%s/ignored.tmp'",
                 p.copies, p.images, p.copies, p.images, p.copies, p.images, p.copies, p.copies,
                 p.copies);
        CHECK_MSG(system(cmd) == 0, "%s", cmd);
        cs_store *s = NULL;
        cs_index_summary sum;
        memset(&sum, 0, sizeof sum);
        CHECK_OK(cs_store_open(p.copies_db, &s, &err), &err);
        cs_indexer_options o;
        cs_indexer_options_init(&o);
        const char *dirs[1] = {p.copies};
        if (s) CHECK_OK(cs_index_run(p.clip, s, dirs, 1, &o, &sum, &err), &err);
        CHECK_MSG(sum.failed == 3, "%llu files failed", (unsigned long long)sum.failed);
        cs_index_summary_free(&sum);
        cs_store_close(s);
    }
    inject("index: copies, re-embed", index_copies, &p, sampled, 0);
    inject("duplicates + HTML", duplicates_find, &p, sampled, 0);
    inject("labels, gallery, add-text", labels_gallery_texts, &p, sampled, 0);
    {
        FILE *f = fopen(p.pairs, "w");
        static const char *const caps[] = {"a colourful gradient", "a rotated photo",
                                           "grey shapes", "random noise", "a small image",
                                           "a portrait photo", "a tall strip", "a palette image"};
        static const char *const files[] = {"gradient_rgb_640x480.png", "exif_orient6_320x240.jpg",
                                            "shapes_baseline_300x500.jpg", "noise_rgb_224x224.png",
                                            "small_31x17.png", "portrait_444_480x640.jpg",
                                            "strip_rgb_1000x37.png", "palette_P_200x150.png"};
        /* Absolute: a pairs file's relative paths are relative to its own folder. */
        char *abs = realpath(p.images, NULL);
        for (int i = 0; f && abs && i < 8; i++) fprintf(f, "%s/%s\t%s\n", abs, files[i], caps[i]);
        free(abs);
        CHECK(f && fclose(f) == 0);
    }
    memcpy(p.ft_model, p.model, sizeof p.ft_model);
    memcpy(p.ft_pairs, p.pairs, sizeof p.ft_pairs);
    /* Every layer (the last one's paths included) and the embeddings train: one scenario
     * rather than last:1 and all, which would double the slowest part of the ASan run. */
    p.ft_layers = -1;
    inject("finetune all layers", finetune_run, &p, all ? budget : emulated ? 20 : 200, 0);
    {
        /* The heads only, from a sentence-transformers folder of F16 weights to one in
         * that layout; more captions than the caption map's first size, and an image
         * that does not decode. */
        snprintf(p.ft_pairs_many, sizeof p.ft_pairs_many, "/tmp/cs_fault_alloc_%d_pairs_many.tsv",
                 (int)getpid());
        char cmd[8192];
        snprintf(cmd, sizeof cmd,
                 "{ for i in $(seq 1 7); do cat '%s'; done | awk -F'\t' '{print $1 \"\\t\" $2 \" \" NR}'; "
                 "printf '%%s/cut1.png\\tcut short\\n' '%s'; } > '%s'",
                 p.pairs, p.copies, p.ft_pairs_many);
        CHECK(system(cmd) == 0);
        snprintf(p.ft_model, sizeof p.ft_model, "%s/tests/fixtures/tiny/st-layout", src);
        memcpy(p.ft_pairs, p.ft_pairs_many, sizeof p.ft_pairs);
        p.ft_layers = 0;
        p.ft_st = true;
        inject("finetune heads, F16 sentence-transformers", finetune_run, &p,
               all ? budget : emulated ? 20 : 100, 0);
    }

    cs_clip_free(p.clip);
    char side[4400];
    snprintf(side, sizeof side,
             "rm -rf '%s' '%s.partial' '%s' '%s' '%s'-wal '%s'-shm '%s.vcache' '%s' '%s'* '%s' '%s' "
             "'%s' '%s'* '%s' '%s'*",
             p.out, p.out, p.pairs, p.indexed, p.indexed, p.indexed, p.indexed, p.tree, p.prepared,
             p.formats, p.thumbs, p.copies, p.copies_db, p.ft_pairs_many, p.pending);
    if (system(side) != 0) fprintf(stderr, "could not remove the scratch files\n");
    unlink(p.db);
    snprintf(side, sizeof side, "%s-wal", p.db);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", p.db);
    unlink(side);
    snprintf(side, sizeof side, "rm -rf '%s.vcache'", p.db);
    if (system(side) != 0) fprintf(stderr, "could not remove %s.vcache\n", p.db);
    return TEST_RESULT();
}
