/* Corrupt, truncated, hostile and non-image inputs: every one must come back as a clean
 * error code with a message naming the file, never a crash or a leak (this test also
 * runs under ASan+UBSan, where a huge allocation attempt would abort). */
#include <sys/stat.h>

#include "clipsearch/image.h"
#include "image_test_util.h"
#include "test.h"

static int decode_path(const char *path, cs_error *err)
{
    cs_image img = {0};
    cs_image_options opt;
    cs_image_options_init(&opt);
    int rc = cs_image_decode_file(path, &opt, &img, NULL, err);
    if (rc == 0) CHECK(img.rgb != NULL && img.width > 0 && img.height > 0);
    else CHECK(img.rgb == NULL);
    cs_image_free(&img);
    return rc;
}

static int decode_mem(const uint8_t *d, size_t n, cs_error *err)
{
    cs_image img = {0};
    int rc = cs_image_decode_memory(d, n, NULL, &img, NULL, err);
    if (rc != 0) CHECK(img.rgb == NULL);
    cs_image_free(&img);
    return rc;
}

/* Every prefix shorter than the file minus `slack` bytes must fail with CS_E_FORMAT. */
static void truncations(const char *rel, size_t step, size_t slack)
{
    size_t n;
    uint8_t *d = fixture(rel, &n);
    cs_error err;
    size_t failed_ok = 0, checked = 0;
    for (size_t len = 0; len + slack < n; len += step) {
        int rc = decode_mem(d, len, &err);
        checked++;
        if (rc == CS_E_FORMAT) failed_ok++;
        else fprintf(stderr, "%s truncated to %zu of %zu bytes: rc %d (%s)\n", rel, len, n, rc,
                     rc ? err.msg : "decoded");
    }
    CHECK_MSG(failed_ok == checked, "%s: %zu of %zu truncations rejected", rel, failed_ok,
              checked);
    /* The whole file still decodes. */
    CHECK_OK(decode_mem(d, n, &err), &err);
    free(d);
}

/* Random byte flips: any result is fine except a crash, a leak or a wrong code. */
static void corruptions(const char *rel, int rounds)
{
    size_t n;
    uint8_t *d = fixture(rel, &n);
    uint8_t *c = malloc(n);
    uint32_t seed = 12345;
    int ok = 0, bad = 0;
    for (int r = 0; r < rounds; r++) {
        memcpy(c, d, n);
        for (int k = 0; k < 1 + r % 8; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % n;
            seed = seed * 1103515245u + 12345u;
            c[at] ^= (uint8_t)(1 + (seed >> 16) % 255);
        }
        cs_error err;
        int rc = decode_mem(c, n, &err);
        if (rc == 0) ok++;
        else if (rc == CS_E_FORMAT || rc == CS_E_UNSUPPORTED || rc == CS_E_TOO_LARGE) bad++;
        else CHECK_MSG(0, "%s corrupted: unexpected rc %d (%s)", rel, rc, err.msg);
    }
    fprintf(stderr, "%s: %d corruptions decoded, %d rejected\n", rel, ok, bad);
    free(c);
    free(d);
}

static void expect_code(const char *what, int rc, int want, const cs_error *err,
                        const char *needle)
{
    CHECK_MSG(rc == want, "%s: rc %d want %d (%s)", what, rc, want, rc ? err->msg : "ok");
    if (rc && needle) CHECK_MSG(strstr(err->msg, needle) != NULL, "%s: message '%s' lacks '%s'",
                                what, err->msg, needle);
}

