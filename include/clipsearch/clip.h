/* CLIP inference: load a Hugging Face CLIP checkpoint, preprocess images, embed
 * images and texts. A loaded model is immutable and may be shared by threads; each call
 * uses its own scratch memory. Owned by src/clip/. */
#ifndef CLIPSEARCH_CLIP_H
#define CLIPSEARCH_CLIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clipsearch/error.h"
#include "clipsearch/image.h"
#include "clipsearch/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CLIPImageProcessor settings (preprocessor_config.json, new or legacy style). */
typedef struct cs_preprocess_config {
    bool do_convert_rgb;
    bool do_resize;
    int shortest_edge;          /* resize target of the shorter side */
    int resample;               /* PIL filter id; 3 = BICUBIC (the only one supported) */
    bool do_center_crop;
    int crop_height, crop_width;
    bool do_rescale;
    double rescale_factor;      /* 1/255 */
    bool do_normalize;
    float mean[3], std[3];      /* float32 roundings of the config values */
} cs_preprocess_config;

/* Fills the CLIPImageProcessor defaults (224, bicubic, crop 224, OpenAI mean/std). */
void cs_preprocess_config_init(cs_preprocess_config *cfg);

/* Resize shortest edge (PIL bicubic, bit-exact), centre crop with HF's floor offsets,
 * rescale + normalise in float32. out: 3*crop_h*crop_w floats, CHW, channels R,G,B. */
int cs_preprocess_image(const cs_preprocess_config *cfg, const cs_image *img, float *out,
                        cs_error *err);

/* Intermediate steps, exposed for tests: resize only / resize+crop (uint8 RGB). */
int cs_preprocess_resize(const cs_preprocess_config *cfg, const cs_image *img, cs_image *out,
                         cs_error *err);
int cs_preprocess_resize_crop(const cs_preprocess_config *cfg, const cs_image *img,
                              cs_image *out, cs_error *err);

typedef struct cs_clip cs_clip;

/* The model used when none is named: `model download` fetches it, and its cache folder is
 * where a model is looked for by default. */
#define CS_DEFAULT_MODEL_NAME "openai/clip-vit-base-patch32"

/* Model resolution: explicit dir (--model) > $CLIPSEARCH_MODEL > the default cache
 * ${XDG_CACHE_HOME:-~/.cache}/clipsearch/models/clip-vit-base-patch32. Writes the chosen
 * directory into buf. Does not check that it exists (cs_clip_load does, clearly). */
int cs_clip_resolve_model_dir(const char *explicit_dir, char *buf, size_t bufsize,
                              cs_error *err);
/* The default cache directory for a model name like "openai/clip-vit-base-patch32"
 * (uses the part after the last '/'). */
int cs_clip_default_model_dir(const char *model_name, char *buf, size_t bufsize,
                              cs_error *err);

/* Arithmetic of the encoders' GEMMs. fp32 reproduces the reference numbers; bf16 (bf16
 * weights and inputs, fp32 sums) is faster on CPUs with AVX512-BF16 or AMX and agrees
 * with fp32 to a cosine of about 0.999 (measured by bench_clip). */
typedef enum { CS_PRECISION_FP32 = 0, CS_PRECISION_BF16 = 1 } cs_precision;
/* Which library runs the GEMMs: oneDNN when the build has it (AUTO), else OpenBLAS. */
typedef enum { CS_GEMM_AUTO = 0, CS_GEMM_OPENBLAS = 1, CS_GEMM_ONEDNN = 2 } cs_gemm_choice;

typedef struct cs_clip_options {
    int precision;              /* cs_precision; default fp32 */
    int gemm;                   /* cs_gemm_choice; default AUTO */
    int n_threads;              /* BLAS threads; 0 = all cores. OpenBLAS keeps ONE
                                 * process-wide count: a load with n_threads > 0 sets it
                                 * for every model in the process (0 leaves OpenBLAS' own
                                 * default, $OPENBLAS_NUM_THREADS or all cores). */
} cs_clip_options;

void cs_clip_options_init(cs_clip_options *opt);

/* Loads a model directory: HF layout (config.json, model.safetensors, vocab.json,
 * merges.txt, optional preprocessor_config.json) or a sentence-transformers folder
 * (modules.json -> 0_CLIPModel/). Errors name the missing/invalid file. */
int cs_clip_load(const char *dir, const cs_clip_options *opt, cs_clip **out, cs_error *err);
void cs_clip_free(cs_clip *model);

