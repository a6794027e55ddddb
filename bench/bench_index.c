/* bench_index: end-to-end `clipsearch index` throughput against the embed-only rate.
 *
 *   bench_index --model DIR --images DIR [--db PATH] [--jobs N] [--batch N] [--threads N]
 *               [--rounds R]
 *
 * Three child processes (so each peak RSS is its own):
 *   1. embed-only: every image is decoded and preprocessed first (on one thread; its CPU
 *      time is reported), then only cs_clip_embed_pixels runs, in batches: the model's
 *      ceiling;
 *   2. index: cs_index_run on the folder into a fresh SQLite file (walk, read, hash,
 *      decode, preprocess on --jobs threads overlapped with batched inference, upserts);
 *   3. index again: everything unchanged (the incremental path: no decoding).
 * Prints images/s, the ratio index / embed-only, and peak RSS (ru_maxrss) of each, and the
 * CPU-bound limit of step 2: inference on every CPU plus the decoding's CPU time spread
 * over them, perfectly overlapped (what the indexer could reach on this machine). Steps 1
 * and 2 alternate R times (default 3) and medians are reported, so that load from other
 * processes on a shared machine hits both sides alike. */
#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/walk.h"
#include "clipsearch/clip.h"
#include "clipsearch/indexer.h"
#include "clipsearch/store.h"

static int cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static double median(double *v, int n)
{
    double c[50];
    memcpy(c, v, (size_t)n * sizeof *v);
    qsort(c, (size_t)n, sizeof *c, cmp_d);
    return n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
}

static double thread_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    const char *model, *images, *db;
    int jobs, batch, threads, rounds;
    int precision;      /* CS_PRECISION_* of the model in both children */
    bool fast_decode;   /* the indexer decodes with libjpeg DCT scaling */
} args;

typedef struct {
    char **paths;
    size_t n, cap;
} list;

static int collect(const cs__walk_entry *e, void *user)
{
    list *l = user;
    if (e->error || !S_ISREG(e->st->st_mode)) return 0;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->paths = realloc(l->paths, l->cap * sizeof *l->paths);
    }
    l->paths[l->n++] = strdup(e->path);
    return 0;
}

static cs_clip *load(const args *a)
{
    cs_clip_options o;
    cs_clip_options_init(&o);
    o.n_threads = a->threads;
    o.precision = a->precision;
    cs_clip *m = NULL;
    cs_error err = {0};
    if (cs_clip_load(a->model, &o, &m, &err) != 0) {
        fprintf(stderr, "bench_index: %s\n", err.msg);
        exit(1);
    }
    return m;
}

/* Child 1: the model alone. Writes "n seconds" to fd. */
static int embed_only(const args *a, int fd)
{
    cs_clip *m = load(a);
    list l = {0};
    cs_error err = {0};
    cs__walk(a->images, collect, &l, &err);
    const cs_preprocess_config *pp = cs_clip_preprocess_config(m);
    size_t per = (size_t)3 * pp->crop_height * pp->crop_width;
    float *pix = malloc(l.n * per * sizeof(float));
    size_t n = 0;
    cs_image_options io;
    cs_image_options_init(&io);
    io.fast_jpeg_downscale = a->fast_decode;
    /* The decoding's CPU cost, which the indexer must fit beside inference on the same
     * cores: this loop runs on one thread. */
    double d0 = thread_cpu_now();
    for (size_t i = 0; i < l.n; i++) {
        cs_image img = {0};
        if (cs_image_decode_file(l.paths[i], &io, &img, NULL, &err) != 0) continue;
        if (cs_preprocess_image(pp, &img, pix + n * per, &err) == 0) n++;
        cs_image_free(&img);
    }
    double dec = thread_cpu_now() - d0;
    int dim = cs_clip_embed_dim(m), b = a->batch;
    float *out = malloc((size_t)b * dim * sizeof(float));
    double t0 = now();
    for (size_t i = 0; i < n; i += (size_t)b) {
        size_t k = n - i < (size_t)b ? n - i : (size_t)b;
        if (cs_clip_embed_pixels(m, pix + i * per, k, out, &err) != 0) {
            fprintf(stderr, "bench_index: %s\n", err.msg);
            return 1;
        }
    }
    double t = now() - t0;
    dprintf(fd, "%zu %.6f %.6f\n", n, t, dec);
    return 0;
}

/* Child 4 (fast modes only): agreement with the exact path on these photos: each image
 * embedded by an fp32 model from exact pixels, and by the run's model from the run's
 * decoding. Writes "n min_cosine median_cosine" to fd. */
