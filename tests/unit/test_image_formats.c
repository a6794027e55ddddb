/* Every decoder against images written in the test with the format's own encoder (or by
 * hand), with expected pixels stated from PIL's conversion rules:
 * PNG 16-bit / low-bit / palette / interlaced, WebP lossless / lossy / animated canvas,
 * GIF canvas fill / transparency / local palette / interlace, BMP layouts, CMYK JPEG. */
#include <stdio.h>

#include <gif_lib.h>
#include <jpeglib.h>
#include <png.h>
#include <webp/decode.h>
#include <webp/encode.h>

#include "clipsearch/image.h"
#include "image_test_util.h"
#include "test.h"

static uint32_t rng = 2024;
static unsigned rnd(void)
{
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

static int decode(const uint8_t *d, size_t n, cs_image *img, cs_image_info *info)
{
    cs_error err = {0};
    cs_image_options opt;
    cs_image_options_init(&opt);
    int rc = cs_image_decode_memory(d, n, &opt, img, info, &err);
    if (rc) fprintf(stderr, "decode failed: %s\n", err.msg);
    return rc;
}

static int same_pixels(const cs_image *img, const uint8_t *want, int w, int h, const char *what)
{
    if (img->width != w || img->height != h) {
        fprintf(stderr, "%s: size %dx%d want %dx%d\n", what, img->width, img->height, w, h);
        return 0;
    }
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        if (img->rgb[i] != want[i]) {
            fprintf(stderr, "%s: first difference at pixel %zu channel %zu: %d want %d\n", what,
                    i / 3, i % 3, img->rgb[i], want[i]);
            return 0;
        }
    return 1;
}

/* ---- PNG ---- */

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

/* rows: packed raw PNG rows (big-endian 16-bit samples, packed low-bit pixels). */
static membuf write_png(int w, int h, int depth, int color, const uint8_t *rows, size_t rowbytes,
                        const png_color *pal, int npal, const uint8_t *trns, int ntrns,
                        int interlace)
{
    membuf m = {0};
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop i = png_create_info_struct(p);
    if (setjmp(png_jmpbuf(p))) {
        fprintf(stderr, "png write failed\n");
        exit(1);
    }
    png_set_write_fn(p, &m, mem_write, mem_flush);
    png_set_IHDR(p, i, (png_uint_32)w, (png_uint_32)h, depth, color,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(p, i, pal, npal);
    png_set_check_for_invalid_index(p, 0); /* we want out-of-palette indices */
    if (trns) png_set_tRNS(p, i, trns, ntrns, NULL);
    png_write_info(p, i);
    png_bytep *rp = malloc(sizeof(png_bytep) * (size_t)h);
    for (int y = 0; y < h; y++) rp[y] = (png_bytep)rows + (size_t)y * rowbytes;
    png_write_image(p, rp);
    png_write_end(p, i);
    png_destroy_write_struct(&p, &i);
    free(rp);
    return m;
}

static void test_png(void)
{
    enum { W = 13, H = 7 };
    uint8_t raw[W * H * 8], want[W * H * 3];
    cs_image img;
    membuf m;

    /* RGB 16: PIL's RGB;16B unpacker keeps the high byte. */
    for (int i = 0; i < W * H * 6; i++) raw[i] = (uint8_t)rnd();
    for (int i = 0; i < W * H * 3; i++) want[i] = raw[2 * i];
    m = write_png(W, H, 16, PNG_COLOR_TYPE_RGB, raw, W * 6, NULL, 0, NULL, 0, 0);
    CHECK(decode(m.buf, m.len, &img, NULL) == 0 && same_pixels(&img, want, W, H, "png rgb16"));
    CHECK(fuzz_decode(m.buf, m.len, 100, 1) == 0);
    cs_image_free(&img);
    free(m.buf);

    /* RGBA 16 (interlaced too): high byte, alpha dropped. */
    for (int i = 0; i < W * H * 8; i++) raw[i] = (uint8_t)rnd();
    for (int p = 0; p < W * H; p++)
        for (int c = 0; c < 3; c++) want[p * 3 + c] = raw[p * 8 + c * 2];
    m = write_png(W, H, 16, PNG_COLOR_TYPE_RGBA, raw, W * 8, NULL, 0, NULL, 0, 1);
    CHECK(decode(m.buf, m.len, &img, NULL) == 0 && same_pixels(&img, want, W, H, "png rgba16 adam7"));
    cs_image_free(&img);
    free(m.buf);

    /* Grey 16: PIL mode I, then I -> RGB clamps at 255. */
    for (int p = 0; p < W * H; p++) {
        unsigned v = p % 3 == 0 ? rnd() % 256 : rnd() % 65536;
        raw[2 * p] = (uint8_t)(v >> 8);
        raw[2 * p + 1] = (uint8_t)v;
        uint8_t o = v > 255 ? 255 : (uint8_t)v;
        want[3 * p] = want[3 * p + 1] = want[3 * p + 2] = o;
    }
    m = write_png(W, H, 16, PNG_COLOR_TYPE_GRAY, raw, W * 2, NULL, 0, NULL, 0, 0);
    CHECK(decode(m.buf, m.len, &img, NULL) == 0 && same_pixels(&img, want, W, H, "png gray16"));
    cs_image_free(&img);
    free(m.buf);

    /* Grey+alpha 16: grey high byte. */
    for (int i = 0; i < W * H * 4; i++) raw[i] = (uint8_t)rnd();
    for (int p = 0; p < W * H; p++) want[3 * p] = want[3 * p + 1] = want[3 * p + 2] = raw[4 * p];
    m = write_png(W, H, 16, PNG_COLOR_TYPE_GRAY_ALPHA, raw, W * 4, NULL, 0, NULL, 0, 0);
    CHECK(decode(m.buf, m.len, &img, NULL) == 0 && same_pixels(&img, want, W, H, "png la16"));
    cs_image_free(&img);
    free(m.buf);

    /* Grey 1/2/4 bit: values scale to 0..255 (PIL modes 1 and L;2 / L;4). */
    for (int depth = 1; depth <= 4; depth *= 2) {
        size_t rb = (size_t)(W * depth + 7) / 8;
        memset(raw, 0, sizeof raw);
        int maxv = (1 << depth) - 1;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int v = (int)(rnd() % (unsigned)(maxv + 1));
                int bit = x * depth;
                raw[y * rb + bit / 8] |= (uint8_t)(v << (8 - depth - bit % 8));
                uint8_t o = (uint8_t)(v * 255 / maxv);
                int p = y * W + x;
                want[3 * p] = want[3 * p + 1] = want[3 * p + 2] = o;
            }
        m = write_png(W, H, depth, PNG_COLOR_TYPE_GRAY, raw, rb, NULL, 0, NULL, 0, 0);
        char what[32];
        snprintf(what, sizeof what, "png gray%d", depth);
        CHECK(decode(m.buf, m.len, &img, NULL) == 0 && same_pixels(&img, want, W, H, what));
        cs_image_free(&img);
        free(m.buf);
    }

    /* Palette 4-bit with 5 entries + tRNS: lookup, transparency ignored, and indices
     * past the palette give Pillow 9.4's grey ramp (i, i, i). */
    png_color pal[5] = {{10, 20, 30}, {200, 0, 0}, {0, 200, 0}, {0, 0, 200}, {255, 255, 0}};
    uint8_t trns[5] = {0, 128, 255, 0, 10};
    size_t rb = (W * 4 + 7) / 8;
    memset(raw, 0, sizeof raw);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int v = (int)(rnd() % 7);
            if (x == 0 && y == 0) v = 14;
            raw[y * rb + x / 2] |= (uint8_t)(v << (x % 2 ? 0 : 4));
            int p = y * W + x;
            if (v < 5) {
                want[3 * p] = pal[v].red;
                want[3 * p + 1] = pal[v].green;
                want[3 * p + 2] = pal[v].blue;
            } else {
                want[3 * p] = want[3 * p + 1] = want[3 * p + 2] = (uint8_t)v;
            }
        }
    m = write_png(W, H, 4, PNG_COLOR_TYPE_PALETTE, raw, rb, pal, 5, trns, 5, 0);
    if (m.len) {
        cs_error err;
        cs_image_options opt;
        cs_image_options_init(&opt);
        int rc = cs_image_decode_memory(m.buf, m.len, &opt, &img, NULL, &err);
        CHECK_MSG(rc == 0, "palette png: %s", err.msg);
        if (rc == 0) CHECK(same_pixels(&img, want, W, H, "png palette4+trns"));
        cs_image_free(&img);
    }
    free(m.buf);

    /* RGB 8 interlaced and RGBA 8 (alpha 0 keeps its colour: dropped, not composited). */
    for (int i = 0; i < W * H * 4; i++) raw[i] = (uint8_t)rnd();
    for (int p = 0; p < W * H; p++) {
        if (p % 4 == 0) raw[4 * p + 3] = 0;
        memcpy(want + 3 * p, raw + 4 * p, 3);
    }
    m = write_png(W, H, 8, PNG_COLOR_TYPE_RGBA, raw, W * 4, NULL, 0, NULL, 0, 0);
    CHECK(decode(m.buf, m.len, &img, NULL) == 0 && same_pixels(&img, want, W, H, "png rgba8"));
    cs_image_free(&img);
    free(m.buf);
    m = write_png(W, H, 8, PNG_COLOR_TYPE_RGB, want, W * 3, NULL, 0, NULL, 0, 1);
    CHECK(decode(m.buf, m.len, &img, NULL) == 0 && same_pixels(&img, want, W, H, "png rgb8 adam7"));
    cs_image_free(&img);
    free(m.buf);
}

