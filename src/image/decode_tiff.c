/* TIFF via libtiff: the first page, converted to RGB exactly as Pillow 9.4's
 * Image.open(f).convert("RGB") does. libtiff decodes (every compression it was built
 * with); the sample-to-RGB rules are Pillow's, by layout:
 *   grey 1/2/4/8-bit    scaled to 8 bits (x255, x85, x17), MinIsWhite inverted (L;I ...)
 *   grey 12/16/32-bit   Pillow keeps an "I" image; I -> L clips to 0..255 (not a shift)
 *   grey float          F -> L clips and truncates
 *   palette             ColorMap entry >> 8 (Pillow keeps the high byte)
 *   RGB 8/16-bit        16-bit keeps the high byte; extra samples dropped, except
 *                       associated alpha, which Pillow un-premultiplies (v*255/a)
 *   CMYK                Pillow's cmyk2rgb: (255-k) - (c*(255-k))/255, rounded
 *   YCbCr               JPEG-coded: libjpeg converts (JPEGCOLORMODE_RGB, as Pillow);
 *                       otherwise libtiff's TIFFRGBAImage, as Pillow's decoder does.
 * Layouts Pillow cannot open (LAB, CIE, more bands) are refused as unsupported.
 * libtiff's error and warning handlers are set per handle (TIFFOpenOptions), so nothing
 * global changes and the first error becomes the message. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#include "image/image_internal.h"

/* Largest single buffer libtiff may allocate for us (a strip or a tile): bounds what a
 * hostile header can make it ask for. A 30000-pixel-wide 16-bit RGBA row is 240 KB, so
 * only absurd strips hit this. */
#define TIFF_MAX_SINGLE_ALLOC ((tmsize_t)512 << 20)

typedef struct tiff_src {
    const cs__decode_req *req;
    toff_t pos;
    char msg[200];   /* libtiff's first error, for the message */
} tiff_src;

static tmsize_t src_read(thandle_t h, void *buf, tmsize_t n)
{
    tiff_src *s = h;
    if (s->pos >= s->req->len || n <= 0) return 0;
    size_t left = s->req->len - (size_t)s->pos;
    size_t k = (size_t)n < left ? (size_t)n : left;
    memcpy(buf, s->req->data + s->pos, k);
    s->pos += k;
    return (tmsize_t)k;
}

static tmsize_t src_write(thandle_t h, void *buf, tmsize_t n) { return 0; }

static toff_t src_seek(thandle_t h, toff_t off, int whence)
{
    tiff_src *s = h;
    toff_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? s->pos : s->req->len;
    if (off > UINT64_MAX - base) return (toff_t)-1;
    s->pos = base + off;
    return s->pos;
}

static int src_close(thandle_t h) { return 0; }
static toff_t src_size(thandle_t h) { return ((tiff_src *)h)->req->len; }
static int no_map(thandle_t h, void **base, toff_t *size) { return 0; }
static void no_unmap(thandle_t h, void *base, toff_t size) {}

static int on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    tiff_src *s = user;
    if (!s->msg[0]) vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    return 1;   /* handled: libtiff's default handler would print to stderr */
}

static int on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    return 1;
}

static TIFF *open_tiff(tiff_src *s, cs_error *err)
{
    TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
    if (!o) return cs_error_set(err, CS_E_NOMEM, "%s: out of memory", s->req->name), NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(o, on_error, s);
    TIFFOpenOptionsSetWarningHandlerExtR(o, on_warning, s);
    TIFFOpenOptionsSetMaxSingleMemAlloc(o, TIFF_MAX_SINGLE_ALLOC);
    /* "m": never memory-map (there is no file to map). */
    TIFF *t = TIFFClientOpenExt(s->req->name, "rm", s, src_read, src_write, src_seek,
                                src_close, src_size, no_map, no_unmap, o);
    TIFFOpenOptionsFree(o);
    if (!t)
        cs_error_set(err, CS_E_FORMAT, "%s: corrupt TIFF: %s", s->req->name,
                     s->msg[0] ? s->msg : "cannot read the header");
    return t;
}

static int tiff_fail(tiff_src *s, const char *what, cs_error *err)
{
    return cs_error_set(err, CS_E_FORMAT, "%s: corrupt TIFF (%s): %s", s->req->name, what,
                        s->msg[0] ? s->msg : "read error");
}

