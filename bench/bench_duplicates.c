/* bench_duplicates: time of the duplicate grouping (clipsearch/duplicates.h, the core that
 * `clipsearch duplicates` runs after loading the vectors) on random unit vectors with
 * planted near-duplicates, median of --runs runs.
 *
 *   bench_duplicates [--n 100000] [--dim 512] [--runs 3] [--threshold 0.95] [--block 1024]
 *                    [--float]
 *
 * 1% of the rows are replaced by near copies (cos ~0.99) of other rows, and 0.2% carry the
 * content key of another row (exact copies); the run checks that every planted pair is
 * grouped. The rate is the all-pairs dot products per second (n^2/2 of them). The
 * library's default pass is the int8 prefilter where oneDNN is built in (threads:
 * OMP_NUM_THREADS); --float forces the float32 sgemm pass (OPENBLAS_NUM_THREADS). Both
 * default to every core. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clipsearch/clip.h"
#include "clipsearch/duplicates.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double gauss(void)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        u[i] = ((rng_state * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
    }
    return sqrt(-2 * log(u[0] + 1e-300)) * cos(2 * M_PI * u[1]);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    long n = 100000, dim = 512, runs = 3, block = 1024;
    double threshold = 0.95;
    int use_float = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--float")) {
            use_float = 1;
            memmove(argv + i, argv + i + 1, sizeof *argv * (size_t)(argc - i));
            argc--;
            break;
        }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n")) n = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--dim")) dim = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs")) runs = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--block")) block = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--threshold")) threshold = atof(argv[i + 1]);
        else {
            fprintf(stderr, "bench_duplicates: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (n < 100 || dim < 1 || runs < 1 || runs > 100) {
        fprintf(stderr, "bench_duplicates: need --n >= 100, --dim >= 1, --runs 1..100\n");
        return 2;
    }
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)dim);
    char **keys = calloc((size_t)n, sizeof *keys);
    char (*keybuf)[24] = malloc((size_t)n * 24);
    if (!x || !keys || !keybuf) {
        fprintf(stderr, "bench_duplicates: out of memory\n");
        return 1;
    }
    for (long i = 0; i < n; i++) {
        float *v = x + (size_t)i * dim;
        for (long j = 0; j < dim; j++) v[j] = (float)gauss();
        cs_l2_normalize(v, (size_t)dim);
        snprintf(keybuf[i], 24, "h%ld", i);
        keys[i] = keybuf[i];
    }
    /* Planted: row d = near copy of row s for d = s + n/2 (every 100th s); every 500th
     * row from 1 shares the key of row 0 + its index - 1 (an exact copy by hash). */
    long planted = 0, copies = 0;
    for (long s = 0; s < n / 2; s += 100) {
        float *d = x + (size_t)(s + n / 2) * dim;
        const float *src = x + (size_t)s * dim;
        for (long j = 0; j < dim; j++) d[j] = src[j] + (float)(0.005 * gauss());
        cs_l2_normalize(d, (size_t)dim);
        planted++;
    }
    for (long i = 1 + 7; i < n; i += 500) {
        keys[i] = keybuf[i - 7];
        copies++;
    }
    printf("duplicates: %ld x %ld-d, threshold %.2f, block %ld, %ld planted near copies, "
           "%ld exact copies by key\n", n, dim, threshold, block, planted, copies);
    cs_dup_options opt;
    cs_dup_options_init(&opt);
    opt.threshold = threshold;
    opt.block_rows = (int)block;
    opt.int8_prefilter = !use_float;
    double *t = malloc(sizeof(double) * (size_t)runs);
    int bad = 0;
    for (long r = 0; r < runs; r++) {
        cs_dup_groups g;
        cs_error err = {0};
        double t0 = now();
        if (cs_duplicates_group(x, (size_t)n, (int)dim, (const char *const *)keys, &opt, &g,
                                &err) != 0) {
            fprintf(stderr, "bench_duplicates: %s\n", err.msg);
            return 1;
        }
        t[r] = now() - t0;
        size_t in_groups = 0;
        for (size_t k = 0; k < g.n; k++) in_groups += g.items[k].n;
        printf("run %ld: %.3f s (%s pass), %zu groups, %zu records in groups, %zu pairs >= "
               "threshold\n", r + 1, t[r], g.pass, g.n, in_groups, g.pairs);
        fflush(stdout);
        if (g.n != (size_t)(planted + copies)) bad = 1;
        cs_dup_groups_free(&g);
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_d);
    double med = t[runs / 2];
    printf("median of %ld: %.3f s (%.2f G dot products/s, %.0f GFLOP/s)\n", runs, med,
           (double)n * n / 2 / med / 1e9, (double)n * n * dim / med / 1e9);
    if (bad) printf("WARNING: expected %ld groups (the planted pairs)\n", planted + copies);
    free(t);
    free(x);
    free(keys);
    free(keybuf);
    return bad;
}