/* ---- WebP ---- */

static size_t riff_chunk(uint8_t *out, const char *tag, const uint8_t *data, size_t n)
{
    memcpy(out, tag, 4);
    put_le32(out + 4, (uint32_t)n);
    memcpy(out + 8, data, n);
    if (n & 1) out[8 + n] = 0;
    return 8 + n + (n & 1);
}

static void put_le24(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
}

static void test_webp(void)
{
    enum { W = 37, H = 23 };
    uint8_t src[W * H * 4], rgb[W * H * 3];
    for (int p = 0; p < W * H; p++) {
        for (int c = 0; c < 3; c++) src[4 * p + c] = rgb[3 * p + c] = (uint8_t)rnd();
        src[4 * p + 3] = (uint8_t)(1 + rnd() % 255); /* non-zero alpha keeps RGB exact */
    }
    cs_image img;
    cs_image_info info;
    uint8_t *out = NULL;
    size_t n = WebPEncodeLosslessRGB(rgb, W, H, W * 3, &out);
    CHECK(n > 0);
    CHECK(decode(out, n, &img, &info) == 0 && same_pixels(&img, rgb, W, H, "webp lossless"));
    CHECK(info.format == CS_IMAGE_WEBP && info.width == W && info.height == H);
    cs_image_free(&img);

    /* Animated container, canvas 50x40, one lossless frame 37x23 at (4, 6): outside the
     * frame the canvas is transparent black, so RGB 0 after dropping alpha (PIL). */
    const uint8_t *vp8l = out + 12; /* "VP8L" chunk of the simple file */
    size_t vp8l_len = n - 12;
    size_t cap = vp8l_len + 256;
    uint8_t *anim = calloc(1, cap), *anmf = calloc(1, cap);
    size_t at = 12;
    uint8_t vp8x[10] = {0x02, 0, 0, 0}; /* animation flag */
    put_le24(vp8x + 4, 50 - 1);
    put_le24(vp8x + 7, 40 - 1);
    at += riff_chunk(anim + at, "VP8X", vp8x, 10);
    uint8_t animc[6] = {0};
    at += riff_chunk(anim + at, "ANIM", animc, 6);
    put_le24(anmf, 4 / 2);
    put_le24(anmf + 3, 6 / 2);
    put_le24(anmf + 6, W - 1);
    put_le24(anmf + 9, H - 1);
    put_le24(anmf + 12, 100);
    anmf[15] = 0x02; /* no blending */
    memcpy(anmf + 16, vp8l, vp8l_len);
    at += riff_chunk(anim + at, "ANMF", anmf, 16 + vp8l_len);
    memcpy(anim, "RIFF", 4);
    put_le32(anim + 4, (uint32_t)(at - 8));
    memcpy(anim + 8, "WEBP", 4);
    uint8_t *want = calloc(50 * 40 * 3, 1);
    for (int y = 0; y < H; y++) memcpy(want + ((size_t)(y + 6) * 50 + 4) * 3, rgb + (size_t)y * W * 3, W * 3);
    CHECK(decode(anim, at, &img, &info) == 0 && same_pixels(&img, want, 50, 40, "webp animated"));
    CHECK(fuzz_decode(anim, at, 100, 2) == 0);
    CHECK(info.width == 50 && info.height == 40);
    cs_image_free(&img);
    free(want);
    free(anim);
    free(anmf);
    WebPFree(out);

    /* Lossless RGBA: alpha dropped, RGB exact. */
    n = WebPEncodeLosslessRGBA(src, W, H, W * 4, &out);
    CHECK(decode(out, n, &img, NULL) == 0 && same_pixels(&img, rgb, W, H, "webp lossless rgba"));
    cs_image_free(&img);
    WebPFree(out);

    /* Lossy: same pixels as libwebp's own RGB decode (PIL uses libwebp too), and close to
     * the source on a smooth image. */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = rgb + ((size_t)y * W + x) * 3;
            p[0] = (uint8_t)(x * 6);
            p[1] = (uint8_t)(y * 10);
            p[2] = 128;
        }
    n = WebPEncodeRGB(rgb, W, H, W * 3, 95, &out);
    int ww, hh;
    uint8_t *ref = WebPDecodeRGB(out, n, &ww, &hh);
    CHECK(ref && decode(out, n, &img, NULL) == 0 && same_pixels(&img, ref, W, H, "webp lossy"));
    CHECK(fuzz_decode(out, n, 100, 3) == 0);
    if (img.rgb) {
        double diff = 0;
        for (int i = 0; i < W * H * 3; i++) diff += abs(img.rgb[i] - rgb[i]);
        CHECK_MSG(diff / (W * H * 3) < 4.0, "webp lossy mean abs diff %.2f", diff / (W * H * 3));
    }
    cs_image_free(&img);
    WebPFree(ref);
    /* Truncated lossy data is an error. */
    cs_error err;
    CHECK(cs_image_decode_memory(out, n / 2, NULL, &img, NULL, &err) == CS_E_FORMAT);
    WebPFree(out);
}

