/* Kernels against straightforward double-precision references: the few-row GEMM (every
 * row count, ragged output counts, accumulate), cs__linear on both paths, layernorm,
 * softmax, the activations, the polynomial expf, and attention (causal, pooled query). */
#include <stdint.h>

#include "clip/gemm.h"
#include "clip/kernels.h"
#include "test.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (2.0 / 16777216.0) - 1.0);
}

static float *rnd(size_t n)
{
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = frand();
    return p;
}

/* max |a - b| / (1 + |b|). (Written with a comparison rather than fmax: GCC 12's aarch64
 * vectoriser crashes on an fmax reduction of converted floats, make check-arm64.) */
static double rel_err(const float *a, const double *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(a[i] - b[i]) / (1 + fabs(b[i]));
        if (e > m) m = e;
    }
    return m;
}

static void check_linear(int rows, int in, int out, int accumulate, int small)
{
    float *x = rnd((size_t)rows * in), *w = rnd((size_t)out * in), *y = rnd((size_t)rows * out);
    double *ref = malloc((size_t)rows * out * sizeof(double));
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            double s = accumulate ? y[(size_t)r * out + o] : 0;
            for (int i = 0; i < in; i++) s += (double)x[(size_t)r * in + i] * w[(size_t)o * in + i];
            ref[(size_t)r * out + o] = s;
        }
    if (small) cs__linear_small(x, in, rows, in, w, out, y, out, accumulate);
    else cs__linear(NULL, x, in, rows, in, w, out, y, out, accumulate);
    double e = rel_err(y, ref, (size_t)rows * out);
    CHECK_MSG(e < 1e-5, "linear%s rows %d in %d out %d acc %d: err %g", small ? "_small" : "", rows,
              in, out, accumulate, e);
    free(x);
    free(w);
    free(y);
    free(ref);
}

/* The GEMM engine (oneDNN where built in): row strides, bias, accumulate, any row count,
 * against a double reference; fp32 tight, bf16 (where the CPU has it) within bf16's
 * rounding. Without oneDNN, fp32 gives no engine and bf16 a clear error. */
