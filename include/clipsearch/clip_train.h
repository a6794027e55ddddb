/* Training the last layers of a CLIP tower (fine-tuning, finetune.h): trainable float
 * copies of the last k encoder layers of the vision or the text tower and of its final
 * layer norm (vision_model.post_layernorm, text_model.final_layer_norm), a forward pass
 * through them that keeps what the backward pass needs, and the backward pass itself
 * (layer norms, attention with the text's causal mask, the MLP with quick_gelu or gelu,
 * the residual adds). The frozen part below them runs once per input
 * (cs_tower_trainer_prefix_*): its output is what the trainable layers start from.
 * Pooling is the model's: the CLS row for images, the first <|endoftext|> for texts
 * (texts are cut there, as inference does). Owned by src/clip/tower_train.c. */
#ifndef CLIPSEARCH_CLIP_TRAIN_H
#define CLIPSEARCH_CLIP_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clipsearch/clip.h"
#include "clipsearch/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CS_TOWER_VISION = 0, CS_TOWER_TEXT = 1 } cs_tower;

typedef struct cs_tower_trainer cs_tower_trainer;

/* The last k (1..layers) layers of a tower of m (which must outlive the trainer), copied
 * from the checkpoint; with embeddings (k must then be every layer) also the embeddings
 * -- vision: patch_embedding, class_embedding, position_embedding, pre_layrnorm; text:
 * token_embedding, position_embedding -- and nothing is frozen (k 0 then means every
 * layer). CS_E_ARG for another k. */
int cs_tower_trainer_new(const cs_clip *m, cs_tower tower, int k, bool embeddings,
                         cs_tower_trainer **out, cs_error *err);
void cs_tower_trainer_free(cs_tower_trainer *t);

/* The trainable parameters as one array, and their gradients in the same layout
 * (cs_tower_trainer_backward adds to them; zero them before a batch). */
float *cs_tower_trainer_params(cs_tower_trainer *t, size_t *n);
float *cs_tower_trainer_grads(cs_tower_trainer *t);
void cs_tower_trainer_zero_grads(cs_tower_trainer *t);
/* The checkpoint tensors the parameters are: i-th name ("vision_model.encoder.layers.11.
 * mlp.fc2.weight", ...) and where it lies in the array. i < cs_tower_trainer_tensors(). */
size_t cs_tower_trainer_tensors(const cs_tower_trainer *t);
const char *cs_tower_trainer_tensor(const cs_tower_trainer *t, size_t i, size_t *offset,
                                    size_t *count);
/* Hidden width of the tower (of the pooled output); the rows of every image's input and
 * the floats of one input row (the hidden width; with the embeddings: vision, one
 * patch's floats, the image's rows being its patches; text, 1: a token id). */
int cs_tower_trainer_width(const cs_tower_trainer *t);
int cs_tower_trainer_image_rows(const cs_tower_trainer *t);
int cs_tower_trainer_input_width(const cs_tower_trainer *t);

/* The frozen part: the hidden states that enter the first trainable layer (with the
 * embeddings: the raw input, patches or token ids).
 * Vision: n preprocessed images (cs_preprocess_image's layout) -> out, n * image_rows *
 * input_width floats. Text: one text, tokenized as the model does and cut at its pooling
 * position -> *out (malloc'd, *rows * input_width floats). */
int cs_tower_trainer_prefix_pixels(const cs_tower_trainer *t, const float *pixels, size_t n,
                                   float *out, cs_error *err);
int cs_tower_trainer_prefix_text(const cs_tower_trainer *t, const char *text, float **out,
                                 int *rows, cs_error *err);

/* Runs b sequences (x[i]: rows[i] * width floats, from the prefix functions) through the
 * trainable layers and the final layer norm at the pooling row: pooled, b * width. Keeps
 * the activations for the backward pass of this batch (until the next forward). */
int cs_tower_trainer_forward(cs_tower_trainer *t, const float *const *x, const int *rows,
                             int b, float *pooled, cs_error *err);
/* Adds to the gradients dLoss/dparams, given dLoss/dpooled (b * width) of the last
 * forward's output. */
int cs_tower_trainer_backward(cs_tower_trainer *t, const float *dpooled, cs_error *err);

#ifdef __cplusplus
}
#endif
#endif