/* ---- GIF ---- */

static int gif_write(GifFileType *g, const GifByteType *d, int n)
{
    membuf *m = g->UserData;
    if (m->len + (size_t)n > m->cap) {
        m->cap = (m->len + (size_t)n) * 2 + 64;
        m->buf = realloc(m->buf, m->cap);
    }
    memcpy(m->buf + m->len, d, (size_t)n);
    m->len += (size_t)n;
    return n;
}

/* One-frame GIF: screen sw x sh, frame fw x fh at (fx, fy), indices idx (frame rows in
 * natural order), transparency index or -1, palettes of 4 entries (NULL = none). */
static membuf make_gif(int sw, int sh, int fx, int fy, int fw, int fh, const uint8_t *idx,
                       int transparent, const GifColorType *global, const GifColorType *local,
                       int interlace)
{
    membuf m = {0};
    int e;
    GifFileType *g = EGifOpen(&m, gif_write, &e);
    ColorMapObject *gm = global ? GifMakeMapObject(4, global) : NULL;
    ColorMapObject *lm = local ? GifMakeMapObject(4, local) : NULL;
    EGifSetGifVersion(g, true);
    EGifPutScreenDesc(g, sw, sh, 8, 0, gm);
    if (transparent >= 0) {
        GifByteType gce[4] = {0x01, 0, 0, (GifByteType)transparent};
        EGifPutExtension(g, GRAPHICS_EXT_FUNC_CODE, 4, gce);
    }
    EGifPutImageDesc(g, fx, fy, fw, fh, interlace, lm);
    static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    for (int p = 0; p < (interlace ? 4 : 1); p++)
        for (int y = interlace ? start[p] : 0; y < fh; y += interlace ? step[p] : 1)
            EGifPutLine(g, (GifPixelType *)idx + (size_t)y * fw, fw);
    EGifCloseFile(g, &e);
    GifFreeMapObject(gm);
    GifFreeMapObject(lm);
    return m;
}

