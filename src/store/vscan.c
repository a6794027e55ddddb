/* Exact top-k scan (see vscan.h). The kernels keep 16 or 8 float32 partial sums per
 * lane group, which differs from pgvector's summation order only in rounding: the
 * spec compares distances with a 1e-6 + 1e-5|x| tolerance for exactly this reason. */
#include "store/vscan.h"

#include "base/pool.h"
#include "base/simd.h"
#if CS_SIMD_X86
#include <immintrin.h>
#elif CS_SIMD_NEON
#include <arm_neon.h>
#endif

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Per-row sums needed by each measure: dot (cosine, ip), squared diff (l2), abs diff (l1). */
typedef enum { K_DOT, K_L2, K_L1 } kind;

static float k_generic(kind k, const float *a, const float *b, size_t dim)
{
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= dim; i += 8)
        for (int j = 0; j < 8; j++) {
            float x = a[i + j], y = b[i + j];
            acc[j] += k == K_DOT ? x * y : k == K_L2 ? (x - y) * (x - y) : fabsf(x - y);
        }
    float s = 0;
    for (; i < dim; i++) {
        float x = a[i], y = b[i];
        s += k == K_DOT ? x * y : k == K_L2 ? (x - y) * (x - y) : fabsf(x - y);
    }
    for (int j = 0; j < 8; j++) s += acc[j];
    return s;
}

#if CS_SIMD_X86
__attribute__((target("avx2,fma"))) static float hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma"))) static float k_avx2(kind k, const float *a, const float *b,
                                                        size_t dim)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m256 x0 = _mm256_loadu_ps(a + i), y0 = _mm256_loadu_ps(b + i);
        __m256 x1 = _mm256_loadu_ps(a + i + 8), y1 = _mm256_loadu_ps(b + i + 8);
        if (k == K_DOT) {
            s0 = _mm256_fmadd_ps(x0, y0, s0);
            s1 = _mm256_fmadd_ps(x1, y1, s1);
        } else {
            __m256 d0 = _mm256_sub_ps(x0, y0), d1 = _mm256_sub_ps(x1, y1);
            if (k == K_L2) {
                s0 = _mm256_fmadd_ps(d0, d0, s0);
                s1 = _mm256_fmadd_ps(d1, d1, s1);
            } else {
                s0 = _mm256_add_ps(s0, _mm256_and_ps(d0, absmask));
                s1 = _mm256_add_ps(s1, _mm256_and_ps(d1, absmask));
            }
        }
    }
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; i < dim; i++) {
        float x = a[i], y = b[i];
        s += k == K_DOT ? x * y : k == K_L2 ? (x - y) * (x - y) : fabsf(x - y);
    }
    return s;
}

__attribute__((target("avx512f"))) static float k_avx512(kind k, const float *a, const float *b,
                                                         size_t dim)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m512 x0 = _mm512_loadu_ps(a + i), y0 = _mm512_loadu_ps(b + i);
        __m512 x1 = _mm512_loadu_ps(a + i + 16), y1 = _mm512_loadu_ps(b + i + 16);
        if (k == K_DOT) {
            s0 = _mm512_fmadd_ps(x0, y0, s0);
            s1 = _mm512_fmadd_ps(x1, y1, s1);
        } else {
            __m512 d0 = _mm512_sub_ps(x0, y0), d1 = _mm512_sub_ps(x1, y1);
            if (k == K_L2) {
                s0 = _mm512_fmadd_ps(d0, d0, s0);
                s1 = _mm512_fmadd_ps(d1, d1, s1);
            } else {
                s0 = _mm512_add_ps(s0, _mm512_abs_ps(d0));
                s1 = _mm512_add_ps(s1, _mm512_abs_ps(d1));
            }
        }
    }
    if (i + 16 <= dim) {
        __m512 x0 = _mm512_loadu_ps(a + i), y0 = _mm512_loadu_ps(b + i);
        if (k == K_DOT) s0 = _mm512_fmadd_ps(x0, y0, s0);
        else {
            __m512 d0 = _mm512_sub_ps(x0, y0);
            s0 = k == K_L2 ? _mm512_fmadd_ps(d0, d0, s0) : _mm512_add_ps(s0, _mm512_abs_ps(d0));
        }
        i += 16;
    }
    float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    for (; i < dim; i++) {
        float x = a[i], y = b[i];
        s += k == K_DOT ? x * y : k == K_L2 ? (x - y) * (x - y) : fabsf(x - y);
    }
    return s;
}

#endif /* CS_SIMD_X86 */

