/* JPEG thumbnails for the HTML gallery (and anything else that shows results): decode
 * with the project's decoder (EXIF-oriented, so they look like the photo), shrink with
 * the PIL-exact bicubic, encode with libjpeg into memory. */
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>

#include "clipsearch/query.h"

static int encode_jpeg(const cs_image *img, int quality, uint8_t **jpeg, size_t *len,
                       cs_error *err)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    /* The default error_exit calls exit(); only out-of-memory can fail here (the input
     * is our own RGB buffer), which jpeg_std_error reports that way too. Accepted: the
     * alternative (setjmp) buys nothing for an in-memory encode of valid pixels. */
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &buf, &size);
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

int cs_thumbnail_jpeg(const char *path, int max_side, int quality, bool apply_exif,
                      uint8_t **jpeg, size_t *len, cs_error *err)
{
    *jpeg = NULL;
    *len = 0;
    if (max_side < 1) return cs_error_set(err, CS_E_ARG, "thumbnail size must be >= 1");
    if (quality < 1 || quality > 100) quality = 85;
    cs_image_options opt;
    cs_image_options_init(&opt);
    opt.apply_exif_orientation = apply_exif;
    cs_image img = {0};
    int rc = cs_image_decode_file(path, &opt, &img, NULL, err);
    if (rc != 0) return rc;
    int w = img.width, h = img.height;
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
        rc = cs_image_resize_bicubic(&img, w, h, &small, err);
        cs_image_free(&img);
        if (rc != 0) return cs_error_prefix(err, "thumbnail of %s", path);
        img = small;
    }
    rc = encode_jpeg(&img, quality, jpeg, len, err);
    cs_image_free(&img);
    return rc;
}
