/* EXIF orientation: the 8 transforms against hand-written expectations (PIL's
 * ImageOps.exif_transpose), the Orientation tag read from JPEG APP1, PNG eXIf and WebP
 * EXIF, and the fixture photo with Orientation = 6 decoded with and without it. */
#include <png.h>
#include <webp/encode.h>

#include "clipsearch/image.h"
#include "image_test_util.h"
#include "test.h"

/* 3x2 image, pixel "letters" a..f stored as grey levels 'a'..'f'. */
static void test_transforms(void)
{
    static const char *want[9] = {
        NULL,
        "abc" "def",       /* 1: 3x2 */
        "cba" "fed",       /* 2: flip left-right */
        "fed" "cba",       /* 3: rotate 180 */
        "def" "abc",       /* 4: flip top-bottom */
        "ad" "be" "cf",    /* 5: transpose, 2x3 */
        "da" "eb" "fc",    /* 6: rotate 90 clockwise */
        "fc" "eb" "da",    /* 7: transverse */
        "cf" "be" "ad",    /* 8: rotate 90 counter-clockwise */
    };
    uint8_t px[18];
    for (int i = 0; i < 6; i++) memset(px + 3 * i, 'a' + i, 3);
    cs_image in = {3, 2, px}, out;
    cs_error err;
    for (int o = 1; o <= 8; o++) {
        CHECK_OK(cs_image_apply_orientation(&in, o, &out, &err), &err);
        int w = o >= 5 ? 2 : 3, h = o >= 5 ? 3 : 2;
        CHECK_MSG(out.width == w && out.height == h, "orientation %d: %dx%d", o, out.width,
                  out.height);
        char got[7] = {0};
        for (int i = 0; i < 6 && out.rgb; i++) got[i] = (char)out.rgb[3 * i];
        CHECK_MSG(strcmp(got, want[o]) == 0, "orientation %d: got %s want %s", o, got, want[o]);
        cs_image_free(&out);
    }
    CHECK(cs_image_apply_orientation(&in, 9, &out, &err) == CS_E_ARG);
    CHECK(cs_image_apply_orientation(&in, 0, &out, &err) == CS_E_ARG);
}

/* TIFF block with IFD0 = {Orientation}; big or little endian. */
static size_t make_tiff(uint8_t *t, int orientation, int big_endian)
{
    memset(t, 0, 26);
    if (big_endian) {
        memcpy(t, "MM\0*\0\0\0\x08", 8);
        t[9] = 1;                    /* one entry */
        t[10] = 0x01; t[11] = 0x12;  /* tag */
        t[13] = 3;                   /* SHORT */
        t[17] = 1;                   /* count */
        t[19] = (uint8_t)orientation;
    } else {
        memcpy(t, "II*\0\x08\0\0\0", 8);
        t[8] = 1;
        t[10] = 0x12; t[11] = 0x01;
        t[12] = 3;
        t[14] = 1;
        t[18] = (uint8_t)orientation;
    }
    return 26;
}

static void decode_both(const uint8_t *d, size_t n, cs_image *plain, cs_image *oriented,
                        cs_image_info *info)
{
    cs_image_options opt;
    cs_image_options_init(&opt);
    cs_error err;
    CHECK(opt.apply_exif_orientation == true); /* the default: embed as displayed */
    opt.apply_exif_orientation = false;
    CHECK_OK(cs_image_decode_memory(d, n, &opt, plain, NULL, &err), &err);
    opt.apply_exif_orientation = true;
    CHECK_OK(cs_image_decode_memory(d, n, &opt, oriented, info, &err), &err);
}

static int equal_images(const cs_image *a, const cs_image *b)
{
    return a->rgb && b->rgb && a->width == b->width && a->height == b->height &&
           memcmp(a->rgb, b->rgb, (size_t)a->width * a->height * 3) == 0;
}

static void expect_oriented(const uint8_t *d, size_t n, int orientation, const char *what)
{
    cs_image plain = {0}, oriented = {0}, manual = {0};
    cs_image_info info = {0};
    cs_error err;
    decode_both(d, n, &plain, &oriented, &info);
    CHECK_MSG(info.exif_orientation == orientation, "%s: orientation %d want %d", what,
              info.exif_orientation, orientation);
    CHECK(info.orientation_applied == (orientation != 1));
    if (plain.rgb) CHECK_OK(cs_image_apply_orientation(&plain, orientation, &manual, &err), &err);
    CHECK_MSG(equal_images(&oriented, &manual), "%s: oriented pixels", what);
    cs_image_free(&plain);
    cs_image_free(&oriented);
    cs_image_free(&manual);
}

