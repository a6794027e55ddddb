/* TIFF against Pillow: every fixture in tests/fixtures/tiff (written by make_fixtures.py
 * with Pillow 9.4 and libtiff's tiffcp) decodes to exactly the pixels of Pillow's
 * convert("RGB") (NAME.ppm; Pillow applies a TIFF's Orientation while loading, as
 * clipsearch does by default) and, for files with an Orientation tag, with orientation
 * off, to the stored pixels (NAME.stored.ppm). Then damaged files: truncated, corrupt, unsupported layouts and
 * over-limit sizes fail with a clear error instead of crashing. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipsearch/image.h"
#include "image_test_util.h"
#include "test.h"

#define FIXTURES "tests/fixtures/tiff"

/* Reads a binary PPM (P6, maxval 255) as written by make_fixtures.py. */
static uint8_t *read_ppm(const char *path, int *w, int *h)
{
    size_t n;
    uint8_t *d = read_all(path, &n);
    if (!d) return NULL;
    int off = 0;
    if (sscanf((const char *)d, "P6 %d %d 255%n", w, h, &off) != 2 || off <= 0 ||
        (size_t)off + 1 + (size_t)*w * *h * 3 != n) {
        free(d);
        return NULL;
    }
    memmove(d, d + off + 1, (size_t)*w * *h * 3);
    return d;
}

static int compare(const char *name, const char *tif, const char *ppm, bool orient)
{
    int w, h;
    uint8_t *want = read_ppm(ppm, &w, &h);
    if (!want) {
        fprintf(stderr, "%s: cannot read %s\n", name, ppm);
        return 0;
    }
    cs_image_options opt;
    cs_image_options_init(&opt);
    opt.apply_exif_orientation = orient;
    cs_image img;
    cs_image_info info;
    cs_error err = {0};
    int ok = 0;
    if (cs_image_decode_file(tif, &opt, &img, &info, &err) != 0) {
        fprintf(stderr, "%s: decode failed: %s\n", name, err.msg);
    } else if (info.format != CS_IMAGE_TIFF || img.width != w || img.height != h) {
        fprintf(stderr, "%s: format %d size %dx%d, want tiff %dx%d\n", name, info.format,
                img.width, img.height, w, h);
    } else {
        ok = 1;
        for (size_t i = 0; i < (size_t)w * h * 3; i++)
            if (img.rgb[i] != want[i]) {
                fprintf(stderr, "%s: pixel %zu channel %zu is %d, Pillow has %d\n", name,
                        i / 3, i % 3, img.rgb[i], want[i]);
                ok = 0;
                break;
            }
    }
    cs_image_free(&img);
    free(want);
    return ok;
}

static void test_fixtures(void)
{
    DIR *d = opendir(FIXTURES);
    CHECK(d != NULL);
    if (!d) return;
    int n = 0, oriented = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".tif") != 0) continue;
        char base[256], tif[512], ppm[512], sppm[512];
        snprintf(base, sizeof base, "%.*s", (int)(len - 4), e->d_name);
        snprintf(tif, sizeof tif, FIXTURES "/%s.tif", base);
        snprintf(ppm, sizeof ppm, FIXTURES "/%s.ppm", base);
        snprintf(sppm, sizeof sppm, FIXTURES "/%s.stored.ppm", base);
        CHECK_MSG(compare(base, tif, ppm, true), "%s", base);
        if (access(sppm, F_OK) == 0) {
            CHECK_MSG(compare(base, tif, sppm, false), "%s (stored)", base);
            oriented++;
        }
        n++;
    }
    closedir(d);
    /* The generator writes 46 files, 7 with an Orientation tag: a missing fixture must
     * not make the test pass by comparing nothing. */
    CHECK_MSG(n >= 46, "only %d TIFF fixtures", n);
    CHECK_MSG(oriented == 7, "%d oriented fixtures", oriented);
}

static int decode_buf(const uint8_t *d, size_t n, uint64_t max_pixels, cs_error *err)
{
    cs_image_options opt;
    cs_image_options_init(&opt);
    if (max_pixels) opt.max_pixels = max_pixels;
    cs_image img;
    int rc = cs_image_decode_memory(d, n, &opt, &img, NULL, err);
    if (rc == 0) cs_image_free(&img);
    return rc;
}

static void test_damaged(void)
{
    size_t n;
    uint8_t *d = read_all(FIXTURES "/rgb_lzw.tif", &n);
    CHECK(d != NULL);
    if (!d) return;
    cs_error err = {0};

    /* Every truncation either decodes nothing or fails with a format error: never a
     * crash, never success with missing pixels. */
    for (size_t cut = 0; cut < n; cut += 7) {
        memset(&err, 0, sizeof err);
        int rc = decode_buf(d, cut, 0, &err);
        CHECK_MSG(rc != 0, "truncated at %zu decoded", cut);
        CHECK_MSG(rc != 0 && err.msg[0], "truncated at %zu: no message", cut);
    }
    /* Flipped bytes anywhere: no crash (ASan/UBSan build), any outcome. */
    for (size_t i = 8; i < n; i += 3) {
        uint8_t *c = malloc(n);
        memcpy(c, d, n);
        c[i] ^= 0x5a;
        memset(&err, 0, sizeof err);
        (void)decode_buf(c, n, 0, &err);
        free(c);
    }
    free(d);

    /* Over the pixel limit: refused from the header. */
    d = read_all(FIXTURES "/rgb_raw.tif", &n);
    memset(&err, 0, sizeof err);
    CHECK(decode_buf(d, n, 100, &err) == CS_E_TOO_LARGE);
    CHECK(strstr(err.msg, "exceeds the limit") != NULL);
    free(d);

    /* A layout Pillow cannot open either (CIE L*a*b*): unsupported, with the reason. */
    d = read_all(FIXTURES "/rgb_raw.tif", &n);
    /* Photometric is tag 262 (0x0106), SHORT, value in the entry: patch it to 8 (CIELab). */
    uint8_t *p = d + 8;
    unsigned cnt = p[0] | p[1] << 8;
    int patched = 0;
    for (unsigned i = 0; i < cnt; i++) {
        uint8_t *en = p + 2 + i * 12;
        if ((en[0] | en[1] << 8) == 262) en[8] = 8, en[9] = 0, patched = 1;
    }
    CHECK(patched);
    memset(&err, 0, sizeof err);
    CHECK(decode_buf(d, n, 0, &err) == CS_E_UNSUPPORTED);
    CHECK(strstr(err.msg, "TIFF layout not supported") != NULL);
    free(d);

    /* Probe reads the size without decoding. */
    cs_image_info info;
    memset(&err, 0, sizeof err);
    CHECK_OK(cs_image_probe_file(FIXTURES "/rgb_orient6.tif", &info, &err), &err);
    CHECK(info.format == CS_IMAGE_TIFF && info.width == 23 && info.height == 17);
    CHECK(info.exif_orientation == 6);
}

int main(void)
{
    test_fixtures();
    test_damaged();
    return TEST_RESULT();
}