int cs__probe_tiff(const cs__decode_req *req, cs_image_info *info, cs_error *err)
{
    tiff_src s = {.req = req};
    TIFF *t = open_tiff(&s, err);
    if (!t) return err->code;
    uint32_t w = 0, h = 0;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
    /* What read_pixels/read_rgba_image hold: a strip or tile and, for separate planes,
     * an interleaved copy of it; YCbCr without JPEG goes through an RGBA raster of the
     * whole image. A strip can be the whole image at 16 bytes per pixel (64-bit RGBA
     * floats), which no fixed factor covers. */
    tmsize_t unit = TIFFIsTiled(t) ? TIFFTileSize(t) : TIFFStripSize(t);
    uint16_t photometric = 0, compression = COMPRESSION_NONE, spp = 1;
    uint16_t planar = PLANARCONFIG_CONTIG;
    TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photometric);
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &compression);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFClose(t);
    int rc = cs__check_size(req, w, h, err);
    if (rc != 0) return rc;
    info->width = (int)w;
    info->height = (int)h;
    uint64_t block = unit > 0 && unit <= TIFF_MAX_SINGLE_ALLOC ? (uint64_t)unit : 0;
    bool separate = planar == PLANARCONFIG_SEPARATE && spp > 1;
    info->decoder_bytes = block * (separate ? 1u + spp : 1u);
    if (photometric == PHOTOMETRIC_YCBCR && compression != COMPRESSION_JPEG)
        info->decoder_bytes += (uint64_t)w * h * 4;
    return 0;
}

/* ---- layout ---- */

typedef enum { K_GRAY, K_PALETTE, K_RGB, K_CMYK, K_RGBA_IMAGE } tiff_kind;

typedef struct tiff_layout {
    uint32_t w, h;
    uint16_t bps, spp, photometric, planar, sample_format, compression;
    tiff_kind kind;
    bool invert;          /* MinIsWhite */
    bool premultiplied;   /* RGB + associated alpha (ExtraSamples = 1) */
    uint16_t *cmap[3];    /* palette: owned by libtiff */
} tiff_layout;

static int read_layout(TIFF *t, tiff_src *s, tiff_layout *L, cs_error *err)
{
    memset(L, 0, sizeof *L);
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &L->w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &L->h);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &L->bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &L->spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &L->planar);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &L->sample_format);
    TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &L->compression);
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &L->photometric))
        L->photometric = L->spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    uint16_t n_extra = 0, *extra = NULL;
    TIFFGetFieldDefaulted(t, TIFFTAG_EXTRASAMPLES, &n_extra, &extra);

    const char *why = NULL;
    int fmt = L->sample_format, bps = L->bps, spp = L->spp;
    bool uint8ish = fmt == SAMPLEFORMAT_UINT && (bps == 8 || bps == 16);
    switch (L->photometric) {
    case PHOTOMETRIC_MINISWHITE:
    case PHOTOMETRIC_MINISBLACK:
        L->kind = K_GRAY;
        L->invert = L->photometric == PHOTOMETRIC_MINISWHITE && bps <= 8;
        if (spp > 2) why = "grey with more than one extra sample";
        else if (fmt == SAMPLEFORMAT_IEEEFP ? bps != 32
                 : fmt == SAMPLEFORMAT_INT ? bps != 16 && bps != 32
                 : fmt == SAMPLEFORMAT_UINT ? bps != 1 && bps != 2 && bps != 4 && bps != 8 &&
                                                  bps != 12 && bps != 16 && bps != 32
                 : true)
            why = "grey sample format";
        break;
    case PHOTOMETRIC_PALETTE:
        L->kind = K_PALETTE;
        if (fmt != SAMPLEFORMAT_UINT || (bps != 1 && bps != 2 && bps != 4 && bps != 8) ||
            spp > 2)
            why = "palette sample format";
        else if (!TIFFGetField(t, TIFFTAG_COLORMAP, &L->cmap[0], &L->cmap[1], &L->cmap[2]))
            why = "palette without a ColorMap";
        break;
    case PHOTOMETRIC_RGB:
        L->kind = K_RGB;
        if (spp < 3 || spp > 6 || !uint8ish) why = "RGB sample format";
        L->premultiplied = spp >= 4 && n_extra >= 1 && extra && extra[0] == EXTRASAMPLE_ASSOCALPHA;
        break;
    case PHOTOMETRIC_SEPARATED: {
        uint16_t inkset = INKSET_CMYK;
        TIFFGetFieldDefaulted(t, TIFFTAG_INKSET, &inkset);
        L->kind = K_CMYK;
        if (inkset != INKSET_CMYK || spp < 4 || spp > 6 || !uint8ish) why = "separated (non-CMYK) samples";
        break;
    }
    case PHOTOMETRIC_YCBCR:
        if (L->compression == COMPRESSION_JPEG) {
            /* libjpeg does the colour conversion, as in Pillow's libtiff decoder. */
            TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
            L->kind = K_RGB;
            if (spp != 3 || bps != 8) why = "YCbCr sample format";
        } else {
            L->kind = K_RGBA_IMAGE;
            if (spp != 3 || bps != 8) why = "YCbCr sample format";
        }
        break;
    default: why = "colour space"; break;
    }
    if (why)
        return cs_error_set(err, CS_E_UNSUPPORTED,
                            "%s: TIFF layout not supported (%s: photometric %u, %u samples of "
                            "%u bits, format %u)",
                            s->req->name, why, L->photometric, L->spp, L->bps,
                            L->sample_format);
    return 0;
}