static int cmp_f(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static int agreement(const args *a, int fd)
{
    args exact = *a;
    exact.precision = CS_PRECISION_FP32;
    cs_clip *m32 = load(&exact), *m = load(a);
    list l = {0};
    cs_error err = {0};
    cs__walk(a->images, collect, &l, &err);
    const cs_preprocess_config *pp = cs_clip_preprocess_config(m);
    size_t per = (size_t)3 * pp->crop_height * pp->crop_width;
    int dim = cs_clip_embed_dim(m);
    float *px = malloc(2 * per * sizeof(float)), *e = malloc(2 * (size_t)dim * sizeof(float));
    double *cs = malloc((l.n + 1) * sizeof(double));
    size_t n = 0;
    for (size_t i = 0; i < l.n; i++) {
        int ok = 1;
        for (int k = 0; k < 2 && ok; k++) {
            cs_image_options io;
            cs_image_options_init(&io);
            io.fast_jpeg_downscale = k == 1 && a->fast_decode;
            cs_image img = {0};
            ok = cs_image_decode_file(l.paths[i], &io, &img, NULL, &err) == 0 &&
                 cs_preprocess_image(pp, &img, px + k * per, &err) == 0 &&
                 cs_clip_embed_pixels(k ? m : m32, px + k * per, 1, e + k * dim, &err) == 0;
            cs_image_free(&img);
        }
        if (!ok) continue;
        double d = 0, x = 0, y = 0;
        for (int j = 0; j < dim; j++) {
            d += (double)e[j] * e[dim + j];
            x += (double)e[j] * e[j];
            y += (double)e[dim + j] * e[dim + j];
        }
        cs[n++] = d / sqrt(x * y);
    }
    qsort(cs, n, sizeof *cs, cmp_f);
    dprintf(fd, "%zu %.6f %.6f\n", n, n ? cs[0] : 0.0, n ? cs[n / 2] : 0.0);
    return 0;
}

/* Children 2 and 3: the indexer. */
static int index_run(const args *a, int fd)
{
    cs_clip *m = load(a);
    cs_store *s = NULL;
    cs_error err = {0};
    if (cs_store_open(a->db, &s, &err) != 0) {
        fprintf(stderr, "bench_index: %s\n", err.msg);
        return 1;
    }
    cs_indexer_options opt;
    cs_indexer_options_init(&opt);
    opt.jobs = a->jobs;
    opt.batch = a->batch;
    opt.fast_decode = a->fast_decode;
    cs_index_summary sum;
    const char *dirs[] = {a->images};
    double t0 = now();
    int rc = cs_index_run(m, s, dirs, 1, &opt, &sum, &err);
    double t = now() - t0;
    if (rc != 0) {
        fprintf(stderr, "bench_index: %s\n", err.msg);
        return 1;
    }
    dprintf(fd, "%llu %.6f %llu %llu\n", (unsigned long long)(sum.indexed + sum.reused), t,
            (unsigned long long)sum.unchanged, (unsigned long long)sum.failed);
    cs_index_summary_free(&sum);
    cs_store_close(s);
    cs_clip_free(m);
    return 0;
}

static int child(const args *a, int (*fn)(const args *, int), char *buf, size_t n, long *rss_kb)
{
    int p[2];
    if (pipe(p) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        _exit(fn(a, p[1]));
    }
    close(p[1]);
    ssize_t got = read(p[0], buf, n - 1);
    buf[got > 0 ? got : 0] = '\0';
    close(p[0]);
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    *rss_kb = ru.ru_maxrss;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 && got > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    args a = {NULL, NULL, "/tmp/bench_index.db", 0, 32, 0, 3, CS_PRECISION_FP32, false};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) a.model = argv[i + 1];
        else if (!strcmp(argv[i], "--images")) a.images = argv[i + 1];
        else if (!strcmp(argv[i], "--db")) a.db = argv[i + 1];
        else if (!strcmp(argv[i], "--jobs")) a.jobs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) a.batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) a.threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds")) a.rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--precision"))
            a.precision = !strcmp(argv[i + 1], "bf16") ? CS_PRECISION_BF16 : CS_PRECISION_FP32;
        else if (!strcmp(argv[i], "--fast-decode")) a.fast_decode = !strcmp(argv[i + 1], "on");
    }
    if (!a.model || !a.images || a.batch < 1) {
        fprintf(stderr, "usage: bench_index --model DIR --images DIR [--db PATH] [--jobs N] "
                        "[--batch N] [--threads N] [--precision fp32|bf16] [--fast-decode on|off]\n");
        return 2;
    }
    if (a.rounds < 1 || a.rounds > 50) a.rounds = 3;
    double er[50], ir[50], ratio[50], it[50], dc[50], lim[50];
    long r1 = 0, r2 = 0, r3;
    unsigned long long n2 = 0, f2 = 0;
    char b1[256], b2[256], b3[256];
    for (int k = 0; k < a.rounds; k++) {
        long x1, x2;
        unlink(a.db);
        if (child(&a, embed_only, b1, sizeof b1, &x1) != 0) return 1;
        if (child(&a, index_run, b2, sizeof b2, &x2) != 0) return 1;
        unsigned long long n1, u2;
        double t1, t2, d1;
        if (sscanf(b1, "%llu %lf %lf", &n1, &t1, &d1) != 3 ||
            sscanf(b2, "%llu %lf %llu %llu", &n2, &t2, &u2, &f2) != 4)
            return 1;
        er[k] = n1 / t1;
        ir[k] = n2 / t2;
        it[k] = t2;
        ratio[k] = ir[k] / er[k];
        /* The CPU-bound limit: inference keeps every CPU busy for t1, decoding needs d1
         * more CPU seconds; perfectly overlapped they take t1 + d1 / CPUs. */
        dc[k] = d1 / (double)n1;
        lim[k] = n1 / (t1 + d1 / (double)sysconf(_SC_NPROCESSORS_ONLN));
        if (x1 > r1) r1 = x1;
        if (x2 > r2) r2 = x2;
        printf("  round %d: embed-only %.2f images/s, index %.2f images/s, ratio %.2f\n", k + 1,
               er[k], ir[k], ratio[k]);
    }
    if (child(&a, index_run, b3, sizeof b3, &r3) != 0) return 1;
    unsigned long long n3, u3, f3;
    double t3;
    if (sscanf(b3, "%llu %lf %llu %llu", &n3, &t3, &u3, &f3) != 4) return 1;
    printf("mode: %s, %s decoding\n", a.precision == CS_PRECISION_BF16 ? "bf16" : "fp32",
           a.fast_decode ? "fast" : "exact");
    printf("images: %llu embedded by the indexer (%llu failed), batch %d, jobs %d, threads %d "
           "(0 = all), %ld CPUs; medians of %d rounds\n", n2, f2, a.batch, a.jobs, a.threads,
           sysconf(_SC_NPROCESSORS_ONLN), a.rounds);
    printf("embed-only (pre-decoded, model calls only): %7.2f images/s   peak RSS %6.0f MiB\n",
           median(er, a.rounds), r1 / 1024.0);
    printf("index (walk+read+hash+decode+embed+upsert): %7.2f images/s   peak RSS %6.0f MiB   "
           "%.2f s   ratio %.2f x embed-only\n", median(ir, a.rounds), r2 / 1024.0,
           median(it, a.rounds), median(ratio, a.rounds));
    printf("decode+preprocess (one thread):              %7.1f ms/image (CPU)\n",
           1e3 * median(dc, a.rounds));
    printf("CPU-bound limit of index on %ld CPUs:          %7.2f images/s   (ratio %.2f x embed-only); "
           "index reaches %.2f of it\n", sysconf(_SC_NPROCESSORS_ONLN), median(lim, a.rounds),
           median(lim, a.rounds) / median(er, a.rounds), median(ir, a.rounds) / median(lim, a.rounds));
    printf("index again (all %llu unchanged):           %7.3f s          peak RSS %6.0f MiB\n", u3,
           t3, r3 / 1024.0);
    if (a.precision != CS_PRECISION_FP32 || a.fast_decode) {
        char b4[256];
        long r4;
        unsigned long long n4;
        double lo, mid;
        if (child(&a, agreement, b4, sizeof b4, &r4) != 0 ||
            sscanf(b4, "%llu %lf %lf", &n4, &lo, &mid) != 3)
            return 1;
        printf("agreement with fp32 + exact decoding (%s%s%s), %llu photos: min cosine %.6f, "
               "median %.6f\n", a.precision == CS_PRECISION_BF16 ? "bf16" : "",
               a.precision == CS_PRECISION_BF16 && a.fast_decode ? " + " : "",
               a.fast_decode ? "fast decode" : "", n4, lo, mid);
    }
    unlink(a.db);
    return 0;
}
