/* CLIPImageProcessor (Hugging Face transformers) on an already RGB image:
 *   resize: shortest side -> shortest_edge, long side int(size * long / short), PIL
 *           bicubic (bit-exact, src/image/resize.c); skipped (a copy) when the short
 *           side already matches, as HF does;
 *   crop:   top = (h - crop_h) // 2, left = (w - crop_w) // 2 (floor); an image smaller
 *           than the crop is zero-padded, placed at ceil((crop - dim) / 2), as HF's
 *           center_crop does; only the window that survives the crop is resampled
 *           (bit-identical to resizing everything, see cs_image_resize_bicubic_window);
 *   rescale+normalise in float32: x = (float)((double)u8 * rescale_factor) (HF: float64
 *           multiply, then astype(float32); for 1/255 this equals (float)u8 / 255.0f,
 *           which the golden pixel tensor was checked against), y = (x - mean) / std. */
#include <stdlib.h>
#include <string.h>

#include "clipsearch/clip.h"

/* Same bound as the decoders' default (PIL's DecompressionBombError limit). */
#define MAX_RESIZED_PIXELS (2ULL * 89478485ULL)

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

/* HF's output size; *resample is false when HF leaves the pixels alone. */
static int target_size(const cs_preprocess_config *cfg, const cs_image *img, int *ow, int *oh,
                       bool *resample, cs_error *err)
{
    *ow = img->width;
    *oh = img->height;
    *resample = false;
    if (!cfg->do_resize) return 0;
    long long w = img->width, h = img->height, size = cfg->shortest_edge;
    long long shortd = w <= h ? w : h, longd = w <= h ? h : w;
    if (shortd == size) return 0;
    /* int(size * long / short): exact in integers (the quotient of two exact doubles is
     * never within rounding distance of an integer it does not equal). */
    long long new_long = size * longd / shortd;
    if (new_long > 0x7fffffffLL || new_long <= 0)
        return cs_error_set(err, CS_E_TOO_LARGE,
                            "preprocess: %lldx%lld cannot be resized to shortest edge %lld", w, h,
                            size);
    *ow = (int)(w <= h ? size : new_long);
    *oh = (int)(w <= h ? new_long : size);
    *resample = true;
    return 0;
}

int cs_preprocess_resize(const cs_preprocess_config *cfg, const cs_image *img, cs_image *out,
                         cs_error *err)
{
    out->rgb = NULL;
    out->width = out->height = 0;
    int rc = check_cfg(cfg, img, err);
    if (rc != 0) return rc;
    int ow, oh;
    bool resample;
    rc = target_size(cfg, img, &ow, &oh, &resample, err);
    if (rc != 0) return rc;
    if (!resample) return copy_image(img, out, err);
    /* The full resized image of an extreme strip can be gigantic (1x60000 -> 224x13.4M);
     * resize_crop never builds it, but this function would. */
    if ((unsigned long long)ow * (unsigned long long)oh > MAX_RESIZED_PIXELS)
        return cs_error_set(err, CS_E_TOO_LARGE,
                            "preprocess: resizing %dx%d gives %dx%d, over %llu pixels",
                            img->width, img->height, ow, oh, MAX_RESIZED_PIXELS);
    return cs_image_resize_bicubic(img, ow, oh, out, err);
}

/* One axis of HF's center_crop: where the kept part starts in the (resized) image, how
 * long it is, and where it lands in the crop (zero padding when the image is smaller,
 * placed at ceil((crop - dim) / 2)). */
static void crop_axis(int dim, int crop, int *src, int *n, int *dst)
{
    if (dim >= crop) {
        *src = (dim - crop) / 2;
        *n = crop;
        *dst = 0;
    } else {
        *src = 0;
        *n = dim;
        *dst = (crop - dim + 1) / 2;
    }
}

int cs_preprocess_resize_crop(const cs_preprocess_config *cfg, const cs_image *img,
                              cs_image *out, cs_error *err)
{
    out->rgb = NULL;
    out->width = out->height = 0;
    int rc = check_cfg(cfg, img, err);
    if (rc != 0) return rc;
    if (!cfg->do_center_crop) return cs_preprocess_resize(cfg, img, out, err);
    int ow, oh;
    bool resample;
    rc = target_size(cfg, img, &ow, &oh, &resample, err);
    if (rc != 0) return rc;
    int ch = cfg->crop_height, cw = cfg->crop_width;
    int sx, nx, dx, sy, ny, dy;
    crop_axis(ow, cw, &sx, &nx, &dx);
    crop_axis(oh, ch, &sy, &ny, &dy);
    /* Resize then crop == resizing only the window that survives the crop. */
    cs_image win = {0};
    if (resample) {
        rc = cs_image_resize_bicubic_window(img, ow, oh, sx, sy, nx, ny, &win, err);
        if (rc != 0) return rc;
    }
    out->rgb = calloc((size_t)ch * cw * 3, 1);
    if (!out->rgb) {
        cs_image_free(&win);
        return cs_error_set(err, CS_E_NOMEM, "preprocess: out of memory");
    }
    out->width = cw;
    out->height = ch;
    for (int y = 0; y < ny; y++) {
        const uint8_t *src = resample ? win.rgb + (size_t)y * nx * 3
                                      : img->rgb + ((size_t)(sy + y) * img->width + sx) * 3;
        memcpy(out->rgb + ((size_t)(dy + y) * cw + dx) * 3, src, (size_t)nx * 3);
    }
    cs_image_free(&win);
    return 0;
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