/* ---- sample -> RGB ---- */

static inline uint8_t clip8i(long long v) { return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v; }

/* Sample k (0-based, counting all samples of the row) of a contiguous row. */
static inline uint32_t sample_u(const uint8_t *row, size_t k, int bps)
{
    switch (bps) {
    case 8: return row[k];
    case 16: { uint16_t v; memcpy(&v, row + 2 * k, 2); return v; }
    case 32: { uint32_t v; memcpy(&v, row + 4 * k, 4); return v; }
    default: {   /* 1, 2, 4, 12: packed, most significant bits first */
        size_t bit = k * (size_t)bps;
        uint32_t v = 0;
        for (int b = 0; b < bps; b++, bit++)
            v = v << 1 | ((row[bit >> 3] >> (7 - (bit & 7))) & 1u);
        return v;
    }
    }
}

static uint8_t gray_value(const tiff_layout *L, const uint8_t *row, size_t k)
{
    if (L->sample_format == SAMPLEFORMAT_IEEEFP) {
        float f;
        memcpy(&f, row + 4 * k, 4);
        /* Pillow: v <= 0 -> 0, v >= 255 -> 255, else truncated; NaN compares false both
         * ways there and its cast is undefined, so it is 0 here. */
        return f >= 255.0f ? 255 : f > 0.0f ? (uint8_t)f : 0;
    }
    uint32_t u = sample_u(row, k, L->bps);
    if (L->sample_format == SAMPLEFORMAT_INT)
        return clip8i(L->bps == 16 ? (int16_t)u : (int32_t)u);
    uint8_t v;
    switch (L->bps) {
    case 1: v = u ? 255 : 0; break;
    case 2: v = (uint8_t)(u * 0x55); break;
    case 4: v = (uint8_t)(u * 0x11); break;
    case 8: v = (uint8_t)u; break;
    default: return clip8i(u);   /* 12/16/32-bit: Pillow's I -> L clip */
    }
    return L->invert ? (uint8_t)(255 - v) : v;
}

