/* Format detection from magic numbers: file names lie, bytes do not. */
#include <string.h>

#include "image/image_internal.h"

cs_image_format cs_image_sniff(const uint8_t *d, size_t n)
{
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return CS_IMAGE_JPEG;
    if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return CS_IMAGE_PNG;
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
        return CS_IMAGE_WEBP;
    if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
        return CS_IMAGE_GIF;
    if (n >= 2 && d[0] == 'B' && d[1] == 'M') return CS_IMAGE_BMP;
    return CS_IMAGE_UNKNOWN;
}

const char *cs_image_format_name(cs_image_format f)
{
    switch (f) {
    case CS_IMAGE_JPEG: return "jpeg";
    case CS_IMAGE_PNG: return "png";
    case CS_IMAGE_WEBP: return "webp";
    case CS_IMAGE_GIF: return "gif";
    case CS_IMAGE_BMP: return "bmp";
    default: return "unknown";
    }
}

/* Recognised image formats we do not decode, so the error can say "unsupported TIFF"
 * rather than "not an image". */
const char *cs__sniff_unsupported(const uint8_t *d, size_t n)
{
    if (n >= 4 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0)) return "TIFF";
    if (n >= 12 && memcmp(d + 4, "ftyp", 4) == 0) {
        if (memcmp(d + 8, "avif", 4) == 0 || memcmp(d + 8, "avis", 4) == 0) return "AVIF";
        if (memcmp(d + 8, "heic", 4) == 0 || memcmp(d + 8, "heix", 4) == 0 ||
            memcmp(d + 8, "mif1", 4) == 0 || memcmp(d + 8, "msf1", 4) == 0 ||
            memcmp(d + 8, "hevc", 4) == 0)
            return "HEIF";
    }
    if (n >= 12 && memcmp(d, "\0\0\0\x0cjP  \r\n\x87\n", 12) == 0) return "JPEG 2000";
    if (n >= 2 && memcmp(d, "\xff\x0a", 2) == 0) return "JPEG XL";
    if (n >= 12 && memcmp(d, "\0\0\0\x0cJXL \r\n\x87\n", 12) == 0) return "JPEG XL";
    if (n >= 4 && memcmp(d, "8BPS", 4) == 0) return "PSD";
    if (n >= 4 && memcmp(d, "\0\0\1\0", 4) == 0) return "ICO";
    if (n >= 4 && memcmp(d, "qoif", 4) == 0) return "QOI";
    if (n >= 2 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7') return "PNM";
    return NULL;
}
