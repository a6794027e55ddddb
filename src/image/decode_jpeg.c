/* JPEG via libjpeg-turbo with PIL's settings (ISLOW IDCT, fancy upsampling: the library
 * defaults, which PIL keeps unless draft() is called), so the pixels are identical to
 * PIL + libjpeg-turbo. Errors longjmp out of libjpeg; warnings are silent, except that
 * running out of data before the last scanline is an error, as in PIL without
 * LOAD_TRUNCATED_IMAGES. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "image/image_internal.h"

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    int hit_eof;            /* libjpeg inserted a fake EOI: the data ended early */
    char msg[JMSG_LENGTH_MAX];
} jerr_mgr;

static void on_error_exit(j_common_ptr c)
{
    jerr_mgr *e = (jerr_mgr *)c->err;
    (*c->err->format_message)(c, e->msg);
    longjmp(e->jb, 1);
}

static void on_emit(j_common_ptr c, int level)
{
    jerr_mgr *e = (jerr_mgr *)c->err;
    if (level < 0) {
        if (c->err->msg_code == JWRN_JPEG_EOF) e->hit_eof = 1;
        c->err->num_warnings++;
    }
}

static void on_output(j_common_ptr c)
{
    (void)c; /* the library never prints */
}

typedef struct {
    struct jpeg_decompress_struct cinfo;
    jerr_mgr jerr;
    uint8_t *row;
    int created;
} jpeg_job;

static void job_free(jpeg_job *j)
{
    if (j->created) jpeg_destroy_decompress(&j->cinfo);
    free(j->row);
    free(j);
}

static jpeg_job *job_new(const cs__decode_req *req)
{
    jpeg_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->cinfo.err = jpeg_std_error(&j->jerr.pub);
    j->jerr.pub.error_exit = on_error_exit;
    j->jerr.pub.emit_message = on_emit;
    j->jerr.pub.output_message = on_output;
    return j;
}

/* jpeg_create_decompress can itself longjmp (out of memory), so the caller sets the jump
 * target first. */
static void job_start(jpeg_job *j, const cs__decode_req *req)
{
    jpeg_create_decompress(&j->cinfo);
    j->created = 1;
    jpeg_mem_src(&j->cinfo, req->data, (unsigned long)req->len);
    jpeg_read_header(&j->cinfo, TRUE);
}

int cs__probe_jpeg(const cs__decode_req *req, cs_image_info *info, cs_error *err)
{
    jpeg_job *j = job_new(req);
    if (!j) return cs_error_set(err, CS_E_NOMEM, "%s: out of memory", req->name);
    if (setjmp(j->jerr.jb)) {
        int rc = cs_error_set(err, CS_E_FORMAT, "%s: corrupt JPEG: %s", req->name, j->jerr.msg);
        job_free(j);
        return rc;
    }
    job_start(j, req);
    if (j->jerr.hit_eof) {
        job_free(j);
        return cs_error_set(err, CS_E_FORMAT, "%s: JPEG header is truncated", req->name);
    }
    info->width = (int)j->cinfo.image_width;
    info->height = (int)j->cinfo.image_height;
    job_free(j);
    return 0;
}

/* PIL's CMYK -> RGB (Convert.c cmyk2rgb) on Adobe-inverted samples (PIL's "CMYK;I"). */
static inline uint8_t cmyk_channel(int c, int nk)
{
    int tmp = c * nk + 128;
    int v = nk - (((tmp >> 8) + tmp) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

int cs__decode_jpeg(const cs__decode_req *req, cs_image *out, cs_image_info *info, cs_error *err)
{
    jpeg_job *j = job_new(req);
    if (!j) return cs_error_set(err, CS_E_NOMEM, "%s: out of memory", req->name);
    if (setjmp(j->jerr.jb)) {
        int rc = cs_error_set(err, CS_E_FORMAT, "%s: corrupt JPEG: %s", req->name, j->jerr.msg);
        job_free(j);
        cs_image_free(out);
        return rc;
    }
    job_start(j, req);
    struct jpeg_decompress_struct *ci = &j->cinfo;
    if (j->jerr.hit_eof) {
        job_free(j);
        return cs_error_set(err, CS_E_FORMAT, "%s: JPEG header is truncated", req->name);
    }
    info->width = (int)ci->image_width;
    info->height = (int)ci->image_height;
    int rc = cs__check_size(req, ci->image_width, ci->image_height, err);
    if (rc != 0) {
        job_free(j);
        return rc;
    }
    int ncomp = ci->num_components;
    int cmyk = 0;
    if (ncomp == 1) {
        ci->out_color_space = JCS_GRAYSCALE;
    } else if (ncomp == 3) {
        ci->out_color_space = JCS_RGB;
    } else if (ncomp == 4) {
        ci->out_color_space = JCS_CMYK; /* libjpeg turns YCCK into CMYK */
        cmyk = 1;
    } else {
        job_free(j);
        return cs_error_set(err, CS_E_UNSUPPORTED, "%s: JPEG with %d components is not supported",
                            req->name, ncomp);
    }
    /* PIL defaults, stated explicitly so a changed library default cannot move pixels. */
    ci->dct_method = JDCT_ISLOW;
    ci->do_fancy_upsampling = TRUE;
    if (req->fast_jpeg_downscale) {
        unsigned short_side = ci->image_width < ci->image_height ? ci->image_width
                                                                 : ci->image_height;
        unsigned denom = 1;
        while (denom < 8 && short_side / (denom * 2) >= (unsigned)req->jpeg_min_side) denom *= 2;
        ci->scale_num = 1;
        ci->scale_denom = denom;
    }
    jpeg_start_decompress(ci);
    int w = (int)ci->output_width, h = (int)ci->output_height;
    if (cs__image_alloc(out, w, h, req->name, err) != 0) {
        job_free(j);
        return CS_E_NOMEM;
    }
    size_t row_bytes = (size_t)w * (size_t)ci->output_components;
    j->row = malloc(row_bytes);
    if (!j->row) {
        job_free(j);
        cs_image_free(out);
        return cs_error_set(err, CS_E_NOMEM, "%s: out of memory", req->name);
    }
    while (ci->output_scanline < ci->output_height) {
        int y = (int)ci->output_scanline;
        uint8_t *dst = out->rgb + (size_t)y * w * 3;
        JSAMPROW rowp = ncomp == 3 ? dst : j->row;
        if (jpeg_read_scanlines(ci, &rowp, 1) != 1 || j->jerr.hit_eof) break;
        if (ncomp == 1) {
            for (int x = 0; x < w; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = j->row[x];
        } else if (cmyk) {
            const uint8_t *s = j->row;
            for (int x = 0; x < w; x++, s += 4) {
                /* libjpeg gives Adobe (inverted) samples; PIL's "CMYK;I" unpacker
                 * inverts them back, so C = 255 - raw and 255 - K = raw K. */
                int nk = s[3];
                dst[3 * x] = cmyk_channel(255 - s[0], nk);
                dst[3 * x + 1] = cmyk_channel(255 - s[1], nk);
                dst[3 * x + 2] = cmyk_channel(255 - s[2], nk);
            }
        }
    }
    if (j->jerr.hit_eof || ci->output_scanline < ci->output_height) {
        job_free(j);
        cs_image_free(out);
        return cs_error_set(err, CS_E_FORMAT,
                            "%s: JPEG data is truncated (the file ends before the image does)",
                            req->name);
    }
    /* Trailing garbage or a missing EOI after the last scanline is accepted (PIL too). */
    job_free(j);
    return 0;
}