/* Pillow's MULDIV255: a*b/255, rounded. */
static inline int muldiv255(int a, int b)
{
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

static void convert_row(const tiff_layout *L, const uint8_t *row, uint32_t n, uint8_t *dst)
{
    size_t spp = L->spp;
    for (uint32_t i = 0; i < n; i++, dst += 3) {
        size_t k = (size_t)i * spp;
        switch (L->kind) {
        case K_GRAY: dst[0] = dst[1] = dst[2] = gray_value(L, row, k); break;
        case K_PALETTE: {
            uint32_t idx = sample_u(row, k, L->bps);
            for (int c = 0; c < 3; c++) dst[c] = (uint8_t)(L->cmap[c][idx] >> 8);
            break;
        }
        case K_RGB: {
            int shift = L->bps == 16 ? 8 : 0;
            int r = (int)(sample_u(row, k, L->bps) >> shift);
            int g = (int)(sample_u(row, k + 1, L->bps) >> shift);
            int b = (int)(sample_u(row, k + 2, L->bps) >> shift);
            if (L->premultiplied) {
                int a = (int)(sample_u(row, k + 3, L->bps) >> shift);
                /* Pillow's unpackRGBa: zero alpha gives black, otherwise v*255/a clipped. */
                if (a == 0) r = g = b = 0;
                else if (a != 255) {
                    r = clip8i(r * 255 / a);
                    g = clip8i(g * 255 / a);
                    b = clip8i(b * 255 / a);
                }
            }
            dst[0] = (uint8_t)r, dst[1] = (uint8_t)g, dst[2] = (uint8_t)b;
            break;
        }
        case K_CMYK: {
            int shift = L->bps == 16 ? 8 : 0;
            int kk = 255 - (int)(sample_u(row, k + 3, L->bps) >> shift);
            for (int c = 0; c < 3; c++)
                dst[c] = clip8i(kk - muldiv255((int)(sample_u(row, k + c, L->bps) >> shift), kk));
            break;
        }
        case K_RGBA_IMAGE: break;   /* not row-based */
        }
    }
}

/* ---- pixel reading ---- */

/* Converts a decoded block (a strip or a tile: bw x bh pixels, rows of row_bytes) whose
 * top-left pixel is (x0, y0) into the image. */
static void emit_block(const tiff_layout *L, const uint8_t *buf, size_t row_bytes,
                       uint32_t x0, uint32_t y0, uint32_t bw, uint32_t bh, cs_image *out)
{
    uint32_t nx = x0 + bw > L->w ? L->w - x0 : bw;
    uint32_t ny = y0 + bh > L->h ? L->h - y0 : bh;
    for (uint32_t y = 0; y < ny; y++)
        convert_row(L, buf + (size_t)y * row_bytes, nx,
                    out->rgb + ((size_t)(y0 + y) * L->w + x0) * 3);
}

/* Planar (separate) data: interleaves one plane's samples into the contiguous block. */
static void interleave_plane(const tiff_layout *L, const uint8_t *plane, uint8_t *block,
                             uint32_t bw, uint32_t bh, int s)
{
    size_t per = L->bps / 8, spp = L->spp;
    for (size_t p = 0; p < (size_t)bw * bh; p++)
        memcpy(block + (p * spp + (size_t)s) * per, plane + p * per, per);
}

static int read_pixels(TIFF *t, tiff_src *s, const tiff_layout *L, cs_image *out,
                       cs_error *err)
{
    bool tiled = TIFFIsTiled(t);
    bool separate = L->planar == PLANARCONFIG_SEPARATE && L->spp > 1;
    if (separate && L->bps % 8 != 0)
        return cs_error_set(err, CS_E_UNSUPPORTED,
                            "%s: TIFF layout not supported (separate planes of %u-bit samples)",
                            s->req->name, L->bps);
    uint32_t bw = L->w, bh = 0;
    if (tiled) {
        TIFFGetField(t, TIFFTAG_TILEWIDTH, &bw);
        TIFFGetField(t, TIFFTAG_TILELENGTH, &bh);
    } else {
        TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &bh);
        if (bh > L->h) bh = L->h;
    }
    if (bw == 0 || bh == 0) return tiff_fail(s, "block size", err);
    tmsize_t unit = tiled ? TIFFTileSize(t) : TIFFStripSize(t);   /* one plane if separate */
    if (unit <= 0) return tiff_fail(s, "block size", err);
    /* A tile is ours to allocate, whatever the header claims: a 8x8 picture declaring
     * 32768x32768 tiles must not cost gigabytes. Real tiles are multiples of 16 no larger
     * than the image rounded up, so a block over four times the image (plus slack for
     * tiny images) or over the single-allocation cap is refused. */
    if (unit > TIFF_MAX_SINGLE_ALLOC ||
        (uint64_t)bw * bh > (uint64_t)L->w * L->h * 4 + ((uint64_t)1 << 20))
        return cs_error_set(err, CS_E_FORMAT,
                            "%s: corrupt TIFF (block size): %ux%u %s for a %ux%u image",
                            s->req->name, bw, bh, tiled ? "tiles" : "strips", L->w, L->h);
    /* Contiguous rows: bits of one pixel row (all samples), rounded up to bytes. */
    size_t row_bytes = ((size_t)bw * L->spp * L->bps + 7) / 8;
    size_t block_bytes = row_bytes * bh;
    if (!separate && (size_t)unit < block_bytes) return tiff_fail(s, "block size", err);
    uint8_t *plane = malloc((size_t)unit);
    uint8_t *block = separate ? malloc(block_bytes) : plane;
    if (!plane || !block) {
        free(plane);
        if (separate) free(block);
        return cs_error_set(err, CS_E_NOMEM, "%s: out of memory", s->req->name);
    }
    int rc = 0;
    for (uint32_t y0 = 0; y0 < L->h && rc == 0; y0 += bh)
        for (uint32_t x0 = 0; x0 < L->w && rc == 0; x0 += bw) {
            for (int smp = 0; smp < (separate ? L->spp : 1) && rc == 0; smp++) {
                tmsize_t got;
                if (tiled)
                    got = TIFFReadEncodedTile(t, TIFFComputeTile(t, x0, y0, 0, (uint16_t)smp),
                                              plane, unit);
                else
                    got = TIFFReadEncodedStrip(t, TIFFComputeStrip(t, y0, (uint16_t)smp), plane,
                                               unit);
                if (got < 0) rc = tiff_fail(s, "pixel data", err);
                else if (separate) interleave_plane(L, plane, block, bw, bh, smp);
            }
            if (rc == 0) emit_block(L, block, row_bytes, x0, y0, bw, bh, out);
            if (!tiled) break;
        }
    if (separate) free(block);
    free(plane);
    return rc;
}

