/* Compressed copies and the two-pass exact scan over them (see vquant.h).
 *
 * Error bound of one row, for the dot product s = q.x the float32 kernel computes:
 *   quantisation  |q.x - q.x^| <= sum |q_i| |x_i - x^_i|
 *                 int8: |x_i - x^_i| <= scale/2 (rounded to nearest), so <= scale/2 |q|_1;
 *                 fp16: <= 2^-11 |x_i| + 2^-25 (subnormal spacing), so
 *                       <= 2^-11 |q||x| + 2^-25 |q|_1 (Cauchy-Schwarz);
 *   rounding      both float32 kernels sum dim products: each is within
 *                 gamma = (dim + 8) 2^-23 of the exact sum of |q_i||x_i| <= |q||x|
 *                 (generously: pairwise/FMA summation does better).
 * The bound of the distance follows from the measure's formula (vscan.c's finish),
 * which is monotone in s; L2 bounds the squared distance through |q|^2 + |x|^2 - 2 q.x. */
#include "store/vquant.h"

#include "base/half.h"
#include "base/hash.h"
#include "base/pool.h"
#include "base/simd.h"
#if CS_SIMD_X86
#include <immintrin.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- quantisation ---------------------------------------------------------------- */

static size_t elem_size(cs_vector_copy k) { return k == CS_VECTOR_COPY_INT8 ? 1 : 2; }

/* One row as int8: returns its scale (0 for a zero row, NaN when not finite, which makes
 * its bound NaN and the row always re-scored). Any rounding to a nearest step will do:
 * the bound only needs |x - scale c| <= scale / 2. */
static float quant_i8(const float *x, size_t dim, int8_t *c)
{
    float amax = 0;
    for (size_t i = 0; i < dim; i++) {
        float a = fabsf(x[i]);
        amax = a > amax ? a : amax;
    }
    /* Rows so small that 127 / amax overflows are treated as unbounded (always
     * re-scored), like non-finite ones. */
    if (amax == 0 || !isfinite(amax) || !isfinite(127.0f / amax)) {
        memset(c, 0, dim);
        return amax == 0 ? 0.0f : NAN;
    }
    float inv = 127.0f / amax;
    for (size_t i = 0; i < dim; i++) {
        float y = x[i] * inv;
        y = y > 127.0f ? 127.0f : y < -127.0f ? -127.0f : y;
        c[i] = (int8_t)(int)(y + (y >= 0 ? 0.5f : -0.5f));
    }
    return amax / 127.0f;
}

static void quant_f16(const float *x, size_t dim, uint16_t *h)
{
    for (size_t i = 0; i < dim; i++) h[i] = cs__f32_to_f16(x[i]);
}

#if CS_SIMD_X86
__attribute__((target("avx512f"))) static float quant_i8_avx512(const float *x, size_t dim,
                                                                int8_t *c)
{
    if (dim % 16) return quant_i8(x, dim, c);
    __m512 m = _mm512_setzero_ps();
    for (size_t i = 0; i < dim; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
    float amax = _mm512_reduce_max_ps(m);
    if (amax == 0 || !isfinite(amax) || !isfinite(127.0f / amax)) return quant_i8(x, dim, c);
    __m512 inv = _mm512_set1_ps(127.0f / amax), hi = _mm512_set1_ps(127.0f),
           lo = _mm512_set1_ps(-127.0f);
    for (size_t i = 0; i < dim; i += 16) {
        __m512 y = _mm512_min_ps(hi, _mm512_max_ps(lo, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv)));
        _mm_storeu_si128((__m128i *)(c + i), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(y)));
    }
    return amax / 127.0f;
}

