/* HEIF and AVIF written here with libheif's encoders (x265, aom):
 * - every orientation (libheif writes irot/imir from an EXIF-style orientation): the
 *   decoded image equals the stored pixels turned by that EXIF orientation, and
 *   apply_exif_orientation = false gives the stored pixels;
 * - 10-bit HEVC: reduced to 8 bits exactly as libheif's own 8-bit RGB output
 *   (convert_hdr_to_8bit), i.e. what pillow-heif gives;
 * - the pixel limit is enforced from the header; damaged files fail cleanly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libheif/heif.h>

#include "clipsearch/image.h"
#include "test.h"

#define W 64
#define H 48

typedef struct {
    uint8_t *buf;
    size_t len;
} membuf;

static struct heif_error mem_write(struct heif_context *ctx, const void *data, size_t size,
                                   void *user)
{
    membuf *m = user;
    m->buf = realloc(m->buf, m->len + size);
    memcpy(m->buf + m->len, data, size);
    m->len += size;
    struct heif_error ok = {heif_error_Ok, heif_suberror_Unspecified, "ok"};
    return ok;
}

/* Encodes a W x H test pattern (bits 8 or 10) and returns the file bytes. */
static membuf encode(enum heif_compression_format fmt, int bits, int orientation)
{
    membuf m = {0};
    struct heif_image *img = NULL;
    enum heif_chroma ch = bits == 8 ? heif_chroma_interleaved_RGB : heif_chroma_interleaved_RRGGBB_LE;
    if (heif_image_create(W, H, heif_colorspace_RGB, ch, &img).code != heif_error_Ok) return m;
    heif_image_add_plane(img, heif_channel_interleaved, W, H, bits);
    int stride;
    uint8_t *p = heif_image_get_plane(img, heif_channel_interleaved, &stride);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) {
                int v = (x * 4 + y * 3 * (c + 1) + ((x / 8 + y / 8) & 1) * 90) % 256;
                if (bits == 8) p[y * stride + x * 3 + c] = (uint8_t)v;
                else {
                    int v10 = v * 4 + (x & 3);
                    p[y * stride + x * 6 + c * 2] = (uint8_t)(v10 & 0xff);
                    p[y * stride + x * 6 + c * 2 + 1] = (uint8_t)(v10 >> 8);
                }
            }
    struct heif_context *ctx = heif_context_alloc();
    struct heif_encoder *enc = NULL;
    if (heif_context_get_encoder_for_format(ctx, fmt, &enc).code == heif_error_Ok) {
        heif_encoder_set_lossy_quality(enc, 90);
        struct heif_encoding_options *o = heif_encoding_options_alloc();
        o->image_orientation = (enum heif_orientation)orientation;
        struct heif_writer wr = {1, mem_write};
        if (heif_context_encode_image(ctx, img, enc, o, NULL).code == heif_error_Ok)
            heif_context_write(ctx, &wr, &m);
        heif_encoding_options_free(o);
        heif_encoder_release(enc);
    }
    heif_context_free(ctx);
    heif_image_release(img);
    return m;
}

static int decode(const membuf *m, bool orient, uint64_t max_pixels, cs_image *img, cs_error *err)
{
    cs_image_options opt;
    cs_image_options_init(&opt);
    opt.apply_exif_orientation = orient;
    if (max_pixels) opt.max_pixels = max_pixels;
    cs_image_info info;
    int rc = cs_image_decode_memory(m->buf, m->len, &opt, img, &info, err);
    if (rc == 0 && info.format != CS_IMAGE_HEIF) {
        cs_image_free(img);
        return -1;
    }
    return rc;
}

static bool same(const cs_image *a, const cs_image *b)
{
    return a->width == b->width && a->height == b->height &&
           memcmp(a->rgb, b->rgb, (size_t)a->width * a->height * 3) == 0;
}

static void test_orientations(enum heif_compression_format fmt, const char *name)
{
    for (int o = 1; o <= 8; o++) {
        membuf m = encode(fmt, 8, o);
        CHECK_MSG(m.len > 0, "%s: encoder for orientation %d", name, o);
        if (!m.len) continue;
        cs_image shown, stored, turned;
        cs_error err = {0};
        CHECK_OK(decode(&m, true, 0, &shown, &err), &err);
        CHECK_OK(decode(&m, false, 0, &stored, &err), &err);
        CHECK(stored.width == W && stored.height == H);
        CHECK_OK(cs_image_apply_orientation(&stored, o, &turned, &err), &err);
        CHECK_MSG(same(&shown, &turned), "%s orientation %d: %dx%d", name, o, shown.width,
                  shown.height);
        cs_image_free(&shown);
        cs_image_free(&stored);
        cs_image_free(&turned);

        if (o == 6) {
            /* Damaged copies: truncations and flipped bytes never crash; truncations
             * that lose the image data fail with a message. */
            for (size_t cut = 0; cut < m.len; cut += m.len / 23 + 1) {
                cs_image img;
                memset(&err, 0, sizeof err);
                membuf t = {m.buf, cut};
                int rc = decode(&t, true, 0, &img, &err);
                if (rc == 0) cs_image_free(&img);
                else CHECK_MSG(err.msg[0] != 0, "%s cut at %zu: no message", name, cut);
            }
            CHECK(decode(&m, true, W * H - 1, &shown, &err) == CS_E_TOO_LARGE);
        }
        free(m.buf);
    }
}

static void test_10bit(void)
{
    membuf m = encode(heif_compression_HEVC, 10, 1);
    CHECK(m.len > 0);
    if (!m.len) return;
    /* The reference: libheif's own 8-bit interleaved RGB of the same file. */
    struct heif_context *ctx = heif_context_alloc();
    struct heif_image_handle *h = NULL;
    struct heif_image *ref = NULL;
    CHECK(heif_context_read_from_memory_without_copy(ctx, m.buf, m.len, NULL).code == heif_error_Ok);
    CHECK(heif_context_get_primary_image_handle(ctx, &h).code == heif_error_Ok);
    CHECK(heif_image_handle_get_luma_bits_per_pixel(h) == 10);
    struct heif_decoding_options *o = heif_decoding_options_alloc();
    o->convert_hdr_to_8bit = 1;
    CHECK(heif_decode_image(h, &ref, heif_colorspace_RGB, heif_chroma_interleaved_RGB, o).code ==
          heif_error_Ok);
    heif_decoding_options_free(o);
    cs_image img;
    cs_error err = {0};
    CHECK_OK(decode(&m, true, 0, &img, &err), &err);
    int stride;
    const uint8_t *p = heif_image_get_plane_readonly(ref, heif_channel_interleaved, &stride);
    int diff = 0;
    for (int y = 0; y < H && img.rgb; y++)
        diff |= memcmp(img.rgb + (size_t)y * W * 3, p + (size_t)y * stride, W * 3);
    CHECK_MSG(diff == 0, "10-bit HEIC differs from libheif's 8-bit output");
    cs_image_free(&img);
    heif_image_release(ref);
    heif_image_handle_release(h);
    heif_context_free(ctx);
    free(m.buf);
}

int main(void)
{
    test_orientations(heif_compression_HEVC, "HEIC");
    test_orientations(heif_compression_AV1, "AVIF");
    test_10bit();
    return TEST_RESULT();
}
