/* Test-image writer for the indexer tests (libpng/libjpeg, no Python imaging needed):
 *   cs_index_testimages png DIR N [W H [SEED]]   N distinct PNGs DIR/img_0000.png ...
 *   cs_index_testimages jpg FILE W H SEED        one JPEG
 *   cs_index_testimages onepng FILE W H SEED     one PNG
 *   cs_index_testimages huge-png FILE W H        a PNG whose header claims WxH (no data)
 *   cs_index_testimages resize SRC DST MAXSIDE   DST: a JPEG of SRC shrunk to MAXSIDE
 * Every image's pixels depend on SEED (and its index), so contents differ. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "clipsearch/image.h"

static void fill(uint8_t *rgb, int w, int h, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 12345u;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            s = s * 1103515245u + 12345u;
            uint8_t *p = rgb + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / (w > 1 ? w - 1 : 1) + seed * 37);
            p[1] = (uint8_t)(y * 255 / (h > 1 ? h - 1 : 1) + seed * 91);
            p[2] = (uint8_t)((s >> 16) & 0xFF);
        }
}

static int write_png(const char *path, int w, int h, uint32_t seed)
{
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); return 1; }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    uint8_t *rgb = malloc((size_t)w * h * 3);
    if (setjmp(png_jmpbuf(png))) {
        fclose(f);
        free(rgb);
        return 1;
    }
    png_init_io(png, f);
    png_set_compression_level(png, 1); /* speed over size: tests write hundreds */
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    fill(rgb, w, h, seed);
    for (int y = 0; y < h; y++) png_write_row(png, rgb + (size_t)y * w * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rgb);
    return fclose(f) != 0;
}

static int write_jpg(const char *path, int w, int h, uint32_t seed)
{
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); return 1; }
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    uint8_t *rgb = malloc((size_t)w * h * 3);
    fill(rgb, w, h, seed);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = rgb + (size_t)c.next_scanline * w * 3;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(rgb);
    return fclose(f) != 0;
}

/* PNG's CRC-32 (bitwise; zlib is not linked into the tools). */
static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* Signature + a valid IHDR (with CRC) claiming WxH + IEND: a decoder must refuse it
 * from the header, before allocating pixels. */
static int write_huge_png(const char *path, uint32_t w, uint32_t h)
{
    uint8_t buf[8 + 25 + 12];
    memcpy(buf, "\x89PNG\r\n\x1a\n", 8);
    uint8_t *ih = buf + 8;
    put32(ih, 13);
    memcpy(ih + 4, "IHDR", 4);
    put32(ih + 8, w);
    put32(ih + 12, h);
    ih[16] = 8; ih[17] = 2; ih[18] = 0; ih[19] = 0; ih[20] = 0;
    put32(ih + 21, crc32_png(ih + 4, 17));
    uint8_t *ie = ih + 25;
    put32(ie, 0);
    memcpy(ie + 4, "IEND", 4);
    put32(ie + 8, crc32_png(ie + 4, 4));
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); return 1; }
    fwrite(buf, 1, sizeof buf, f);
    return fclose(f) != 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "png")) {
        int n = atoi(argv[3]);
        int w = argc > 5 ? atoi(argv[4]) : 40, h = argc > 5 ? atoi(argv[5]) : 30;
        uint32_t seed = argc > 6 ? (uint32_t)atoi(argv[6]) : 1;
        char path[4096];
        for (int i = 0; i < n; i++) {
            snprintf(path, sizeof path, "%s/img_%04d.png", argv[2], i);
            if (write_png(path, w, h, seed * 100003u + (uint32_t)i)) return 1;
        }
        return 0;
    }
    if (argc == 6 && !strcmp(argv[1], "jpg"))
        return write_jpg(argv[2], atoi(argv[3]), atoi(argv[4]), (uint32_t)atoi(argv[5]));
    if (argc == 6 && !strcmp(argv[1], "onepng"))
        return write_png(argv[2], atoi(argv[3]), atoi(argv[4]), (uint32_t)atoi(argv[5]));
    if (argc == 5 && !strcmp(argv[1], "huge-png"))
        return write_huge_png(argv[2], (uint32_t)strtoul(argv[3], NULL, 10),
                              (uint32_t)strtoul(argv[4], NULL, 10));
    if (argc == 5 && !strcmp(argv[1], "resize")) {
        /* The thumbnail code: decode, PIL-exact bicubic, JPEG (a resized copy). */
        uint8_t *jpeg = NULL;
        size_t len = 0;
        cs_error err = {0};
        if (cs_thumbnail_jpeg(argv[2], atoi(argv[4]), 92, true, &jpeg, &len, &err) != 0) {
            fprintf(stderr, "resize: %s\n", err.msg);
            return 1;
        }
        FILE *f = fopen(argv[3], "wb");
        int bad = !f || fwrite(jpeg, 1, len, f) != len;
        if (f && fclose(f) != 0) bad = 1;
        free(jpeg);
        return bad;
    }
    fprintf(stderr, "usage: see the comment at the top of cs_index_testimages.c\n");
    return 2;
}
