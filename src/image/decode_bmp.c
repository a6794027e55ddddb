/* BMP: a small own parser for the common uncompressed layouts (1/4/8-bit paletted,
 * 16-bit 555/565, 24-bit, 32-bit with or without bit fields; bottom-up or top-down),
 * converted as PIL's BmpImagePlugin + convert("RGB") do: palette indices past the file's
 * palette map to the grey ramp, n-bit fields scale as v * 255 / (2^n - 1), alpha is
 * dropped. RLE and embedded JPEG/PNG are refused as unsupported. */
#include <stdlib.h>
#include <string.h>

#include "image/image_internal.h"

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

typedef struct {
    uint32_t offset, hsize;
    int32_t w, h;
    int top_down;
    unsigned bpp, compression, colors;
    uint32_t mask[3];
} bmp_hdr;

static int parse_header(const cs__decode_req *req, bmp_hdr *b, cs_error *err)
{
    const uint8_t *d = req->data;
    size_t n = req->len;
    memset(b, 0, sizeof *b);
    if (n < 26) return cs_error_set(err, CS_E_FORMAT, "%s: BMP header is truncated", req->name);
    b->offset = le32(d + 10);
    b->hsize = le32(d + 14);
    if (b->hsize == 12) { /* OS/2 BITMAPCOREHEADER */
        b->w = (int32_t)le16(d + 18);
        b->h = (int32_t)le16(d + 20);
        b->bpp = le16(d + 24);
    } else if (b->hsize >= 40 && b->hsize <= 124) {
        if (n < 14 + 40)
            return cs_error_set(err, CS_E_FORMAT, "%s: BMP header is truncated", req->name);
        b->w = (int32_t)le32(d + 18);
        b->h = (int32_t)le32(d + 22);
        b->bpp = le16(d + 28);
        b->compression = le32(d + 30);
        b->colors = le32(d + 46);
    } else {
        return cs_error_set(err, CS_E_UNSUPPORTED, "%s: BMP header of %u bytes is not supported",
                            req->name, (unsigned)b->hsize);
    }
    if (b->h < 0) {
        if (b->h == INT32_MIN)
            return cs_error_set(err, CS_E_FORMAT, "%s: invalid BMP height", req->name);
        b->h = -b->h;
        b->top_down = 1;
    }
    if (b->w <= 0 || b->h <= 0)
        return cs_error_set(err, CS_E_FORMAT, "%s: BMP has invalid size %dx%d", req->name,
                            (int)b->w, (int)b->h);
    return 0;
}

int cs__probe_bmp(const cs__decode_req *req, cs_image_info *info, cs_error *err)
{
    bmp_hdr b;
    int rc = parse_header(req, &b, err);
    if (rc != 0) return rc;
    info->width = b.w;
    info->height = b.h;
    return 0;
}

/* Position and width of a bit field, for v * 255 / max scaling. */
static void field(uint32_t mask, int *shift, uint32_t *max)
{
    *shift = 0;
    *max = 0;
    if (!mask) return;
    while (!(mask & 1)) {
        mask >>= 1;
        (*shift)++;
    }
    *max = mask;
}

