/* Private contracts between the image decoders (one file per format) and decode.c. */
#ifndef CS_IMAGE_INTERNAL_H
#define CS_IMAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clipsearch/image.h"

/* PIL's Image.MAX_IMAGE_PIXELS; DecompressionBombError is raised above twice that. */
#define CS_PIL_MAX_IMAGE_PIXELS 89478485ULL
#define CS_DEFAULT_MAX_PIXELS (2ULL * CS_PIL_MAX_IMAGE_PIXELS)

/* What every decoder receives. */
typedef struct cs__decode_req {
    const uint8_t *data;
    size_t len;
    const char *name;        /* file path or "<memory>", for messages */
    uint64_t max_pixels;     /* resolved limit (never 0) */
    bool fast_jpeg_downscale;
    int jpeg_min_side;
    /* Formats whose decoder applies the orientation itself (HEIF's irot/imir, JPEG XL's
     * orientation field) read this; the others report it and decode.c rotates. */
    bool apply_orientation;
} cs__decode_req;

/* Refuses zero or over-limit sizes; called from each header before any pixel memory. */
int cs__check_size(const cs__decode_req *req, uint64_t w, uint64_t h, cs_error *err);
/* Allocates out->rgb for w*h pixels (after cs__check_size). */
int cs__image_alloc(cs_image *out, int w, int h, const char *name, cs_error *err);

/* Header-only probes: width/height (as stored) into info. */
int cs__probe_jpeg(const cs__decode_req *req, cs_image_info *info, cs_error *err);
int cs__probe_png(const cs__decode_req *req, cs_image_info *info, cs_error *err);
int cs__probe_webp(const cs__decode_req *req, cs_image_info *info, cs_error *err);
int cs__probe_gif(const cs__decode_req *req, cs_image_info *info, cs_error *err);
int cs__probe_bmp(const cs__decode_req *req, cs_image_info *info, cs_error *err);
int cs__probe_tiff(const cs__decode_req *req, cs_image_info *info, cs_error *err);
int cs__probe_heif(const cs__decode_req *req, cs_image_info *info, cs_error *err);
int cs__probe_jxl(const cs__decode_req *req, cs_image_info *info, cs_error *err);
/* Also sets info->exif_orientation (the RAW's flip). */
int cs__probe_raw(const cs__decode_req *req, cs_image_info *info, cs_error *err);

/* Full decodes to RGB (PIL convert("RGB") semantics). info->width/height are filled. */
int cs__decode_jpeg(const cs__decode_req *req, cs_image *out, cs_image_info *info, cs_error *err);
int cs__decode_png(const cs__decode_req *req, cs_image *out, cs_image_info *info, cs_error *err);
int cs__decode_webp(const cs__decode_req *req, cs_image *out, cs_image_info *info, cs_error *err);
int cs__decode_gif(const cs__decode_req *req, cs_image *out, cs_image_info *info, cs_error *err);
int cs__decode_bmp(const cs__decode_req *req, cs_image *out, cs_image_info *info, cs_error *err);
int cs__decode_tiff(const cs__decode_req *req, cs_image *out, cs_image_info *info, cs_error *err);
/* HEIF/AVIF and JPEG XL: orientation applied inside per req->apply_orientation. */
int cs__decode_heif(const cs__decode_req *req, cs_image *out, cs_image_info *info, cs_error *err);
int cs__decode_jxl(const cs__decode_req *req, cs_image *out, cs_image_info *info, cs_error *err);
/* The largest embedded preview; sets info->exif_orientation from the RAW's flip. */
int cs__decode_raw(const cs__decode_req *req, cs_image *out, cs_image_info *info, cs_error *err);

/* Whether TIFF-structured bytes are a camera RAW (CR2, DNG, NEF, ARW, ...) rather than a
 * plain TIFF: cs_image_sniff says CS_IMAGE_RAW for these, and decode.c falls back to the
 * TIFF decoder when libraw does not take the file. */
bool cs__tiff_is_raw(const uint8_t *data, size_t len);

/* Name of a recognised but unsupported format ("TIFF", "HEIF", ...), or NULL. */
const char *cs__sniff_unsupported(const uint8_t *data, size_t len);

/* EXIF Orientation (1..8) found in the file's metadata, 1 when absent or invalid. */
int cs__exif_orientation(cs_image_format f, const uint8_t *data, size_t len);
/* Orientation from a TIFF-structured EXIF block ("II*\0" / "MM\0*" ...). */
int cs__exif_orientation_tiff(const uint8_t *tiff, size_t len);
/* DateTimeOriginal of a TIFF-structured EXIF block as seconds since the epoch. */
bool cs__exif_taken_tiff(const uint8_t *tiff, size_t len, int64_t *out);

/* A 256-entry RGB palette initialised as Pillow 9.4 does (grey ramp), so indices past the
 * file's palette map to (i,i,i) exactly like PIL's P -> RGB conversion. */
void cs__palette_init_ramp(uint8_t pal[256 * 3]);

#endif
