/* EXIF Orientation (tag 0x0112) and DateTimeOriginal (0x9003, with OffsetTimeOriginal)
 * from JPEG APP1, PNG eXIf and WebP EXIF chunks and TIFF headers. A small own parser: we
 * need two tags, and libexif would parse (and allocate) the whole block. Every read is
 * bounds-checked; anything odd means "absent" (orientation 1, no date). */
#include <string.h>
#include <time.h>

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

/* The EXIF block (TIFF structure) of a file: JPEG's first APP1 with the EXIF signature
 * (the one PIL uses), PNG's eXIf chunk, WebP's EXIF chunk, a TIFF's own header. Some
 * writers keep the JPEG-style "Exif\0\0" prefix inside PNG and WebP chunks. */
static bool strip_exif_prefix(const uint8_t *c, size_t n, const uint8_t **t, size_t *tn)
{
    if (n >= 6 && memcmp(c, "Exif\0\0", 6) == 0) {
        c += 6;
        n -= 6;
    }
    *t = c;
    *tn = n;
    return true;
}

static bool jpeg_block(const uint8_t *d, size_t n, const uint8_t **t, size_t *tn)
{
    size_t p = 2;
    while (p + 4 <= n) {
        if (d[p] != 0xFF) return false;
        uint8_t m = d[p + 1];
        if (m == 0xFF) { p++; continue; }          /* fill byte */
        if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) { p += 2; continue; }
        if (m == 0xDA || m == 0xD9) return false;   /* image data starts: no EXIF before */
        size_t len = (size_t)d[p + 2] << 8 | d[p + 3];
        if (len < 2 || p + 2 + len > n) return false;
        const uint8_t *seg = d + p + 4;
        size_t sl = len - 2;
        if (m == 0xE1 && sl >= 6 && memcmp(seg, "Exif\0\0", 6) == 0) {
            *t = seg + 6;
            *tn = sl - 6;
            return true;
        }
        p += 2 + len;
    }
    return false;
}

static bool png_block(const uint8_t *d, size_t n, const uint8_t **t, size_t *tn)
{
    size_t p = 8;
    while (p + 12 <= n) {
        uint32_t len = rd32(d + p, 0);
        if (len > n - p - 12) return false;
        if (memcmp(d + p + 4, "eXIf", 4) == 0) return strip_exif_prefix(d + p + 8, len, t, tn);
        if (memcmp(d + p + 4, "IEND", 4) == 0) return false;
        p += 12 + (size_t)len;
    }
    return false;
}

static bool webp_block(const uint8_t *d, size_t n, const uint8_t **t, size_t *tn)
{
    size_t p = 12;
    while (p + 8 <= n) {
        uint32_t len = rd32(d + p + 4, 1);
        if (len > n - p - 8) return false;
        if (memcmp(d + p, "EXIF", 4) == 0) return strip_exif_prefix(d + p + 8, len, t, tn);
        p += 8 + (size_t)len + (len & 1);
    }
    return false;
}

static bool exif_block(cs_image_format f, const uint8_t *d, size_t n, const uint8_t **t,
                       size_t *tn)
{
    switch (f) {
    case CS_IMAGE_JPEG: return jpeg_block(d, n, t, tn);
    case CS_IMAGE_PNG: return png_block(d, n, t, tn);
    case CS_IMAGE_WEBP: return webp_block(d, n, t, tn);
    /* A TIFF's first IFD is where Pillow's getexif() finds its tags. */
    case CS_IMAGE_TIFF: *t = d; *tn = n; return true;
    default: return false;
    }
}

int cs__exif_orientation(cs_image_format f, const uint8_t *data, size_t len)
{
    const uint8_t *t;
    size_t tn;
    return exif_block(f, data, len, &t, &tn) ? cs__exif_orientation_tiff(t, tn) : 1;
}

/* The 12-byte entry of tag in the IFD at offset ifd, or NULL. */
static const uint8_t *ifd_entry(const uint8_t *t, size_t n, uint32_t ifd, int le, unsigned tag)
{
    if (ifd < 8 || ifd > n - 2) return NULL;
    unsigned count = rd16(t + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > n) return NULL;
        if (rd16(t + e, le) == tag) return t + e;
    }
    return NULL;
}

/* An ASCII entry's text (NUL-terminated copy into buf), false when absent or malformed. */
static bool ascii_value(const uint8_t *t, size_t n, const uint8_t *e, int le, char *buf,
                        size_t bufsize)
{
    if (!e || rd16(e + 2, le) != 2) return false;
    uint32_t count = rd32(e + 4, le);
    if (count == 0 || count > bufsize) return false;
    const uint8_t *v;
    if (count <= 4) {
        v = e + 8;
    } else {
        uint32_t off = rd32(e + 8, le);
        if (off > n || count > n - off) return false;
        v = t + off;
    }
    memcpy(buf, v, count);
    buf[count - 1] = '\0';
    return true;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool cs__exif_taken_tiff(const uint8_t *t, size_t n, int64_t *out)
{
    if (n < 8) return false;
    int le;
    if (t[0] == 'I' && t[1] == 'I') le = 1;
    else if (t[0] == 'M' && t[1] == 'M') le = 0;
    else return false;
    if (rd16(t + 2, le) != 42) return false;
    const uint8_t *ptr = ifd_entry(t, n, rd32(t + 4, le), le, 0x8769);   /* ExifIFD */
    if (!ptr || (rd16(ptr + 2, le) != 4 && rd16(ptr + 2, le) != 13)) return false;
    uint32_t exif_ifd = rd32(ptr + 8, le);
    char dt[32], off[16];
    if (!ascii_value(t, n, ifd_entry(t, n, exif_ifd, le, 0x9003), le, dt, sizeof dt))
        return false;   /* DateTimeOriginal */
    /* "YYYY:MM:DD HH:MM:SS"; cameras without a set clock write zeros or blanks. */
    int Y, M, D, h, mi, sec;
    if (strlen(dt) < 19 || dt[4] != ':' || dt[7] != ':' || dt[10] != ' ' || dt[13] != ':' ||
        dt[16] != ':' || !digits(dt, 4, &Y) || !digits(dt + 5, 2, &M) ||
        !digits(dt + 8, 2, &D) || !digits(dt + 11, 2, &h) || !digits(dt + 14, 2, &mi) ||
        !digits(dt + 17, 2, &sec))
        return false;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (Y < 1800 || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || mi > 59 ||
        sec > 60)
        return false;
    int64_t wall = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + sec;
    /* OffsetTimeOriginal ("+02:00") makes the instant exact; without it the wall clock is
     * read in the local time zone, as photo viewers show it. */
    int oh, om;
    if (ascii_value(t, n, ifd_entry(t, n, exif_ifd, le, 0x9011), le, off, sizeof off) &&
        strlen(off) == 6 && (off[0] == '+' || off[0] == '-') && off[3] == ':' &&
        digits(off + 1, 2, &oh) && digits(off + 4, 2, &om) && oh <= 14 && om <= 59) {
        int64_t o = (int64_t)oh * 3600 + om * 60;
        *out = wall - (off[0] == '-' ? -o : o);
        return true;
    }
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    tm.tm_isdst = -1;
    time_t local = mktime(&tm);
    *out = local == (time_t)-1 ? wall : (int64_t)local;
    return true;
}

bool cs_image_exif_taken(const uint8_t *data, size_t len, int64_t *out)
{
    const uint8_t *t;
    size_t tn;
    cs_image_format f = cs_image_sniff(data, len);
    return exif_block(f, data, len, &t, &tn) && cs__exif_taken_tiff(t, tn, out);
}