/* Hardware conversion: round to nearest even like cs__f32_to_f16. */
__attribute__((target("avx512f"))) static void quant_f16_avx512(const float *x, size_t dim,
                                                                uint16_t *h)
{
    size_t i = 0;
    for (; i + 16 <= dim; i += 16)
        _mm256_storeu_si256((__m256i *)(h + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < dim; i++) h[i] = cs__f32_to_f16(x[i]);
}
#endif

static void quant_rows(cs_vector_copy kind, const float *x, size_t rows, size_t dim, void *cv,
                       float *scale)
{
    bool avx512 = false;
#if CS_SIMD_X86
    avx512 = cs__cpu_has(CS_CPU_AVX512F);
#endif
    for (size_t r = 0; r < rows; r++) {
        const float *v = x + r * dim;
        if (kind == CS_VECTOR_COPY_INT8) {
            int8_t *c = (int8_t *)cv + r * dim;
#if CS_SIMD_X86
            if (avx512) {
                scale[r] = quant_i8_avx512(v, dim, c);
                continue;
            }
#endif
            scale[r] = quant_i8(v, dim, c);
        } else {
            uint16_t *h = (uint16_t *)cv + r * dim;
#if CS_SIMD_X86
            if (avx512) {
                quant_f16_avx512(v, dim, h);
                continue;
            }
#endif
            quant_f16(v, dim, h);
        }
    }
    (void)avx512;
}

void cs__vquant_release(cs__vcache *vc)
{
    if (vc->cmap) {
        munmap(vc->cmap, vc->cmap_size);
    } else {
        free(vc->cvecs);
        free(vc->cscale);
    }
    vc->cvecs = NULL;
    vc->cscale = NULL;
    vc->cmap = NULL;
    vc->cmap_size = 0;
    vc->copy = CS_VECTOR_COPY_NONE;
}

int cs__vquant_build(cs__vcache *vc, cs_vector_copy kind)
{
    cs__vquant_release(vc);
    if (kind == CS_VECTOR_COPY_NONE) return 0;
    size_t n = vc->n ? vc->n : 1, dim = (size_t)vc->dim;
    size_t bytes = (n * dim * elem_size(kind) + 63) & ~(size_t)63;
    /* Huge pages where offered, as for the vectors (vcache.c): a fault per 4 KiB costs
     * more than the quantisation under virtualisation. */
    const size_t huge = (size_t)2 << 20;
    if (bytes >= huge) {
        bytes = (bytes + huge - 1) & ~(huge - 1);
        if ((vc->cvecs = aligned_alloc(huge, bytes))) madvise(vc->cvecs, bytes, MADV_HUGEPAGE);
    } else {
        vc->cvecs = aligned_alloc(64, bytes);
    }
    vc->cscale = kind == CS_VECTOR_COPY_INT8 ? malloc(n * sizeof *vc->cscale) : NULL;
    if (!vc->cvecs || (kind == CS_VECTOR_COPY_INT8 && !vc->cscale)) {
        cs__vquant_release(vc);
        return -1;
    }
    quant_rows(kind, vc->vecs, vc->n, dim, vc->cvecs, vc->cscale);
    vc->copy = kind;
    return 0;
}

/* ---- kernels: sum q_i c_i in float32 --------------------------------------------- */

typedef float (*qdot_fn)(const float *q, const void *c, size_t dim);

static float qdot_i8_generic(const float *q, const void *cv, size_t dim)
{
    const int8_t *c = cv;
    float acc[8] = {0}, s = 0;
    size_t i = 0;
    for (; i + 8 <= dim; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += q[i + j] * (float)c[i + j];
    for (; i < dim; i++) s += q[i] * (float)c[i];
    for (int j = 0; j < 8; j++) s += acc[j];
    return s;
}

static float qdot_f16_generic(const float *q, const void *cv, size_t dim)
{
    const uint16_t *c = cv;
    float acc[8] = {0}, s = 0;
    size_t i = 0;
    for (; i + 8 <= dim; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += q[i + j] * cs__f16_to_f32(c[i + j]);
    for (; i < dim; i++) s += q[i] * cs__f16_to_f32(c[i]);
    for (int j = 0; j < 8; j++) s += acc[j];
    return s;
}

#if CS_SIMD_X86
__attribute__((target("avx512f"))) static float qdot_i8_avx512(const float *q, const void *cv,
                                                               size_t dim)
{
    const int8_t *c = cv;
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c + i))));
        __m512 c1 = _mm512_cvtepi32_ps(
            _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c + i + 16))));
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), c0, s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), c1, s1);
    }
    float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    for (; i < dim; i++) s += q[i] * (float)c[i];
    return s;
}

