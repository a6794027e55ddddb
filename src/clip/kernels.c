#include "clip/kernels.h"

#include "base/simd.h"
#include "clip/gemm.h"
#include "clip/parallel.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* The activations, layernorm and softmax are the non-GEMM hot spots of the forward pass:
 * -O3 and per-CPU clones (base/simd.h). */
#define CS_HOT CS_HOT_LOOP CS_SIMD_CLONES

/* The few-row kernel over a slice of the output columns (groups of 4 columns). */
typedef struct {
    const float *x, *w;
    float *y;
    int ldx, rows, in, out, ldy;
    bool accumulate;
} small_job;

static void small_cols(void *ctx, int begin, int end, int worker)
{
    const small_job *j = ctx;
    int o0 = begin * 4, o1 = end * 4 < j->out ? end * 4 : j->out;
    cs__linear_small(j->x, j->ldx, j->rows, j->in, j->w + (size_t)o0 * j->in, o1 - o0, j->y + o0,
                    j->ldy, j->accumulate);
    (void)worker;
}

void cs__linear(const cs__exec *ex, const float *x, int ldx, int rows, int in, const float *w,
               int out, float *y, int ldy, bool accumulate)
{
    if (rows <= 0) return;
    if (ex && ex->gemm &&
        cs__gemm_linear(ex->gemm, x, ldx, rows, w, out, in, NULL, y, ldy, accumulate,
                       ex->threads))
        return;
    if (rows <= CS_LINEAR_SMALL_ROWS && in % 16 == 0) {
        /* Bound by reading W: the model's threads each stream a share of its rows (every
         * output column is computed whole by one thread, so the split changes nothing). */
        small_job j = {x, w, y, ldx, rows, in, out, ldy, accumulate};
        cs__parallel_for(ex, (out + 3) / 4, (size_t)out * in, small_cols, &j);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, x, ldx, w, in,
                accumulate ? 1.0f : 0.0f, y, ldy);
}

void cs__linear_bias(const cs__exec *ex, const float *x, int ldx, int rows, int in,
                    const float *w, const float *b, int out, float *y, int ldy)
{
    if (rows <= 0) return;
    if (ex && ex->gemm && cs__gemm_linear(ex->gemm, x, ldx, rows, w, out, in, b, y, ldy, false,
                                        ex->threads))
        return;
    for (int r = 0; r < rows; r++) memcpy(y + (size_t)r * ldy, b, (size_t)out * sizeof(float));
    cs__linear(NULL, x, ldx, rows, in, w, out, y, ldy, true);
}

void cs__linear_residual(const cs__exec *ex, const float *x, int ldx, int rows, int in,
                        const float *w, const float *b, int out, float *y, int ldy)
{
    if (rows <= 0) return;
    if (ex && ex->gemm &&
        cs__gemm_linear(ex->gemm, x, ldx, rows, w, out, in, b, y, ldy, true, ex->threads))
        return;
    cs__linear(ex, x, ldx, rows, in, w, out, y, ldy, true);
    for (int r = 0; r < rows; r++) cs__add_bias(y + (size_t)r * ldy, 1, out, b);
}

/* Inlined into the loops below so they vectorise; clamped so 2^n stays a normal float. */
static inline float expf_inline(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    /* n = round(x / ln2) via the 1.5*2^23 trick (no rounding instruction needed). */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float z = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * z + r + 1.0f;
    int e = ((int)n + 127) << 23;
    float scale;
    memcpy(&scale, &e, 4);
    return p * scale;
}

float cs__expf(float x) { return expf_inline(x); }

/* Sums with 16 independent lanes so the reduction vectorises without reassociation
 * flags (which would change results elsewhere). */
static inline float lane_sum(const float *x, int n, float mean, int centred)
{
    float acc[16] = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) {
            float t = x[i + j] - mean;
            acc[j] += centred ? t * t : t;
        }
    float s = 0.0f;
    for (; i < n; i++) {
        float t = x[i] - mean;
        s += centred ? t * t : t;
    }
    for (int j = 0; j < 16; j++) s += acc[j];
    return s;
}

CS_HOT void cs__layernorm(const float *x, float *y, int rows, int d, const float *w,
                         const float *b, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * d;
        float *yr = y + (size_t)r * d;
        /* Two passes (mean, then centred variance): as accurate as torch's own. */
        float mean = lane_sum(xr, d, 0.0f, 0) / (float)d;
        float var = lane_sum(xr, d, mean, 1);
        float inv = 1.0f / sqrtf(var / (float)d + eps);
        for (int i = 0; i < d; i++) yr[i] = (xr[i] - mean) * inv * w[i] + b[i];
    }
}

CS_HOT void cs__add_bias(float *y, int rows, int n, const float *b)
{
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * n;
        for (int i = 0; i < n; i++) yr[i] += b[i];
    }
}

CS_HOT void cs__scale(float *y, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++) y[i] *= scale;
}

CS_HOT void cs__act(float *y, size_t n, int act)
{
    if (act == 0) {
        for (size_t i = 0; i < n; i++) y[i] = y[i] / (1.0f + expf_inline(-1.702f * y[i]));
    } else {
        for (size_t i = 0; i < n; i++)
            y[i] = 0.5f * y[i] * (1.0f + erff(y[i] * 0.70710678118654752f));
    }
}

