/* Convenience entry point: preprocess one decoded image, then the vision tower. Kept
 * apart from model.c so that only callers of this function link the preprocessing. */
#include <stdlib.h>

#include "clip/model.h"

int cs_clip_embed_image(const cs_clip *m, const cs_image *img, float *out, cs_error *err)
{
    size_t s = (size_t)m->cfg.vision.image_size;
    float *px = malloc(3 * s * s * sizeof(float));
    if (!px) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    int rc = cs_preprocess_image(&m->pp, img, px, err);
    if (!rc) rc = cs__vision_forward(m, px, 1, out, err);
    free(px);
    return rc;
}
