/* bench_search: latency of `clipsearch search "TEXT"` over a large collection, from
 * process start to printed results (the user-visible number; target < 100 ms for 100k
 * records of ViT-B/32 size), plus an in-process breakdown (model load, text embedding,
 * store query).
 *
 *   bench_search --model DIR --db PATH [--n 100000] [--dim 512] [--runs 5]
 *                [--clipsearch BIN] [--text T] [--evict] [--threads N]
 *
 * The collection (random unit vectors, indexer-like metadata) is built through the store
 * API when missing or smaller than --n. --evict drops the pages of the model, the database
 * and the store's vector cache files from the page cache before each run (posix_fadvise
 * DONTNEED on those files only), for a cold-cache figure; without it the files stay
 * cached and "cold" means a new process. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clipsearch/query.h"

extern char **environ;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double gauss(void)
{
    /* xorshift64* + Box-Muller: reproducible without libc's rand state. */
    double u[2];
    for (int i = 0; i < 2; i++) {
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        u[i] = ((rng_state * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
    }
    return sqrt(-2 * log(u[0] + 1e-300)) * cos(2 * M_PI * u[1]);
}

static int build(const char *db, int n, int dim)
{
    cs_error err = {0};
    cs_store *s = NULL;
    cs_collection *c = NULL;
    if (cs_store_open(db, &s, &err) || cs_store_get_or_create(s, "image_vectors", dim, &c, &err)) {
        fprintf(stderr, "bench_search: %s\n", err.msg);
        return 1;
    }
    int64_t have = 0;
    cs_collection_count(c, &have, &err);
    if (have >= n) {
        printf("collection: %" PRId64 " records already in %s\n", have, db);
    } else {
        const int B = 5000;
        float *v = malloc(sizeof(float) * (size_t)B * dim);
        cs_record_in *recs = calloc(B, sizeof *recs);
        char (*ids)[64] = malloc((size_t)B * 64), (*meta)[200] = malloc((size_t)B * 200);
        double t0 = now_ms();
        for (int at = 0; at < n; at += B) {
            int cnt = n - at < B ? n - at : B;
            for (int i = 0; i < cnt; i++) {
                float *x = v + (size_t)i * dim;
                for (int j = 0; j < dim; j++) x[j] = (float)gauss();
                cs_l2_normalize(x, (size_t)dim);
                snprintf(ids[i], 64, "/photos/%03d/img_%07d.jpg", (at + i) / 1000, at + i);
                snprintf(meta[i], 200,
                         "{\"type\":\"jpg\",\"name\":\"img_%07d.jpg\",\"width\":4000,\"height\":3000,"
                         "\"bytes\":%d,\"mtime\":%d,\"hash\":\"%032x\"}",
                         at + i, 2000000 + at + i, 1700000000 + at + i, (unsigned)(at + i));
                recs[i] = (cs_record_in){ids[i], x, meta[i]};
            }
            if (cs_collection_upsert(c, recs, (size_t)cnt, &err)) {
                fprintf(stderr, "bench_search: upsert: %s\n", err.msg);
                return 1;
            }
        }
        printf("collection: %d random unit vectors (dim %d) upserted in %.1f s\n", n, dim,
               (now_ms() - t0) / 1e3);
        free(v);
        free(recs);
        free(ids);
        free(meta);
    }
    cs_collection_free(c);
    cs_store_close(s);
    return 0;
}

static void evict(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return;
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
}

/* The store's vector cache files (in "<db>.vcache"), which a cold query reads instead of
 * the database. */
static void evict_vcache(const char *db)
{
    char dir[4200], path[4500];
    snprintf(dir, sizeof dir, "%s.vcache", db);
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            evict(path);
        }
    closedir(d);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* In-process breakdown of one search. */
static void breakdown(const char *model_dir, const char *db, const char *text, int threads)
{
    cs_error err = {0};
    cs_clip_options o;
    cs_clip_options_init(&o);
    o.n_threads = threads;
    cs_clip *m = NULL;
    cs_store *s = NULL;
    cs_collection *c = NULL;
    double t0 = now_ms();
    if (cs_clip_load(model_dir, &o, &m, &err)) { fprintf(stderr, "%s\n", err.msg); return; }
    double t1 = now_ms();
    if (cs_store_open(db, &s, &err) || cs_store_get(s, "image_vectors", &c, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        cs_clip_free(m);
        return;
    }
    double t2 = now_ms();
    int dim = cs_clip_embed_dim(m);
    float *v = malloc(sizeof(float) * dim);
    cs_search_request r;
    cs_search_request_init(&r);
    r.text = text;
    /* The records name files that do not exist: keep them (each hit's file is still
     * looked up), or every query would skip them all and ask for more. */
    r.include_missing = true;
    cs_query_embed(m, &r, v, &err);
    double t3 = now_ms();
    cs_hits h = {0};
    if (cs_query_vector(c, v, dim, &r, &h, &err)) fprintf(stderr, "%s\n", err.msg);
    double t4 = now_ms();
    cs_query_embed(m, &r, v, &err);
    double t5 = now_ms();
    cs_hits_free(&h);
    cs_query_vector(c, v, dim, &r, &h, &err);
    double t6 = now_ms();
    printf("in-process: model load %.1f ms, store open %.1f ms, text embedding %.1f ms "
           "(again: %.1f ms), top-10 query %.1f ms (again: %.1f ms)\n",
           t1 - t0, t2 - t1, t3 - t2, t5 - t4, t4 - t3, t6 - t5);
    cs_hits_free(&h);
    /* What a filter adds per query: the warnings' sample of the collection (a fixed 1000
     * records, cs_collection_filter_warnings) and the filtered scan, median of 5. */
    const char *filters[] = {"{\"type\":{\"$eq\":\"jpg\"}}", "{\"bytes\":{\"$gt\":\"1\"}}"};
    for (size_t f = 0; f < 2; f++) {
        double tw[5], tq[5];
        char *warning = NULL;
        for (int i = 0; i < 5; i++) {
            free(warning);
            warning = NULL;
            double a = now_ms();
            cs_collection_filter_warnings(c, filters[f], &warning, &err);
            double b = now_ms();
            cs_search_request fr = r;
            fr.filter_json = filters[f];
            cs_query_vector(c, v, dim, &fr, &h, &err);
            double e = now_ms();
            cs_hits_free(&h);
            tw[i] = b - a;
            tq[i] = e - b;
        }
        qsort(tw, 5, sizeof *tw, cmp_d);
        qsort(tq, 5, sizeof *tq, cmp_d);
        printf("filter %s: warnings check %.2f ms (%s), filtered top-10 query %.1f ms "
               "(includes the check), medians of 5\n",
               filters[f], tw[2], warning ? "warns" : "no warning", tq[2]);
        free(warning);
    }
    free(v);
    cs_collection_free(c);
    cs_store_close(s);
    cs_clip_free(m);
}

int main(int argc, char **argv)
{
    const char *model = NULL, *db = NULL, *bin = "build/clipsearch", *text = "a dog playing in the snow";
    int n = 100000, dim = 512, runs = 5, threads = 0;
    bool do_evict = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--model") && v) model = v, i++;
        else if (!strcmp(a, "--db") && v) db = v, i++;
        else if (!strcmp(a, "--clipsearch") && v) bin = v, i++;
        else if (!strcmp(a, "--text") && v) text = v, i++;
        else if (!strcmp(a, "--n") && v) n = atoi(v), i++;
        else if (!strcmp(a, "--dim") && v) dim = atoi(v), i++;
        else if (!strcmp(a, "--runs") && v) runs = atoi(v), i++;
        else if (!strcmp(a, "--threads") && v) threads = atoi(v), i++;
        else if (!strcmp(a, "--evict")) do_evict = true;
        else {
            fprintf(stderr, "usage: bench_search --model DIR --db PATH [--n N] [--dim D] "
                            "[--runs R] [--clipsearch BIN] [--text T] [--evict] [--threads N]\n");
            return 2;
        }
    }
    if (!model || !db || n < 1 || dim < 1 || runs < 1) {
        fprintf(stderr, "bench_search: --model and --db are required\n");
        return 2;
    }
    if (build(db, n, dim)) return 1;
    breakdown(model, db, text, threads);

    char safetensors[4200], threads_env[32];
    snprintf(safetensors, sizeof safetensors, "%s/model.safetensors", model);
    snprintf(threads_env, sizeof threads_env, "%d", threads);
    if (threads > 0) setenv("OPENBLAS_NUM_THREADS", threads_env, 1);
    char *args[] = {(char *)bin, "search", (char *)text, "--db", (char *)db, "--model",
                    (char *)model, "-k", "10", "--include-missing", NULL};
    double *t = calloc((size_t)runs, sizeof *t);
    for (int r = 0; r < runs; r++) {
        if (do_evict) {
            evict(safetensors);
            evict(db);
            evict_vcache(db);
        }
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        pid_t pid;
        double t0 = now_ms();
        if (posix_spawn(&pid, bin, &fa, NULL, args, environ) != 0) {
            perror(bin);
            return 1;
        }
        int st = 0;
        waitpid(pid, &st, 0);
        t[r] = now_ms() - t0;
        posix_spawn_file_actions_destroy(&fa);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "bench_search: clipsearch search failed (status %d)\n", st);
            return 1;
        }
    }
    double first = t[0];
    qsort(t, (size_t)runs, sizeof *t, cmp_d);
    printf("clipsearch search \"%s\" over %d x %d-d, process start to exit (%s page cache), "
           "%d runs: first %.1f ms, min %.1f ms, median %.1f ms, max %.1f ms (target < 100 ms)\n",
           text, n, dim, do_evict ? "cold: model+db evicted" : "warm", runs, first, t[0],
           t[runs / 2], t[runs - 1]);
    free(t);
    return 0;
}
