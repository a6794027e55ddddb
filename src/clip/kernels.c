#include "clip/kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void cs_linear(const float *x, int ldx, int rows, int in, const float *w, int out, float *y,
               int ldy, bool accumulate)
{
    if (rows <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, x, ldx, w, in,
                accumulate ? 1.0f : 0.0f, y, ldy);
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

float cs_expf(float x) { return expf_inline(x); }

void cs_layernorm(const float *x, float *y, int rows, int d, const float *w, const float *b,
                  float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * d;
        float *yr = y + (size_t)r * d;
        /* Two passes (mean, then centred variance): as accurate as torch's own. */
        float sum = 0.0f;
        for (int i = 0; i < d; i++) sum += xr[i];
        float mean = sum / (float)d;
        float var = 0.0f;
        for (int i = 0; i < d; i++) {
            float t = xr[i] - mean;
            var += t * t;
        }
        float inv = 1.0f / sqrtf(var / (float)d + eps);
        for (int i = 0; i < d; i++) yr[i] = (xr[i] - mean) * inv * w[i] + b[i];
    }
}

void cs_add_bias_scale(float *y, int rows, int n, const float *b, float scale)
{
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * n;
        for (int i = 0; i < n; i++) yr[i] = (yr[i] + b[i]) * scale;
    }
}

void cs_bias_act(float *y, int rows, int n, const float *b, int act)
{
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * n;
        if (act == 0) {
            for (int i = 0; i < n; i++) {
                float t = yr[i] + b[i];
                yr[i] = t / (1.0f + expf_inline(-1.702f * t));
            }
        } else {
            for (int i = 0; i < n; i++) {
                float t = yr[i] + b[i];
                yr[i] = 0.5f * t * (1.0f + erff(t * 0.70710678118654752f));
            }
        }
    }
}

void cs_softmax(float *x, int n)
{
    float m = x[0];
    for (int i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    float s = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf_inline(x[i] - m);
        s += x[i];
    }
    float inv = 1.0f / s;
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void cs_attention(const float *q, int ldq, const int *qpos, int nq, const float *k,
                  const float *v, int ldkv, int nk, int heads, int head_dim, bool causal,
                  float *out, int ldo, float *scores)
{
    for (int h = 0; h < heads; h++) {
        const float *qh = q + h * head_dim, *kh = k + h * head_dim, *vh = v + h * head_dim;
        /* scores[nq, nk] = q_h k_h^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, head_dim, 1.0f, qh, ldq,
                    kh, ldkv, 0.0f, scores, nk);
        for (int i = 0; i < nq; i++) {
            float *s = scores + (size_t)i * nk;
            int p = qpos ? qpos[i] : i;
            int n = causal ? p + 1 : nk;
            cs_softmax(s, n);
            /* masked keys get exactly 0 weight, as exp(-inf) does in torch */
            for (int j = n; j < nk; j++) s[j] = 0.0f;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, head_dim, nk, 1.0f, scores,
                    nk, vh, ldkv, 0.0f, out + h * head_dim, ldo);
    }
}