static void gif_expect(uint8_t *want, int cw, int ch, int fill, int fx, int fy, int fw, int fh,
                       const uint8_t *idx, const GifColorType *pal)
{
    for (int y = 0; y < ch; y++)
        for (int x = 0; x < cw; x++) {
            int v = fill;
            if (x >= fx && x < fx + fw && y >= fy && y < fy + fh) v = idx[(y - fy) * fw + (x - fx)];
            uint8_t *o = want + ((size_t)y * cw + x) * 3;
            if (pal && v < 4) {
                o[0] = pal[v].Red;
                o[1] = pal[v].Green;
                o[2] = pal[v].Blue;
            } else {
                o[0] = o[1] = o[2] = (uint8_t)v; /* grey ramp past the palette / no palette */
            }
        }
}

static void test_gif(void)
{
    GifColorType gpal[4] = {{1, 2, 3}, {250, 0, 0}, {0, 250, 0}, {0, 0, 250}};
    GifColorType lpal[4] = {{9, 9, 90}, {90, 9, 9}, {9, 90, 9}, {200, 200, 200}};
    enum { FW = 6, FH = 9 };
    uint8_t idx[FW * FH];
    for (int i = 0; i < FW * FH; i++) idx[i] = (uint8_t)(rnd() % 4);
    idx[5] = 2; /* transparent index inside the frame stays as is in frame 0 */
    uint8_t want[40 * 40 * 3];
    cs_image img;
    cs_image_info info;

    /* Frame inside a bigger screen, transparency 2: outside = palette[2]. */
    membuf m = make_gif(12, 14, 3, 2, FW, FH, idx, 2, gpal, NULL, 0);
    gif_expect(want, 12, 14, 2, 3, 2, FW, FH, idx, gpal);
    CHECK(decode(m.buf, m.len, &img, &info) == 0 && same_pixels(&img, want, 12, 14, "gif transparent fill"));
    CHECK(info.format == CS_IMAGE_GIF && info.width == 12 && info.height == 14);
    cs_image_free(&img);
    free(m.buf);

    /* No transparency: outside = index 0; local palette wins; interlaced rows. */
    m = make_gif(10, 12, 1, 1, FW, FH, idx, -1, gpal, lpal, 1);
    gif_expect(want, 10, 12, 0, 1, 1, FW, FH, idx, lpal);
    CHECK(decode(m.buf, m.len, &img, NULL) == 0 && same_pixels(&img, want, 10, 12, "gif local interlaced"));
    CHECK(fuzz_decode(m.buf, m.len, 150, 4) == 0);
    cs_image_free(&img);
    free(m.buf);

    /* No palette at all: indices are grey levels. Frame sticking out grows the canvas. */
    m = make_gif(4, 4, 2, 3, FW, FH, idx, -1, gpal, NULL, 0);
    /* giflib refuses to write a GIF without any colour map: drop the global one here
     * (clear the flag in the screen descriptor, remove its 4 * 3 bytes). */
    m.buf[10] &= 0x7F;
    memmove(m.buf + 13, m.buf + 25, m.len - 25);
    m.len -= 12;
    gif_expect(want, 8, 12, 0, 2, 3, FW, FH, idx, NULL);
    CHECK(decode(m.buf, m.len, &img, NULL) == 0 && same_pixels(&img, want, 8, 12, "gif no palette, grown"));
    cs_image_free(&img);
    /* Truncated GIF: error. */
    cs_error err;
    CHECK(cs_image_decode_memory(m.buf, m.len - 6, NULL, &img, NULL, &err) == CS_E_FORMAT);
    free(m.buf);
}

