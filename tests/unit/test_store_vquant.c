/* Compressed copies (store/vquant.c): the scan through an fp16 or int8 copy must return
 * exactly what the float32 scan returns (same rows, same distances bit for bit, same
 * order, ties and NaN included) for every measure it serves, with and without a row
 * subset, on 1 and 2 threads; the copy file must round-trip and be refused when stale or
 * damaged. */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/vcache.h"
#include "store/vquant.h"
#include "store/vscan.h"
#include "test.h"

#define DIM 96
#define N 20000   /* N * DIM >= 2^21: large enough for the scans to use threads */

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) & 0xFFFFFF) / (float)0xFFFFFF - 0.5f;
}

/* Clustered rows, like image embeddings, plus the hard cases: exact copies (ties across
 * the k-th place), a zero row (NaN under cosine), tiny and huge rows, a one-hot row. */
static void fill(cs__vcache *vc)
{
    float centres[16][DIM];
    for (int c = 0; c < 16; c++)
        for (int i = 0; i < DIM; i++) centres[c][i] = frand();
    CHECK(!cs__vcache_init(vc, DIM, N, 7));
    float v[DIM];
    for (int r = 0; r < N; r++) {
        int c = r % 16;
        for (int i = 0; i < DIM; i++) v[i] = centres[c][i] + 0.15f * frand();
        if (r % 997 == 5) memcpy(v, vc->vecs, sizeof v);            /* copies of row 0 */
        if (r == 333) memset(v, 0, sizeof v);                        /* zero */
        if (r == 444) for (int i = 0; i < DIM; i++) v[i] *= 1e-20f;  /* tiny */
        if (r == 555) for (int i = 0; i < DIM; i++) v[i] *= 1e6f;    /* huge */
        if (r == 666) { memset(v, 0, sizeof v); v[3] = 1; }
        if (r == 777) for (int i = 0; i < DIM; i++) v[i] = i % 3 ? 0.0f : 2e-38f;   /* 127/max overflows */
        CHECK(!cs__vcache_append(vc, 1000 + r, v, cs__vscan_norm2(v, DIM), "{}", 2));
    }
}

static bool same_hits(const cs__vscan_hit *a, long na, const cs__vscan_hit *b, long nb)
{
    if (na != nb) return false;
    for (long i = 0; i < na; i++)
        if (a[i].row != b[i].row || memcmp(&a[i].dist, &b[i].dist, sizeof a[i].dist)) return false;
    return true;
}

static int compare_all(const cs__vcache *vc, const char *what)
{
    static const cs_measure ms[] = {CS_MEASURE_COSINE, CS_MEASURE_L2, CS_MEASURE_IP, CS_MEASURE_L1};
    static const size_t ks[] = {1, 10, 100};
    uint32_t *rows = malloc(N * sizeof *rows), *live = malloc(N * sizeof *live),
             *dead = malloc(N * sizeof *dead);
    size_t nrows = 0, nlive = 0, ndead = 0;
    for (uint32_t r = 0; r < N; r++) {
        if (r % 3 != 1) rows[nrows++] = r;
        /* Dead positions (skip): every 7th row and row 0, whose copies tie. */
        if (r % 7 == 3 || r == 0) dead[ndead++] = r;
        else live[nlive++] = r;
    }
    cs__vscan_hit a[100], b[100];
    int bad = 0;
    for (int qi = 0; qi < 7; qi++) {
        float q[DIM];
        /* Queries near a row, near the copies of row 0, random, the zero vector, and one
         * whose float32 norm overflows (every cosine distance 1 in the scan). */
        const float *near = vc->vecs + (size_t)(qi * 1234 % N) * DIM;
        for (int i = 0; i < DIM; i++)
            q[i] = qi == 6 ? 1e18f : qi == 5 ? 0.0f : qi == 4 ? frand() : near[i] + 0.05f * frand();
        if (qi == 1) memcpy(q, vc->vecs, sizeof q);
        for (int t = 1; t <= 2; t++) {
            setenv("CLIPSEARCH_SCAN_THREADS", t == 1 ? "1" : "2", 1);
            for (size_t mi = 0; mi < 4; mi++)
                for (size_t ki = 0; ki < 3; ki++)
                    for (int sub = 0; sub < 3; sub++) {
                        /* 0: every row; 1: a row subset; 2: every row but the dead. */
                        const uint32_t *r = sub == 1 ? rows : sub == 2 ? live : NULL;
                        size_t n = sub == 1 ? nrows : sub == 2 ? nlive : N;
                        long na = cs__vscan_topk(ms[mi], q, vc->vecs, vc->norms2, DIM, r, n, ks[ki], a);
                        long nb = sub == 2 ? cs__vscan_topk_quant(ms[mi], q, vc, NULL, N, dead, ndead,
                                                                  ks[ki], b)
                                           : cs__vscan_topk_quant(ms[mi], q, vc, r, n, NULL, 0, ks[ki], b);
                        if (!same_hits(a, na, b, nb) && bad++ < 5)
                            fprintf(stderr, "%s: query %d measure %s k %zu subset %d threads %d "
                                    "differs\n", what, qi, cs_measure_name(ms[mi]), ks[ki], sub, t);
                    }
        }
    }
    unsetenv("CLIPSEARCH_SCAN_THREADS");
    free(rows);
    free(live);
    free(dead);
    return bad;
}

