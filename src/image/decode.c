/* Entry points: read the file, sniff the format, dispatch to one decoder, then apply the
 * EXIF orientation if asked. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "image/image_internal.h"

void cs_image_options_init(cs_image_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->apply_exif_orientation = true;
    opt->max_pixels = CS_DEFAULT_MAX_PIXELS;
    opt->fast_jpeg_downscale = false;
    opt->jpeg_min_side = 448;
}

void cs_image_free(cs_image *img)
{
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}

int cs__check_size(const cs__decode_req *req, uint64_t w, uint64_t h, cs_error *err)
{
    if (w == 0 || h == 0)
        return cs_error_set(err, CS_E_FORMAT, "%s: invalid image size %llux%llu", req->name,
                            (unsigned long long)w, (unsigned long long)h);
    /* int dimensions everywhere downstream; 2^31 would not fit. */
    if (w > 0x7fffffff || h > 0x7fffffff || w * h > req->max_pixels)
        return cs_error_set(err, CS_E_TOO_LARGE,
                            "%s: image of %llux%llu pixels exceeds the limit of %llu pixels",
                            req->name, (unsigned long long)w, (unsigned long long)h,
                            (unsigned long long)req->max_pixels);
    return 0;
}

int cs__image_alloc(cs_image *out, int w, int h, const char *name, cs_error *err)
{
    size_t n = (size_t)w * (size_t)h * 3;
    out->rgb = malloc(n);
    if (!out->rgb)
        return cs_error_set(err, CS_E_NOMEM, "%s: out of memory for %dx%d pixels", name, w, h);
    out->width = w;
    out->height = h;
    return 0;
}

void cs__palette_init_ramp(uint8_t pal[256 * 3])
{
    for (int i = 0; i < 256; i++) pal[i * 3] = pal[i * 3 + 1] = pal[i * 3 + 2] = (uint8_t)i;
}

static void init_req(cs__decode_req *req, const uint8_t *data, size_t len, const char *name,
                     const cs_image_options *opt)
{
    cs_image_options def;
    if (!opt) {
        cs_image_options_init(&def);
        opt = &def;
    }
    req->data = data;
    req->len = len;
    req->name = name;
    req->max_pixels = opt->max_pixels ? opt->max_pixels : CS_DEFAULT_MAX_PIXELS;
    req->fast_jpeg_downscale = opt->fast_jpeg_downscale;
    req->jpeg_min_side = opt->jpeg_min_side > 0 ? opt->jpeg_min_side : 448;
    req->apply_orientation = opt->apply_exif_orientation;
}

const char *cs_image_supported_formats(void)
{
    return "JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC/HEIF, AVIF, JPEG XL, camera RAW";
}

/* Explains why bytes are not something we decode. */
static int not_an_image(const cs__decode_req *req, cs_error *err)
{
    if (req->len == 0) return cs_error_set(err, CS_E_FORMAT, "%s: empty file", req->name);
    const char *other = cs__sniff_unsupported(req->data, req->len);
    if (other)
        return cs_error_set(err, CS_E_UNSUPPORTED,
                            "%s: %s images are not supported (%s are)", req->name, other,
                            cs_image_supported_formats());
    return cs_error_set(err, CS_E_FORMAT, "%s: not a recognised image file", req->name);
}

static int decode_req(const cs__decode_req *req, bool apply_orientation, cs_image *out,
                      cs_image_info *info_out, cs_error *err)
{
    cs_image_info info = {0};
    info.exif_orientation = 1;
    out->rgb = NULL;
    out->width = out->height = 0;
    info.format = cs_image_sniff(req->data, req->len);
    int rc;
    switch (info.format) {
    case CS_IMAGE_JPEG: rc = cs__decode_jpeg(req, out, &info, err); break;
    case CS_IMAGE_PNG: rc = cs__decode_png(req, out, &info, err); break;
    case CS_IMAGE_WEBP: rc = cs__decode_webp(req, out, &info, err); break;
    case CS_IMAGE_GIF: rc = cs__decode_gif(req, out, &info, err); break;
    case CS_IMAGE_BMP: rc = cs__decode_bmp(req, out, &info, err); break;
    case CS_IMAGE_TIFF: rc = cs__decode_tiff(req, out, &info, err); break;
    case CS_IMAGE_HEIF: rc = cs__decode_heif(req, out, &info, err); break;
    case CS_IMAGE_JXL: rc = cs__decode_jxl(req, out, &info, err); break;
    case CS_IMAGE_RAW:
        rc = cs__decode_raw(req, out, &info, err);
        /* A TIFF that only looked like a RAW (a scanner's Make plus SubIFDs): libraw
         * does not take it, so it is a plain TIFF after all. */
        if (rc != 0 && rc != CS_E_NOMEM && rc != CS_E_TOO_LARGE &&
            cs_image_sniff(req->data, req->len >= 4 ? 4 : req->len) == CS_IMAGE_TIFF) {
            cs_image_free(out);
            info.format = CS_IMAGE_TIFF;
            rc = cs__decode_tiff(req, out, &info, err);
        }
        break;
    default: return not_an_image(req, err);
    }
    if (rc != 0) {
        cs_image_free(out);
        return rc;
    }
    /* RAW reports its flip itself; HEIF and JPEG XL applied theirs while decoding. */
    if (info.format != CS_IMAGE_RAW)
        info.exif_orientation = cs__exif_orientation(info.format, req->data, req->len);
    if (apply_orientation && info.exif_orientation > 1) {
        cs_image rot;
        rc = cs_image_apply_orientation(out, info.exif_orientation, &rot, err);
        if (rc != 0) {
            cs_image_free(out);
            return cs_error_prefix(err, "%s", req->name);
        }
        cs_image_free(out);
        *out = rot;
        info.orientation_applied = true;
    }
    if (info_out) *info_out = info;
    return 0;
}

