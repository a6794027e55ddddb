/* WebP via libwebp. PIL 9.4 decodes through WebPAnimDecoder (RGBA, or RGBX without
 * alpha) and drops alpha in convert("RGB"); for a still image that is exactly a plain
 * decode's RGB, so stills use WebPDecodeRGBInto and only animations use the animation
 * decoder (first frame, composited on a transparent-black canvas as libwebp does). */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

#include "image/image_internal.h"

static const char *status_text(VP8StatusCode s)
{
    switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "file is truncated";
    default: return "error";
    }
}

static int features(const cs__decode_req *req, WebPBitstreamFeatures *f, int *cw, int *ch,
                    cs_error *err)
{
    VP8StatusCode s = WebPGetFeatures(req->data, req->len, f);
    if (s != VP8_STATUS_OK)
        return cs_error_set(err, CS_E_FORMAT, "%s: corrupt WebP header: %s", req->name,
                            status_text(s));
    *cw = f->width;
    *ch = f->height;
    if (f->has_animation) {
        /* The canvas, not the first frame, is the image size. */
        WebPData wd = {req->data, req->len};
        WebPDemuxer *dm = WebPDemux(&wd);
        if (!dm)
            return cs_error_set(err, CS_E_FORMAT, "%s: corrupt animated WebP", req->name);
        *cw = (int)WebPDemuxGetI(dm, WEBP_FF_CANVAS_WIDTH);
        *ch = (int)WebPDemuxGetI(dm, WEBP_FF_CANVAS_HEIGHT);
        WebPDemuxDelete(dm);
    }
    if (*cw <= 0 || *ch <= 0)
        return cs_error_set(err, CS_E_FORMAT, "%s: WebP has zero width or height", req->name);
    return 0;
}

int cs__probe_webp(const cs__decode_req *req, cs_image_info *info, cs_error *err)
{
    WebPBitstreamFeatures f;
    return features(req, &f, &info->width, &info->height, err);
}

static int decode_anim_first(const cs__decode_req *req, cs_image *out, cs_error *err)
{
    WebPAnimDecoderOptions o;
    if (!WebPAnimDecoderOptionsInit(&o))
        return cs_error_set(err, CS_E_INTERNAL, "%s: libwebp version mismatch", req->name);
    o.color_mode = MODE_RGBA;
    o.use_threads = 0;
    WebPData wd = {req->data, req->len};
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&wd, &o);
    if (!dec) return cs_error_set(err, CS_E_FORMAT, "%s: corrupt animated WebP", req->name);
    uint8_t *buf = NULL;
    int ts = 0;
    if (!WebPAnimDecoderGetNext(dec, &buf, &ts) || !buf) {
        WebPAnimDecoderDelete(dec);
        return cs_error_set(err, CS_E_FORMAT, "%s: cannot decode the first WebP frame",
                            req->name);
    }
    size_t n = (size_t)out->width * out->height;
    for (size_t i = 0; i < n; i++) memcpy(out->rgb + i * 3, buf + i * 4, 3);
    WebPAnimDecoderDelete(dec);
    return 0;
}

int cs__decode_webp(const cs__decode_req *req, cs_image *out, cs_image_info *info, cs_error *err)
{
    WebPBitstreamFeatures f;
    int rc = features(req, &f, &info->width, &info->height, err);
    if (rc != 0) return rc;
    rc = cs__check_size(req, (uint64_t)info->width, (uint64_t)info->height, err);
    if (rc != 0) return rc;
    rc = cs__image_alloc(out, info->width, info->height, req->name, err);
    if (rc != 0) return rc;
    if (f.has_animation) {
        rc = decode_anim_first(req, out, err);
        if (rc != 0) cs_image_free(out);
        return rc;
    }
    size_t size = (size_t)info->width * info->height * 3;
    if (!WebPDecodeRGBInto(req->data, req->len, out->rgb, size, info->width * 3)) {
        cs_image_free(out);
        /* Say why: a second, header-only look distinguishes truncation from corruption. */
        WebPDecoderConfig cfg;
        VP8StatusCode s = VP8_STATUS_BITSTREAM_ERROR;
        if (WebPInitDecoderConfig(&cfg)) {
            cfg.options.use_threads = 0;
            cfg.output.colorspace = MODE_RGB;
            s = WebPDecode(req->data, req->len, &cfg);
            WebPFreeDecBuffer(&cfg.output);
        }
        return cs_error_set(err, CS_E_FORMAT, "%s: corrupt WebP: %s", req->name,
                            status_text(s == VP8_STATUS_OK ? VP8_STATUS_BITSTREAM_ERROR : s));
    }
    return 0;
}