static void check_engine(int precision)
{
    cs_error err = {0};
    cs__gemm *g = NULL;
    int rc = cs__gemm_create(precision, &g, &err);
    if (rc) {
        CHECK_MSG(precision == CS_PRECISION_BF16 && rc == CS_E_ARG && strstr(err.msg, "bf16"),
                  "engine %d: %s", precision, err.msg);
        fprintf(stderr, "note: %s\n", err.msg);
        return;
    }
    if (!g) {
        fprintf(stderr, "note: no oneDNN in this build: the engine is absent\n");
        return;
    }
    fprintf(stderr, "engine: %s\n", cs__gemm_describe(g));
    int in = 96, out = 72, ldx = 100, ldy = 80;
    float *w = rnd((size_t)out * in), *b = rnd((size_t)out);
    CHECK_OK(cs__gemm_prepare(g, w, out, in, &err), &err);
    CHECK_OK(cs__gemm_prepare(g, w, out, in, &err), &err);  /* twice: the same weight */
    CHECK(cs__gemm_weight_bytes(g) >= (size_t)out * in * (precision == CS_PRECISION_BF16 ? 2 : 4));
    float other[8];
    CHECK(precision == CS_PRECISION_BF16 || !cs__gemm_linear(g, other, 8, 1, other, 8, 8, NULL, other, 8, false, 1)); /* few rows, not prepared: left to the caller */
    /* bf16 rounds each operand to 8 bits of mantissa (relative error <= 2^-9 each), so an
     * element may be off by up to ~2^-8 * sum |x w|: the bound checked, with margin. */
    bool bf16 = precision == CS_PRECISION_BF16;
    int rows_list[] = {1, 3, 16, 17, 50, 300};
    for (int ri = 0; ri < 6; ri++)
        for (int mode = 0; mode < 3; mode++) { /* plain, bias, accumulate */
            int rows = rows_list[ri];
            float *x = rnd((size_t)rows * ldx), *y = rnd((size_t)rows * ldy);
            double *ref = malloc((size_t)rows * out * sizeof(double)),
                   *mag = malloc((size_t)rows * out * sizeof(double));
            for (int r = 0; r < rows; r++)
                for (int o = 0; o < out; o++) {
                    double s = mode == 2 ? y[(size_t)r * ldy + o] : mode == 1 ? b[o] : 0, a = 0;
                    for (int i = 0; i < in; i++) {
                        double p = (double)x[(size_t)r * ldx + i] * w[(size_t)o * in + i];
                        s += p;
                        a += fabs(p);
                    }
                    ref[(size_t)r * out + o] = s;
                    mag[(size_t)r * out + o] = a;
                }
            float guard = y[(size_t)(rows - 1) * ldy + out];   /* past the last row's outputs */
            for (int threads = 1; threads <= 2; threads++) {
                float *yy = malloc((size_t)rows * ldy * sizeof(float));
                memcpy(yy, y, (size_t)rows * ldy * sizeof(float));
                CHECK(cs__gemm_linear(g, x, ldx, rows, w, out, in, mode == 1 ? b : NULL, yy, ldy, mode == 2,
                                     threads));
                double e = 0; /* error over the allowed error */
                for (int r = 0; r < rows; r++)
                    for (int o = 0; o < out; o++) {
                        size_t k = (size_t)r * out + o;
                        double allowed = bf16 ? 1e-5 + mag[k] / 128 : 1e-5 * (1 + fabs(ref[k]));
                        double d = fabs(yy[(size_t)r * ldy + o] - ref[k]) / allowed;
                        if (d > e) e = d;
                    }
                CHECK_MSG(e < 1, "engine %d rows %d mode %d threads %d: error %g x allowed",
                          precision, rows, mode, threads, e);
                CHECK(yy[(size_t)(rows - 1) * ldy + out] == guard);   /* strides respected */
                free(yy);
            }
            free(x);
            free(y);
            free(ref);
            free(mag);
        }
    /* A weight never prepared: a call with more rows than the few-row kernel takes
     * prepares it on the spot (and later few-row calls use the prepared copy). */
    size_t before = cs__gemm_weight_bytes(g);
    float *w2 = rnd((size_t)out * in), *x2 = rnd((size_t)20 * in), *y2 = malloc(20 * (size_t)out * 4);
    CHECK(cs__gemm_linear(g, x2, in, 20, w2, out, in, NULL, y2, out, false, 2));
    CHECK(cs__gemm_weight_bytes(g) > before);
    CHECK(cs__gemm_linear(g, x2, in, 1, w2, out, in, NULL, y2, out, false, 1));
    free(w2);
    free(x2);
    free(y2);
    free(w);
    free(b);
    cs__gemm_free(g);
}

/* Attention over n positions with heads of hd: every query, then single queries at
 * given positions (the pooled last layer), which only see keys up to theirs when causal. */
static void check_attention(int heads, int hd, int n, bool causal)
{
    int D = heads * hd;
    float *q = rnd((size_t)n * D), *k = rnd((size_t)n * D), *v = rnd((size_t)n * D);
    float *out = malloc((size_t)n * D * sizeof *out);
    float *sc = malloc(cs__attention_scratch(n, n, hd) * sizeof *sc);
    double *ref = malloc((size_t)n * D * sizeof *ref), *p = malloc((size_t)n * sizeof *p);
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < n; i++) {
            int nk = causal ? i + 1 : n;
            double z = 0, m = -1e300;
            for (int j = 0; j < nk; j++) {
                double dot = 0;
                for (int c = 0; c < hd; c++)
                    dot += (double)q[(size_t)i * D + h * hd + c] * k[(size_t)j * D + h * hd + c];
                p[j] = dot;
                m = fmax(m, dot);
            }
            for (int j = 0; j < nk; j++) z += (p[j] = exp(p[j] - m));
            for (int c = 0; c < hd; c++) {
                double o = 0;
                for (int j = 0; j < nk; j++) o += p[j] / z * v[(size_t)j * D + h * hd + c];
                ref[(size_t)i * D + h * hd + c] = o;
            }
        }
    cs__attention(q, D, NULL, n, k, v, D, n, heads, hd, causal, out, D, sc);
    double e = rel_err(out, ref, (size_t)n * D);
    CHECK_MSG(e < 1e-5, "attention %d x %d, %d positions: err %g", heads, hd, n, e);
    int positions[3] = {n - 1, n / 2, 0};
    for (int t = 0; t < 3; t++) {
        int pos = positions[t];
        cs__attention(q + (size_t)pos * D, D, &pos, 1, k, v, D, n, heads, hd, causal, out, D, sc);
        e = rel_err(out, ref + (size_t)pos * D, (size_t)D);
        CHECK_MSG(e < 1e-5, "attention %d x %d, query at %d of %d: err %g", heads, hd, pos, n, e);
    }
    free(q);
    free(k);
    free(v);
    free(out);
    free(sc);
    free(ref);
    free(p);
}

