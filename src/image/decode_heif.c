/* HEIC/HEIF and AVIF via libheif (HEVC through libde265, AV1 through dav1d/aom, whatever
 * Debian's libheif was built with). The primary image, decoded to libheif's 8-bit
 * interleaved RGB: 10/12-bit images are reduced by libheif itself (convert_hdr_to_8bit),
 * which is what pillow-heif hands a Python user, and alpha is dropped as in
 * convert("RGB"). The container's transformations (irot, imir, clap) are the HEIF
 * orientation: applied unless the caller asked for stored pixels (apply_orientation
 * false), in which case they are all ignored, as for an EXIF orientation. The EXIF block
 * inside a HEIF is never applied on top (pillow-heif does not either: irot already is
 * the orientation). */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libheif/heif.h>

#include "image/image_internal.h"

static int heif_fail(const cs__decode_req *req, struct heif_error e, cs_error *err)
{
    int code = CS_E_FORMAT;
    if (e.code == heif_error_Unsupported_feature || e.code == heif_error_Unsupported_filetype)
        code = CS_E_UNSUPPORTED;
    else if (e.code == heif_error_Memory_allocation_error)
        code = CS_E_NOMEM;
    return cs_error_set(err, code, "%s: %s HEIF/AVIF: %s", req->name,
                        code == CS_E_UNSUPPORTED ? "unsupported" : "corrupt",
                        e.message ? e.message : "decode error");
}

/* libheif >= 1.16 (Debian trixie on) ships its decoders as plugins that only
 * heif_init() loads; 1.15's are built in and heif_init() is harmless. Once per process,
 * never undone: the decoders are used until exit, from any thread. */
static pthread_once_t heif_once = PTHREAD_ONCE_INIT;

static void heif_init_once(void)
{
    (void)heif_init(NULL);
}

/* Opens the primary image. *ctx and *h are set on success (free both). */
static int open_primary(const cs__decode_req *req, struct heif_context **ctx,
                        struct heif_image_handle **h, cs_error *err)
{
    *h = NULL;
    pthread_once(&heif_once, heif_init_once);
    *ctx = heif_context_alloc();
    if (!*ctx) return cs_error_set(err, CS_E_NOMEM, "%s: out of memory", req->name);
    /* libheif's own bound on width and height (checked before decoding tiles); the exact
     * pixel limit is ours, below. */
    uint64_t side = req->max_pixels < INT_MAX ? req->max_pixels : INT_MAX;
    heif_context_set_maximum_image_size_limit(*ctx, (int)side);
    struct heif_error e = heif_context_read_from_memory_without_copy(*ctx, req->data, req->len, NULL);
    if (e.code == heif_error_Ok) e = heif_context_get_primary_image_handle(*ctx, h);
    if (e.code != heif_error_Ok) {
        /* e.message may point into the context: report before freeing it. */
        int rc = heif_fail(req, e, err);
        heif_context_free(*ctx);
        *ctx = NULL;
        return rc;
    }
    return 0;
}

int cs__probe_heif(const cs__decode_req *req, cs_image_info *info, cs_error *err)
{
    struct heif_context *ctx;
    struct heif_image_handle *h;
    int rc = open_primary(req, &ctx, &h, err);
    if (rc != 0) return rc;
    /* The size as displayed (after irot): what the decode will produce. */
    info->width = heif_image_handle_get_width(h);
    info->height = heif_image_handle_get_height(h);
    heif_image_handle_release(h);
    heif_context_free(ctx);
    return cs__check_size(req, (uint64_t)(info->width > 0 ? info->width : 0),
                          (uint64_t)(info->height > 0 ? info->height : 0), err);
}

int cs__decode_heif(const cs__decode_req *req, cs_image *out, cs_image_info *info,
                    cs_error *err)
{
    struct heif_context *ctx;
    struct heif_image_handle *h;
    int rc = open_primary(req, &ctx, &h, err);
    if (rc != 0) return rc;
    /* The coded size bounds the decode's memory whatever the transformations do. */
    int iw = heif_image_handle_get_ispe_width(h), ih = heif_image_handle_get_ispe_height(h);
    int w = heif_image_handle_get_width(h), hh = heif_image_handle_get_height(h);
    rc = cs__check_size(req, (uint64_t)(iw > 0 ? iw : 0), (uint64_t)(ih > 0 ? ih : 0), err);
    if (rc == 0) rc = cs__check_size(req, (uint64_t)(w > 0 ? w : 0), (uint64_t)(hh > 0 ? hh : 0), err);
    struct heif_image *img = NULL;
    if (rc == 0) {
        struct heif_decoding_options *o = heif_decoding_options_alloc();
        if (!o) {
            rc = cs_error_set(err, CS_E_NOMEM, "%s: out of memory", req->name);
        } else {
            o->ignore_transformations = req->apply_orientation ? 0 : 1;
            o->convert_hdr_to_8bit = 1;
            struct heif_error e = heif_decode_image(h, &img, heif_colorspace_RGB,
                                                    heif_chroma_interleaved_RGB, o);
            heif_decoding_options_free(o);
            if (e.code != heif_error_Ok) rc = heif_fail(req, e, err);
        }
    }
    if (rc == 0) {
        int stride = 0;
        const uint8_t *p = heif_image_get_plane_readonly(img, heif_channel_interleaved, &stride);
        int ow = heif_image_get_width(img, heif_channel_interleaved);
        int oh = heif_image_get_height(img, heif_channel_interleaved);
        if (!p || ow <= 0 || oh <= 0 || stride < ow * 3)
            rc = cs_error_set(err, CS_E_FORMAT, "%s: corrupt HEIF/AVIF: no RGB plane", req->name);
        else
            rc = cs__image_alloc(out, ow, oh, req->name, err);
        for (int y = 0; rc == 0 && y < oh; y++)
            memcpy(out->rgb + (size_t)y * ow * 3, p + (size_t)y * stride, (size_t)ow * 3);
        if (rc == 0) info->width = ow, info->height = oh;
    }
    heif_image_release(img);
    heif_image_handle_release(h);
    heif_context_free(ctx);
    return rc;
}
