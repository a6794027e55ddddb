/* cs_image_resize_bicubic beyond the golden fixture: every pass combination
 * (horizontal only, vertical only, both, none), down- and up-scaling, extreme ratios,
 * against a plain full-image implementation of the same arithmetic (no row-range
 * optimisation), plus a float-precision sanity bound and argument errors. */
#include <math.h>

#include "clipsearch/image.h"
#include "test.h"

static double cubic(double x)
{
    x = fabs(x);
    if (x < 1.0) return (1.5 * x - 2.5) * x * x + 1; /* a = -0.5 */
    if (x < 2.0) return ((-0.5 * x + 2.5) * x - 4) * x + 2;
    return 0;
}

/* Fixed-point weights for one axis: PIL's window and rounding, written out plainly. */
static void axis(int in, int out, int **lo, int **cnt, int **k, int *ks)
{
    double scale = (double)in / out, fs = scale < 1 ? 1 : scale, sup = 2 * fs;
    *ks = (int)ceil(sup) * 2 + 1;
    *lo = calloc((size_t)out, sizeof(int));
    *cnt = calloc((size_t)out, sizeof(int));
    *k = calloc((size_t)out * *ks, sizeof(int));
    double *w = malloc(sizeof(double) * (size_t)*ks);
    for (int i = 0; i < out; i++) {
        double c = (i + 0.5) * scale, sum = 0;
        int a = (int)(c - sup + 0.5), b = (int)(c + sup + 0.5);
        if (a < 0) a = 0;
        if (b > in) b = in;
        for (int j = a; j < b; j++) sum += w[j - a] = cubic((j - c + 0.5) / fs);
        for (int j = a; j < b; j++) {
            double v = sum != 0 ? w[j - a] / sum : w[j - a];
            (*k)[(size_t)i * *ks + j - a] = (int)(v < 0 ? v * 4194304 - 0.5 : v * 4194304 + 0.5);
        }
        (*lo)[i] = a;
        (*cnt)[i] = b - a;
    }
    free(w);
}

static uint8_t clamp8(int s)
{
    s >>= 22;
    return (uint8_t)(s < 0 ? 0 : s > 255 ? 255 : s);
}

static cs_image reference(const cs_image *in, int ow, int oh)
{
    int W = in->width, H = in->height;
    cs_image out = {ow, oh, malloc((size_t)ow * oh * 3)};
    uint8_t *tmp = malloc((size_t)ow * H * 3);
    int *lo, *cnt, *k, ks;
    if (ow != W) {
        axis(W, ow, &lo, &cnt, &k, &ks);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < ow; x++)
                for (int c = 0; c < 3; c++) {
                    int s = 1 << 21;
                    for (int j = 0; j < cnt[x]; j++)
                        s += in->rgb[((size_t)y * W + lo[x] + j) * 3 + c] * k[(size_t)x * ks + j];
                    tmp[((size_t)y * ow + x) * 3 + c] = clamp8(s);
                }
        free(lo), free(cnt), free(k);
    } else {
        memcpy(tmp, in->rgb, (size_t)W * H * 3);
    }
    if (oh != H) {
        axis(H, oh, &lo, &cnt, &k, &ks);
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow * 3; x++) {
                int s = 1 << 21;
                for (int j = 0; j < cnt[y]; j++)
                    s += tmp[(size_t)(lo[y] + j) * ow * 3 + x] * k[(size_t)y * ks + j];
                out.rgb[(size_t)y * ow * 3 + x] = clamp8(s);
            }
        free(lo), free(cnt), free(k);
    } else {
        memcpy(out.rgb, tmp, (size_t)ow * oh * 3);
    }
    free(tmp);
    return out;
}

static cs_image pattern(int w, int h, int noisy)
{
    cs_image im = {w, h, malloc((size_t)w * h * 3)};
    uint32_t r = 7;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                r = r * 1664525u + 1013904223u;
                int v = noisy ? (int)(r >> 24) : (x * 255 / (w > 1 ? w - 1 : 1) + y * 3 + c * 40) % 256;
                im.rgb[((size_t)y * w + x) * 3 + c] = (uint8_t)v;
            }
    return im;
}