/* ---- BMP ---- */

static size_t bmp_header(uint8_t *b, int w, int h, int bpp, unsigned compression, int ncolors,
                         size_t extra)
{
    size_t off = 14 + 40 + extra;
    memset(b, 0, off);
    b[0] = 'B';
    b[1] = 'M';
    put_le32(b + 10, (uint32_t)off);
    put_le32(b + 14, 40);
    put_le32(b + 18, (uint32_t)w);
    put_le32(b + 22, (uint32_t)h);
    put_le16(b + 26, 1);
    put_le16(b + 28, (unsigned)bpp);
    put_le32(b + 30, compression);
    put_le32(b + 46, (uint32_t)ncolors);
    return off;
}

static void test_bmp(void)
{
    enum { W = 5, H = 3 };
    uint8_t b[4096], want[W * H * 3], px[W * H * 3];
    cs_image img;
    for (int i = 0; i < W * H * 3; i++) px[i] = (uint8_t)rnd();

    /* 24-bit bottom-up with row padding (5*3 = 15 -> 16). */
    size_t off = bmp_header(b, W, H, 24, 0, 0, 0);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *d = b + off + (size_t)(H - 1 - y) * 16 + x * 3;
            const uint8_t *s = px + (y * W + x) * 3;
            d[0] = s[2]; d[1] = s[1]; d[2] = s[0];
        }
    CHECK(decode(b, off + 16 * H, &img, NULL) == 0 && same_pixels(&img, px, W, H, "bmp24"));
    cs_image_free(&img);
    cs_error err;
    CHECK(cs_image_decode_memory(b, off + 16 * H - 1, NULL, &img, NULL, &err) == CS_E_FORMAT);

    /* 32-bit BI_RGB top-down: BGRX. */
    off = bmp_header(b, W, -H, 32, 0, 0, 0);
    for (int p = 0; p < W * H; p++) {
        b[off + 4 * p] = px[3 * p + 2];
        b[off + 4 * p + 1] = px[3 * p + 1];
        b[off + 4 * p + 2] = px[3 * p];
        b[off + 4 * p + 3] = 0x55;
    }
    CHECK(decode(b, off + 4 * W * H, &img, NULL) == 0 && same_pixels(&img, px, W, H, "bmp32 top-down"));
    cs_image_free(&img);

    /* 8-bit, 3-colour palette; index 200 is past it -> grey ramp (200,200,200). */
    off = bmp_header(b, W, H, 8, 0, 3, 3 * 4);
    uint8_t pal[3][3] = {{10, 20, 30}, {40, 50, 60}, {70, 80, 90}}; /* RGB */
    for (int i = 0; i < 3; i++) {
        b[54 + 4 * i] = pal[i][2];
        b[54 + 4 * i + 1] = pal[i][1];
        b[54 + 4 * i + 2] = pal[i][0];
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int v = (x + y) % 4 == 3 ? 200 : (x + y) % 3;
            b[off + (size_t)(H - 1 - y) * 8 + x] = (uint8_t)v;
            uint8_t *o = want + (y * W + x) * 3;
            if (v < 3) memcpy(o, pal[v], 3);
            else o[0] = o[1] = o[2] = (uint8_t)v;
        }
    CHECK(decode(b, off + 8 * H, &img, NULL) == 0 && same_pixels(&img, want, W, H, "bmp8 palette"));
    CHECK(fuzz_decode(b, off + 8 * H, 150, 5) == 0);
    cs_image_free(&img);

    /* 1-bit: black/white palette, MSB first. */
    off = bmp_header(b, W, H, 1, 0, 2, 8);
    memset(b + 54, 0, 8);
    b[58] = b[59] = b[60] = 255;
    for (int y = 0; y < H; y++) {
        uint8_t bits = (uint8_t)(rnd() & 0xF8);
        b[off + (size_t)(H - 1 - y) * 4] = bits;
        for (int x = 0; x < W; x++) {
            uint8_t v = (bits >> (7 - x)) & 1 ? 255 : 0;
            memset(want + (y * W + x) * 3, v, 3);
        }
    }
    CHECK(decode(b, off + 4 * H, &img, NULL) == 0 && same_pixels(&img, want, W, H, "bmp1"));
    cs_image_free(&img);

    /* 16-bit 565 bit fields: v * 255 / 31 and v * 255 / 63 (PIL's BGR;16). */
    off = bmp_header(b, W, H, 16, 3, 0, 12);
    put_le32(b + 54, 0xF800);
    put_le32(b + 58, 0x07E0);
    put_le32(b + 62, 0x001F);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            unsigned v = rnd() & 0xFFFF;
            put_le16(b + off + (size_t)(H - 1 - y) * 12 + 2 * x, v);
            uint8_t *o = want + (y * W + x) * 3;
            o[0] = (uint8_t)(((v >> 11) & 31) * 255 / 31);
            o[1] = (uint8_t)(((v >> 5) & 63) * 255 / 63);
            o[2] = (uint8_t)((v & 31) * 255 / 31);
        }
    CHECK(decode(b, off + 12 * H, &img, NULL) == 0 && same_pixels(&img, want, W, H, "bmp565"));
    CHECK(fuzz_decode(b, off + 12 * H, 150, 6) == 0);
    cs_image_free(&img);
}

