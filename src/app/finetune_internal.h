/* Internals of fine-tuning (finetune*.c), exposed to the unit tests: the contrastive loss
 * and its gradient w.r.t. the two projection heads, the optimisers, the learning-rate
 * schedules, the pairs file and the resume state. */
#ifndef CS_APP_FINETUNE_INTERNAL_H
#define CS_APP_FINETUNE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "clipsearch/clip.h"
#include "clipsearch/clip_train.h"
#include "clipsearch/finetune.h"

/* ---- loss (finetune_loss.c) ---- */

/* The shapes of one problem: pooled widths and projection dim. */
typedef struct cs__ft_dims {
    int dv, dt, p;
} cs__ft_dims;

/* Loss of one batch of b pairs: image i's pooled features xi[i] (dv floats) belongs with
 * text i's xt[i] (dt floats). Embeddings u = Wv x, v = Wt y are L2-normalised; logits
 * S[i][j] = scale * <u_i, v_j> / (|u_i| |v_j|). CS_FT_LOSS_CLIP is (CE over each image's
 * row + CE over each text's row) / 2 with the diagonal as targets, CS_FT_LOSS_MNRL only
 * the texts' rows (text -> image). Computed in double. When gv/gt are not NULL they
 * receive dLoss/dWv [p, dv] and dLoss/dWt [p, dt] (overwritten), and then gxi/gxt, when
 * not NULL, dLoss/dxi [b, dv] and dLoss/dxt [b, dt] (for the towers' backward pass).
 * Returns the loss, or a negative value when out of memory. */
double cs__ft_batch_loss(const cs__ft_dims *d, const float *const *xi, const float *const *xt,
                        int b, const float *wv, const float *wt, double scale, int loss,
                        float *gv, float *gt, float *gxi, float *gxt);

/* ---- optimisers and schedules (finetune_optim.c) ---- */

typedef struct cs__ft_adamw {
    double beta1, beta2, eps, weight_decay;
} cs__ft_adamw;

/* One step of torch.optim.AdamW (decoupled weight decay, bias-corrected moments) on n
 * parameters; t is the 1-based step number. m and v start at zero. */
void cs__ft_adamw_step(const cs__ft_adamw *a, float *param, const float *grad, float *m,
                      float *v, size_t n, double lr, long t);
/* Plain SGD: param -= lr * grad. */
void cs__ft_sgd_step(float *param, const float *grad, size_t n, double lr);

/* Learning rate of 0-based step `step` out of `total`: linear warm-up from 0 over
 * `warmup` steps, then constant, linear decay to 0 or half-cosine decay to 0 at
 * `total` (transformers' get_{constant,linear,cosine}_schedule_with_warmup). */
double cs__ft_lr_at(int schedule, double lr, long step, long warmup, long total);

/* ---- pairs file (finetune_pairs.c) ---- */

typedef struct cs__ft_pair {
    char *image;          /* path as resolved against the pairs file's folder */
    char *text;
    long line;            /* 1-based line in its file */
} cs__ft_pair;

typedef struct cs__ft_pairs {
    char *path;           /* the file they came from */
    cs__ft_pair *v;
    size_t n;
} cs__ft_pairs;

/* Reads TSV (image<TAB>caption) or JSON lines ({"image": ..., "text": ...}), told apart
 * by the first non-blank character of the first non-empty line ('{' = JSON lines).
 * Blank lines are skipped; a line that is neither is CS_E_FORMAT naming file:line. */
int cs__ft_pairs_read(const char *path, cs__ft_pairs *out, cs_error *err);
void cs__ft_pairs_free(cs__ft_pairs *p);

/* ---- resume state (finetune_state.c) ---- */

#define CS_FT_STATE_MAX_SEG 12

/* The state as float arrays ("segments", in a fixed order: the heads' weights and
 * moments, then the towers' when they train), owned by the caller. */
typedef struct cs__ft_state {
    uint64_t key;         /* hash of model, data and options: a state of another run is refused */
    int epochs_done;
    long step;
    size_t n_seg;
    float *seg[CS_FT_STATE_MAX_SEG];
    size_t seg_n[CS_FT_STATE_MAX_SEG];
} cs__ft_state;