int main(void)
{
    check_engine(CS_PRECISION_FP32);
    check_engine(CS_PRECISION_BF16);
    for (int rows = 1; rows <= 17; rows++) {
        check_linear(rows, 48, 37, rows & 1, 1);
        check_linear(rows, 160, 64, 0, 1);
    }
    check_linear(40, 64, 30, 1, 0);
    check_linear(3, 50, 7, 1, 0); /* in % 16 != 0: BLAS path */
    check_linear(5, 512, 129, 0, 0);

    /* layernorm */
    int d = 77;
    float *x = rnd(3 * (size_t)d), *w = rnd((size_t)d), *b = rnd((size_t)d), y[3 * 77];
    for (int i = 0; i < d; i++) x[i] += 100.0f; /* large mean: two-pass variance matters */
    double ref[3 * 77];
    for (int r = 0; r < 3; r++) {
        double mean = 0, var = 0;
        for (int i = 0; i < d; i++) mean += x[r * d + i];
        mean /= d;
        for (int i = 0; i < d; i++) var += (x[r * d + i] - mean) * (x[r * d + i] - mean);
        var /= d;
        for (int i = 0; i < d; i++)
            ref[r * d + i] = (x[r * d + i] - mean) / sqrt(var + 1e-5) * w[i] + b[i];
    }
    cs__layernorm(x, y, 3, d, w, b, 1e-5f);
    CHECK_MSG(rel_err(y, ref, 3 * (size_t)d) < 1e-4, "layernorm %g", rel_err(y, ref, 3 * (size_t)d));

    /* expf over the range the kernels use */
    double emax = 0;
    for (float t = -87.0f; t < 88.0f; t += 0.01f) {
        double r = exp((double)t);
        emax = fmax(emax, fabs(cs__expf(t) - r) / r);
    }
    CHECK_MSG(emax < 5e-7, "expf rel err %g", emax);
    CHECK(cs__expf(-200.0f) >= 0.0f && cs__expf(-200.0f) < 1e-37f && isfinite(cs__expf(200.0f)));

    /* activations */
    float a[2000];
    double ra[2000];
    for (int act = 0; act < 2; act++) {
        for (int i = 0; i < 2000; i++) {
            a[i] = (i - 1000) * 0.013f;
            double t = a[i];
            ra[i] = act == 0 ? t / (1 + exp(-1.702 * t)) : 0.5 * t * (1 + erf(t / sqrt(2.0)));
        }
        cs__act(a, 2000, act);
        CHECK_MSG(rel_err(a, ra, 2000) < 1e-6, "act %d err %g", act, rel_err(a, ra, 2000));
    }

    /* softmax */
    float s[40];
    double rs[40], sum = 0;
    for (int i = 0; i < 40; i++) {
        s[i] = frand() * 30;
        sum += exp(s[i]);
    }
    for (int i = 0; i < 40; i++) rs[i] = exp(s[i]) / sum;
    cs__softmax(s, 40);
    CHECK(rel_err(s, rs, 40) < 1e-6);

    /* attention, against a double-precision reference, on the towers' shapes (ViT-B/32
     * images: 12 heads of 64, 50 tokens; texts: 77, causal) and odd ones (head sizes
     * that are not a multiple of the tile, fewer rows than a tile) */
    check_attention(2, 16, 9, true);
    check_attention(12, 64, 50, false);
    check_attention(8, 64, 77, true);
    check_attention(3, 40, 7, false);
    check_attention(1, 8, 1, true);
    check_attention(4, 96, 33, true);
    free(x);
    free(w);
    free(b);
    return TEST_RESULT();
}