__attribute__((target("avx512f"))) static float qdot_f16_avx512(const float *q, const void *cv,
                                                                size_t dim)
{
    const uint16_t *c = cv;
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m512 c0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(c + i)));
        __m512 c1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(c + i + 16)));
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), c0, s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), c1, s1);
    }
    float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    for (; i < dim; i++) s += q[i] * cs__f16_to_f32(c[i]);
    return s;
}

__attribute__((target("avx2,fma"))) static float hsum8(__m256 v)
{
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma"))) static float qdot_i8_avx2(const float *q, const void *cv,
                                                              size_t dim)
{
    const int8_t *c = cv;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m256 c0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(c + i))));
        __m256 c1 = _mm256_cvtepi32_ps(
            _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(c + i + 8))));
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), c0, s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), c1, s1);
    }
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < dim; i++) s += q[i] * (float)c[i];
    return s;
}

__attribute__((target("avx2,fma,f16c"))) static float qdot_f16_avx2(const float *q, const void *cv,
                                                                   size_t dim)
{
    const uint16_t *c = cv;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m256 c0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(c + i)));
        __m256 c1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(c + i + 8)));
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), c0, s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), c1, s1);
    }
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < dim; i++) s += q[i] * cs__f16_to_f32(c[i]);
    return s;
}
#endif

static qdot_fn pick_qdot(cs_vector_copy kind)
{
    bool i8 = kind == CS_VECTOR_COPY_INT8;
#if CS_SIMD_X86
    if (cs__cpu_has(CS_CPU_AVX512F)) return i8 ? qdot_i8_avx512 : qdot_f16_avx512;
    if (cs__cpu_has(CS_CPU_AVX2_FMA) && (i8 || cs__cpu_has(CS_CPU_F16C)))
        return i8 ? qdot_i8_avx2 : qdot_f16_avx2;
#endif
    return i8 ? qdot_i8_generic : qdot_f16_generic;
}

/* ---- the two-pass scan ----------------------------------------------------------- */

bool cs__vquant_usable(const cs__vcache *vc, cs_measure m)
{
    return vc->copy != CS_VECTOR_COPY_NONE && vc->cvecs && m != CS_MEASURE_L1;
}

/* A row that may be in the top k: its position in the scan and its lower bound. */
typedef struct {
    uint32_t pos;
    float lo;
} cand_t;

typedef struct {
    cs_measure m;
    cs_vector_copy kind;
    const float *q;
    const cs__vcache *vc;
    const uint32_t *rows;
    const uint32_t *skip;   /* ascending positions left out (rows == NULL only) */
    size_t nskip;
    size_t from, to, k;
    double qn, qlen, ql1, gamma;   /* qn: the float32 norm2 the exact scan uses */
    qdot_fn qdot;
    double *ub;         /* this job's max-heap of the k smallest upper bounds */
    size_t nub;
    cand_t *cand;       /* rows whose lower bound was <= the heap's top when seen */
    size_t ncand, cap;
    bool nomem;
} pass_job;