/* ---- CMYK JPEG ---- */

static void test_cmyk_jpeg(void)
{
    /* Adobe convention: stored 255 = no ink. Three uniform stripes of 16 rows. */
    enum { W = 16, H = 48 };
    const uint8_t stored[3][4] = {{255, 255, 255, 255}, {255, 255, 255, 0}, {0, 255, 255, 255}};
    const uint8_t expect[3][3] = {{255, 255, 255}, {0, 0, 0}, {0, 255, 255}};
    uint8_t rows[W * H * 4];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) memcpy(rows + (y * W + x) * 4, stored[y / 16], 4);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    unsigned long len = 0;
    jpeg_mem_dest(&c, &buf, &len);
    c.image_width = W;
    c.image_height = H;
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < H) {
        JSAMPROW r = rows + c.next_scanline * W * 4;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    cs_image img;
    CHECK(fuzz_decode(buf, len, 100, 7) == 0);
    CHECK(decode(buf, len, &img, NULL) == 0);
    if (img.rgb) {
        int worst = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int k = 0; k < 3; k++) {
                    int d = abs(img.rgb[(y * W + x) * 3 + k] - expect[y / 16][k]);
                    if (d > worst) worst = d;
                }
        CHECK_MSG(worst <= 3, "cmyk jpeg: worst channel error %d", worst);
    }
    cs_image_free(&img);
    free(buf);
}

