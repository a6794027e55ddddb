/* CLIPImageProcessor details beyond the golden images: HF's resize arithmetic, the
 * centre crop with zero padding for small images, the float formula, the config flags. */
#include "clipsearch/clip.h"
#include "test.h"

static void base_cfg(cs_preprocess_config *c)
{
    memset(c, 0, sizeof *c);
    c->do_convert_rgb = true;
    c->do_resize = true;
    c->shortest_edge = 224;
    c->resample = 3;
    c->do_center_crop = true;
    c->crop_height = c->crop_width = 224;
    c->do_rescale = true;
    c->rescale_factor = 1.0 / 255.0;
    c->do_normalize = true;
    const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    memcpy(c->mean, mean, sizeof mean);
    memcpy(c->std, std, sizeof std);
}

static cs_image make(int w, int h)
{
    cs_image im = {w, h, malloc((size_t)w * h * 3)};
    for (size_t i = 0; i < (size_t)w * h * 3; i++) im.rgb[i] = (uint8_t)(1 + (i * 7919) % 254);
    return im;
}

static void resize_sizes(void)
{
    /* {w, h, expected w, expected h}: long = int(224 * long / short). */
    const int cases[][4] = {{1000, 37, 6054, 224}, {31, 17, 408, 224}, {640, 427, 335, 224},
                            {427, 640, 224, 335}, {224, 224, 224, 224}, {225, 224, 225, 224},
                            {300, 300, 224, 224}, {7, 1000, 224, 32000}, {224, 2, 25088, 224}};
    cs_preprocess_config cfg;
    base_cfg(&cfg);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cs_image in = make(cases[i][0], cases[i][1]), out = {0};
        cs_error err;
        CHECK_OK(cs_preprocess_resize(&cfg, &in, &out, &err), &err);
        CHECK_MSG(out.width == cases[i][2] && out.height == cases[i][3],
                  "%dx%d -> %dx%d, want %dx%d", cases[i][0], cases[i][1], out.width, out.height,
                  cases[i][2], cases[i][3]);
        /* Short side already 224: HF skips resampling, the pixels are untouched. */
        if ((cases[i][0] < cases[i][1] ? cases[i][0] : cases[i][1]) == 224)
            CHECK(out.rgb && memcmp(out.rgb, in.rgb, (size_t)in.width * in.height * 3) == 0);
        cs_image_free(&in);
        cs_image_free(&out);
    }
}

/* HF center_crop: image smaller than the crop is zero-padded and centred at
 * ceil((crop - dim) / 2); larger dimensions are cut at floor((dim - crop) / 2). */
static void crop_padding(void)
{
    cs_preprocess_config cfg;
    base_cfg(&cfg);
    cfg.do_resize = false;
    const int cases[][2] = {{100, 50}, {101, 51}, {300, 100}, {224, 9}, {500, 400}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int W = cases[i][0], H = cases[i][1];
        cs_image in = make(W, H), out = {0};
        cs_error err;
        CHECK_OK(cs_preprocess_resize_crop(&cfg, &in, &out, &err), &err);
        CHECK(out.width == 224 && out.height == 224);
        int bad = 0;
        for (int y = 0; y < 224 && out.rgb; y++)
            for (int x = 0; x < 224; x++) {
                int sx = W >= 224 ? x + (W - 224) / 2 : x - (224 - W + 1) / 2;
                int sy = H >= 224 ? y + (H - 224) / 2 : y - (224 - H + 1) / 2;
                for (int c = 0; c < 3; c++) {
                    uint8_t want = (sx >= 0 && sx < W && sy >= 0 && sy < H)
                                       ? in.rgb[((size_t)sy * W + sx) * 3 + c] : 0;
                    bad += out.rgb[((size_t)y * 224 + x) * 3 + c] != want;
                }
            }
        CHECK_MSG(bad == 0, "crop of %dx%d: %d values wrong", W, H, bad);
        /* Padding is 0 in uint8, so (0 - mean) / std after normalisation. */
        float *px = malloc(3 * 224 * 224 * sizeof(float));
        CHECK_OK(cs_preprocess_image(&cfg, &in, px, &err), &err);
        if (H < 224) CHECK(px[0] == (0.0f - cfg.mean[0]) / cfg.std[0]);
        free(px);
        cs_image_free(&in);
        cs_image_free(&out);
    }
    /* Crop bigger than the resized image in one dimension only (shortest 100, crop 150). */
    base_cfg(&cfg);
    cfg.shortest_edge = 100;
    cfg.crop_height = cfg.crop_width = 150;
    cs_image in = make(400, 200), out = {0};
    cs_error err;
    CHECK_OK(cs_preprocess_resize_crop(&cfg, &in, &out, &err), &err);
    CHECK(out.width == 150 && out.height == 150);
    cs_image r = {0};
    CHECK_OK(cs_preprocess_resize(&cfg, &in, &r, &err), &err);
    CHECK(r.width == 200 && r.height == 100);
    if (out.rgb && r.rgb) {
        /* Width 200 is cut at (200 - 150) / 2 = 25; height 100 is padded by 25 on top. */
        int bad = 0;
        for (int y = 0; y < 150; y++)
            for (int x = 0; x < 150; x++)
                for (int c = 0; c < 3; c++) {
                    uint8_t want = (y >= 25 && y < 125) ? r.rgb[((size_t)(y - 25) * 200 + x + 25) * 3 + c] : 0;
                    bad += out.rgb[((size_t)y * 150 + x) * 3 + c] != want;
                }
        CHECK_MSG(bad == 0, "mixed crop/pad: %d values wrong", bad);
    }
    cs_image_free(&r);
    cs_image_free(&in);
    cs_image_free(&out);
}