static void test_fixture_jpeg(void)
{
    size_t n;
    uint8_t *d = fixture("images/exif_orient6_320x240.jpg", &n);
    cs_image plain = {0}, oriented = {0};
    cs_image_info info = {0};
    decode_both(d, n, &plain, &oriented, &info);
    CHECK(plain.width == 320 && plain.height == 240);
    CHECK(info.exif_orientation == 6 && info.orientation_applied);
    CHECK(info.width == 320 && info.height == 240); /* as stored */
    CHECK(oriented.width == 240 && oriented.height == 320);
    /* 90 degrees clockwise: displayed (x, y) = stored (y, H - 1 - x). */
    int bad = 0;
    for (int y = 0; y < 320 && oriented.rgb && plain.rgb; y++)
        for (int x = 0; x < 240; x++)
            bad += memcmp(oriented.rgb + ((size_t)y * 240 + x) * 3,
                          plain.rgb + ((size_t)(239 - x) * 320 + y) * 3, 3) != 0;
    CHECK_MSG(bad == 0, "%d pixels differ from a manual rotation", bad);
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/tiny/images/exif_orient6_320x240.jpg",
             test_env("CS_SOURCE_DIR", "."));
    cs_error err;
    CHECK_OK(cs_image_probe_file(path, &info, &err), &err);
    CHECK(info.format == CS_IMAGE_JPEG && info.width == 320 && info.height == 240 &&
          info.exif_orientation == 6);
    cs_image_free(&plain);
    cs_image_free(&oriented);
    free(d);

    /* A JPEG without EXIF, given a big-endian APP1 with Orientation = 5. */
    d = fixture("images/small_31x17.png", &n); /* (not a JPEG: no EXIF read) */
    decode_both(d, n, &plain, &oriented, &info);
    CHECK(info.exif_orientation == 1 && !info.orientation_applied && equal_images(&plain, &oriented));
    cs_image_free(&plain);
    cs_image_free(&oriented);
    free(d);
    d = fixture("images/shapes_baseline_300x500.jpg", &n);
    uint8_t tiff[32];
    size_t tl = make_tiff(tiff, 5, 1);
    size_t seg = 2 + 6 + tl;
    uint8_t *j = malloc(n + 2 + seg);
    memcpy(j, d, 2);
    j[2] = 0xFF;
    j[3] = 0xE1;
    j[4] = (uint8_t)(seg >> 8);
    j[5] = (uint8_t)seg;
    memcpy(j + 6, "Exif\0\0", 6);
    memcpy(j + 12, tiff, tl);
    memcpy(j + 12 + tl, d + 2, n - 2);
    expect_oriented(j, n + 2 + seg, 5, "jpeg app1 big-endian");
    /* Corrupt IFD offset: no orientation, no crash. */
    j[12 + 7] = 0xF0;
    expect_oriented(j, n + 2 + seg, 1, "jpeg app1 bad offset");
    free(j);
    free(d);
}

typedef struct {
    uint8_t *buf;
    size_t len, cap;
} membuf;

static void mem_write(png_structp p, png_bytep d, png_size_t n)
{
    membuf *m = png_get_io_ptr(p);
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2;
        m->buf = realloc(m->buf, m->cap);
    }
    memcpy(m->buf + m->len, d, n);
    m->len += n;
}
static void mem_flush(png_structp p) { (void)p; }

static void test_png_exif(void)
{
    enum { W = 7, H = 4 };
    uint8_t rows[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) rows[i] = (uint8_t)(i * 37);
    uint8_t tiff[32];
    size_t tl = make_tiff(tiff, 3, 1);
    membuf m = {0};
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop i = png_create_info_struct(p);
    if (setjmp(png_jmpbuf(p))) exit(1);
    png_set_write_fn(p, &m, mem_write, mem_flush);
    png_set_IHDR(p, i, W, H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, 0, 0);
    png_set_eXIf_1(p, i, (png_uint_32)tl, tiff);
    png_write_info(p, i);
    for (int y = 0; y < H; y++) png_write_row(p, rows + y * W * 3);
    png_write_end(p, i);
    png_destroy_write_struct(&p, &i);
    expect_oriented(m.buf, m.len, 3, "png eXIf");
    free(m.buf);
}

static void test_webp_exif(void)
{
    enum { W = 6, H = 5 };
    uint8_t rgb[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) rgb[i] = (uint8_t)(i * 11);
    uint8_t *simple = NULL;
    size_t n = WebPEncodeLosslessRGB(rgb, W, H, W * 3, &simple);
    uint8_t tiff[32];
    size_t tl = make_tiff(tiff, 8, 0);
    size_t vp8l = n - 12;
    size_t total = 12 + 18 + vp8l + 8 + tl;
    uint8_t *f = calloc(1, total + 2);
    memcpy(f, "RIFF", 4);
    memcpy(f + 8, "WEBP", 4);
    uint8_t *c = f + 12;
    memcpy(c, "VP8X", 4);
    put_le32(c + 4, 10);
    c[8] = 0x08; /* EXIF present */
    c[12] = W - 1;
    c[15] = H - 1;
    memcpy(f + 30, simple + 12, vp8l);
    uint8_t *e = f + 30 + vp8l;
    memcpy(e, "EXIF", 4);
    put_le32(e + 4, (uint32_t)tl);
    memcpy(e + 8, tiff, tl);
    put_le32(f + 4, (uint32_t)(total - 8));
    expect_oriented(f, total, 8, "webp EXIF");
    free(f);
    WebPFree(simple);
}

