/* Camera RAW (CR2, CR3, NEF, ARW, DNG, RAF, ORF, RW2, ...) via libraw: not demosaiced,
 * but the largest embedded preview the camera wrote (libraw picks it while parsing), a
 * JPEG decoded by our JPEG decoder or an 8-bit bitmap. What a photo browser shows, at a
 * fraction of the cost, and plenty for CLIP's 224 pixels. The preview is stored in sensor
 * orientation; the RAW's own flip (libraw's sizes.flip) is its orientation, reported
 * like an EXIF orientation and applied by decode.c. */
#include <stdlib.h>
#include <string.h>

#include <libraw/libraw.h>

#include "image/image_internal.h"

/* libraw's flip (0, 3, 5, 6) as an EXIF orientation. */
static int flip_to_orientation(int flip)
{
    switch (flip) {
    case 3: return 3;
    case 5: return 8;   /* 90 degrees counter-clockwise */
    case 6: return 6;
    default: return 1;
    }
}

static int raw_fail(const cs__decode_req *req, int e, cs_error *err)
{
    int code = e == LIBRAW_FILE_UNSUPPORTED ? CS_E_UNSUPPORTED
               : e == LIBRAW_UNSUFFICIENT_MEMORY ? CS_E_NOMEM
                                                 : CS_E_FORMAT;
    return cs_error_set(err, code, "%s: %s camera RAW: %s", req->name,
                        code == CS_E_UNSUPPORTED ? "unsupported" : "corrupt",
                        e == LIBRAW_NO_THUMBNAIL ? "no embedded preview" : libraw_strerror(e));
}

/* Opens the file and unpacks its preview; *lr is set on success (libraw_close it). */
static int open_preview(const cs__decode_req *req, libraw_data_t **lr, cs_error *err)
{
    /* No callbacks: libraw's defaults print to stderr; errors come back as codes. */
    *lr = libraw_init(LIBRAW_OPIONS_NO_MEMERR_CALLBACK | LIBRAW_OPIONS_NO_DATAERR_CALLBACK);
    if (!*lr) return cs_error_set(err, CS_E_NOMEM, "%s: out of memory", req->name);
    /* libraw only reads the buffer; the API is not const-qualified. */
    int e = libraw_open_buffer(*lr, (void *)req->data, req->len);
    if (e == LIBRAW_SUCCESS) e = libraw_unpack_thumb(*lr);
    if (e != LIBRAW_SUCCESS) {
        libraw_close(*lr);
        *lr = NULL;
        return raw_fail(req, e, err);
    }
    return 0;
}

int cs__probe_raw(const cs__decode_req *req, cs_image_info *info, cs_error *err)
{
    libraw_data_t *lr;
    int rc = open_preview(req, &lr, err);
    if (rc != 0) return rc;
    info->width = lr->thumbnail.twidth;
    info->height = lr->thumbnail.theight;
    info->exif_orientation = flip_to_orientation(lr->sizes.flip);
    libraw_close(lr);
    return cs__check_size(req, (uint64_t)(info->width > 0 ? info->width : 0),
                          (uint64_t)(info->height > 0 ? info->height : 0), err);
}

int cs__decode_raw(const cs__decode_req *req, cs_image *out, cs_image_info *info, cs_error *err)
{
    libraw_data_t *lr;
    int rc = open_preview(req, &lr, err);
    if (rc != 0) return rc;
    int e = 0;
    libraw_processed_image_t *th = libraw_dcraw_make_mem_thumb(lr, &e);
    if (!th) rc = raw_fail(req, e ? e : LIBRAW_NO_THUMBNAIL, err);
    else if (th->type == LIBRAW_IMAGE_JPEG) {
        cs__decode_req sub = *req;
        sub.data = th->data;
        sub.len = th->data_size;
        cs_image_info ji = {0};
        rc = cs__decode_jpeg(&sub, out, &ji, err);
        if (rc == 0) info->width = ji.width, info->height = ji.height;
    } else if (th->type == LIBRAW_IMAGE_BITMAP && th->colors == 3 && th->bits == 8 &&
               (size_t)th->data_size >= (size_t)th->width * th->height * 3) {
        rc = cs__check_size(req, th->width, th->height, err);
        if (rc == 0) rc = cs__image_alloc(out, th->width, th->height, req->name, err);
        if (rc == 0) {
            memcpy(out->rgb, th->data, (size_t)th->width * th->height * 3);
            info->width = th->width;
            info->height = th->height;
        }
    } else {
        rc = cs_error_set(err, CS_E_UNSUPPORTED,
                          "%s: unsupported camera RAW: embedded preview of an unknown kind",
                          req->name);
    }
    if (rc == 0) info->exif_orientation = flip_to_orientation(lr->sizes.flip);
    if (th) libraw_dcraw_clear_mem(th);
    libraw_close(lr);
    return rc;
}