CS_HOT void cs__softmax(float *x, int n)
{
    float m = x[0];
    for (int i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    for (int i = 0; i < n; i++) x[i] = expf_inline(x[i] - m);
    float s = lane_sum(x, n, 0.0f, 0);
    float inv = 1.0f / s;
    for (int i = 0; i < n; i++) x[i] *= inv;
}

/* Attention's tiles: AR query rows by AJ keys (scores) or AJ output lanes (values), i.e.
 * AR * AJ / 16 = 8 independent vector sums, enough to keep both FMA units of a core busy
 * (one running sum would wait on its own latency every step). */
#define AR 4
#define AJ 32

static int keys_padded(int nk) { return (nk + AJ - 1) / AJ * AJ; }

size_t cs__attention_scratch(int nq, int nk, int head_dim)
{
    size_t nkp = (size_t)keys_padded(nk);
    return (size_t)nq * nkp + (size_t)head_dim * nkp;
}

/* The two products of attention are tiny (50 x 50 x 64 for a ViT-B/32 image): a BLAS call
 * costs more than the arithmetic, and OpenBLAS would start its own threads on top of the
 * caller's (each sequence already runs on one of the model's threads; measured: 77-token
 * texts ran at half speed). So they are plain loops over register tiles: k_h is first
 * transposed (kt[c][j], zero-padded) so that scores are multiply-adds along j, and the
 * output rows are built from the rows of v the same way. Every sum runs over its index in
 * order. Rows past nq in the last tile repeat row nq-1 and are not stored. */
CS_HOT void cs__attention(const float *q, int ldq, const int *qpos, int nq, const float *k,
                         const float *v, int ldkv, int nk, int heads, int head_dim, bool causal,
                         float *out, int ldo, float *scratch)
{
    int nkp = keys_padded(nk);
    float *kt = scratch + (size_t)nq * nkp;
    for (int h = 0; h < heads; h++) {
        const float *qh = q + h * head_dim, *kh = k + h * head_dim, *vh = v + h * head_dim;
        for (int c = 0; c < head_dim; c++) {
            float *row = kt + (size_t)c * nkp;
            for (int j = 0; j < nk; j++) row[j] = kh[(size_t)j * ldkv + c];
            for (int j = nk; j < nkp; j++) row[j] = 0.0f;
        }
        for (int i0 = 0; i0 < nq; i0 += AR) {
            int nr = nq - i0 < AR ? nq - i0 : AR;
            const float *qr[AR];
            float *sr[AR];
            for (int r = 0; r < AR; r++) {
                int i = i0 + (r < nr ? r : nr - 1);
                qr[r] = qh + (size_t)i * ldq;
                sr[r] = scratch + (size_t)i * nkp;
            }
            /* scores s[i][j] = q_i . k_j */
            for (int j0 = 0; j0 < nkp; j0 += AJ) {
                float acc[AR][AJ] = {{0}};
                for (int c = 0; c < head_dim; c++) {
                    const float *kr = kt + (size_t)c * nkp + j0;
                    for (int r = 0; r < AR; r++)
                        for (int l = 0; l < AJ; l++) acc[r][l] += qr[r][c] * kr[l];
                }
                for (int r = 0; r < nr; r++)
                    for (int l = 0; l < AJ; l++) sr[r][j0 + l] = acc[r][l];
            }
            int nmax = 0;
            for (int r = 0; r < nr; r++) {
                int p = qpos ? qpos[i0 + r] : i0 + r;
                int n = causal ? p + 1 : nk;
                cs__softmax(sr[r], n);
                /* masked keys get exactly 0 weight, as exp(-inf) does in torch */
                for (int j = n; j < nk; j++) sr[r][j] = 0.0f;
                nmax = n > nmax ? n : nmax;
            }
            /* out_i = sum_j s[i][j] v_j (keys past a row's mask add exact zeros) */
            float *orow[AR];
            for (int r = 0; r < AR; r++)
                orow[r] = out + (size_t)(i0 + (r < nr ? r : nr - 1)) * ldo + h * head_dim;
            int c0 = 0;
            for (; c0 + AJ <= head_dim; c0 += AJ) {
                float acc[AR][AJ] = {{0}};
                for (int j = 0; j < nmax; j++) {
                    const float *vr = vh + (size_t)j * ldkv + c0;
                    for (int r = 0; r < AR; r++)
                        for (int l = 0; l < AJ; l++) acc[r][l] += sr[r][j] * vr[l];
                }
                for (int r = 0; r < nr; r++)
                    for (int l = 0; l < AJ; l++) orow[r][c0 + l] = acc[r][l];
            }
            for (; c0 < head_dim; c0++)
                for (int r = 0; r < nr; r++) {
                    float acc = 0.0f;
                    for (int j = 0; j < nmax; j++) acc += sr[r][j] * vh[(size_t)j * ldkv + c0];
                    orow[r][c0] = acc;
                }
        }
    }
}