static void ub_push(double *h, size_t *n, size_t k, double x)
{
    if (*n < k) {
        size_t i = (*n)++;
        h[i] = x;
        while (i && h[(i - 1) / 2] < h[i]) {
            double t = h[i];
            h[i] = h[(i - 1) / 2];
            h[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
    } else if (x < h[0]) {
        h[0] = x;
        for (size_t i = 0;;) {
            size_t l = 2 * i + 1, r = l + 1, w = i;
            if (l < *n && h[l] > h[w]) w = l;
            if (r < *n && h[r] > h[w]) w = r;
            if (w == i) break;
            double t = h[i];
            h[i] = h[w];
            h[w] = t;
            i = w;
        }
    }
}

static double dmin(double a, double b) { return a < b ? a : b; }
static double dmax(double a, double b) { return a > b ? a : b; }

/* The distance interval [*lo, *hi] of one row from its approximate dot product; NaN when
 * it cannot be bounded (zero or overflowing rows: the exact distance may be NaN). */
static void bounds(const pass_job *j, size_t row, float approx_sum, double *lo, double *hi)
{
    const cs__vcache *vc = j->vc;
    double bn = vc->norms2[row];
    if (!isfinite(bn) || !isfinite(approx_sum) || (j->m == CS_MEASURE_COSINE && !(bn > 0 && j->qn > 0))) {
        *lo = *hi = NAN;
        return;
    }
    double xlen = sqrt(bn), qx = j->qlen * xlen * (1 + 1e-6), s, e;
    /* Near float32's range the kernels' sums may overflow (to inf, or a distance of 1
     * for cosine) where the bound assumes finite sums: re-score such rows. */
    if (!(qx < 1e36) || !(j->qn + bn < 1e36)) {
        *lo = *hi = NAN;
        return;
    }
    if (j->kind == CS_VECTOR_COPY_INT8) {
        double sc = vc->cscale[row];
        s = sc * (double)approx_sum;
        e = 0.5001 * sc * j->ql1;
    } else {
        s = approx_sum;
        e = 0x1p-11 * qx * 1.001 + 0x1p-25 * j->ql1;
    }
    e += j->gamma * (2 * qx + e) + 1e-30;
    switch (j->m) {
    case CS_MEASURE_IP:
        *lo = -s - e;
        *hi = -s + e;
        break;
    case CS_MEASURE_L2: {
        double r = j->qn + bn - 2 * s, b = 2 * e + j->gamma * (j->qn + bn);
        b += j->gamma * (fabs(r) + b);
        *lo = sqrt(dmax(0, r - b));
        *hi = sqrt(dmax(0, r + b));
        break;
    }
    case CS_MEASURE_COSINE:
    default: {
        /* sqrt(qn) sqrt(bn) differs from the scan's sqrt(qn bn) by an ulp or two: the
         * slack below covers it. */
        double d = j->qlen * xlen;
        *lo = 1 - dmin(1, (s + e) / d);
        *hi = 1 - dmax(-1, (s - e) / d);
        break;
    }
    }
    /* Double rounding of the formulas above, well below any float32 step. */
    double slack = 1e-9 * (1 + fabs(*lo) + fabs(*hi));
    *lo -= slack;
    *hi += slack;
}

static void *run_pass(void *arg)
{
    pass_job *j = arg;
    size_t dim = (size_t)j->vc->dim, es = elem_size(j->kind);
    const char *cv = j->vc->cvecs;
    size_t sk = 0;   /* the first skipped position at or after j->from */
    for (size_t lo = 0, hi = j->nskip; lo < hi;) {
        size_t mid = lo + (hi - lo) / 2;
        if (j->skip[mid] < j->from) lo = sk = mid + 1;
        else hi = mid;
    }
    for (size_t i = j->from; i < j->to; i++) {
        if (sk < j->nskip && j->skip[sk] == i) {
            sk++;
            continue;
        }
        size_t r = j->rows ? j->rows[i] : i;
        float a = j->qdot(j->q, cv + r * dim * es, dim);
        double lo, hi;
        bounds(j, r, a, &lo, &hi);
        /* A row whose lower bound is above the current k-th upper bound can neither be in
         * the top k nor lower that bound (its upper bound is higher still): skip it. The
         * final bound is lower still, so the rows kept are a superset of the candidates. */
        if (j->nub == j->k && lo > j->ub[0]) continue;
        if (j->ncand == j->cap) {
            size_t cap = j->cap ? 2 * j->cap : 256;
            cand_t *c = realloc(j->cand, cap * sizeof *c);
            if (!c) {
                j->nomem = true;
                return NULL;
            }
            j->cand = c;
            j->cap = cap;
        }
        /* Stored as float rounded down (a relative 1e-6 step is far above float rounding);
         * NaN stays NaN: always re-scored. */
        j->cand[j->ncand++] = (cand_t){(uint32_t)i, (float)(lo - 1e-6 * fabs(lo) - 1e-30)};
        if (!isnan(hi)) ub_push(j->ub, &j->nub, j->k, hi);
    }
    return NULL;
}

/* The float32 scan itself, leaving out the skipped positions. */
static long fallback(cs_measure m, const float *q, const cs__vcache *vc, const uint32_t *rows,
                     size_t n, const uint32_t *skip, size_t nskip, size_t k, cs__vscan_hit *hits)
{
    if (!nskip) return cs__vscan_topk(m, q, vc->vecs, vc->norms2, (size_t)vc->dim, rows, n, k, hits);
    uint32_t *live = malloc((n ? n : 1) * sizeof *live);
    if (!live) return -1;
    size_t nl = 0;
    for (size_t i = 0, s = 0; i < n; i++) {
        while (s < nskip && skip[s] < i) s++;
        if (s == nskip || skip[s] != i) live[nl++] = (uint32_t)i;
    }
    long rc = cs__vscan_topk(m, q, vc->vecs, vc->norms2, (size_t)vc->dim, live, nl, k, hits);
    free(live);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

long cs__vscan_topk_quant(cs_measure m, const float *q, const cs__vcache *vc,
                          const uint32_t *rows, size_t n, const uint32_t *skip, size_t nskip,
                          size_t k, cs__vscan_hit *hits)
{
    size_t dim = (size_t)vc->dim;
    if (rows) nskip = 0;
    if (!cs__vquant_usable(vc, m) || k == 0 || n <= k + nskip)
        return fallback(m, q, vc, rows, n, skip, nskip, k, hits);
    double qn2 = 0, ql1 = 0;
    for (size_t i = 0; i < dim; i++) {
        qn2 += (double)q[i] * q[i];
        ql1 += fabs((double)q[i]);
    }
    /* The float32 norm the scan itself uses must be finite too (else every cosine
     * distance is 1 there, ties decided by row): such queries take the plain scan. */
    if (!isfinite(qn2) || !isfinite(ql1) || !(qn2 < 1e36) || !isfinite(cs__vscan_norm2(q, dim)))
        return fallback(m, q, vc, rows, n, skip, nskip, k, hits);
    int t = cs__vscan_threads(n * dim * elem_size(vc->copy) / 4);
    if ((size_t)t > n / 1024 + 1) t = (int)(n / 1024 + 1);
    double *ub = malloc((size_t)t * k * sizeof *ub);
    pass_job *jobs = calloc((size_t)t, sizeof *jobs);
    pthread_t *tids = calloc((size_t)t, sizeof *tids);
    uint32_t *cand = NULL;
    long rc = -1;
    if (!ub || !jobs || !tids) goto plain;
    double qn = m == CS_MEASURE_COSINE || m == CS_MEASURE_L2 ? cs__vscan_norm2(q, dim) : 0;
    qdot_fn qdot = pick_qdot(vc->copy);
    for (int i = 0; i < t; i++)
        jobs[i] = (pass_job){.m = m, .kind = vc->copy, .q = q, .vc = vc, .rows = rows,
                             .skip = skip, .nskip = nskip, .from = n * (size_t)i / (size_t)t,
                             .to = n * (size_t)(i + 1) / (size_t)t, .k = k, .qn = qn,
                             .qlen = sqrt(qn2) * (1 + 1e-9), .ql1 = ql1 * (1 + 1e-9),
                             .gamma = (double)(dim + 8) * 0x1p-23, .qdot = qdot,
                             .ub = ub + (size_t)i * k};
    cs__fork_join(run_pass, jobs, sizeof *jobs, t, tids);
    /* U: the k-th smallest upper bound over all rows. At least k rows lie at or below it,
     * so the k-th exact distance does too, and every row of the exact top k (ties at the
     * k-th place included) has a lower bound <= U. Fewer than k finite bounds: U = inf. */
    size_t nub = 0, nc = 0;
    for (int i = 0; i < t; i++) {
        if (jobs[i].nomem) goto plain;
        memmove(ub + nub, jobs[i].ub, jobs[i].nub * sizeof *ub);
        nub += jobs[i].nub;
        nc += jobs[i].ncand;
    }
    double u = INFINITY;
    if (nub >= k) {
        qsort(ub, nub, sizeof *ub, cmp_double);
        u = ub[k - 1];
    }
    if (!(cand = malloc((nc ? nc : 1) * sizeof *cand))) goto plain;
    nc = 0;
    for (int i = 0; i < t; i++)
        for (size_t c = 0; c < jobs[i].ncand; c++)
            if (!(jobs[i].cand[c].lo > u)) {
                uint32_t pos = jobs[i].cand[c].pos;
                cand[nc++] = rows ? rows[pos] : pos;
            }
    rc = cs__vscan_topk(m, q, vc->vecs, vc->norms2, dim, cand, nc, k, hits);
    goto done;
plain:   /* out of memory for the bounds: the plain scan needs only k entries */
    rc = fallback(m, q, vc, rows, n, skip, nskip, k, hits);
done:
    for (int i = 0; jobs && i < t; i++) free(jobs[i].cand);
    free(ub);
    free(jobs);
    free(tids);
    free(cand);
    return rc;
}

/* ---- the copy file --------------------------------------------------------------- *
 * header (256 bytes) | n*dim int8 or fp16 | n float32 scales (int8), 64-byte aligned. */

#define VQ_MAGIC "CSVQUAN1"
#define VQ_FORMAT 1u
#define VQ_ENDIAN 0x01020304u
#define VQ_HEADER 256u
#define VQ_MAX_DIM 16000u

typedef struct {
    char magic[8];
    uint32_t format, endian, dim, kind;
    uint64_t n, file_size, off_vecs, off_scale;
    int64_t gen;
    char tbl[64];
    uint64_t sum;
} vq_header;

_Static_assert(sizeof(vq_header) <= VQ_HEADER, "header fits its slot");

static void vq_layout(vq_header *h, cs_vector_copy kind, int dim, uint64_t n, int64_t gen,
                      const char *tbl)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, VQ_MAGIC, 8);
    h->format = VQ_FORMAT;
    h->endian = VQ_ENDIAN;
    h->dim = (uint32_t)dim;
    h->kind = (uint32_t)kind;
    h->n = n;
    h->gen = gen;
    snprintf(h->tbl, sizeof h->tbl, "%s", tbl);
    h->off_vecs = VQ_HEADER;
    h->off_scale = (h->off_vecs + n * (uint64_t)dim * elem_size(kind) + 63) & ~(uint64_t)63;
    h->file_size = h->off_scale + (kind == CS_VECTOR_COPY_INT8 ? n * 4 : 0);
    h->sum = cs__hash64(h, offsetof(vq_header, sum));
}

int cs__vquant_path(const char *bin_file, cs_vector_copy kind, char *out, size_t cap)
{
    size_t len = strlen(bin_file);
    if (len < 4 || strcmp(bin_file + len - 4, ".bin")) return -1;
    int w = snprintf(out, cap, "%.*s.%s", (int)(len - 4), bin_file, cs_vector_copy_name(kind));
    return w < 0 || (size_t)w >= cap ? -1 : 0;
}

int cs__vquant_open(const char *file, const char *tbl, cs__vcache *vc, cs_vector_copy kind)
{
    if (kind == CS_VECTOR_COPY_NONE || vc->dim <= 0 || (uint32_t)vc->dim > VQ_MAX_DIM) return 1;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 1;
    struct stat sb;
    vq_header h, want;
    vq_layout(&want, kind, vc->dim, vc->n, vc->gen, tbl);
    bool ok = !fstat(fd, &sb) && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == want.file_size &&
              pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h && !memcmp(&h, &want, sizeof h);
    void *map = ok ? mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED) return 1;
    madvise(map, (size_t)sb.st_size, MADV_HUGEPAGE);   /* huge folios: cs__vcache_piece */
#ifdef MADV_POPULATE_READ
    madvise(map, (size_t)sb.st_size, MADV_POPULATE_READ);   /* one call, not a fault per page */
#endif
    cs__vquant_release(vc);
    vc->cmap = map;
    vc->cmap_size = (size_t)sb.st_size;
    vc->cvecs = (char *)map + want.off_vecs;
    vc->cscale = kind == CS_VECTOR_COPY_INT8 ? (float *)((char *)map + want.off_scale) : NULL;
    vc->copy = kind;
    return 0;
}

