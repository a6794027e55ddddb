/* CLIPConfig (config.json): per-tower sizes with transformers' defaults for missing keys
 * (the ViT-B/32 values), plus the sentence-transformers folder lookup. Internal. */
#ifndef CS_CLIP_CONFIG_H
#define CS_CLIP_CONFIG_H

#include <stddef.h>

#include "clipsearch/clip.h"
#include "clipsearch/error.h"

typedef enum { CS_ACT_QUICK_GELU = 0, CS_ACT_GELU = 1 } cs__clip_act;

typedef struct cs__clip_tower_config {
    int hidden;            /* hidden_size */
    int intermediate;      /* intermediate_size */
    int layers;            /* num_hidden_layers */
    int heads;             /* num_attention_heads */
    cs__clip_act act;       /* hidden_act */
    double ln_eps;         /* layer_norm_eps */
    /* text only */
    int vocab_size, max_positions, eos_token_id;
    /* vision only */
    int image_size, patch_size, num_channels;
} cs__clip_tower_config;

typedef struct cs__clip_config {
    cs__clip_tower_config text, vision;
    int projection_dim;
} cs__clip_config;

/* transformers' CLIPConfig defaults (openai/clip-vit-base-patch32 sizes). */
void cs__clip_config_defaults(cs__clip_config *cfg);

/* Parses config.json text; `path` is only used in messages. Validates ranges (positive
 * sizes, hidden divisible by heads, image divisible by patch, known hidden_act). */
int cs__clip_config_parse(const char *json, size_t len, const char *path, cs__clip_config *cfg,
                         cs_error *err);
int cs__clip_config_load(const char *path, cs__clip_config *cfg, cs_error *err);

/* preprocessor_config.json (new style or legacy); absent keys keep cfg's values. */
int cs__preprocess_config_parse(const char *json, size_t len, const char *path,
                               cs_preprocess_config *cfg, cs_error *err);
int cs__preprocess_config_load(const char *path, cs_preprocess_config *cfg, cs_error *err);

/* For a sentence-transformers folder (modules.json present), the directory of its
 * sentence_transformers.models.CLIPModel module, malloc'd into *weights_dir; otherwise
 * a copy of dir. */
int cs__clip_find_weights_dir(const char *dir, char **weights_dir, cs_error *err);

#endif
