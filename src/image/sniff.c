/* Format detection from magic numbers: file names lie, bytes do not. */
#include <string.h>

#include "image/image_internal.h"

static unsigned rd16(const uint8_t *p, bool le) { return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1]; }
static uint32_t rd32(const uint8_t *p, bool le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

bool cs__tiff_is_raw(const uint8_t *d, size_t n)
{
    if (n < 16) return false;
    bool le = d[0] == 'I';
    if (le && memcmp(d + 8, "CR", 2) == 0) return true;   /* Canon CR2 */
    if (rd16(d + 2, le) != 42) return false;
    uint32_t ifd = rd32(d + 4, le);
    if (ifd < 8 || ifd > n - 2) return false;
    unsigned count = rd16(d + ifd, le);
    bool make = false, subifds = false;
    for (unsigned i = 0; i < count && (size_t)ifd + 2 + (size_t)i * 12 + 12 <= n; i++) {
        unsigned tag = rd16(d + ifd + 2 + (size_t)i * 12, le);
        if (tag == 50706) return true;   /* DNGVersion */
        if (tag == 271) make = true;     /* Make */
        if (tag == 330) subifds = true;  /* SubIFDs: NEF, ARW, PEF keep the raw data there */
    }
    return make && subifds;
}

cs_image_format cs_image_sniff(const uint8_t *d, size_t n)
{
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return CS_IMAGE_JPEG;
    if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return CS_IMAGE_PNG;
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
        return CS_IMAGE_WEBP;
    if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
        return CS_IMAGE_GIF;
    if (n >= 2 && d[0] == 'B' && d[1] == 'M') return CS_IMAGE_BMP;
    /* Classic TIFF and BigTIFF, both byte orders. */
    if (n >= 4 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0 ||
                   memcmp(d, "II+\0", 4) == 0 || memcmp(d, "MM\0+", 4) == 0))
        return cs__tiff_is_raw(d, n) ? CS_IMAGE_RAW : CS_IMAGE_TIFF;
    if (n >= 12 && memcmp(d + 4, "ftyp", 4) == 0) {
        static const char brands[][5] = {"heic", "heix", "hevc", "hevx", "heim", "heis",
                                         "hevm", "hevs", "mif1", "msf1", "avif", "avis"};
        for (size_t i = 0; i < sizeof brands / sizeof brands[0]; i++)
            if (memcmp(d + 8, brands[i], 4) == 0) return CS_IMAGE_HEIF;
        if (memcmp(d + 8, "crx ", 4) == 0) return CS_IMAGE_RAW;   /* Canon CR3 */
    }
    if (n >= 2 && memcmp(d, "\xff\x0a", 2) == 0) return CS_IMAGE_JXL;   /* bare codestream */
    if (n >= 12 && memcmp(d, "\0\0\0\x0cJXL \r\n\x87\n", 12) == 0) return CS_IMAGE_JXL;
    if (n >= 15 && memcmp(d, "FUJIFILMCCD-RAW", 15) == 0) return CS_IMAGE_RAW;
    if (n >= 4 && (memcmp(d, "IIRO", 4) == 0 || memcmp(d, "IIRS", 4) == 0 ||
                   memcmp(d, "MMOR", 4) == 0 || memcmp(d, "IIU\0", 4) == 0))
        return CS_IMAGE_RAW;   /* Olympus ORF, Panasonic RW2 */
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
    case CS_IMAGE_TIFF: return "tiff";
    case CS_IMAGE_HEIF: return "heif";
    case CS_IMAGE_JXL: return "jxl";
    case CS_IMAGE_RAW: return "raw";
    default: return "unknown";
    }
}

/* Recognised image formats we do not decode, so the error can say "unsupported TIFF"
 * rather than "not an image". */
const char *cs__sniff_unsupported(const uint8_t *d, size_t n)
{
    if (n >= 12 && memcmp(d, "\0\0\0\x0cjP  \r\n\x87\n", 12) == 0) return "JPEG 2000";
    if (n >= 4 && memcmp(d, "8BPS", 4) == 0) return "PSD";
    if (n >= 4 && memcmp(d, "\0\0\1\0", 4) == 0) return "ICO";
    if (n >= 4 && memcmp(d, "qoif", 4) == 0) return "QOI";
    if (n >= 2 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7') return "PNM";
    return NULL;
}
