/* Binds checkpoint tensors (transformers' CLIPModel names) to the model, with every shape
 * implied by config.json checked against the file. Aligned F32 tensors are used in place
 * in the mapping; the others are widened once into a single arena. The binding runs
 * twice: a counting pass sizes the arena, a second pass fills it. The arena is one
 * anonymous mapping with transparent huge pages: for a 600 MB F16/BF16 ViT-B/32 most of
 * the load time is otherwise page faults. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "clip/model.h"

typedef struct {
    cs_clip *m;
    cs_error *err;
    int counting;
    size_t used;                      /* floats of the arena taken so far */
} binder;

/* Gets tensor `name` with the given shape (up to 4 dims; ndim 0 = scalar). */
static int get(binder *b, const float **dst, const char *name, int ndim, int64_t d0, int64_t d1,
               int64_t d2, int64_t d3)
{
    int64_t shape[4] = {d0, d1, d2, d3};
    const cs__st_tensor *t;
    int rc = cs__st_lookup_f32(&b->m->st, name, ndim, shape, &t, b->err);
    if (rc) return rc;
    *dst = cs__st_view_f32(&b->m->st, t);
    if (*dst) return 0;
    /* 16-float (64-byte) alignment for every copy */
    size_t n = (t->numel + 15) & ~(size_t)15;
    if (!b->counting) {
        float *p = b->m->arena + b->used;
        cs__st_copy_f32(&b->m->st, t, p);
        *dst = p;
    }
    b->used += n;
    return 0;
}

/* Every tensor of an encoder layer: its field, its name under "<tower>.encoder.layers.<l>."
 * and its shape, in units of the hidden (HID) and intermediate (MLP) sizes. */
enum { HID = -1, MLP = -2 };
static const struct {
    size_t field;
    const char *suffix;
    int ndim, d0, d1;
} LAYER_TENSORS[] = {
    {offsetof(cs__clip_layer, ln1_w), "layer_norm1.weight", 1, HID, 0},
    {offsetof(cs__clip_layer, ln1_b), "layer_norm1.bias", 1, HID, 0},
    {offsetof(cs__clip_layer, ln2_w), "layer_norm2.weight", 1, HID, 0},
    {offsetof(cs__clip_layer, ln2_b), "layer_norm2.bias", 1, HID, 0},
    {offsetof(cs__clip_layer, q_w), "self_attn.q_proj.weight", 2, HID, HID},
    {offsetof(cs__clip_layer, q_b), "self_attn.q_proj.bias", 1, HID, 0},
    {offsetof(cs__clip_layer, k_w), "self_attn.k_proj.weight", 2, HID, HID},
    {offsetof(cs__clip_layer, k_b), "self_attn.k_proj.bias", 1, HID, 0},
    {offsetof(cs__clip_layer, v_w), "self_attn.v_proj.weight", 2, HID, HID},
    {offsetof(cs__clip_layer, v_b), "self_attn.v_proj.bias", 1, HID, 0},
    {offsetof(cs__clip_layer, o_w), "self_attn.out_proj.weight", 2, HID, HID},
    {offsetof(cs__clip_layer, o_b), "self_attn.out_proj.bias", 1, HID, 0},
    {offsetof(cs__clip_layer, fc1_w), "mlp.fc1.weight", 2, MLP, HID},
    {offsetof(cs__clip_layer, fc1_b), "mlp.fc1.bias", 1, MLP, 0},
    {offsetof(cs__clip_layer, fc2_w), "mlp.fc2.weight", 2, HID, MLP},
    {offsetof(cs__clip_layer, fc2_b), "mlp.fc2.bias", 1, HID, 0},
};

static int64_t size_of(int code, const cs__clip_tower_config *c)
{
    return code == HID ? c->hidden : code == MLP ? c->intermediate : code;
}

static int bind_layers(binder *b, const char *tower, const cs__clip_tower_config *c,
                       cs__clip_layer **out)
{
    cs__clip_layer *ls = calloc((size_t)c->layers, sizeof *ls);
    if (!ls) return cs_error_set(b->err, CS_E_NOMEM, "out of memory");
    *out = ls;
    int rc = 0;
    char n[160];
    for (int l = 0; l < c->layers; l++)
        for (size_t t = 0; t < sizeof LAYER_TENSORS / sizeof LAYER_TENSORS[0]; t++) {
            snprintf(n, sizeof n, "%s.encoder.layers.%d.%s", tower, l, LAYER_TENSORS[t].suffix);
            const float **dst = (const float **)((char *)&ls[l] + LAYER_TENSORS[t].field);
            if ((rc = get(b, dst, n, LAYER_TENSORS[t].ndim, size_of(LAYER_TENSORS[t].d0, c),
                          size_of(LAYER_TENSORS[t].d1, c), 0, 0)))
                return rc;
        }
    /* A checkpoint with more layers than config.json says is inconsistent, not extra. */
    snprintf(n, sizeof n, "%s.encoder.layers.%d.layer_norm1.weight", tower, c->layers);
    if (cs__st_find(&b->m->st, n))
        return cs_error_set(b->err, CS_E_MODEL,
                            "%s: has tensor '%s' but config.json says %d layers", b->m->st.path,
                            n, c->layers);
    return rc;
}

