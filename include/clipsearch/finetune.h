/* Contrastive fine-tuning of a CLIP checkpoint on image/caption pairs (clipsearch
 * finetune). The projection heads (visual_projection.weight and text_projection.weight)
 * always train; with train_layers = K, also the last K encoder layers of both towers and
 * their final layer norms (clip_train.h has the backward passes). What stays frozen runs
 * once per image and caption and its output is cached: the pooled features when only the
 * heads train (every epoch is then cheap), else the hidden states entering the trainable
 * layers. The result is a complete Hugging Face checkpoint. Owned by
 * src/app/finetune*.c. */
#ifndef CLIPSEARCH_FINETUNE_H
#define CLIPSEARCH_FINETUNE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clipsearch/error.h"
#include "clipsearch/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CS_FT_LOSS_CLIP = 0, CS_FT_LOSS_MNRL = 1 } cs_ft_loss;
typedef enum { CS_FT_ADAMW = 0, CS_FT_SGD = 1 } cs_ft_optimizer;
typedef enum { CS_FT_CONSTANT = 0, CS_FT_LINEAR = 1, CS_FT_COSINE = 2 } cs_ft_schedule;

/* What one epoch did (epoch 0: the model before training, evaluated on both sets). */
typedef struct cs_ft_epoch {
    int epoch, epochs;
    long steps;                  /* optimiser steps so far */
    double lr;                   /* learning rate of the epoch's last step */
    double train_loss;           /* mean over the epoch's batches, weighted by batch size */
    double val_loss;             /* the same on the validation pairs; NaN without any */
    double val_recall1, val_recall5; /* text -> image among the validation images; NaN */
    double val_i2t_recall1, val_i2t_recall5; /* image -> text among the validation captions
                                                (a hit: one of its own captions); NaN */
    size_t n_train, n_val;       /* pairs */
    double seconds;              /* wall time of the epoch (training + evaluation) */
} cs_ft_epoch;

/* One optimisation step (a batch) done. */
typedef struct cs_ft_step {
    int epoch, epochs;
    long step, steps;            /* this epoch's step (1-based) and its number of steps */
    double loss;                 /* the batch's loss */
    double mean_loss;            /* the epoch's so far, weighted by batch size */
} cs_ft_step;

typedef struct cs_finetune_options {
    const char *val_path;        /* held-out pairs; NULL: split off val_split of the images */
    double val_split;            /* fraction of distinct images held out (default 0.1) */
    int loss, optimizer, schedule;
    /* What trains besides the two projection heads: 0 (default) nothing; K >= 1 also the
     * last K encoder layers of both towers and their final layer norms
     * (vision_model.post_layernorm, text_model.final_layer_norm); -1 every weight but
     * logit_scale (all layers, the embeddings, pre_layrnorm). */
    int train_layers;
    int epochs;                  /* default 1 */
    int batch;                   /* default 32 */
    long warmup_steps;           /* default 0 */
    double lr;                   /* default 1e-4 */
    double weight_decay;         /* AdamW only, default 0.01 */
    double scale;                /* logit scale; <= 0: exp(logit_scale) of the checkpoint */
    uint64_t seed;               /* shuffling and the validation split */
    bool shuffle;                /* default true; false: batches in file order */
    bool resume;                 /* continue from OUT.partial */
    bool st_layout;              /* write sentence-transformers' layout (cs_clip_save_st) */
    cs_image_options image;      /* decoding (EXIF orientation on by default) */
    int n_threads;               /* 0: all cores */
    /* Polled between batches and images: when it becomes non-zero the run stops with
     * CS_E_INTERRUPTED, keeping the state of the last finished epoch for resume. */
    const volatile sig_atomic_t *stop;
    void (*on_epoch)(void *ctx, const cs_ft_epoch *e);
    /* After every batch (for a progress display: with trainable layers a step can take
     * seconds). NULL: not called. */
    void (*on_step)(void *ctx, const cs_ft_step *s);
    /* Progress notes ("caching the features of N images ..."). */
    void (*on_notice)(void *ctx, const char *msg);
    /* One line per skipped pair (file:line: why), the first 20, then a count. */
    void (*on_warning)(void *ctx, const char *msg);
    void *ctx;
} cs_finetune_options;

void cs_finetune_options_init(cs_finetune_options *opt);

typedef struct cs_finetune_result {
    size_t n_train, n_val;       /* pairs used */
    size_t n_images, n_texts;    /* distinct ones whose features were cached */
    size_t n_skipped;            /* pairs dropped: image missing or undecodable */
    double cache_seconds;        /* running the frozen towers */
    double images_per_second;    /* of the image part of the caching */
    double train_seconds;        /* the epochs (heads optimisation + evaluation) */
    int first_epoch;             /* 1, or the epoch a resumed run started with */
} cs_finetune_result;

/* Trains on the pairs file (see finetune_internal.h for its formats) and writes the
 * fine-tuned checkpoint to out_dir (atomically; it must not exist or be empty). The
 * resume state lives in "<out_dir>.partial" (written after every epoch, removed at the
 * end); without opt->resume an existing one is an error (CS_E_ARG) rather than lost.
 * Pairs whose image is missing or cannot be decoded are skipped and reported (on_warning,
 * res->n_skipped); none left is CS_E_ARG. Nothing is written to out_dir on error. */
int cs_finetune_run(const char *model_dir, const char *pairs_path, const char *out_dir,
                    const cs_finetune_options *opt, cs_finetune_result *res, cs_error *err);

#ifdef __cplusplus
}
#endif
#endif
