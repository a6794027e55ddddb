/* Zero-shot classification as CLIP does it: logits = exp(logit_scale) * cos(image, label),
 * probabilities = softmax over the labels (HF's logits_per_image.softmax(dim=1)). */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clipsearch/labels.h"

static int by_probability(const void *a, const void *b)
{
    const cs_label_score *x = a, *y = b;
    if (x->probability != y->probability) return x->probability < y->probability ? 1 : -1;
    return strcmp(x->label, y->label);
}

int cs_labels_rank(const cs_clip *model, const cs_image *img, const char *const *labels,
                   size_t n, cs_label_score *out, cs_error *err)
{
    if (n == 0) return cs_error_set(err, CS_E_ARG, "no labels given");
    size_t dim = (size_t)cs_clip_embed_dim(model);
    float *text = malloc(n * dim * sizeof *text);
    float *image = malloc(dim * sizeof *image);
    double *logit = malloc(n * sizeof *logit);
    int rc = 0;
    if (!text || !image || !logit) {
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory (%zu labels)", n);
        goto done;
    }
    /* One text batch: the encoder amortises its GEMMs over the labels. */
    if ((rc = cs_clip_embed_texts(model, labels, n, text, err)) != 0) goto done;
    if ((rc = cs_clip_embed_image(model, img, image, err)) != 0) goto done;
    cs_l2_normalize(image, dim);
    double scale = cs_clip_logit_scale(model), max = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        float *t = text + i * dim;
        cs_l2_normalize(t, dim);
        double cos = 0;
        for (size_t j = 0; j < dim; j++) cos += (double)t[j] * image[j];
        out[i].label = labels[i];
        out[i].score = cos;
        logit[i] = scale * cos;
        if (logit[i] > max) max = logit[i];
    }
    /* Subtract the max before exp: exp(100) would overflow a float, not a double, but
     * the shift keeps the sum exact enough either way. */
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (logit[i] = exp(logit[i] - max));
    for (size_t i = 0; i < n; i++) out[i].probability = logit[i] / sum;
    qsort(out, n, sizeof *out, by_probability);
done:
    free(text);
    free(image);
    free(logit);
    return rc;
}

void cs_strings_free(char **strings, size_t n)
{
    if (!strings) return;
    for (size_t i = 0; i < n; i++) free(strings[i]);
    free(strings);
}

/* Splits text at sep, trims ASCII whitespace, keeps non-empty pieces. */
static int split(const char *text, char sep, char ***out, size_t *n, cs_error *err)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    const char *p = text;
    while (p) {
        const char *end = strchr(p, sep);
        const char *stop = end ? end : p + strlen(p);
        const char *a = p, *b = stop;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        if (b > a) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 16;
                char **grown = realloc(*out, cap * sizeof *grown);
                if (!grown) goto oom;
                *out = grown;
            }
            if (!((*out)[*n] = strndup(a, (size_t)(b - a)))) goto oom;
            (*n)++;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
oom:
    cs_strings_free(*out, *n);
    *out = NULL;
    *n = 0;
    return cs_error_set(err, CS_E_NOMEM, "out of memory (splitting text)");
}

int cs_labels_split(const char *list, char ***out, size_t *n, cs_error *err)
{
    return split(list, ',', out, n, err);
}

int cs_lines_split(const char *text, char ***out, size_t *n, cs_error *err)
{
    return split(text, '\n', out, n, err);
}