static int bind_all(binder *b);

int cs__clip_bind_weights(cs_clip *m, cs_error *err)
{
    binder b = {m, err, 1, 0};
    int rc = bind_all(&b);
    if (rc || b.used == 0) return rc;
    free(m->txt_layers);
    free(m->vis_layers);
    m->txt_layers = m->vis_layers = NULL;
    m->arena_bytes = b.used * sizeof(float);
    void *p = mmap(NULL, m->arena_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED)
        return cs_error_set(err, CS_E_NOMEM, "%s: out of memory widening %zu MB of weights",
                            m->st.path, m->arena_bytes >> 20);
    madvise(p, m->arena_bytes, MADV_HUGEPAGE);
    m->arena = p;
    b.counting = 0;
    b.used = 0;
    rc = bind_all(&b);
    /* The model is immutable from here on; make a stray write fault instead of
     * silently corrupting weights that other threads share. */
    if (!rc) mprotect(m->arena, m->arena_bytes, PROT_READ);
    return rc;
}

static int bind_all(binder *b)
{
    cs_clip *m = b->m;
    const cs__clip_tower_config *t = &m->cfg.text, *v = &m->cfg.vision;
    int p = m->cfg.projection_dim, g = v->image_size / v->patch_size, rc;
    const float *ls = NULL;
    if ((rc = get(b, &m->tok_emb, "text_model.embeddings.token_embedding.weight", 2,
                  t->vocab_size, t->hidden, 0, 0)) ||
        (rc = get(b, &m->txt_pos, "text_model.embeddings.position_embedding.weight", 2,
                  t->max_positions, t->hidden, 0, 0)) ||
        (rc = get(b, &m->final_ln_w, "text_model.final_layer_norm.weight", 1, t->hidden, 0, 0,
                  0)) ||
        (rc = get(b, &m->final_ln_b, "text_model.final_layer_norm.bias", 1, t->hidden, 0, 0,
                  0)) ||
        (rc = get(b, &m->text_proj, "text_projection.weight", 2, p, t->hidden, 0, 0)) ||
        (rc = bind_layers(b, "text_model", t, &m->txt_layers)))
        return rc;
    if ((rc = get(b, &m->cls_emb, "vision_model.embeddings.class_embedding", 1, v->hidden, 0, 0,
                  0)) ||
        (rc = get(b, &m->patch_w, "vision_model.embeddings.patch_embedding.weight", 4,
                  v->hidden, v->num_channels, v->patch_size, v->patch_size)) ||
        (rc = get(b, &m->vis_pos, "vision_model.embeddings.position_embedding.weight", 2,
                  g * g + 1, v->hidden, 0, 0)) ||
        (rc = get(b, &m->pre_ln_w, "vision_model.pre_layrnorm.weight", 1, v->hidden, 0, 0, 0)) ||
        (rc = get(b, &m->pre_ln_b, "vision_model.pre_layrnorm.bias", 1, v->hidden, 0, 0, 0)) ||
        (rc = get(b, &m->post_ln_w, "vision_model.post_layernorm.weight", 1, v->hidden, 0, 0,
                  0)) ||
        (rc = get(b, &m->post_ln_b, "vision_model.post_layernorm.bias", 1, v->hidden, 0, 0,
                  0)) ||
        (rc = get(b, &m->vis_proj, "visual_projection.weight", 2, p, v->hidden, 0, 0)) ||
        (rc = bind_layers(b, "vision_model", v, &m->vis_layers)))
        return rc;
    /* logit_scale is a 0-d tensor in HF checkpoints; a few converters store shape [1]. */
    const cs__st_tensor *lt = cs__st_find(&m->st, "logit_scale");
    if ((rc = get(b, &ls, "logit_scale", lt && lt->ndim == 1 ? 1 : 0, 1, 0, 0, 0))) return rc;
    if (ls) m->logit_scale = ls[0];
    return 0;
}
