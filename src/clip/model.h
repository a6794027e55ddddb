/* The loaded model (the opaque cs_clip of clip.h) and the internal entry points of the
 * two towers. Weights are float32 pointers into the safetensors mapping (aligned F32) or
 * into copies widened once at load; nothing in here changes after cs_clip_load, so one
 * model can serve many threads, each call taking its own scratch (a call may reuse the
 * block an earlier one gave back to the model's workspace). */
#ifndef CS_CLIP_MODEL_H
#define CS_CLIP_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "clip/config.h"
#include "clip/kernels.h"
#include "clip/safetensors.h"
#include "clipsearch/clip.h"

typedef struct cs__clip_layer {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    const float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b;
    const float *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} cs__clip_layer;

struct cs_clip {
    char *dir;                       /* where the weights came from */
    cs__clip_config cfg;
    cs_preprocess_config pp;
    cs_tokenizer *tok;
    int32_t eot_id;                  /* the vocab's <|endoftext|>: text pooling position */
    cs__st_file st;
    float *arena;                    /* widened copies (one mapping), or NULL */
    size_t arena_bytes;
    /* text tower */
    const float *tok_emb, *txt_pos, *final_ln_w, *final_ln_b, *text_proj;
    cs__clip_layer *txt_layers;
    /* vision tower */
    const float *cls_emb, *patch_w, *vis_pos, *pre_ln_w, *pre_ln_b, *post_ln_w, *post_ln_b,
        *vis_proj;
    cs__clip_layer *vis_layers;
    float logit_scale;               /* raw (log) value */
    int n_threads;                   /* threads of clipsearch's own kernels (parallel.h) */
    int precision;                   /* CS_PRECISION_* of the GEMMs */
    cs__gemm *gemm;                   /* oneDNN engine with the prepared weights, or NULL */
    cs__pool *pool;                   /* workers of the own kernels (n_threads in all) */
    cs__workspace *ws;                /* the encoder's scratch, kept between calls */
};

/* How this model's forward passes run (kernels.h). */
static inline cs__exec cs__clip_exec(const cs_clip *m)
{
    return (cs__exec){m->n_threads, m->gemm, m->pool, m->ws};
}

/* Binds every tensor of the checkpoint to the model, checking shapes against cfg. */
int cs__clip_bind_weights(cs_clip *m, cs_error *err);

/* Runs a pre-LN transformer over x [n_tokens, D] (ex: threads and GEMM engine): sequences seq_start[s]..+seq_len[s].
 * When pool_rows is non-NULL (one absolute row per sequence), the last layer is computed
 * only for those rows and their final hidden states are written to pooled [n_seq, D];
 * otherwise x holds every final hidden state. */
int cs__encoder_forward(const cs__exec *ex, const cs__clip_tower_config *cfg, const cs__clip_layer *layers, float *x,
                       int n_tokens, const int *seq_start, const int *seq_len, int n_seq,
                       bool causal, const int *pool_rows, float *pooled, cs_error *err);

/* A tower's end: its final layer norm over the pooled rows [b, d] (in place), then the
 * projection into out [b, projection_dim] when project, else the normalised rows. */
void cs__tower_head(const cs__exec *ex, const cs_clip *m, float *pooled, int b, int d,
                    const float *ln_w, const float *ln_b, float eps, const float *proj,
                    bool project, float *out);

/* The towers' inputs to the encoder: b preprocessed images as [CLS] + patch embeddings +
 * positions after pre_layrnorm (x: b * tokens * hidden); one text's n token ids as token +
 * position embeddings (x: n * hidden). */
int cs__vision_embed(const cs_clip *m, const float *pixels, int b, float *x, cs_error *err);
/* One image's patches in row-major order (py, px), each as (channel, ky, kx): the rows
 * the patch embedding multiplies (out: (size/patch)^2 * channels * patch^2 floats). */
void cs__vision_im2col(const float *img, int size, int patch, int channels, float *out);
void cs__text_embed(const cs_clip *m, const int32_t *ids, int n, float *x);
/* Where a text is pooled: its first <|endoftext|> (else the largest id's position). */
int cs__text_pool_position(const cs_clip *m, const int32_t *ids, int n);

/* Vision tower for n images (n <= any size; chunked internally). out: n * projection_dim. */
int cs__vision_forward(const cs_clip *m, const float *pixels, size_t n, float *out,
                      cs_error *err);
/* Text tower for n id sequences (SOT ... EOT, unpadded). out: n * projection_dim. */
int cs__text_forward(const cs_clip *m, const int32_t *const *ids, const int *n_ids, size_t n,
                    float *out, cs_error *err);
/* The same two towers stopped before the projection: out receives the pooled features
 * (vision: post_layernorm of CLS, n * vision hidden; text: final_layer_norm at the EOT,
 * n * text hidden), bit-identical to what the projection GEMM would consume. */
int cs__vision_pool(const cs_clip *m, const float *pixels, size_t n, float *out, cs_error *err);
int cs__text_pool(const cs_clip *m, const int32_t *const *ids, const int *n_ids, size_t n,
                 float *out, cs_error *err);

#endif