int cs_image_decode_memory(const uint8_t *data, size_t len, const cs_image_options *opt,
                           cs_image *out, cs_image_info *info, cs_error *err)
{
    cs__decode_req req;
    init_req(&req, data, len, "<memory>", opt);
    return decode_req(&req, opt ? opt->apply_exif_orientation : true, out, info, err);
}

int cs_image_decode_file(const char *path, const cs_image_options *opt, cs_image *out,
                         cs_image_info *info, cs_error *err)
{
    out->rgb = NULL;
    out->width = out->height = 0;
    uint8_t *data;
    size_t len;
    int rc = cs__read_file(path, (size_t)1 << 30, &data, &len, err);
    if (rc != 0) return rc;
    cs__decode_req req;
    init_req(&req, data, len, path, opt);
    rc = decode_req(&req, opt ? opt->apply_exif_orientation : true, out, info, err);
    free(data);
    return rc;
}

static int probe_buf(const cs__decode_req *req, cs_image_info *info, cs_error *err)
{
    memset(info, 0, sizeof *info);
    info->exif_orientation = 1;
    info->format = cs_image_sniff(req->data, req->len);
    switch (info->format) {
    case CS_IMAGE_JPEG: return cs__probe_jpeg(req, info, err);
    case CS_IMAGE_PNG: return cs__probe_png(req, info, err);
    case CS_IMAGE_WEBP: return cs__probe_webp(req, info, err);
    case CS_IMAGE_GIF: return cs__probe_gif(req, info, err);
    case CS_IMAGE_BMP: return cs__probe_bmp(req, info, err);
    case CS_IMAGE_TIFF: return cs__probe_tiff(req, info, err);
    case CS_IMAGE_HEIF: return cs__probe_heif(req, info, err);
    case CS_IMAGE_JXL: return cs__probe_jxl(req, info, err);
    case CS_IMAGE_RAW: {
        int rc = cs__probe_raw(req, info, err);
        if (rc != 0 && rc != CS_E_NOMEM && rc != CS_E_TOO_LARGE &&
            cs_image_sniff(req->data, req->len >= 4 ? 4 : req->len) == CS_IMAGE_TIFF) {
            info->format = CS_IMAGE_TIFF;
            rc = cs__probe_tiff(req, info, err);
        }
        return rc;
    }
    default: return not_an_image(req, err);
    }
}

int cs_image_probe_memory(const uint8_t *data, size_t len, const cs_image_options *opt,
                          cs_image_info *info, cs_error *err)
{
    cs__decode_req req;
    init_req(&req, data, len, "<memory>", opt);
    int rc = probe_buf(&req, info, err);
    if (rc == 0 && info->format != CS_IMAGE_RAW)
        info->exif_orientation = cs__exif_orientation(info->format, data, len);
    return rc;
}

uint64_t cs_image_decode_cost(const cs_image_info *info)
{
    /* Bytes per pixel besides the 3 of the result, measured from what each decoder
     * allocates: libjpeg decodes row by row; PNG holds 16-bit RGBA rows of the whole
     * image; GIF and animated WebP an RGBA canvas plus indices; TIFF a strip/tile plus,
     * for YCbCr, an RGBA raster; libheif planes plus its RGB (16-bit for HDR); libjxl
     * keeps float channels. */
    uint64_t extra;
    switch (info->format) {
    case CS_IMAGE_JPEG: extra = 1; break;
    case CS_IMAGE_PNG: extra = 8; break;
    case CS_IMAGE_GIF: extra = 5; break;
    case CS_IMAGE_WEBP: extra = 4; break;
    case CS_IMAGE_BMP: extra = 1; break;
    case CS_IMAGE_TIFF: extra = info->decoder_bytes ? 1 : 5; break;
    case CS_IMAGE_HEIF: extra = 9; break;
    case CS_IMAGE_JXL: extra = 16; break;
    case CS_IMAGE_RAW: extra = 1; break;
    default: extra = 8; break;
    }
    uint64_t px = (uint64_t)(info->width > 0 ? info->width : 0) *
                  (uint64_t)(info->height > 0 ? info->height : 0);
    uint64_t rotate = info->exif_orientation > 1 ? 3 : 0;
    return px * (3 + extra + rotate) + info->decoder_bytes + ((uint64_t)1 << 20);
}

int cs_image_probe_file(const char *path, cs_image_info *info, cs_error *err)
{
    /* 256 KiB holds the headers of nearly every file (JPEG APPn segments are <= 64 KiB
     * each); only when the size is not found there is the whole file read. */
    const size_t first = 256 * 1024;
    uint8_t *data;
    size_t len, size;
    int rc = cs__read_file_prefix(path, first, &data, &len, &size, err);
    if (rc != 0) return rc;
    cs__decode_req req;
    init_req(&req, data, len, path, NULL);
    rc = probe_buf(&req, info, err);
    if (rc == CS_E_FORMAT && len < size) {
        free(data);
        rc = cs__read_file(path, (size_t)1 << 30, &data, &len, err);
        if (rc != 0) return rc;
        init_req(&req, data, len, path, NULL);
        rc = probe_buf(&req, info, err);
    }
    if (rc == 0 && info->format != CS_IMAGE_RAW)
        info->exif_orientation = cs__exif_orientation(info->format, data, len);
    free(data);
    return rc;
}