/* A 1x60000 strip: the full resize would be 224 x 13,440,000 pixels. resize_crop only
 * resamples the 224x224 window; the full resize is refused instead of allocating 9 GB. */
static void extreme_strip(void)
{
    cs_preprocess_config cfg;
    base_cfg(&cfg);
    cs_image in = make(1, 60000), out = {0};
    cs_error err;
    CHECK(cs_preprocess_resize(&cfg, &in, &out, &err) == CS_E_TOO_LARGE);
    CHECK(out.rgb == NULL);
    CHECK_OK(cs_preprocess_resize_crop(&cfg, &in, &out, &err), &err);
    CHECK(out.width == 224 && out.height == 224);
    /* The crop is the middle window of the (never built) full resize. */
    cs_image win = {0};
    CHECK_OK(cs_image_resize_bicubic_window(&in, 224, 13440000, 0, (13440000 - 224) / 2, 224, 224,
                                            &win, &err), &err);
    CHECK(out.rgb && win.rgb && memcmp(out.rgb, win.rgb, 224 * 224 * 3) == 0);
    cs_image_free(&win);
    cs_image_free(&out);
    cs_image_free(&in);
}

static void float_formula(void)
{
    /* HF rescales in float64 then casts to float32; the reference README states
     * (float)u8 / 255.0f. Both agree on all 256 inputs, which is why either is exact. */
    int differ = 0;
    for (int v = 0; v < 256; v++) differ += (float)((double)v * (1.0 / 255.0)) != (float)v / 255.0f;
    CHECK_MSG(differ == 0, "%d of 256 values differ between the two rescale forms", differ);

    cs_preprocess_config cfg;
    base_cfg(&cfg);
    cs_image in = make(224, 224);
    float *px = malloc(3 * 224 * 224 * sizeof(float));
    cs_error err;
    CHECK_OK(cs_preprocess_image(&cfg, &in, px, &err), &err);
    int bad = 0;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 224 * 224; i++) {
            float x = (float)in.rgb[i * 3 + c] / 255.0f;
            float y = (x - cfg.mean[c]) / cfg.std[c];
            bad += memcmp(&y, &px[c * 224 * 224 + i], 4) != 0;
        }
    CHECK_MSG(bad == 0, "%d values differ from (u8/255 - mean)/std (CHW order)", bad);
    cfg.do_rescale = false;
    cfg.do_normalize = false;
    CHECK_OK(cs_preprocess_image(&cfg, &in, px, &err), &err);
    CHECK(px[0] == (float)in.rgb[0] && px[224 * 224] == (float)in.rgb[1] &&
          px[2 * 224 * 224 + 5] == (float)in.rgb[5 * 3 + 2]);
    cfg.do_rescale = true;
    cfg.rescale_factor = 0.5;
    CHECK_OK(cs_preprocess_image(&cfg, &in, px, &err), &err);
    CHECK(px[0] == (float)in.rgb[0] * 0.5f);
    free(px);
    cs_image_free(&in);
}

static void bad_config(void)
{
    cs_preprocess_config cfg;
    base_cfg(&cfg);
    cs_image in = make(10, 10), out = {0};
    cs_error err;
    cfg.resample = 2; /* bilinear */
    CHECK(cs_preprocess_resize(&cfg, &in, &out, &err) == CS_E_UNSUPPORTED);
    CHECK(strstr(err.msg, "resample") != NULL);
    base_cfg(&cfg);
    cfg.shortest_edge = 0;
    CHECK(cs_preprocess_resize(&cfg, &in, &out, &err) == CS_E_ARG);
    base_cfg(&cfg);
    cs_image empty = {0};
    CHECK(cs_preprocess_resize_crop(&cfg, &empty, &out, &err) == CS_E_ARG);
    CHECK(out.rgb == NULL);
    cs_image_free(&in);
}

int main(void)
{
    resize_sizes();
    crop_padding();
    float_formula();
    extreme_strip();
    bad_config();
    return TEST_RESULT();
}
