/* JPEG thumbnails for the HTML gallery (and anything else that shows results): decode
 * with the project's decoder (EXIF-oriented, so they look like the photo), shrink with
 * the PIL-exact bicubic, encode with libjpeg into memory. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>

#include "clipsearch/image.h"

/* libjpeg reports errors through error_exit, which by default calls exit(): jump back
 * instead, so a failure is an error code like everywhere else in the library. */
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf env;
} jpeg_err;

static void on_jpeg_error(j_common_ptr c)
{
    longjmp(((jpeg_err *)c->err)->env, 1);
}

static int encode_jpeg(const cs_image *img, int quality, uint8_t **jpeg, size_t *len,
                       cs_error *err)
{
    struct jpeg_compress_struct c;
    jpeg_err jerr;
    /* volatile: read after longjmp. */
    unsigned char *volatile buf = NULL;
    unsigned long size = 0;
    c.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = on_jpeg_error;
    if (setjmp(jerr.env)) {
        char msg[JMSG_LENGTH_MAX];
        jerr.pub.format_message((j_common_ptr)&c, msg);
        jpeg_destroy_compress(&c);
        free(buf);
        return cs_error_set(err, CS_E_INTERNAL, "JPEG encoder: %s", msg);
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, (unsigned char **)&buf, &size);
    c.image_width = (JDIMENSION)img->width;
    c.image_height = (JDIMENSION)img->height;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = img->rgb + (size_t)c.next_scanline * (size_t)img->width * 3;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    if (!buf) return cs_error_set(err, CS_E_NOMEM, "JPEG encoder produced no output");
    /* libjpeg allocated buf with malloc; hand it on as is. */
    *jpeg = buf;
    *len = size;
    return 0;
}

/* Longest side -> max_side (never upscaled), then JPEG. Consumes img. */
static int shrink_encode(cs_image *img, int max_side, int quality, uint8_t **jpeg, size_t *len,
                         cs_error *err)
{
    int w = img->width, h = img->height, rc;
    if (w > max_side || h > max_side) {
        /* Longest side -> max_side, the other rounded, at least 1 pixel. */
        if (w >= h) {
            h = (int)((double)h * max_side / w + 0.5);
            w = max_side;
        } else {
            w = (int)((double)w * max_side / h + 0.5);
            h = max_side;
        }
        if (w < 1) w = 1;
        if (h < 1) h = 1;
        cs_image small = {0};
        rc = cs_image_resize_bicubic(img, w, h, &small, err);
        cs_image_free(img);
        if (rc != 0) return rc;
        *img = small;
    }
    rc = encode_jpeg(img, quality, jpeg, len, err);
    cs_image_free(img);
    return rc;
}

static void thumb_options(cs_image_options *opt, int max_side, bool apply_exif)
{
    cs_image_options_init(opt);
    opt->apply_exif_orientation = apply_exif;
    /* A thumbnail need not match PIL: let libjpeg decode big photos at 1/2..1/8 scale. */
    opt->fast_jpeg_downscale = true;
    opt->jpeg_min_side = 2 * max_side;
}

int cs_thumbnail_jpeg(const char *path, int max_side, int quality, bool apply_exif,
                      uint8_t **jpeg, size_t *len, cs_error *err)
{
    *jpeg = NULL;
    *len = 0;
    if (max_side < 1) return cs_error_set(err, CS_E_ARG, "thumbnail size must be >= 1");
    if (quality < 1 || quality > 100) quality = 85;
    cs_image_options opt;
    thumb_options(&opt, max_side, apply_exif);
    cs_image img = {0};
    int rc = cs_image_decode_file(path, &opt, &img, NULL, err);
    if (rc != 0) return rc;
    rc = shrink_encode(&img, max_side, quality, jpeg, len, err);
    if (rc != 0 && rc != CS_E_INTERNAL) cs_error_prefix(err, "thumbnail of %s", path);
    return rc;
}

int cs_thumbnail_jpeg_memory(const uint8_t *data, size_t size, const char *name, int max_side,
                             int quality, bool apply_exif, uint8_t **jpeg, size_t *len,
                             cs_error *err)
{
    *jpeg = NULL;
    *len = 0;
    if (max_side < 1) return cs_error_set(err, CS_E_ARG, "thumbnail size must be >= 1");
    if (quality < 1 || quality > 100) quality = 85;
    cs_image_options opt;
    thumb_options(&opt, max_side, apply_exif);
    cs_image img = {0};
    int rc = cs_image_decode_memory(data, size, &opt, &img, NULL, err);
    if (rc == 0) rc = shrink_encode(&img, max_side, quality, jpeg, len, err);
    if (rc != 0 && name) cs_error_prefix(err, "%s", name);
    return rc;
}
