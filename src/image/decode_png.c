/* PNG via libpng, converted to RGB the way PIL 9.4 opens the file and then calls
 * convert("RGB"):
 *   - palette: looked up in a 256-entry table that starts as a grey ramp (PIL's palette
 *     before putpalette), tRNS ignored;
 *   - grey 1/2/4 bit: scaled to 0..255 (x255, x85, x17), replicated;
 *   - grey 16 bit: PIL opens it as mode "I" and I -> RGB clamps to 0..255, so any value
 *     >= 255 becomes white (yes, really: that is what the reference pipeline sees);
 *   - RGB/RGBA/LA 16 bit: PIL's unpackers keep the high byte;
 *   - alpha dropped, never composited; gamma and colour profiles ignored. */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_internal.h"

typedef struct {
    const uint8_t *data;
    size_t len, pos;
    const char *name;
    int oom;         /* the jump was our own allocation failure, not a bad file */
    char msg[256];
    jmp_buf jb;
} png_src;

static void on_error(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    longjmp(s->jb, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* the library never prints */
}

static void on_read(png_structp png, png_bytep out, png_size_t n)
{
    png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) png_error(png, "file is truncated");
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int cs__probe_png(const cs__decode_req *req, cs_image_info *info, cs_error *err)
{
    /* Signature (8) + IHDR length (4) + "IHDR" (4) + width (4) + height (4). */
    if (req->len < 24 || memcmp(req->data + 12, "IHDR", 4) != 0)
        return cs_error_set(err, CS_E_FORMAT, "%s: PNG header is missing or truncated",
                            req->name);
    info->width = (int)(be32(req->data + 16) & 0x7fffffff);
    info->height = (int)(be32(req->data + 20) & 0x7fffffff);
    if (info->width == 0 || info->height == 0)
        return cs_error_set(err, CS_E_FORMAT, "%s: PNG has zero width or height", req->name);
    return 0;
}

/* One decoded row (after libpng's transforms) -> RGB. */
static void convert_row(const uint8_t *in, uint8_t *out, int w, int color, int depth,
                        const uint8_t *pal)
{
    int x;
    switch (color) {
    case PNG_COLOR_TYPE_PALETTE:
        for (x = 0; x < w; x++) memcpy(out + 3 * x, pal + 3 * in[x], 3);
        break;
    case PNG_COLOR_TYPE_GRAY:
        if (depth == 16) {
            for (x = 0; x < w; x++) {
                uint8_t v = in[2 * x] ? 255 : in[2 * x + 1];
                out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = v;
            }
        } else {
            for (x = 0; x < w; x++) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[x];
        }
        break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: /* stripped to 8 bits: G A */
        for (x = 0; x < w; x++) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[2 * x];
        break;
    case PNG_COLOR_TYPE_RGB:
        memcpy(out, in, (size_t)w * 3);
        break;
    case PNG_COLOR_TYPE_RGB_ALPHA:
        for (x = 0; x < w; x++) memcpy(out + 3 * x, in + 4 * x, 3);
        break;
    }
}

/* Everything that must survive longjmp lives in this struct (not in locals). */
typedef struct {
    png_structp png;
    png_infop pinfo;
    uint8_t *rows;   /* whole raw image (interlaced) or one row */
    png_bytep *ptrs;
} png_job;

static void job_free(png_job *j)
{
    if (j->png) png_destroy_read_struct(&j->png, j->pinfo ? &j->pinfo : NULL, NULL);
    free(j->rows);
    free(j->ptrs);
}

int cs__decode_png(const cs__decode_req *req, cs_image *out, cs_image_info *info, cs_error *err)
{
    int rc = cs__probe_png(req, info, err);
    if (rc != 0) return rc;
    /* The pixel limit is checked on the raw IHDR, before libpng allocates anything. */
    rc = cs__check_size(req, (uint64_t)be32(req->data + 16), (uint64_t)be32(req->data + 20),
                        err);
    if (rc != 0) return rc;

    png_src src = {.data = req->data, .len = req->len, .pos = 0, .name = req->name};
    png_job *job = calloc(1, sizeof *job);
    if (!job) return cs_error_set(err, CS_E_NOMEM, "%s: out of memory", req->name);
    job->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, on_error, on_warning);
    if (!job->png || !(job->pinfo = png_create_info_struct(job->png))) {
        job_free(job);
        free(job);
        return cs_error_set(err, CS_E_NOMEM, "%s: out of memory", req->name);
    }
    if (setjmp(src.jb)) {
        job_free(job);
        free(job);
        cs_image_free(out);
        if (src.oom)
            return cs_error_set(err, CS_E_NOMEM, "%s: out of memory decoding PNG", req->name);
        return cs_error_set(err, CS_E_FORMAT, "%s: corrupt PNG: %s", req->name, src.msg);
    }
    png_structp png = job->png;
    png_infop pi = job->pinfo;
    png_set_read_fn(png, &src, on_read);
    /* Our own pixel limit replaces libpng's 1,000,000-per-side default. */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_set_benign_errors(png, 1);
    png_read_info(png, pi);

    png_uint_32 w32, h32;
    int depth, color, interlace;
    png_get_IHDR(png, pi, &w32, &h32, &depth, &color, &interlace, NULL, NULL);
    int w = (int)w32, h = (int)h32;

    uint8_t pal[256 * 3];
    cs__palette_init_ramp(pal);
    if (color == PNG_COLOR_TYPE_PALETTE) {
        png_colorp plte = NULL;
        int n = 0;
        if (png_get_PLTE(png, pi, &plte, &n) && plte) {
            for (int i = 0; i < n && i < 256; i++) {
                pal[3 * i] = plte[i].red;
                pal[3 * i + 1] = plte[i].green;
                pal[3 * i + 2] = plte[i].blue;
            }
        }
        if (depth < 8) png_set_packing(png); /* one index per byte */
    } else if (color == PNG_COLOR_TYPE_GRAY && depth < 8) {
        png_set_expand_gray_1_2_4_to_8(png);
    }
    /* 16-bit grey keeps both bytes (clamped below); every other 16-bit type keeps the
     * high byte, as PIL's ";16B" unpackers do. */
    if (depth == 16 && color != PNG_COLOR_TYPE_GRAY) png_set_strip_16(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, pi);
    size_t rowbytes = png_get_rowbytes(png, pi);

    if (cs__image_alloc(out, w, h, req->name, err) != 0) {
        job_free(job);
        free(job);
        return err ? err->code : CS_E_NOMEM;
    }
    if (passes == 1) {
        job->rows = malloc(rowbytes);
        if (!job->rows) {
            src.oom = 1;
            png_error(png, "out of memory");
        }
        for (int y = 0; y < h; y++) {
            png_read_row(png, job->rows, NULL);
            convert_row(job->rows, out->rgb + (size_t)y * w * 3, w, color, depth, pal);
        }
    } else {
        /* Interlaced: libpng needs the whole image to combine the passes. */
        job->rows = malloc(rowbytes * (size_t)h);
        job->ptrs = malloc(sizeof(png_bytep) * (size_t)h);
        if (!job->rows || !job->ptrs) {
            src.oom = 1;
            png_error(png, "out of memory");
        }
        for (int y = 0; y < h; y++) job->ptrs[y] = job->rows + rowbytes * (size_t)y;
        png_read_image(png, job->ptrs);
        for (int y = 0; y < h; y++)
            convert_row(job->ptrs[y], out->rgb + (size_t)y * w * 3, w, color, depth, pal);
    }
    /* The trailing chunks (IEND) are not needed for the pixels; PIL does not insist on
     * them either. */
    job_free(job);
    free(job);
    return 0;
}