int cs__decode_bmp(const cs__decode_req *req, cs_image *out, cs_image_info *info, cs_error *err)
{
    bmp_hdr b;
    int rc = parse_header(req, &b, err);
    if (rc != 0) return rc;
    info->width = b.w;
    info->height = b.h;
    rc = cs__check_size(req, (uint64_t)b.w, (uint64_t)b.h, err);
    if (rc != 0) return rc;
    const uint8_t *d = req->data;
    size_t n = req->len;
    enum { BI_RGB = 0, BI_RLE8 = 1, BI_RLE4 = 2, BI_BITFIELDS = 3, BI_ALPHABITFIELDS = 6 };
    if (b.compression != BI_RGB && b.compression != BI_BITFIELDS &&
        b.compression != BI_ALPHABITFIELDS)
        return cs_error_set(err, CS_E_UNSUPPORTED,
                            "%s: compressed BMP (method %u) is not supported", req->name,
                            b.compression);
    if (b.bpp != 1 && b.bpp != 4 && b.bpp != 8 && b.bpp != 16 && b.bpp != 24 && b.bpp != 32)
        return cs_error_set(err, CS_E_UNSUPPORTED, "%s: %u-bit BMP is not supported", req->name,
                            b.bpp);

    uint8_t pal[768];
    cs__palette_init_ramp(pal);
    if (b.bpp <= 8) {
        size_t entry = b.hsize == 12 ? 3 : 4; /* BGR or BGRX */
        size_t count = b.colors ? b.colors : (1u << b.bpp);
        if (count > 256) count = 256;
        size_t at = 14 + (size_t)b.hsize;
        if (at + count * entry > n)
            return cs_error_set(err, CS_E_FORMAT, "%s: BMP palette is truncated", req->name);
        for (size_t i = 0; i < count; i++) {
            pal[3 * i] = d[at + i * entry + 2];
            pal[3 * i + 1] = d[at + i * entry + 1];
            pal[3 * i + 2] = d[at + i * entry];
        }
    }
    uint32_t masks[3];
    if (b.bpp == 16) {
        masks[0] = 0x7C00; masks[1] = 0x03E0; masks[2] = 0x001F;
    } else {
        masks[0] = 0xFF0000; masks[1] = 0xFF00; masks[2] = 0xFF;
    }
    if (b.compression != BI_RGB) {
        if (b.bpp != 16 && b.bpp != 32)
            return cs_error_set(err, CS_E_FORMAT, "%s: BMP bit fields need 16 or 32 bits",
                                req->name);
        /* Masks follow a 40-byte header (BITFIELDS) or sit inside a V2+ header. */
        if (14 + 40 + 12 > n)
            return cs_error_set(err, CS_E_FORMAT, "%s: BMP header is truncated", req->name);
        for (int c = 0; c < 3; c++) masks[c] = le32(d + 54 + 4 * c);
    }
    int shift[3];
    uint32_t maxv[3];
    for (int c = 0; c < 3; c++) {
        field(masks[c], &shift[c], &maxv[c]);
        if (!maxv[c])
            return cs_error_set(err, CS_E_UNSUPPORTED, "%s: BMP bit fields are not supported",
                                req->name);
    }

    size_t stride = (((size_t)b.w * b.bpp + 31) / 32) * 4;
    if (b.offset > n || (size_t)b.h > (n - b.offset) / stride)
        return cs_error_set(err, CS_E_FORMAT, "%s: BMP pixel data is truncated", req->name);
    rc = cs__image_alloc(out, b.w, b.h, req->name, err);
    if (rc != 0) return rc;
    for (int y = 0; y < b.h; y++) {
        const uint8_t *row = d + b.offset + stride * (size_t)(b.top_down ? y : b.h - 1 - y);
        uint8_t *o = out->rgb + (size_t)y * b.w * 3;
        for (int x = 0; x < b.w; x++, o += 3) {
            if (b.bpp <= 8) {
                unsigned bit = (unsigned)x * b.bpp;
                unsigned v = row[bit / 8];
                v = (v >> (8 - b.bpp - bit % 8)) & ((1u << b.bpp) - 1);
                memcpy(o, pal + 3 * v, 3);
            } else if (b.bpp == 24) {
                o[0] = row[3 * x + 2];
                o[1] = row[3 * x + 1];
                o[2] = row[3 * x];
            } else {
                uint32_t v = b.bpp == 16 ? le16(row + 2 * x) : le32(row + 4 * x);
                for (int c = 0; c < 3; c++)
                    o[c] = (uint8_t)(((v >> shift[c]) & maxv[c]) * 255 / maxv[c]);
            }
        }
    }
    return 0;
}