#if CS_SIMD_NEON
/* aarch64: NEON is always there; four 4-lane accumulators hide the FMA latency. */
static float k_neon(kind k, const float *a, const float *b, size_t dim)
{
    float32x4_t s[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
    size_t i = 0;
    for (; i + 16 <= dim; i += 16)
        for (int j = 0; j < 4; j++) {
            float32x4_t x = vld1q_f32(a + i + 4 * j), y = vld1q_f32(b + i + 4 * j);
            if (k == K_DOT) s[j] = vfmaq_f32(s[j], x, y);
            else {
                float32x4_t d = vsubq_f32(x, y);
                s[j] = k == K_L2 ? vfmaq_f32(s[j], d, d) : vaddq_f32(s[j], vabsq_f32(d));
            }
        }
    float r = vaddvq_f32(vaddq_f32(vaddq_f32(s[0], s[1]), vaddq_f32(s[2], s[3])));
    for (; i < dim; i++) {
        float x = a[i], y = b[i];
        r += k == K_DOT ? x * y : k == K_L2 ? (x - y) * (x - y) : fabsf(x - y);
    }
    return r;
}
#endif

typedef float (*kernel_fn)(kind, const float *, const float *, size_t);

static kernel_fn pick_kernel(void)
{
#if CS_SIMD_X86
    if (cs__cpu_has(CS_CPU_AVX512F)) return k_avx512;
    if (cs__cpu_has(CS_CPU_AVX2_FMA)) return k_avx2;
#elif CS_SIMD_NEON
    return k_neon;
#endif
    return k_generic;
}

float cs__vscan_norm2(const float *v, size_t dim)
{
    return pick_kernel()(K_DOT, v, v, dim);
}

static double finish(cs_measure m, float s, float qn, float bn)
{
    switch (m) {
    case CS_MEASURE_L2: return sqrt((double)s);
    case CS_MEASURE_L1: return (double)s;
    case CS_MEASURE_IP: return -(double)s;
    case CS_MEASURE_COSINE:
    default: {
        double sim = (double)s / sqrt((double)qn * (double)bn);
        if (sim > 1) sim = 1.0;
        else if (sim < -1) sim = -1.0;
        return 1.0 - sim;   /* NaN when a norm is zero (0/0), sorted last */
    }
    }
}

static kind kind_of(cs_measure m)
{
    return m == CS_MEASURE_L2 ? K_L2 : m == CS_MEASURE_L1 ? K_L1 : K_DOT;
}

double cs__vscan_distance(cs_measure m, const float *q, float qn2, const float *v, float vn2,
                          size_t dim)
{
    return finish(m, pick_kernel()(kind_of(m), q, v, dim), qn2, vn2);
}

/* "a ranks after b": larger distance, NaN after every number, and between equal distances
 * the later row. A total order, so the top-k set is the same however the rows are split
 * between threads (ties at the k-th place included). */
static inline bool worse(cs__vscan_hit a, cs__vscan_hit b)
{
    bool an = isnan(a.dist), bn = isnan(b.dist);
    if (an != bn) return an;
    if (!an && a.dist != b.dist) return a.dist > b.dist;
    return a.row > b.row;
}

/* Max-heap on `worse` so the root is the current k-th best. */
static void heap_sift_down(cs__vscan_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && worse(h[l], h[w])) w = l;
        if (r < n && worse(h[r], h[w])) w = r;
        if (w == i) return;
        cs__vscan_hit t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void heap_push(cs__vscan_hit *h, size_t *n, size_t k, cs__vscan_hit x)
{
    if (*n < k) {
        size_t i = (*n)++;
        h[i] = x;
        while (i) {
            size_t p = (i - 1) / 2;
            if (!worse(h[i], h[p])) break;
            cs__vscan_hit t = h[i];
            h[i] = h[p];
            h[p] = t;
            i = p;
        }
    } else if (worse(h[0], x)) {
        h[0] = x;
        heap_sift_down(h, *n, 0);
    }
}

typedef struct {
    cs_measure m;
    const float *q, *base, *norms2;
    size_t dim;
    const uint32_t *rows;
    size_t from, to, k;
    float qn;
    kernel_fn kern;
    cs__vscan_hit *heap;
    size_t nheap;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    kind kd = kind_of(j->m);
    for (size_t i = j->from; i < j->to; i++) {
        uint32_t r = j->rows ? j->rows[i] : (uint32_t)i;
        const float *b = j->base + (size_t)r * j->dim;
        float s = j->kern(kd, j->q, b, j->dim);
        double d = finish(j->m, s, j->qn, j->norms2 ? j->norms2[r] : 0);
        heap_push(j->heap, &j->nheap, j->k, (cs__vscan_hit){r, d});
    }
    return NULL;
}

static int hit_cmp(const void *x, const void *y)
{
    const cs__vscan_hit *a = x, *b = y;
    return worse(*a, *b) ? 1 : worse(*b, *a) ? -1 : 0;
}

int cs__vscan_threads(size_t work)
{
    /* Threads pay off only when the scan is long compared to their start-up (~50 us). */
    if (work < ((size_t)1 << 21)) return 1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("CLIPSEARCH_SCAN_THREADS");
    if (env && atoi(env) > 0) cpus = atoi(env);
    if (cpus < 1) cpus = 1;
    if (cpus > 16) cpus = 16;
    return (int)cpus;
}

long cs__vscan_topk(cs_measure m, const float *q, const float *base, const float *norms2,
                   size_t dim, const uint32_t *rows, size_t n, size_t k, cs__vscan_hit *hits)
{
    if (k > n) k = n;
    if (k == 0) return 0;
    kernel_fn kern = pick_kernel();
    float qn = m == CS_MEASURE_COSINE ? kern(K_DOT, q, q, dim) : 0;
    int t = cs__vscan_threads(n * dim);
    if ((size_t)t > n / 1024 + 1) t = (int)(n / 1024 + 1);
    job *jobs = calloc((size_t)t, sizeof *jobs);
    cs__vscan_hit *heaps = malloc((size_t)t * k * sizeof *heaps);
    pthread_t *tids = calloc((size_t)t, sizeof *tids);
    if (!jobs || !heaps || !tids) {
        free(jobs);
        free(heaps);
        free(tids);
        return -1;
    }
    for (int i = 0; i < t; i++)
        jobs[i] = (job){m, q, base, norms2, dim, rows, n * (size_t)i / (size_t)t,
                        n * (size_t)(i + 1) / (size_t)t, k, qn, kern, heaps + (size_t)i * k, 0};
    cs__fork_join(run_job, jobs, sizeof *jobs, t, tids);
    /* Merge the per-thread heaps. */
    size_t nh = 0;
    for (int i = 0; i < t; i++)
        for (size_t j = 0; j < jobs[i].nheap; j++) heap_push(hits, &nh, k, jobs[i].heap[j]);
    qsort(hits, nh, sizeof *hits, hit_cmp);
    free(jobs);
    free(heaps);
    free(tids);
    return (long)nh;
}