int main(void)
{
    cs__vcache vc;
    fill(&vc);
    char dir[] = "/tmp/cs_vquant_XXXXXX";
    CHECK(mkdtemp(dir));
    char bin[256], file[256];
    snprintf(bin, sizeof bin, "%s/t.bin", dir);

    cs_vector_copy kinds[] = {CS_VECTOR_COPY_FP16, CS_VECTOR_COPY_INT8};
    for (int ki = 0; ki < 2; ki++) {
        cs_vector_copy kind = kinds[ki];
        CHECK(!cs__vquant_build(&vc, kind));
        CHECK(vc.copy == kind && cs__vquant_usable(&vc, CS_MEASURE_COSINE) &&
              !cs__vquant_usable(&vc, CS_MEASURE_L1));
        CHECK_MSG(compare_all(&vc, cs_vector_copy_name(kind)) == 0, "%s scan differs",
                  cs_vector_copy_name(kind));

        /* The file: written from runs (two pieces, one without a copy), mapped back. */
        CHECK(!cs__vquant_path(bin, kind, file, sizeof file));
        cs__vcache plain;
        CHECK(!cs__vcache_init(&plain, DIM, N, 7));
        CHECK(!cs__vcache_append_rows(&plain, &vc, 0, N));
        cs__vcache_run runs[2] = {{&vc, 0, N / 3}, {&plain, N / 3, N}};
        CHECK(!cs__vquant_save_runs(runs, 2, kind, DIM, 7, "t", file, NULL));
        CHECK(!cs__vquant_open(file, "t", &plain, kind));
        CHECK(plain.cmap != NULL && plain.copy == kind);
        size_t es = kind == CS_VECTOR_COPY_INT8 ? 1 : 2;
        CHECK(!memcmp(plain.cvecs, vc.cvecs, (size_t)N * DIM * es));
        if (kind == CS_VECTOR_COPY_INT8) CHECK(!memcmp(plain.cscale, vc.cscale, N * sizeof(float)));
        CHECK_MSG(compare_all(&plain, "mapped") == 0, "mapped copy scan differs");
        /* Stale (other generation, table, row count) or damaged: refused. */
        cs__vquant_release(&plain);
        plain.gen = 8;
        CHECK(cs__vquant_open(file, "t", &plain, kind) == 1);
        plain.gen = 7;
        CHECK(cs__vquant_open(file, "u", &plain, kind) == 1);
        CHECK(cs__vquant_open(file, "t", &plain, kinds[1 - ki]) == 1);
        plain.n--;
        CHECK(cs__vquant_open(file, "t", &plain, kind) == 1);
        plain.n++;
        CHECK(truncate(file, 1000) == 0);
        CHECK(cs__vquant_open(file, "t", &plain, kind) == 1);
        int fd = open(file, O_WRONLY);
        CHECK(fd >= 0 && pwrite(fd, "X", 1, 20) == 1 && close(fd) == 0);
        CHECK(cs__vquant_open(file, "t", &plain, kind) == 1);
        CHECK(plain.copy == CS_VECTOR_COPY_NONE);
        unlink(file);
        cs__vcache_free(&plain);
    }
    CHECK(!cs__vquant_build(&vc, CS_VECTOR_COPY_NONE) && vc.copy == CS_VECTOR_COPY_NONE);
    cs__vcache_free(&vc);
    rmdir(dir);

    /* Names. */
    cs_vector_copy c;
    cs_error err = {0};
    CHECK(!cs_vector_copy_parse("int8", &c, &err) && c == CS_VECTOR_COPY_INT8);
    CHECK(!cs_vector_copy_parse("fp16", &c, &err) && c == CS_VECTOR_COPY_FP16);
    CHECK(!cs_vector_copy_parse("none", &c, &err) && c == CS_VECTOR_COPY_NONE);
    CHECK(cs_vector_copy_parse("int4", &c, &err) == CS_E_ARG && strstr(err.msg, "int4"));
    return TEST_RESULT();
}