int main(void)
{
    const int cases[][4] = {
        {64, 48, 30, 20},  {64, 48, 64, 20},  {64, 48, 30, 48}, {64, 48, 64, 48},
        {17, 9, 50, 40},   {31, 17, 408, 224}, {5, 300, 3, 7},  {1000, 3, 1, 1},
        {1, 1, 9, 4},      {2, 2, 1, 1},       {97, 61, 96, 62}, {300, 200, 299, 1}};
    cs_error err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int noisy = 0; noisy < 2; noisy++) {
            cs_image in = pattern(cases[i][0], cases[i][1], noisy), out = {0};
            CHECK_OK(cs_image_resize_bicubic(&in, cases[i][2], cases[i][3], &out, &err), &err);
            cs_image ref = reference(&in, cases[i][2], cases[i][3]);
            CHECK_MSG(out.rgb && out.width == ref.width && out.height == ref.height &&
                          memcmp(out.rgb, ref.rgb, (size_t)ref.width * ref.height * 3) == 0,
                      "%dx%d -> %dx%d (noisy %d) differs from the plain implementation",
                      cases[i][0], cases[i][1], cases[i][2], cases[i][3], noisy);
            cs_image_free(&in);
            cs_image_free(&out);
            cs_image_free(&ref);
        }
    }
    /* Windows of a resize equal the same crop of the full resize, for every pass mix. */
    const int wins[][8] = {/* in w, h, out w, h, x, y, cw, ch */
                           {64, 48, 30, 20, 3, 2, 20, 15},   {64, 48, 64, 20, 10, 0, 40, 20},
                           {64, 48, 30, 48, 0, 7, 30, 30},   {64, 48, 64, 48, 5, 6, 7, 8},
                           {31, 17, 408, 224, 92, 0, 224, 224}, {1000, 37, 6054, 224, 2915, 0, 224, 224},
                           {5, 300, 3, 7, 2, 6, 1, 1}};
    for (size_t i = 0; i < sizeof wins / sizeof wins[0]; i++) {
        const int *w = wins[i];
        cs_image in = pattern(w[0], w[1], 1), full = {0}, win = {0};
        CHECK_OK(cs_image_resize_bicubic(&in, w[2], w[3], &full, &err), &err);
        CHECK_OK(cs_image_resize_bicubic_window(&in, w[2], w[3], w[4], w[5], w[6], w[7], &win, &err),
                 &err);
        int bad = !(win.rgb && full.rgb && win.width == w[6] && win.height == w[7]);
        for (int y = 0; !bad && y < w[7]; y++)
            bad = memcmp(win.rgb + (size_t)y * w[6] * 3,
                         full.rgb + ((size_t)(w[5] + y) * w[2] + w[4]) * 3, (size_t)w[6] * 3) != 0;
        CHECK_MSG(!bad, "window %zu differs from the crop of the full resize", i);
        cs_image_free(&in);
        cs_image_free(&full);
        cs_image_free(&win);
    }
    {
        cs_image in = pattern(10, 10, 0), win = {0};
        CHECK(cs_image_resize_bicubic_window(&in, 20, 20, 15, 0, 6, 5, &win, &err) == CS_E_ARG);
        CHECK(cs_image_resize_bicubic_window(&in, 20, 20, -1, 0, 6, 5, &win, &err) == CS_E_ARG);
        CHECK(win.rgb == NULL);
        cs_image_free(&in);
    }

    /* A constant image stays constant (weights sum to one), at every scale. */
    cs_image flat = {40, 30, malloc(40 * 30 * 3)};
    memset(flat.rgb, 200, 40 * 30 * 3);
    cs_image out = {0};
    CHECK_OK(cs_image_resize_bicubic(&flat, 13, 77, &out, &err), &err);
    int off = 0;
    for (int i = 0; out.rgb && i < 13 * 77 * 3; i++) off += out.rgb[i] != 200;
    CHECK(off == 0);
    cs_image_free(&out);
    cs_image_free(&flat);

    cs_image in = pattern(8, 8, 0);
    CHECK(cs_image_resize_bicubic(&in, 0, 5, &out, &err) == CS_E_ARG);
    CHECK(out.rgb == NULL);
    cs_image empty = {0};
    CHECK(cs_image_resize_bicubic(&empty, 5, 5, &out, &err) == CS_E_ARG);
    cs_image_free(&in);
    return TEST_RESULT();
}
