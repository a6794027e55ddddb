/* Bit-exact reimplementation of Pillow's antialiased BICUBIC resize (libImaging
 * Resample.c, 8 bits per channel) for packed RGB:
 *   - per output pixel, a filter window centred at in0 + (i + 0.5) * scale, support
 *     2 * max(1, scale), taps from (int)(center - support + 0.5) to
 *     (int)(center + support + 0.5) clamped to the image;
 *   - bicubic kernel with a = -0.5, weights normalised by their sum, then converted to
 *     fixed point with PRECISION_BITS = 22 (round half away from zero);
 *   - horizontal pass first (only over the source rows the vertical pass will read) into
 *     an 8-bit image, then the vertical pass; each sum starts at 1 << 21 and is clipped
 *     to 0..255 after the shift.
 * Any deviation (float instead of double, other rounding, other pass order) changes
 * some pixels by one level, which the golden SHA-256 tests catch. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/simd.h"
#include "image/image_internal.h"

#define PRECISION_BITS (32 - 8 - 2)

typedef struct {
    int ksize;
    int *bounds;      /* [xmin, count] per output sample */
    int32_t *k;       /* ksize fixed-point weights per output sample */
} coeffs;

static double bicubic(double x)
{
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static void coeffs_free(coeffs *c)
{
    free(c->bounds);
    free(c->k);
    c->bounds = NULL;
    c->k = NULL;
}

/* Coefficients of output samples [first, first + count) of a resize in_size -> out_size.
 * Each output sample depends only on its own window, so a sub-range gives exactly the
 * values the full resize would have there. */
static int precompute(int in_size, float in0, float in1, int out_size, int first, int count,
                      coeffs *c)
{
    double scale = (double)(in1 - in0) / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    c->ksize = ksize;
    c->bounds = NULL;
    c->k = NULL;
    if ((size_t)count > (size_t)INT_MAX / ((size_t)ksize * sizeof(double))) return -1;
    double *kk = malloc((size_t)ksize * sizeof(double));
    c->bounds = malloc((size_t)count * 2 * sizeof(int));
    c->k = malloc((size_t)count * (size_t)ksize * sizeof(int32_t));
    if (!kk || !c->bounds || !c->k) {
        free(kk);
        coeffs_free(c);
        return -1;
    }
    double ss = 1.0 / filterscale;
    for (int i = 0; i < count; i++) {
        int xx = first + i;
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        int x;
        for (x = 0; x < xmax; x++) {
            double w = bicubic((x + xmin - center + 0.5) * ss);
            kk[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0) kk[x] /= ww;
        for (; x < ksize; x++) kk[x] = 0;
        int32_t *k = c->k + (size_t)i * ksize;
        for (x = 0; x < ksize; x++)
            k[x] = kk[x] < 0 ? (int32_t)(-0.5 + kk[x] * (1 << PRECISION_BITS))
                             : (int32_t)(0.5 + kk[x] * (1 << PRECISION_BITS));
        c->bounds[i * 2] = xmin;
        c->bounds[i * 2 + 1] = xmax;
    }
    free(kk);
    return 0;
}

static inline uint8_t clip8(int32_t v)
{
    v >>= PRECISION_BITS; /* arithmetic shift: floor, as in Pillow's lookup table index */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Integer sums are exact in any order, so the loops below are arranged for the
 * vectoriser (contiguous int32 multiply-adds) rather than in Pillow's order; the result is
 * bit-identical. target_clones adds an AVX2 build picked at load time. */
#define CS_VECTOR_CLONES CS_SIMD_CLONES_AVX2 CS_HOT_LOOP

CS_VECTOR_CLONES
static int32_t dot_u32(const int32_t *p, const int32_t *k, int n)
{
    int32_t s = 0;
    for (int i = 0; i < n; i++) s += p[i] * k[i];
    return s;
}

/* rows [y0, y0 + nrows) of src (width sw) -> dst (width dw, nrows rows, row stride
 * dstride bytes). plane is scratch for 3 * sw int32: the row split into R, G, B planes so
 * each dot product is contiguous. */
static void pass_horizontal(const uint8_t *src, int sw, int y0, int nrows, uint8_t *dst,
                            size_t dstride, int dw, const coeffs *c, int32_t *plane)
{
    int32_t *pr = plane, *pg = plane + sw, *pb = plane + 2 * (size_t)sw;
    for (int yy = 0; yy < nrows; yy++) {
        const uint8_t *row = src + (size_t)(yy + y0) * sw * 3;
        for (int x = 0; x < sw; x++) {
            pr[x] = row[3 * x];
            pg[x] = row[3 * x + 1];
            pb[x] = row[3 * x + 2];
        }
        uint8_t *out = dst + (size_t)yy * dstride;
        for (int xx = 0; xx < dw; xx++) {
            int xmin = c->bounds[xx * 2], xmax = c->bounds[xx * 2 + 1];
            const int32_t *k = c->k + (size_t)xx * c->ksize;
            const int32_t half = 1 << (PRECISION_BITS - 1);
            out[xx * 3] = clip8(half + dot_u32(pr + xmin, k, xmax));
            out[xx * 3 + 1] = clip8(half + dot_u32(pg + xmin, k, xmax));
            out[xx * 3 + 2] = clip8(half + dot_u32(pb + xmin, k, xmax));
        }
    }
}

CS_VECTOR_CLONES
static void accumulate_row(int32_t *acc, const uint8_t *row, int32_t k, size_t n)
{
    for (size_t i = 0; i < n; i++) acc[i] += row[i] * k;
}

/* Output rows of w pixels from source rows sstride bytes apart (src points at the first
 * used column); dst rows are dstride apart. acc: scratch for w * 3 int32. */
static void pass_vertical(const uint8_t *src, size_t sstride, int w, uint8_t *dst,
                          size_t dstride, int dh, const coeffs *c, int32_t *acc)
{
    size_t n = (size_t)w * 3;
    for (int yy = 0; yy < dh; yy++) {
        int ymin = c->bounds[yy * 2], ymax = c->bounds[yy * 2 + 1];
        const int32_t *k = c->k + (size_t)yy * c->ksize;
        for (size_t i = 0; i < n; i++) acc[i] = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < ymax; y++)
            accumulate_row(acc, src + (size_t)(ymin + y) * sstride, k[y], n);
        uint8_t *out = dst + (size_t)yy * dstride;
        for (size_t i = 0; i < n; i++) out[i] = clip8(acc[i]);
    }
}

static int resize_window(const cs_image *in, int out_w, int out_h, int x0, int y0, int cw,
                         int ch, uint8_t *dst, size_t dstride, cs_error *err)
{
    int W = in->width, H = in->height;
    /* Pillow skips a pass whose size does not change (and copies when neither does). */
    int need_h = out_w != W, need_v = out_h != H;
    if (!need_h && !need_v) {
        for (int y = 0; y < ch; y++)
            memcpy(dst + (size_t)y * dstride, in->rgb + ((size_t)(y0 + y) * W + x0) * 3,
                   (size_t)cw * 3);
        return 0;
    }
    coeffs cv = {0}, chz = {0};
    uint8_t *tmp = NULL;
    int32_t *scratch = NULL;
    if (need_v && precompute(H, 0.0f, (float)H, out_h, y0, ch, &cv) != 0) goto oom;
    if (need_h && precompute(W, 0.0f, (float)W, out_w, x0, cw, &chz) != 0) goto oom;
    /* int32 scratch: three planes of one source row, or one accumulator row. */
    scratch = malloc(3 * (size_t)(W > cw ? W : cw) * sizeof(int32_t));
    if (!scratch) goto oom;
    if (need_h && need_v) {
        /* Only the source rows the vertical pass reads are resampled horizontally. */
        int yfirst = cv.bounds[0];
        int ylast = cv.bounds[ch * 2 - 2] + cv.bounds[ch * 2 - 1];
        for (int i = 0; i < ch; i++) cv.bounds[i * 2] -= yfirst;
        tmp = malloc((size_t)cw * (size_t)(ylast - yfirst) * 3);
        if (!tmp) goto oom;
        pass_horizontal(in->rgb, W, yfirst, ylast - yfirst, tmp, (size_t)cw * 3, cw, &chz,
                        scratch);
        pass_vertical(tmp, (size_t)cw * 3, cw, dst, dstride, ch, &cv, scratch);
    } else if (need_h) {
        pass_horizontal(in->rgb, W, y0, ch, dst, dstride, cw, &chz, scratch);
    } else {
        pass_vertical(in->rgb + (size_t)x0 * 3, (size_t)W * 3, cw, dst, dstride, ch, &cv,
                      scratch);
    }
    free(scratch);
    free(tmp);
    coeffs_free(&cv);
    coeffs_free(&chz);
    return 0;
oom:
    free(scratch);
    free(tmp);
    coeffs_free(&cv);
    coeffs_free(&chz);
    return cs_error_set(err, CS_E_NOMEM, "resize: out of memory (%dx%d -> %dx%d)", W, H, out_w,
                        out_h);
}

int cs_image_resize_bicubic(const cs_image *in, int out_w, int out_h, cs_image *out,
                            cs_error *err)
{
    out->rgb = NULL;
    out->width = out->height = 0;
    if (!in || !in->rgb || in->width <= 0 || in->height <= 0)
        return cs_error_set(err, CS_E_ARG, "resize: empty input image");
    if (out_w <= 0 || out_h <= 0)
        return cs_error_set(err, CS_E_ARG, "resize: invalid target size %dx%d", out_w, out_h);
    int rc = cs__image_alloc(out, out_w, out_h, "resize", err);
    if (rc != 0) return rc;
    rc = resize_window(in, out_w, out_h, 0, 0, out_w, out_h, out->rgb, (size_t)out_w * 3, err);
    if (rc != 0) cs_image_free(out);
    return rc;
}

int cs_image_resize_bicubic_window(const cs_image *in, int out_w, int out_h, int x, int y,
                                   int cw, int ch, cs_image *out, cs_error *err)
{
    out->rgb = NULL;
    out->width = out->height = 0;
    if (!in || !in->rgb || in->width <= 0 || in->height <= 0)
        return cs_error_set(err, CS_E_ARG, "resize: empty input image");
    if (out_w <= 0 || out_h <= 0 || cw <= 0 || ch <= 0 || x < 0 || y < 0 || x > out_w - cw ||
        y > out_h - ch)
        return cs_error_set(err, CS_E_ARG, "resize: window %dx%d at (%d, %d) is not inside %dx%d",
                            cw, ch, x, y, out_w, out_h);
    int rc = cs__image_alloc(out, cw, ch, "resize", err);
    if (rc != 0) return rc;
    rc = resize_window(in, out_w, out_h, x, y, cw, ch, out->rgb, (size_t)cw * 3, err);
    if (rc != 0) cs_image_free(out);
    return rc;
}