/* YCbCr without JPEG: libtiff's RGBA interface does the subsampling and conversion, as in
 * Pillow. The file's Orientation is left to clipsearch's own EXIF step (as for every
 * format), so libtiff is told the data is already top-left. */
static int read_rgba_image(TIFF *t, tiff_src *s, const tiff_layout *L, cs_image *out,
                           cs_error *err)
{
    char emsg[1024] = "";
    TIFFRGBAImage img;
    if (!TIFFRGBAImageOK(t, emsg) || !TIFFRGBAImageBegin(&img, t, 0, emsg))
        return cs_error_set(err, CS_E_UNSUPPORTED, "%s: TIFF layout not supported: %s",
                            s->req->name, emsg);
    img.req_orientation = ORIENTATION_TOPLEFT;
    img.orientation = ORIENTATION_TOPLEFT;
    uint32_t *raster = malloc((size_t)L->w * L->h * 4);
    int rc = 0;
    if (!raster) rc = cs_error_set(err, CS_E_NOMEM, "%s: out of memory", s->req->name);
    else if (!TIFFRGBAImageGet(&img, raster, L->w, L->h)) rc = tiff_fail(s, "pixel data", err);
    TIFFRGBAImageEnd(&img);
    if (rc == 0)
        for (size_t p = 0; p < (size_t)L->w * L->h; p++) {
            out->rgb[p * 3] = (uint8_t)TIFFGetR(raster[p]);
            out->rgb[p * 3 + 1] = (uint8_t)TIFFGetG(raster[p]);
            out->rgb[p * 3 + 2] = (uint8_t)TIFFGetB(raster[p]);
        }
    free(raster);
    return rc;
}

int cs__decode_tiff(const cs__decode_req *req, cs_image *out, cs_image_info *info,
                    cs_error *err)
{
    tiff_src s = {.req = req};
    TIFF *t = open_tiff(&s, err);
    if (!t) return err->code;
    tiff_layout L;
    int rc = read_layout(t, &s, &L, err);
    if (rc == 0) rc = cs__check_size(req, L.w, L.h, err);
    if (rc == 0) {
        info->width = (int)L.w;
        info->height = (int)L.h;
        rc = cs__image_alloc(out, (int)L.w, (int)L.h, req->name, err);
    }
    if (rc == 0)
        rc = L.kind == K_RGBA_IMAGE ? read_rgba_image(t, &s, &L, out, err)
                                    : read_pixels(t, &s, &L, out, err);
    TIFFClose(t);
    return rc;
}