static void huge_headers(void)
{
    cs_error err;
    int rc;
    /* PNG IHDR 100000 x 100000 (valid CRC), no image data. */
    uint8_t png[8 + 25 + 12];
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    put_be32(png + 8, 13);
    memcpy(png + 12, "IHDR", 4);
    put_be32(png + 16, 100000);
    put_be32(png + 20, 100000);
    memcpy(png + 24, "\x08\x02\x00\x00\x00", 5);
    put_be32(png + 29, crc32_simple(png + 12, 17));
    put_be32(png + 33, 0);
    memcpy(png + 37, "IEND", 4);
    put_be32(png + 41, crc32_simple(png + 37, 4));
    const char *p = write_file("huge.png", png, sizeof png);
    rc = decode_path(p, &err);
    expect_code("huge PNG", rc, CS_E_TOO_LARGE, &err, "huge.png");
    cs_image_info info;
    CHECK_OK(cs_image_probe_file(p, &info, &err), &err);
    CHECK(info.format == CS_IMAGE_PNG && info.width == 100000 && info.height == 100000);

    /* JPEG: SOI + SOF0 65000 x 65000, 3 components + SOS header, then EOI. */
    uint8_t jpg[] = {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0xFD, 0xE8, 0xFD, 0xE8, 0x03,
                     0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01,
                     0xFF, 0xDA, 0x00, 0x0C, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00,
                     0x3F, 0x00, 0xFF, 0xD9};
    rc = decode_mem(jpg, sizeof jpg, &err);
    expect_code("huge JPEG", rc, CS_E_TOO_LARGE, &err, "<memory>");

    /* GIF logical screen 65535 x 65535. */
    uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0, 0,
                     ',', 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x02, 0x02, 0x4C, 0x01, 0x00, ';'};
    rc = decode_mem(gif, sizeof gif, &err);
    expect_code("huge GIF", rc, CS_E_TOO_LARGE, &err, NULL);

    /* BMP 100000 x -100000, 24 bit, no pixel data. */
    uint8_t bmp[54] = {'B', 'M'};
    put_le32(bmp + 2, sizeof bmp);
    put_le32(bmp + 10, 54);
    put_le32(bmp + 14, 40);
    put_le32(bmp + 18, 100000);
    put_le32(bmp + 22, (uint32_t)-100000);
    put_le16(bmp + 26, 1);
    put_le16(bmp + 28, 24);
    rc = decode_mem(bmp, sizeof bmp, &err);
    expect_code("huge BMP", rc, CS_E_TOO_LARGE, &err, NULL);

    /* WebP lossless header 16384 x 16384 (268M pixels > PIL's 179M). */
    uint8_t webp[12 + 8 + 6] = {'R', 'I', 'F', 'F'};
    put_le32(webp + 4, sizeof webp - 8);
    memcpy(webp + 8, "WEBPVP8L", 8);
    put_le32(webp + 16, 6);
    webp[20] = 0x2f;
    uint32_t bits = (16384 - 1) | (uint32_t)(16384 - 1) << 14; /* no alpha, version 0 */
    put_le32(webp + 21, bits);
    webp[25] = 0;
    rc = decode_mem(webp, sizeof webp, &err);
    expect_code("huge WebP", rc, CS_E_TOO_LARGE, &err, NULL);

    /* A real fixture under a small configured limit. */
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/tiny/images/gradient_rgb_640x480.png",
             test_env("CS_SOURCE_DIR", "."));
    cs_image_options opt;
    cs_image_options_init(&opt);
    opt.max_pixels = 640 * 480 - 1;
    cs_image img = {0};
    rc = cs_image_decode_file(path, &opt, &img, NULL, &err);
    expect_code("max_pixels", rc, CS_E_TOO_LARGE, &err, "gradient_rgb_640x480.png");
    opt.max_pixels = 640 * 480;
    CHECK_OK(cs_image_decode_file(path, &opt, &img, NULL, &err), &err);
    cs_image_free(&img);
}