/* Writes one region (vectors or scales) of the runs; rows without a copy of this kind are
 * quantised in chunks into buf. */
static int put_region(const atomic_bool *stop, int fd, const cs__vcache_run *runs, size_t nruns,
                      cs_vector_copy kind, size_t dim, bool scales, void *buf, float *sbuf,
                      size_t chunk)
{
    size_t row_bytes = scales ? sizeof(float) : dim * elem_size(kind);
    for (size_t i = 0; i < nruns; i++) {
        const cs__vcache *v = runs[i].src;
        if (v->copy == kind && v->cvecs) {
            const char *src = scales ? (const char *)v->cscale : (const char *)v->cvecs;
            if (cs__vcache_write(stop, fd, src + runs[i].from * row_bytes, (runs[i].to - runs[i].from) * row_bytes))
                return -1;
            continue;
        }
        for (size_t r = runs[i].from; r < runs[i].to; r += chunk) {
            size_t m = runs[i].to - r < chunk ? runs[i].to - r : chunk;
            quant_rows(kind, v->vecs + r * dim, m, dim, buf, sbuf);
            if (cs__vcache_write(stop, fd, scales ? (const void *)sbuf : buf, m * row_bytes)) return -1;
        }
    }
    return 0;
}

int cs__vquant_save_runs(const cs__vcache_run *runs, size_t nruns, cs_vector_copy kind,
                         int dim, int64_t gen, const char *tbl, const char *file,
                         const atomic_bool *stop)
{
    if (kind == CS_VECTOR_COPY_NONE) return -1;
    uint64_t n = 0;
    for (size_t i = 0; i < nruns; i++) n += runs[i].to - runs[i].from;
    vq_header h;
    vq_layout(&h, kind, dim, n, gen, tbl);
    char tmp[4200];
    if (cs__vcache_begin_save(file, tmp, sizeof tmp)) return -1;
    const size_t chunk = 4096;
    void *buf = malloc(chunk * (size_t)dim * elem_size(kind));
    float *sbuf = malloc(chunk * sizeof *sbuf);
    int fd = buf && sbuf ? open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666) : -1;
    int rc = fd < 0 ? -1 : 0;
    static const char zeros[VQ_HEADER];
    uint64_t vec_bytes = n * (uint64_t)dim * elem_size(kind);
    if (!rc) rc = cs__vcache_write(stop, fd, &h, sizeof h) || cs__vcache_write(stop, fd, zeros, VQ_HEADER - sizeof h);
    if (!rc) rc = put_region(stop, fd, runs, nruns, kind, (size_t)dim, false, buf, sbuf, chunk);
    if (!rc) rc = cs__vcache_write(stop, fd, zeros, (size_t)(h.off_scale - h.off_vecs - vec_bytes));
    if (!rc && kind == CS_VECTOR_COPY_INT8)
        rc = put_region(stop, fd, runs, nruns, kind, (size_t)dim, true, buf, sbuf, chunk);
    if (fd >= 0 && close(fd)) rc = -1;
    /* No fsync, as for the cache file: a copy that a crash leaves short fails the size
     * check, and one of another generation the header check. */
    if (!rc && rename(tmp, file)) rc = -1;
    if (rc && fd >= 0) unlink(tmp);
    free(buf);
    free(sbuf);
    return rc;
}