/* Opt-in DCT scaling: only when asked, never below jpeg_min_side, stored size reported. */
static void test_fast_jpeg(void)
{
    size_t n;
    uint8_t *d = fixture("images/photo_progressive_640x427.jpg", &n);
    cs_image_options opt;
    cs_image_options_init(&opt);
    CHECK(opt.fast_jpeg_downscale == false);
    cs_image img;
    cs_image_info info;
    cs_error err;
    CHECK_OK(cs_image_decode_memory(d, n, &opt, &img, &info, &err), &err);
    CHECK(img.width == 640 && img.height == 427);
    cs_image_free(&img);
    opt.fast_jpeg_downscale = true;
    opt.jpeg_min_side = 100; /* 427 / 4 = 106.75 >= 100 > 427 / 8 */
    CHECK_OK(cs_image_decode_memory(d, n, &opt, &img, &info, &err), &err);
    CHECK_MSG(img.width == 160 && img.height == 107, "fast decode %dx%d", img.width, img.height);
    CHECK(info.width == 640 && info.height == 427);
    cs_image_free(&img);
    opt.jpeg_min_side = 448; /* already below: no scaling */
    CHECK_OK(cs_image_decode_memory(d, n, &opt, &img, &info, &err), &err);
    CHECK(img.width == 640 && img.height == 427);
    cs_image_free(&img);
    free(d);
}

int main(void)
{
    test_fast_jpeg();
    test_png();
    test_webp();
    test_gif();
    test_bmp();
    test_cmyk_jpeg();
    scratch_cleanup();
    return TEST_RESULT();
}