int main(void)
{
    cs_error err;
    int rc;

    truncations("images/small_31x17.png", 1, 64);
    truncations("images/palette_P_200x150.png", 7, 64);
    truncations("images/shapes_baseline_300x500.jpg", 97, 2);
    truncations("images/photo_progressive_640x427.jpg", 101, 2);
    truncations("images/gray_baseline_400x300.jpg", 211, 2);
    corruptions("images/small_31x17.png", 300);
    corruptions("images/shapes_baseline_300x500.jpg", 150);
    corruptions("images/photo_progressive_640x427.jpg", 60);

    rc = decode_path(write_file("empty.jpg", "", 0), &err);
    expect_code("zero-byte file", rc, CS_E_FORMAT, &err, "empty.jpg");

    const char *text = "This is not a JPEG, just some text.\n";
    rc = decode_path(write_file("notes.jpg", text, strlen(text)), &err);
    expect_code("text named .jpg", rc, CS_E_FORMAT, &err, "notes.jpg");

    uint8_t rnd[4096];
    uint32_t s = 99;
    for (size_t i = 0; i < sizeof rnd; i++) {
        s = s * 1664525u + 1013904223u;
        rnd[i] = (uint8_t)(s >> 24);
    }
    rc = decode_path(write_file("random.png", rnd, sizeof rnd), &err);
    expect_code("random bytes", rc, CS_E_FORMAT, &err, "random.png");

    /* Magic numbers of real images must not be trusted beyond the magic. */
    uint8_t fake_png[64];
    memcpy(fake_png, "\x89PNG\r\n\x1a\n", 8);
    memcpy(fake_png + 8, rnd, sizeof fake_png - 8);
    rc = decode_mem(fake_png, sizeof fake_png, &err);
    expect_code("PNG magic + garbage", rc, CS_E_FORMAT, &err, NULL);
    uint8_t fake_jpg[64] = {0xFF, 0xD8, 0xFF};
    memcpy(fake_jpg + 3, rnd, sizeof fake_jpg - 3);
    rc = decode_mem(fake_jpg, sizeof fake_jpg, &err);
    expect_code("JPEG magic + garbage", rc, CS_E_FORMAT, &err, NULL);
    for (int len = 0; len < 12; len++) { /* every short prefix of every magic */
        const char *magics[] = {"\xff\xd8\xff", "\x89PNG\r\n\x1a\n", "GIF89a", "BM",
                                "RIFF\x10\0\0\0WEBP"};
        for (int m = 0; m < 5; m++) {
            uint8_t buf[16] = {0};
            memcpy(buf, magics[m], strlen(magics[m]) > 12 ? 12 : strlen(magics[m]) + (m == 4 ? 8 : 0));
            rc = decode_mem(buf, (size_t)len, &err);
            CHECK_MSG(rc == CS_E_FORMAT, "magic %d prefix %d: rc %d", m, len, rc);
        }
    }

    /* A TIFF header whose first directory is empty: corrupt, said by libtiff. */
    uint8_t tiff[64] = {'I', 'I', 42, 0, 8, 0, 0, 0};
    rc = decode_path(write_file("scan.tif", tiff, sizeof tiff), &err);
    expect_code("TIFF", rc, CS_E_FORMAT, &err, "corrupt TIFF");
    /* An 8x8 grey TIFF declaring huge tiles: refused before the tile buffer is allocated
     * (8192^2 is 64 MiB, within libtiff's single-allocation cap but absurd for 64
     * pixels; 32768^2 is 1 GiB, over the cap). */
    for (int big = 0; big < 2; big++) {
        uint32_t side = big ? 32768 : 8192;
        uint8_t t[256] = {'I', 'I', 42, 0, 8, 0, 0, 0};
        /* tag, type (3 SHORT, 4 LONG), value; tile data (64 bytes) at offset 200. */
        const uint32_t e[][3] = {{256, 3, 8},    {257, 3, 8},    {258, 3, 8},   {259, 3, 1},
                                 {262, 3, 1},    {277, 3, 1},    {322, 4, side}, {323, 4, side},
                                 {324, 4, 200},  {325, 4, 64}};
        size_t n = sizeof e / sizeof e[0], o = 8;
        t[o++] = (uint8_t)n;
        t[o++] = 0;
        for (size_t i = 0; i < n; i++, o += 12) {
            t[o] = (uint8_t)e[i][0];
            t[o + 1] = (uint8_t)(e[i][0] >> 8);
            t[o + 2] = (uint8_t)e[i][1];
            t[o + 4] = 1;
            for (int b = 0; b < 4; b++) t[o + 8 + b] = (uint8_t)(e[i][2] >> (8 * b));
        }
        rc = decode_path(write_file("tiles.tif", t, sizeof t), &err);
        expect_code("TIFF with huge tiles", rc, CS_E_FORMAT, &err, "block size");
    }
    /* A recognised format nobody decodes: unsupported, and the message lists what is. */
    uint8_t psd[32] = {'8', 'B', 'P', 'S', 0, 1};
    rc = decode_path(write_file("layers.psd", psd, sizeof psd), &err);
    expect_code("PSD", rc, CS_E_UNSUPPORTED, &err, "HEIC/HEIF, AVIF, JPEG XL, camera RAW");
    uint8_t heic[32] = {0, 0, 0, 24, 'f', 't', 'y', 'p', 'h', 'e', 'i', 'c'};
    rc = decode_mem(heic, sizeof heic, &err);
    expect_code("HEIC", rc, CS_E_UNSUPPORTED, &err, "HEIF");
    uint8_t rle_bmp[54 + 16] = {'B', 'M'};
    put_le32(rle_bmp + 10, 54);
    put_le32(rle_bmp + 14, 40);
    put_le32(rle_bmp + 18, 4);
    put_le32(rle_bmp + 22, 4);
    put_le16(rle_bmp + 26, 1);
    put_le16(rle_bmp + 28, 8);
    put_le32(rle_bmp + 30, 1); /* BI_RLE8 */
    rc = decode_mem(rle_bmp, sizeof rle_bmp, &err);
    expect_code("RLE BMP", rc, CS_E_UNSUPPORTED, &err, NULL);

    rc = decode_path(scratch_path("does-not-exist.jpg"), &err);
    expect_code("missing file", rc, CS_E_IO, &err, "does-not-exist.jpg");
    const char *dir = scratch_path("adir.jpg");
    mkdir(dir, 0700);
    rc = decode_path(dir, &err);
    expect_code("directory", rc, CS_E_IO, &err, "adir.jpg");
    const char *fifo = scratch_path("pipe.png");
    if (mkfifo(fifo, 0600) == 0) {
        rc = decode_path(fifo, &err); /* must not block waiting for a writer */
        expect_code("fifo", rc, CS_E_IO, &err, "pipe.png");
        cs_image_info info;
        rc = cs_image_probe_file(fifo, &info, &err);
        expect_code("fifo probe", rc, CS_E_IO, &err, "pipe.png");
    }

    huge_headers();
    scratch_cleanup();
    return TEST_RESULT();
}
