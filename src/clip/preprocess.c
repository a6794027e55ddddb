/* CLIPImageProcessor (Hugging Face transformers) on an already RGB image:
 *   resize: shortest side -> shortest_edge, long side int(size * long / short), PIL
 *           bicubic (bit-exact, src/image/resize.c); skipped (a copy) when the short
 *           side already matches, as HF does;
 *   crop:   top = (h - crop_h) // 2, left = (w - crop_w) // 2 (floor); an image smaller
 *           than the crop is zero-padded, placed at ceil((crop - dim) / 2), as HF's
 *           center_crop does;
 *   rescale+normalise in float32: x = (float)((double)u8 * rescale_factor) (HF: float64
 *           multiply, then astype(float32); for 1/255 this equals (float)u8 / 255.0f,
 *           which the golden pixel tensor was checked against), y = (x - mean) / std. */
#include <stdlib.h>
#include <string.h>

#include "clipsearch/clip.h"

static int check_cfg(const cs_preprocess_config *cfg, const cs_image *img, cs_error *err)
{
    if (!cfg || !img || !img->rgb || img->width <= 0 || img->height <= 0)
        return cs_error_set(err, CS_E_ARG, "preprocess: empty image or missing config");
    if (cfg->do_resize && cfg->resample != 3)
        return cs_error_set(err, CS_E_UNSUPPORTED,
                            "preprocess: resample filter %d is not supported (only 3 = BICUBIC)",
                            cfg->resample);
    if (cfg->do_resize && cfg->shortest_edge <= 0)
        return cs_error_set(err, CS_E_ARG, "preprocess: invalid shortest_edge %d",
                            cfg->shortest_edge);
    if (cfg->do_center_crop && (cfg->crop_width <= 0 || cfg->crop_height <= 0))
        return cs_error_set(err, CS_E_ARG, "preprocess: invalid crop size %dx%d",
                            cfg->crop_width, cfg->crop_height);
    return 0;
}

static int copy_image(const cs_image *in, cs_image *out, cs_error *err)
{
    size_t n = (size_t)in->width * in->height * 3;
    out->rgb = malloc(n);
    if (!out->rgb) return cs_error_set(err, CS_E_NOMEM, "preprocess: out of memory");
    memcpy(out->rgb, in->rgb, n);
    out->width = in->width;
    out->height = in->height;
    return 0;
}

int cs_preprocess_resize(const cs_preprocess_config *cfg, const cs_image *img, cs_image *out,
                         cs_error *err)
{
    out->rgb = NULL;
    out->width = out->height = 0;
    int rc = check_cfg(cfg, img, err);
    if (rc != 0) return rc;
    if (!cfg->do_resize) return copy_image(img, out, err);
    long long w = img->width, h = img->height, size = cfg->shortest_edge;
    long long shortd = w <= h ? w : h, longd = w <= h ? h : w;
    if (shortd == size) return copy_image(img, out, err);
    /* int(size * long / short): exact in integers (the quotient of two exact doubles is
     * never within rounding distance of an integer it does not equal). */
    long long new_long = size * longd / shortd;
    if (new_long > 0x7fffffffLL || new_long <= 0)
        return cs_error_set(err, CS_E_TOO_LARGE, "preprocess: %lldx%lld cannot be resized to "
                            "shortest edge %lld", w, h, size);
    int ow = (int)(w <= h ? size : new_long), oh = (int)(w <= h ? new_long : size);
    return cs_image_resize_bicubic(img, ow, oh, out, err);
}

/* HF center_crop on uint8 HWC, including its zero padding for small images. */
static int center_crop(const cs_image *in, int ch, int cw, cs_image *out, cs_error *err)
{
    out->rgb = calloc((size_t)ch * cw * 3, 1);
    if (!out->rgb) return cs_error_set(err, CS_E_NOMEM, "preprocess: out of memory");
    out->width = cw;
    out->height = ch;
    int H = in->height, W = in->width;
    /* Source offset when the image is larger, destination offset when it is smaller. */
    int sy = H >= ch ? (H - ch) / 2 : 0, dy = H >= ch ? 0 : (ch - H + 1) / 2;
    int sx = W >= cw ? (W - cw) / 2 : 0, dx = W >= cw ? 0 : (cw - W + 1) / 2;
    int rows = H >= ch ? ch : H, cols = W >= cw ? cw : W;
    for (int y = 0; y < rows; y++)
        memcpy(out->rgb + ((size_t)(dy + y) * cw + dx) * 3,
               in->rgb + ((size_t)(sy + y) * W + sx) * 3, (size_t)cols * 3);
    return 0;
}

int cs_preprocess_resize_crop(const cs_preprocess_config *cfg, const cs_image *img,
                              cs_image *out, cs_error *err)
{
    out->rgb = NULL;
    out->width = out->height = 0;
    cs_image r;
    int rc = cs_preprocess_resize(cfg, img, &r, err);
    if (rc != 0) return rc;
    if (!cfg->do_center_crop) {
        *out = r;
        return 0;
    }
    rc = center_crop(&r, cfg->crop_height, cfg->crop_width, out, err);
    cs_image_free(&r);
    return rc;
}

int cs_preprocess_image(const cs_preprocess_config *cfg, const cs_image *img, float *out,
                        cs_error *err)
{
    cs_image c;
    int rc = cs_preprocess_resize_crop(cfg, img, &c, err);
    if (rc != 0) return rc;
    /* A per-value table: 256 inputs per channel, computed with HF's exact float ops. */
    float lut[3][256];
    for (int ch = 0; ch < 3; ch++) {
        for (int v = 0; v < 256; v++) {
            float x = cfg->do_rescale ? (float)((double)v * cfg->rescale_factor) : (float)v;
            lut[ch][v] = cfg->do_normalize ? (x - cfg->mean[ch]) / cfg->std[ch] : x;
        }
    }
    size_t plane = (size_t)c.width * c.height;
    for (size_t i = 0; i < plane; i++) {
        out[i] = lut[0][c.rgb[3 * i]];
        out[plane + i] = lut[1][c.rgb[3 * i + 1]];
        out[2 * plane + i] = lut[2][c.rgb[3 * i + 2]];
    }
    cs_image_free(&c);
    return 0;
}
