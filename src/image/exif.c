/* EXIF Orientation (tag 0x0112) from JPEG APP1, PNG eXIf and WebP EXIF chunks. A small
 * own parser: we need one tag of IFD0, and libexif would parse (and allocate) the whole
 * block. Every read is bounds-checked; anything odd means "no orientation" (1). */
#include <string.h>

#include "image/image_internal.h"

static unsigned rd16(const uint8_t *p, int le)
{
    return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | p[1];
}

static uint32_t rd32(const uint8_t *p, int le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int cs__exif_orientation_tiff(const uint8_t *t, size_t n)
{
    if (n < 8) return 1;
    int le;
    if (t[0] == 'I' && t[1] == 'I') le = 1;
    else if (t[0] == 'M' && t[1] == 'M') le = 0;
    else return 1;
    if (rd16(t + 2, le) != 42) return 1;
    uint32_t ifd = rd32(t + 4, le);
    if (ifd < 8 || ifd > n - 2) return 1;
    unsigned count = rd16(t + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > n) return 1;
        if (rd16(t + e, le) != 0x0112) continue;
        unsigned type = rd16(t + e + 2, le);
        unsigned v;
        if (type == 3) v = rd16(t + e + 8, le);            /* SHORT, the standard type */
        else if (type == 4 || type == 9) v = rd32(t + e + 8, le); /* LONG written by some tools */
        else return 1;
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

static int jpeg_orientation(const uint8_t *d, size_t n)
{
    size_t p = 2;
    while (p + 4 <= n) {
        if (d[p] != 0xFF) return 1;
        uint8_t m = d[p + 1];
        if (m == 0xFF) { p++; continue; }          /* fill byte */
        if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) { p += 2; continue; }
        if (m == 0xDA || m == 0xD9) return 1;       /* image data starts: no EXIF before */
        size_t len = (size_t)d[p + 2] << 8 | d[p + 3];
        if (len < 2 || p + 2 + len > n) return 1;
        const uint8_t *seg = d + p + 4;
        size_t sl = len - 2;
        /* PIL uses the first APP1 that starts with the EXIF signature. */
        if (m == 0xE1 && sl >= 6 && memcmp(seg, "Exif\0\0", 6) == 0)
            return cs__exif_orientation_tiff(seg + 6, sl - 6);
        p += 2 + len;
    }
    return 1;
}

static int png_orientation(const uint8_t *d, size_t n)
{
    size_t p = 8;
    while (p + 12 <= n) {
        uint32_t len = rd32(d + p, 0);
        if (len > n - p - 12) return 1;
        if (memcmp(d + p + 4, "eXIf", 4) == 0) {
            const uint8_t *c = d + p + 8;
            /* Some writers keep the JPEG-style "Exif\0\0" prefix. */
            if (len >= 6 && memcmp(c, "Exif\0\0", 6) == 0) return cs__exif_orientation_tiff(c + 6, len - 6);
            return cs__exif_orientation_tiff(c, len);
        }
        if (memcmp(d + p + 4, "IEND", 4) == 0) return 1;
        p += 12 + (size_t)len;
    }
    return 1;
}

static int webp_orientation(const uint8_t *d, size_t n)
{
    size_t p = 12;
    while (p + 8 <= n) {
        uint32_t len = rd32(d + p + 4, 1);
        if (len > n - p - 8) return 1;
        if (memcmp(d + p, "EXIF", 4) == 0) {
            const uint8_t *c = d + p + 8;
            if (len >= 6 && memcmp(c, "Exif\0\0", 6) == 0) return cs__exif_orientation_tiff(c + 6, len - 6);
            return cs__exif_orientation_tiff(c, len);
        }
        p += 8 + (size_t)len + (len & 1);
    }
    return 1;
}

int cs__exif_orientation(cs_image_format f, const uint8_t *data, size_t len)
{
    switch (f) {
    case CS_IMAGE_JPEG: return jpeg_orientation(data, len);
    case CS_IMAGE_PNG: return png_orientation(data, len);
    case CS_IMAGE_WEBP: return webp_orientation(data, len);
    /* A TIFF's first IFD is where Pillow's getexif() finds Orientation. */
    case CS_IMAGE_TIFF: return cs__exif_orientation_tiff(data, len);
    default: return 1;
    }
}