/* Atomic (temporary file + rename) write of path. load reads into s->seg (n_seg and
 * seg_n say what is expected) and sets epochs_done and step; CS_E_FORMAT on a damaged or
 * truncated file, CS_E_ARG when the key, the segments or their sizes differ. */
int cs__ft_state_save(const char *path, const cs__ft_state *s, cs_error *err);
int cs__ft_state_load(const char *path, uint64_t key, cs__ft_state *s, cs_error *err);

/* ---- feature cache (finetune_cache.c) ---- */

/* One usable pair: indices into the cache's images and texts. */
typedef struct cs__ft_item {
    uint32_t img, txt;
} cs__ft_item;

/* Pooled features of every distinct image and caption of the pair sets (the frozen
 * towers' outputs), and each set's usable pairs in file order. */
typedef struct cs__ft_cache {
    int dv, dt;
    size_t n_img, n_txt;
    float *xi, *xt;            /* n_img * dv, n_txt * dt */
    cs__ft_item *items[2];      /* per set (train, val) */
    size_t n_items[2];
    size_t n_skipped;          /* pairs dropped (image missing or undecodable) */
    double image_seconds;      /* decoding + vision tower */
    double text_seconds;
    /* With trainable tower layers (--train last:K): the hidden states that enter them,
     * from which xi/xt are recomputed as the layers change (cs__ft_cache_refresh). */
    int img_rows;              /* rows per image (0: heads only, nothing below is set) */
    int in_v, in_t;            /* floats per row of an image's / a caption's input */
    float *hi;                 /* n_img * img_rows * in_v */
    float *ht;                 /* every caption's rows, one after the other */
    size_t *t_off;             /* n_txt: where each caption's rows start in ht (floats) */
    int *t_rows;               /* n_txt */
} cs__ft_cache;


/* Decodes every distinct image once (EXIF orientation per opt->image), preprocesses it
 * exactly as embedding does, runs the towers in batches and keeps the pooled features.
 * sets[1] may be NULL (no validation file). Skipped pairs are reported via on_notice. */
int cs__ft_cache_build(const cs_clip *m, const cs__ft_pairs *sets[2],
                      const cs_finetune_options *opt, cs__ft_cache *c, cs_error *err);
/* The same when the towers' last layers train (tr: vision and text trainers): the hidden
 * states entering them are cached (CS_E_ARG when they would take more than half the
 * memory), then xi/xt computed through the trainers. */
int cs__ft_cache_build_towers(const cs_clip *m, cs_tower_trainer *const tr[2],
                             const cs__ft_pairs *sets[2], const cs_finetune_options *opt,
                             cs__ft_cache *c, cs_error *err);
/* Recomputes xi/xt from the cached hidden states through the trainers' layers as they
 * are now (for evaluation after an epoch). */
int cs__ft_cache_refresh(cs__ft_cache *c, cs_tower_trainer *const tr[2], cs_error *err);
void cs__ft_cache_free(cs__ft_cache *c);

/* ---- batches and evaluation (finetune_eval.c) ---- */

typedef struct cs__ft_trainer {
    const cs__ft_cache *c;
    cs__ft_dims dims;
    double scale;
    int loss;
    const float **xi, **xt;   /* row pointers of the current batch (batch entries each) */
} cs__ft_trainer;

/* Points t->xi/xt at the features of items[order[from + k]] (order NULL: from + k). */
void cs__ft_gather(cs__ft_trainer *t, const cs__ft_item *items, const size_t *order, size_t from,
                  int b);
/* Mean loss over consecutive batches of `batch` items, weighted by batch size; NaN for n 0. */
double cs__ft_eval_loss(cs__ft_trainer *t, const cs__ft_item *items, size_t n, int batch,
                       const float *wv, const float *wt);
/* Text -> image recall@1 and @5 of the items among their distinct images, and image ->
 * text recall@1 and @5 of those images among the items' captions, where an image scores
 * a hit at k when one of its own captions ranks among the first k (NaN for n 0);
 * CS_E_NOMEM when out of memory. */
int cs__ft_recall(cs__ft_trainer *t, const cs__ft_item *items, size_t n, const float *wv,
                 const float *wt, double *r1, double *r5, double *i2t1, double *i2t5);

#endif
