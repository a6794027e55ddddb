/* Zero-shot labels: which of a list of texts best describes an image, as CLIP ranks
 * them (src/app/labels.c), and the splitting of label lists and text files into lines. */
#ifndef CLIPSEARCH_LABELS_H
#define CLIPSEARCH_LABELS_H

#include <stddef.h>

#include "clipsearch/clip.h"
#include "clipsearch/error.h"
#include "clipsearch/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_label_score {
    const char *label;          /* points into the caller's labels array */
    double probability;         /* softmax over all labels of exp(logit_scale) * cos */
    double score;               /* cosine similarity of image and label embeddings */
} cs_label_score;

/* Ranks n labels for an image as CLIP does zero-shot: probabilities are the softmax of
 * the scaled logits (logits_per_image). out (n entries) comes back sorted by probability,
 * highest first. */
int cs_labels_rank(const cs_clip *model, const cs_image *img, const char *const *labels,
                   size_t n, cs_label_score *out, cs_error *err);

/* Splits "a dog, a cat,,x" into trimmed non-empty labels (malloc'd array of malloc'd
 * strings; free with cs_strings_free). */
int cs_labels_split(const char *list, char ***out, size_t *n, cs_error *err);
/* Reads non-empty trimmed lines of a file ("-" = stdin is the caller's business: pass
 * the text). Same ownership as cs_labels_split. */
int cs_lines_split(const char *text, char ***out, size_t *n, cs_error *err);
void cs_strings_free(char **strings, size_t n);

#ifdef __cplusplus
}
#endif
#endif
