/* JPEG XL via libjxl's decoder: the first displayed frame (coalesced, as djxl shows it),
 * 8-bit RGB in the colour space libjxl decodes to without a colour-management system
 * (what djxl writes), alpha dropped. The codestream's orientation field is JPEG XL's EXIF
 * orientation: libjxl applies it unless the caller asked for stored pixels. */
#include <stdlib.h>
#include <string.h>

#include <jxl/decode.h>

#include "image/image_internal.h"

typedef struct jxl_run {
    const cs__decode_req *req;
    JxlDecoder *dec;
    JxlBasicInfo bi;
    bool have_info;
} jxl_run;

static int jxl_fail(const cs__decode_req *req, const char *what, cs_error *err)
{
    return cs_error_set(err, CS_E_FORMAT, "%s: corrupt JPEG XL: %s", req->name, what);
}

/* Runs the decoder until the basic info (probe) or the first full frame (decode). out
 * NULL = probe only. */
static int run(const cs__decode_req *req, bool keep_orientation, cs_image *out,
               cs_image_info *info, cs_error *err)
{
    JxlDecoder *dec = JxlDecoderCreate(NULL);
    if (!dec) return cs_error_set(err, CS_E_NOMEM, "%s: out of memory", req->name);
    int events = JXL_DEC_BASIC_INFO | (out ? JXL_DEC_FULL_IMAGE : 0);
    int rc = 0;
    if (JxlDecoderSubscribeEvents(dec, events) != JXL_DEC_SUCCESS ||
        JxlDecoderSetKeepOrientation(dec, keep_orientation ? JXL_TRUE : JXL_FALSE) !=
            JXL_DEC_SUCCESS ||
        JxlDecoderSetInput(dec, req->data, req->len) != JXL_DEC_SUCCESS) {
        JxlDecoderDestroy(dec);
        return jxl_fail(req, "decoder setup failed", err);
    }
    JxlDecoderCloseInput(dec);
    JxlPixelFormat fmt = {3, JXL_TYPE_UINT8, JXL_NATIVE_ENDIAN, 0};
    JxlBasicInfo bi;
    bool have_info = false, done = false;
    while (rc == 0 && !done) {
        JxlDecoderStatus s = JxlDecoderProcessInput(dec);
        switch (s) {
        case JXL_DEC_BASIC_INFO:
            if (JxlDecoderGetBasicInfo(dec, &bi) != JXL_DEC_SUCCESS) {
                rc = jxl_fail(req, "no basic info", err);
                break;
            }
            have_info = true;
            /* Both the coded and the displayed size must be within the limit: the first
             * bounds the decoder's buffers, the second ours. */
            rc = cs__check_size(req, bi.xsize, bi.ysize, err);
            if (rc == 0 && !out) {
                /* xsize/ysize are already the displayed (oriented) size unless kept. */
                info->width = (int)bi.xsize;
                info->height = (int)bi.ysize;
                done = true;
            }
            break;
        case JXL_DEC_NEED_IMAGE_OUT_BUFFER: {
            size_t need = 0;
            if (!have_info || JxlDecoderImageOutBufferSize(dec, &fmt, &need) != JXL_DEC_SUCCESS ||
                need != (size_t)bi.xsize * bi.ysize * 3) {
                rc = jxl_fail(req, "unexpected output size", err);
                break;
            }
            rc = cs__image_alloc(out, (int)bi.xsize, (int)bi.ysize, req->name, err);
            if (rc == 0 && JxlDecoderSetImageOutBuffer(dec, &fmt, out->rgb, need) != JXL_DEC_SUCCESS)
                rc = jxl_fail(req, "output buffer refused", err);
            break;
        }
        case JXL_DEC_FULL_IMAGE:
            info->width = (int)bi.xsize;
            info->height = (int)bi.ysize;
            done = true;   /* the first frame is the image */
            break;
        case JXL_DEC_NEED_MORE_INPUT: rc = jxl_fail(req, "file is truncated", err); break;
        case JXL_DEC_SUCCESS:
            if (!done) rc = jxl_fail(req, "no image in the file", err);
            done = true;
            break;
        case JXL_DEC_ERROR: rc = jxl_fail(req, "bitstream error", err); break;
        default: break;   /* events we did not subscribe to are not delivered */
        }
    }
    JxlDecoderDestroy(dec);
    return rc;
}

int cs__probe_jxl(const cs__decode_req *req, cs_image_info *info, cs_error *err)
{
    return run(req, false, NULL, info, err);
}

int cs__decode_jxl(const cs__decode_req *req, cs_image *out, cs_image_info *info, cs_error *err)
{
    return run(req, !req->apply_orientation, out, info, err);
}
