/* Image decoding to 8-bit RGB (PIL-compatible conversion), EXIF orientation, and
 * PIL-compatible resampling. Owned by src/image/. */
#ifndef CLIPSEARCH_IMAGE_H
#define CLIPSEARCH_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clipsearch/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CS_IMAGE_UNKNOWN = 0,
    CS_IMAGE_JPEG,
    CS_IMAGE_PNG,
    CS_IMAGE_WEBP,
    CS_IMAGE_GIF,
    CS_IMAGE_BMP,
    CS_IMAGE_TIFF,
    CS_IMAGE_HEIF,   /* HEIC and AVIF: both are HEIF containers, decoded by libheif */
    CS_IMAGE_JXL,
    CS_IMAGE_RAW     /* camera RAW: the largest embedded preview, via libraw */
} cs_image_format;

/* A decoded image: tightly packed RGB, row-major HWC, 3 bytes per pixel. */
typedef struct cs_image {
    int width;
    int height;
    uint8_t *rgb;   /* width*height*3 bytes, owned; free with cs_image_free */
} cs_image;

typedef struct cs_image_options {
    bool apply_exif_orientation;  /* default true: embed a photo as it is displayed */
    uint64_t max_pixels;          /* refuse images with more pixels (0 = default 89478485*2, PIL's bomb error limit) */
    /* Opt-in speed-up (default false): let libjpeg shrink large JPEGs by 1/2, 1/4 or 1/8
     * inside the IDCT while the shorter side stays >= jpeg_min_side. Several times faster
     * on photos, but the pixels no longer match PIL (the embedding moves slightly). */
    bool fast_jpeg_downscale;
    int jpeg_min_side;            /* 0 = 448 (twice CLIP's 224, keeps the bicubic step meaningful) */
} cs_image_options;

/* What decoding learned about the file (before orientation is applied). */
typedef struct cs_image_info {
    cs_image_format format;
    int width, height;            /* as stored in the file */
    int exif_orientation;         /* 1..8, 1 when absent */
    bool orientation_applied;
    /* Probe only: bytes the decoder itself holds besides the RGB result when the header
     * tells (TIFF: a strip or tile, a plane buffer, an RGBA raster); 0 = use the
     * format's typical bytes per pixel. */
    uint64_t decoder_bytes;
} cs_image_info;

void cs_image_options_init(cs_image_options *opt);

/* Detects the format from the first bytes (magic numbers), not the name. */
cs_image_format cs_image_sniff(const uint8_t *data, size_t len);
const char *cs_image_format_name(cs_image_format f);   /* "jpeg", "png", ... */
/* The formats this build decodes, for messages: "JPEG, PNG, ..., camera RAW". */
const char *cs_image_supported_formats(void);

/* Reads only the header: format and stored size, without decoding pixels. */
int cs_image_probe_file(const char *path, cs_image_info *info, cs_error *err);
/* opt: the limits the decode will use (NULL: defaults), so that a --max-pixels above the
 * default probes what the decode will accept. */
/* When the photo was taken: EXIF DateTimeOriginal of a JPEG, PNG, WebP or TIFF file as
 * seconds since the epoch (exact with OffsetTimeOriginal, else the wall clock read in the
 * local time zone). false when absent, unset (zeros) or malformed. */
bool cs_image_exif_taken(const uint8_t *data, size_t len, int64_t *out);

int cs_image_probe_memory(const uint8_t *data, size_t len, const cs_image_options *opt,
                          cs_image_info *info, cs_error *err);

/* An upper estimate of the memory a decode of the probed image takes at its peak (the
 * RGB result, the decoder's own buffers for that format, a rotated copy), for callers
 * that share a memory budget between decoding threads. */
uint64_t cs_image_decode_cost(const cs_image_info *info);

/* Decodes to RGB as PIL's Image.convert("RGB") would (alpha dropped, not composited;
 * palette looked up; gray replicated; 16-bit reduced as PIL does). The pixel limit is
 * checked from the header, before any pixel memory is allocated. info may be NULL. */
int cs_image_decode_file(const char *path, const cs_image_options *opt, cs_image *out,
                         cs_image_info *info, cs_error *err);
int cs_image_decode_memory(const uint8_t *data, size_t len, const cs_image_options *opt,
                           cs_image *out, cs_image_info *info, cs_error *err);
void cs_image_free(cs_image *img);

/* Bit-exact PIL Image.resize(..., BICUBIC) with antialiasing (two passes, 8-bit
 * intermediate). out is allocated. */
int cs_image_resize_bicubic(const cs_image *in, int out_w, int out_h, cs_image *out,
                            cs_error *err);

/* The window [x, x + cw) x [y, y + ch) of cs_image_resize_bicubic(in, out_w, out_h),
 * bit-identical, computing only what the window needs (each output pixel depends only on
 * its own filter window): a resize followed by a crop at a fraction of the cost, and no
 * huge intermediate for extreme aspect ratios. out (cw x ch) is allocated. */
int cs_image_resize_bicubic_window(const cs_image *in, int out_w, int out_h, int x, int y,
                                   int cw, int ch, cs_image *out, cs_error *err);

/* Rotates/flips per an EXIF orientation value 1..8. out is allocated. */
int cs_image_apply_orientation(const cs_image *in, int orientation, cs_image *out,
                               cs_error *err);

/* ---- thumbnails (src/image/thumbnail.c) ------------------------------------------- */

/* A JPEG thumbnail (longest side <= max_side, never upscaled) of an image file, encoded
 * with libjpeg at the given quality. *jpeg is malloc'd. */
int cs_thumbnail_jpeg(const char *path, int max_side, int quality, bool apply_exif,
                      uint8_t **jpeg, size_t *len, cs_error *err);
/* The same from a file already in memory (the caller read it, e.g. from the descriptor it
 * checked); errors are prefixed with name when given. */
int cs_thumbnail_jpeg_memory(const uint8_t *data, size_t size, const char *name, int max_side,
                             int quality, bool apply_exif, uint8_t **jpeg, size_t *len,
                             cs_error *err);

#ifdef __cplusplus
}
#endif
#endif
