/* EXIF orientation as PIL's ImageOps.exif_transpose applies it:
 *   2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE,
 *   6 ROTATE_270 (90 deg clockwise), 7 TRANSVERSE, 8 ROTATE_90 (90 deg counter-clockwise). */
#include <string.h>

#include "image/image_internal.h"

int cs_image_apply_orientation(const cs_image *in, int orientation, cs_image *out,
                               cs_error *err)
{
    out->rgb = NULL;
    out->width = out->height = 0;
    if (orientation < 1 || orientation > 8)
        return cs_error_set(err, CS_E_ARG, "EXIF orientation %d is not in 1..8", orientation);
    if (!in || !in->rgb || in->width <= 0 || in->height <= 0)
        return cs_error_set(err, CS_E_ARG, "orientation: empty input image");
    int W = in->width, H = in->height;
    int swap = orientation >= 5;
    int ow = swap ? H : W, oh = swap ? W : H;
    int rc = cs__image_alloc(out, ow, oh, "orientation", err);
    if (rc != 0) return rc;
    for (int y = 0; y < H; y++) {
        const uint8_t *src = in->rgb + (size_t)y * W * 3;
        for (int x = 0; x < W; x++) {
            int ox, oy; /* where source pixel (x, y) lands */
            switch (orientation) {
            case 2: ox = W - 1 - x; oy = y; break;
            case 3: ox = W - 1 - x; oy = H - 1 - y; break;
            case 4: ox = x; oy = H - 1 - y; break;
            case 5: ox = y; oy = x; break;
            case 6: ox = H - 1 - y; oy = x; break;
            case 7: ox = H - 1 - y; oy = W - 1 - x; break;
            case 8: ox = y; oy = W - 1 - x; break;
            default: ox = x; oy = y; break;
            }
            memcpy(out->rgb + ((size_t)oy * ow + ox) * 3, src + (size_t)x * 3, 3);
        }
    }
    return 0;
}