int cs_clip_embed_dim(const cs_clip *model);          /* projection_dim, e.g. 512 */
int cs_clip_context_length(const cs_clip *model);     /* text max_position_embeddings, 77 */
float cs_clip_logit_scale(const cs_clip *model);      /* exp(logit_scale) */
const cs_preprocess_config *cs_clip_preprocess_config(const cs_clip *model);
const cs_tokenizer *cs_clip_tokenizer(const cs_clip *model);
/* Directory the weights were read from (the 0_CLIPModel folder for sentence-transformers). */
const char *cs_clip_model_dir(const cs_clip *model);
int cs_clip_precision(const cs_clip *model);           /* cs_precision it was loaded with */
/* The checkpoint's identity as 32 hex digits (out: 33 bytes): equal for the same files,
 * different for another checkpoint of the same shape or a fine-tune of this one. Hashes
 * the configs, the safetensors header and samples of every tensor (cheap: ~2 MB read). */
int cs_clip_fingerprint(const cs_clip *model, char out[33], cs_error *err);
/* What this build and CPU compute with, in words, without loading a model, e.g.
 * "gemm onednn (avx512_core_bf16; bf16 available), kernels avx512" (model info). */
void cs_clip_compute_info(char *buf, size_t size);
/* The GEMM engine and precision in words, e.g. "onednn fp32 (avx512_core_bf16)" or
 * "openblas fp32". */
const char *cs_clip_engine(const cs_clip *model);

/* Text: tokenizes and embeds n texts. out: n*embed_dim floats, projected, NOT normalised. */
int cs_clip_embed_texts(const cs_clip *model, const char *const *texts, size_t n, float *out,
                        cs_error *err);
/* Same from token ids (SOT ... EOT, no padding), n_ids[i] entries each. */
int cs_clip_embed_token_ids(const cs_clip *model, const int32_t *const *ids, const int *n_ids,
                            size_t n, float *out, cs_error *err);

/* Images: n preprocessed tensors (3*S*S floats each, CHW, contiguous), projected, NOT
 * normalised. */
int cs_clip_embed_pixels(const cs_clip *model, const float *pixels, size_t n, float *out,
                         cs_error *err);
/* Convenience: preprocess + embed one decoded image. */
int cs_clip_embed_image(const cs_clip *model, const cs_image *img, float *out, cs_error *err);

/* Pooled features, the towers' outputs before the projection (what fine-tuning the
 * projection heads trains on): vision = post_layernorm of [CLS], n * vision width floats;
 * text = final_layer_norm at the first <|endoftext|>, n * text width floats. Same
 * tokenizer, preprocessing and arithmetic as cs_clip_embed_texts/_pixels: projecting
 * them with the matrices below gives those functions' outputs. */
int cs_clip_pool_texts(const cs_clip *model, const char *const *texts, size_t n, float *out,
                       cs_error *err);
int cs_clip_pool_pixels(const cs_clip *model, const float *pixels, size_t n, float *out,
                        cs_error *err);
int cs_clip_vision_width(const cs_clip *model);       /* vision hidden size, 768 */
int cs_clip_text_width(const cs_clip *model);         /* text hidden size, 512 */
/* visual_projection.weight [embed_dim, vision width] and text_projection.weight
 * [embed_dim, text width], row-major float32, owned by the model (read-only). */
const float *cs_clip_visual_projection(const cs_clip *model);
const float *cs_clip_text_projection(const cs_clip *model);

/* A tensor to replace when saving: name as in model.safetensors, float32 data of the
 * stored shape (borrowed). */
typedef struct cs_clip_tensor_update {
    const char *name;
    const float *data;
} cs_clip_tensor_update;

/* Writes the model as a complete Hugging Face checkpoint into dir: model.safetensors with
 * every tensor of the input (floats as F32, the updates in place of theirs, integer
 * tensors as stored), config.json and the tokenizer and preprocessor files copied.
 * Atomic: everything is written into a temporary folder beside dir, synced, then renamed
 * to dir, so dir either does not exist or is complete. dir must not exist (an empty
 * folder is replaced). An update naming no tensor of the model, or a tensor that is not
 * floating point, is CS_E_ARG; nothing is left behind on error. */
int cs_clip_save(const cs_clip *model, const char *dir, const cs_clip_tensor_update *updates,
                 size_t n_updates, cs_error *err);
/* The same in sentence-transformers' layout: the checkpoint in dir/0_CLIPModel and
 * dir/modules.json naming it as a sentence_transformers.models.CLIPModel module (the
 * layout of sentence-transformers/clip-ViT-B-32), so SentenceTransformer(dir) loads it;
 * --model dir loads it too. Written as atomically as cs_clip_save. */
int cs_clip_save_st(const cs_clip *model, const char *dir, const cs_clip_tensor_update *updates,
                    size_t n_updates, cs_error *err);

/* In-place L2 normalisation (a zero vector stays zero). */
void cs_l2_normalize(float *v, size_t dim);

#ifdef __cplusplus
}
#endif
#endif