/* EXIF block (little endian): IFD0 = {ExifIFD pointer}, ExifIFD = {DateTimeOriginal,
 * OffsetTimeOriginal when offset is not NULL}. */
static size_t make_exif_datetime(uint8_t *t, const char *datetime, const char *offset)
{
    memset(t, 0, 128);
    memcpy(t, "II*\0\x08\0\0\0", 8);
    t[8] = 1;
    t[10] = 0x69; t[11] = 0x87;      /* ExifIFD */
    t[12] = 4;                       /* LONG */
    t[14] = 1;
    t[18] = 26;
    uint8_t *x = t + 26;
    x[0] = offset ? 2 : 1;
    x[2] = 0x03; x[3] = 0x90; x[4] = 2; x[6] = 20; x[10] = 56;   /* DateTimeOriginal */
    if (offset) { x[14] = 0x11; x[15] = 0x90; x[16] = 2; x[18] = 7; x[22] = 76; }
    memcpy(t + 56, datetime, strlen(datetime) + 1 <= 20 ? strlen(datetime) + 1 : 20);
    if (offset) memcpy(t + 76, offset, 7);
    return 84;
}

/* A copy of the JPEG d with an APP1 EXIF segment holding tiff right after SOI. */
static uint8_t *jpeg_with_exif(const uint8_t *d, size_t n, const uint8_t *tiff, size_t tl,
                               size_t *out_len)
{
    size_t seg = 2 + 6 + tl;
    uint8_t *j = malloc(n + 2 + seg);
    memcpy(j, d, 2);
    j[2] = 0xFF;
    j[3] = 0xE1;
    j[4] = (uint8_t)(seg >> 8);
    j[5] = (uint8_t)seg;
    memcpy(j + 6, "Exif\0\0", 6);
    memcpy(j + 12, tiff, tl);
    memcpy(j + 12 + tl, d + 2, n - 2);
    *out_len = n + 2 + seg;
    return j;
}

static void expect_taken(const uint8_t *jpeg, size_t n, const char *dt, const char *off,
                         bool want_found, int64_t want)
{
    uint8_t tiff[128];
    size_t tl = make_exif_datetime(tiff, dt, off);
    size_t jl;
    uint8_t *j = jpeg_with_exif(jpeg, n, tiff, tl, &jl);
    int64_t got = -12345;
    bool found = cs_image_exif_taken(j, jl, &got);
    CHECK_MSG(found == want_found && (!found || got == want), "%s %s: found %d got %lld want %lld",
              dt, off ? off : "(no offset)", found, (long long)got, (long long)want);
    free(j);
}

static void test_exif_taken(void)
{
    size_t n;
    uint8_t *d = fixture("images/shapes_baseline_300x500.jpg", &n);
    int64_t t;
    CHECK(!cs_image_exif_taken(d, n, &t));   /* no EXIF */
    /* 2024-03-05 14:30:15 UTC = 1709649015. */
    expect_taken(d, n, "2024:03:05 14:30:15", "+00:00", true, 1709649015);
    expect_taken(d, n, "2024:03:05 16:30:15", "+02:00", true, 1709649015);
    expect_taken(d, n, "2024:03:05 09:00:15", "-05:30", true, 1709649015);
    /* Without an offset the wall clock is local time. */
    char *old_tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    setenv("TZ", "UTC0", 1);
    tzset();
    expect_taken(d, n, "2024:03:05 14:30:15", NULL, true, 1709649015);
    setenv("TZ", "XYZ-3", 1);   /* three hours east of UTC, no daylight saving */
    tzset();
    expect_taken(d, n, "2024:03:05 17:30:15", NULL, true, 1709649015);
    expect_taken(d, n, "1999:12:31 23:59:59", "+00:00", true, 946684799);
    /* A clock never set, blanks, impossible dates, a malformed offset (then local time). */
    expect_taken(d, n, "0000:00:00 00:00:00", NULL, false, 0);
    expect_taken(d, n, "                   ", NULL, false, 0);
    expect_taken(d, n, "2024:02:30 10:00:00", NULL, false, 0);
    expect_taken(d, n, "2024:13:01 10:00:00", NULL, false, 0);
    expect_taken(d, n, "2024:03:05 17:30:15", "+2:00 ", true, 1709649015);
    if (old_tz) setenv("TZ", old_tz, 1);
    else unsetenv("TZ");
    tzset();
    free(old_tz);
    /* A truncated block: no date, no crash. */
    uint8_t tiff[128];
    size_t tl = make_exif_datetime(tiff, "2024:03:05 14:30:15", "+00:00");
    for (size_t cut = 0; cut < tl; cut += 7) {
        size_t jl;
        uint8_t *j = jpeg_with_exif(d, n, tiff, cut, &jl);
        int64_t got;
        bool found = cs_image_exif_taken(j, jl, &got);
        CHECK_MSG(!found || cut >= 76, "cut %zu found a date", cut);
        free(j);
    }
    free(d);
}

int main(void)
{
    test_transforms();
    test_fixture_jpeg();
    test_png_exif();
    test_webp_exif();
    test_exif_taken();
    return TEST_RESULT();
}
