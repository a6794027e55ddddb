/* Vision tower: patch embedding as one GEMM over im2col'd patches, [CLS] + positions,
 * pre_layrnorm, encoder, post_layernorm on CLS, visual_projection (skipped when the caller
 * wants the pooled features: fine-tuning the projection caches them). */
#include <stdlib.h>
#include <string.h>

#include "clip/kernels.h"
#include "clip/model.h"

/* Images per forward pass: large enough for efficient GEMMs, small enough that the
 * scratch stays around 100 MB for ViT-B/32. */
#define CS_VISION_CHUNK 32

/* Patches in row-major order (py, px); each patch flattened as (channel, ky, kx), the
 * memory order of the conv weight [D, C, P, P]. */
void cs__vision_im2col(const float *img, int size, int patch, int channels, float *out)
{
    int g = size / patch, k = channels * patch * patch;
    for (int py = 0; py < g; py++)
        for (int px = 0; px < g; px++) {
            float *dst = out + (size_t)(py * g + px) * k;
            for (int c = 0; c < channels; c++)
                for (int ky = 0; ky < patch; ky++)
                    memcpy(dst + (c * patch + ky) * patch,
                           img + ((size_t)c * size + (size_t)py * patch + ky) * size +
                               (size_t)px * patch,
                           (size_t)patch * sizeof(float));
        }
}

int cs__vision_embed(const cs_clip *m, const float *pixels, int b, float *x, cs_error *err)
{
    const cs__clip_tower_config *v = &m->cfg.vision;
    int d = v->hidden, s = v->image_size, p = v->patch_size, g = s / p, np = g * g, t = np + 1;
    int k = v->num_channels * p * p;
    size_t img_floats = (size_t)v->num_channels * s * s;
    if (b < 1) return 0;
    float *patches = malloc(((size_t)b * np * k + (size_t)b * np * d) * sizeof(float));
    if (!patches) return cs_error_set(err, CS_E_NOMEM, "vision: out of memory for %d images", b);
    float *emb = patches + (size_t)b * np * k;
    for (int i = 0; i < b; i++)
        cs__vision_im2col(pixels + i * img_floats, s, p, v->num_channels, patches + (size_t)i * np * k);
    cs__exec ex = cs__clip_exec(m);
    cs__linear(&ex, patches, k, b * np, k, m->patch_w, d, emb, d, false);
    for (int i = 0; i < b; i++) {
        float *xi = x + (size_t)i * t * d;
        for (int j = 0; j < d; j++) xi[j] = m->cls_emb[j] + m->vis_pos[j];
        for (int r = 1; r < t; r++) {
            const float *e = emb + ((size_t)i * np + r - 1) * d, *pe = m->vis_pos + (size_t)r * d;
            float *xr = xi + (size_t)r * d;
            for (int j = 0; j < d; j++) xr[j] = e[j] + pe[j];
        }
    }
    cs__layernorm(x, x, b * t, d, m->pre_ln_w, m->pre_ln_b, (float)v->ln_eps);
    free(patches);
    return 0;
}

static int vision_chunk(const cs_clip *m, const float *pixels, int b, bool project, float *out,
                        cs_error *err)
{
    const cs__clip_tower_config *v = &m->cfg.vision;
    int d = v->hidden, g = v->image_size / v->patch_size, t = g * g + 1;
    float *x = malloc(((size_t)b * t * d + (size_t)b * d) * sizeof(float));
    int *ints = malloc((size_t)b * 3 * sizeof(int));
    if (!x || !ints) {
        free(x);
        free(ints);
        return cs_error_set(err, CS_E_NOMEM, "vision: out of memory for %d images", b);
    }
    float *pooled = x + (size_t)b * t * d;
    int *starts = ints, *lens = ints + b, *pool = ints + 2 * b;
    for (int i = 0; i < b; i++) {
        starts[i] = i * t;
        lens[i] = t;
        pool[i] = i * t; /* CLS */
    }
    cs__exec ex = cs__clip_exec(m);
    int rc = cs__vision_embed(m, pixels, b, x, err);
    if (!rc)
        rc = cs__encoder_forward(&ex, v, m->vis_layers, x, b * t, starts, lens, b, false, pool,
                                pooled, err);
    if (!rc)
        cs__tower_head(&ex, m, pooled, b, d, m->post_ln_w, m->post_ln_b, (float)v->ln_eps,
                       m->vis_proj, project, out);
    free(x);
    free(ints);
    return rc;
}

static int vision_run(const cs_clip *m, const float *pixels, size_t n, bool project, float *out,
                      cs_error *err)
{
    const cs__clip_tower_config *v = &m->cfg.vision;
    size_t img_floats = (size_t)v->num_channels * v->image_size * v->image_size;
    size_t width = (size_t)(project ? m->cfg.projection_dim : v->hidden);
    for (size_t i = 0; i < n; i += CS_VISION_CHUNK) {
        int b = (int)(n - i < CS_VISION_CHUNK ? n - i : CS_VISION_CHUNK);
        int rc = vision_chunk(m, pixels + i * img_floats, b, project, out + i * width, err);
        if (rc) return rc;
    }
    return 0;
}

int cs__vision_forward(const cs_clip *m, const float *pixels, size_t n, float *out,
                      cs_error *err)
{
    return vision_run(m, pixels, n, true, out, err);
}

int cs__vision_pool(const cs_clip *m, const float *pixels, size_t n, float *out, cs_error *err)
{
    return vision_run(m, pixels, n, false, out, err);
}
