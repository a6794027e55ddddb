/* Trainable last layers of a tower (clip_train.h). The forward pass is the encoder's
 * (encoder.c) written out once more, step by step, keeping every intermediate the
 * backward pass reads; the backward pass walks the same steps in reverse:
 *
 *   h1 = LN1(x);  q, k, v = h1 Wq^T + bq, ...;  a = attention(q, k, v)
 *   x1 = x + a Wo^T + bo                                   (residual)
 *   h2 = LN2(x1); f = h2 W1^T + b1; g = act(f)
 *   y  = x1 + g W2^T + b2                                  (residual)
 *
 * and at the end pooled = LN_final(y[pool row]). GEMMs are OpenBLAS's (the same on every
 * machine and build); attention, layer norms and activations are plain loops, in float
 * with double sums where rows are reduced. */
#include "clipsearch/clip_train.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip/model.h"
#include "clipsearch/tokenizer.h"

/* The tensors of one layer, in the order they lie in the parameter array. */
enum { LN1W, LN1B, QW, QB, KW, KB, VW, VB, OW, OB, LN2W, LN2B, F1W, F1B, F2W, F2B, NT };

static const char *const SUFFIX[NT] = {
    "layer_norm1.weight",      "layer_norm1.bias",      "self_attn.q_proj.weight",
    "self_attn.q_proj.bias",   "self_attn.k_proj.weight", "self_attn.k_proj.bias",
    "self_attn.v_proj.weight", "self_attn.v_proj.bias", "self_attn.out_proj.weight",
    "self_attn.out_proj.bias", "layer_norm2.weight",    "layer_norm2.bias",
    "mlp.fc1.weight",          "mlp.fc1.bias",          "mlp.fc2.weight",
    "mlp.fc2.bias"};

/* One layer's activations of the current batch (n rows in all). */
typedef struct act {
    float *x, *h1, *q, *k, *v, *p, *a, *x1, *h2, *f, *g;
    float *mean1, *rstd1, *mean2, *rstd2;
} act;

struct cs_tower_trainer {
    const cs_clip *m;
    const cs__clip_tower_config *cfg;
    const cs__clip_layer *frozen;   /* the model's layers (the first `first` are frozen) */
    cs_tower tower;
    int k, first, d, inter, heads, hd;
    float eps;
    float *params, *grads;
    size_t n_params;
    float *(*w)[NT];               /* [k][NT] into params */
    float *lnf_w, *lnf_b;
    /* With the embeddings (--train all): vision patch_w [d, kin], cls [d], pos [rows, d],
     * pre_layrnorm w/b; text tok [vocab, d], pos [ctx, d]. NULL otherwise. */
    bool emb;
    int kin;                       /* vision: floats of one patch (channels * P * P) */
    float *patch_w, *cls, *pos, *pre_w, *pre_b, *tok;
    char **names;
    size_t *offset, *count, n_tensors;
    /* the current batch */
    int b, n;
    int *start, *rows;
    size_t *p_off;                 /* per sequence: where its attention weights start */
    act *acts;                     /* [k] */
    const float **in;              /* with emb: the batch's inputs (patches, or ids) */
    int *in_rows;
    float *xe, *emean, *erstd;     /* with emb (vision): pre_layrnorm's input and stats */
    float *y, *fmean, *frstd;      /* last layer's output; final norm stats per sequence */
    void *block;                   /* everything of the batch, one allocation */
    size_t block_cap;              /* its floats: kept from batch to batch, grown when needed
                                      (fresh pages each batch cost a page fault apiece) */
    float *scratch;                /* the backward pass's, kept the same way */
    size_t scratch_cap;
};

/* ---- setup -------------------------------------------------------------------------- */

void cs_tower_trainer_free(cs_tower_trainer *t)
{
    if (!t) return;
    for (size_t i = 0; t->names && i < t->n_tensors; i++) free(t->names[i]);
    free(t->names);
    free(t->offset);
    free(t->count);
    free(t->params);
    free(t->w);
    free(t->start);
    free(t->block);
    free(t->scratch);
    free(t->in);
    free(t);
}

static const float *layer_tensor(const cs__clip_layer *L, int i)
{
    const float *v[NT] = {L->ln1_w, L->ln1_b, L->q_w, L->q_b, L->k_w, L->k_b, L->v_w, L->v_b,
                          L->o_w,   L->o_b,   L->ln2_w, L->ln2_b, L->fc1_w, L->fc1_b, L->fc2_w,
                          L->fc2_b};
    return v[i];
}

static size_t tensor_size(const cs_tower_trainer *t, int i)
{
    size_t d = (size_t)t->d, f = (size_t)t->inter;
    switch (i) {
    case QW: case KW: case VW: case OW: return d * d;
    case F1W: case F2W: return d * f;
    case F1B: return f;
    default: return d;
    }
}

/* Appends one tensor of the embeddings to the table and copies it in. */
static float *add_tensor(cs_tower_trainer *t, size_t *at, size_t *ti, const char *name,
                         const float *src, size_t n)
{
    float *p = t->params + *at;
    memcpy(p, src, n * sizeof(float));
    t->names[*ti] = strdup(name);
    t->offset[*ti] = *at;
    t->count[*ti] = n;
    ++*ti;
    *at += n;
    return p;
}

int cs_tower_trainer_new(const cs_clip *m, cs_tower tower, int k, bool embeddings,
                         cs_tower_trainer **out, cs_error *err)
{
    *out = NULL;
    const cs__clip_tower_config *cfg = tower == CS_TOWER_VISION ? &m->cfg.vision : &m->cfg.text;
    if (embeddings && k <= 0) k = cfg->layers;
    if (k < 1 || k > cfg->layers)
        return cs_error_set(err, CS_E_ARG, "%s tower: cannot train its last %d layers (it has %d)",
                            tower == CS_TOWER_VISION ? "vision" : "text", k, cfg->layers);
    if (embeddings && k != cfg->layers)
        return cs_error_set(err, CS_E_ARG, "the embeddings train only with every layer");
    cs_tower_trainer *t = calloc(1, sizeof *t);
    if (!t) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    t->m = m;
    t->cfg = cfg;
    t->tower = tower;
    t->frozen = tower == CS_TOWER_VISION ? m->vis_layers : m->txt_layers;
    t->k = k;
    t->first = cfg->layers - k;
    t->d = cfg->hidden;
    t->inter = cfg->intermediate;
    t->heads = cfg->heads;
    t->hd = cfg->hidden / cfg->heads;
    t->eps = (float)cfg->ln_eps;
    size_t per = 0;
    for (int i = 0; i < NT; i++) per += tensor_size(t, i);
    t->n_params = per * (size_t)k + 2 * (size_t)t->d;
    t->n_tensors = (size_t)NT * k + 2;
    const cs__clip_tower_config *vc = &m->cfg.vision;
    size_t d = (size_t)t->d, prows = 0;
    if ((t->emb = embeddings)) {
        if (tower == CS_TOWER_VISION) {
            int g = vc->image_size / vc->patch_size;
            t->kin = vc->num_channels * vc->patch_size * vc->patch_size;
            prows = (size_t)g * g + 1;
            t->n_params += d * t->kin + d + prows * d + 2 * d;
            t->n_tensors += 5;
        } else {
            t->n_params += (size_t)cfg->vocab_size * d + (size_t)cfg->max_positions * d;
            t->n_tensors += 2;
        }
    }
    t->params = malloc(2 * t->n_params * sizeof(float));
    t->w = malloc((size_t)k * sizeof *t->w);
    t->names = calloc(t->n_tensors, sizeof *t->names);
    t->offset = malloc(t->n_tensors * sizeof *t->offset);
    t->count = malloc(t->n_tensors * sizeof *t->count);
    if (!t->params || !t->w || !t->names || !t->offset || !t->count) {
        size_t n_params = t->n_params;   /* for the message: t is freed first */
        cs_tower_trainer_free(t);
        return cs_error_set(err, CS_E_NOMEM, "out of memory for %zu parameters", n_params);
    }
    t->grads = t->params + t->n_params;
    const char *prefix = tower == CS_TOWER_VISION ? "vision_model" : "text_model";
    size_t at = 0, ti = 0;
    char name[160];
    for (int l = 0; l < k; l++)
        for (int i = 0; i < NT; i++, ti++) {
            size_t n = tensor_size(t, i);
            t->w[l][i] = t->params + at;
            memcpy(t->w[l][i], layer_tensor(&t->frozen[t->first + l], i), n * sizeof(float));
            snprintf(name, sizeof name, "%s.encoder.layers.%d.%s", prefix, t->first + l, SUFFIX[i]);
            t->names[ti] = strdup(name);
            t->offset[ti] = at;
            t->count[ti] = n;
            at += n;
        }
    t->lnf_w = t->params + at;
    t->lnf_b = t->lnf_w + t->d;
    memcpy(t->lnf_w, tower == CS_TOWER_VISION ? m->post_ln_w : m->final_ln_w, t->d * sizeof(float));
    memcpy(t->lnf_b, tower == CS_TOWER_VISION ? m->post_ln_b : m->final_ln_b, t->d * sizeof(float));
    const char *fin = tower == CS_TOWER_VISION ? "post_layernorm" : "final_layer_norm";
    for (int i = 0; i < 2; i++, ti++) {
        snprintf(name, sizeof name, "%s.%s.%s", prefix, fin, i ? "bias" : "weight");
        t->names[ti] = strdup(name);
        t->offset[ti] = at + (size_t)i * t->d;
        t->count[ti] = (size_t)t->d;
    }
    at += 2 * d;
    if (t->emb && tower == CS_TOWER_VISION) {
        t->patch_w = add_tensor(t, &at, &ti, "vision_model.embeddings.patch_embedding.weight",
                                m->patch_w, d * t->kin);
        t->cls = add_tensor(t, &at, &ti, "vision_model.embeddings.class_embedding", m->cls_emb, d);
        t->pos = add_tensor(t, &at, &ti, "vision_model.embeddings.position_embedding.weight",
                            m->vis_pos, prows * d);
        t->pre_w = add_tensor(t, &at, &ti, "vision_model.pre_layrnorm.weight", m->pre_ln_w, d);
        t->pre_b = add_tensor(t, &at, &ti, "vision_model.pre_layrnorm.bias", m->pre_ln_b, d);
    } else if (t->emb) {
        t->tok = add_tensor(t, &at, &ti, "text_model.embeddings.token_embedding.weight",
                            m->tok_emb, (size_t)cfg->vocab_size * d);
        t->pos = add_tensor(t, &at, &ti, "text_model.embeddings.position_embedding.weight",
                            m->txt_pos, (size_t)cfg->max_positions * d);
    }
    for (size_t i = 0; i < t->n_tensors; i++)
        if (!t->names[i]) {
            cs_tower_trainer_free(t);
            return cs_error_set(err, CS_E_NOMEM, "out of memory");
        }
    cs_tower_trainer_zero_grads(t);
    *out = t;
    return 0;
}

float *cs_tower_trainer_params(cs_tower_trainer *t, size_t *n)
{
    if (n) *n = t->n_params;
    return t->params;
}

float *cs_tower_trainer_grads(cs_tower_trainer *t) { return t->grads; }

void cs_tower_trainer_zero_grads(cs_tower_trainer *t)
{
    memset(t->grads, 0, t->n_params * sizeof(float));
}

size_t cs_tower_trainer_tensors(const cs_tower_trainer *t) { return t->n_tensors; }

const char *cs_tower_trainer_tensor(const cs_tower_trainer *t, size_t i, size_t *offset,
                                    size_t *count)
{
    if (i >= t->n_tensors) return NULL;
    if (offset) *offset = t->offset[i];
    if (count) *count = t->count[i];
    return t->names[i];
}

int cs_tower_trainer_width(const cs_tower_trainer *t) { return t->d; }

int cs_tower_trainer_image_rows(const cs_tower_trainer *t)
{
    int g = t->m->cfg.vision.image_size / t->m->cfg.vision.patch_size;
    return t->emb ? g * g : g * g + 1;   /* patches, or the hidden states' rows */
}

int cs_tower_trainer_input_width(const cs_tower_trainer *t)
{
    if (!t->emb) return t->d;
    return t->tower == CS_TOWER_VISION ? t->kin : 1;
}

/* The gradient of a parameter: the same place in the other half. */
static float *grad_of(const cs_tower_trainer *t, const float *param)
{
    return t->grads + (param - t->params);
}

/* ---- the frozen part ------------------------------------------------------------------ */

/* The first t->first layers over x (all rows kept). */
static int frozen_layers(const cs_tower_trainer *t, float *x, int n_tok, int *start, int *len,
                         int n_seq, cs_error *err)
{
    if (t->first == 0) return 0;
    cs__clip_tower_config cfg = *t->cfg;
    cfg.layers = t->first;
    cs__exec ex = cs__clip_exec(t->m);
    return cs__encoder_forward(&ex, &cfg, t->frozen, x, n_tok, start, len, n_seq,
                              t->tower == CS_TOWER_TEXT, NULL, NULL, err);
}

#define PREFIX_IMAGES 16

int cs_tower_trainer_prefix_pixels(const cs_tower_trainer *t, const float *pixels, size_t n,
                                   float *out, cs_error *err)
{
    if (t->tower != CS_TOWER_VISION)
        return cs_error_set(err, CS_E_ARG, "images go through the vision tower's trainer");
    const cs__clip_tower_config *v = &t->m->cfg.vision;
    size_t img = (size_t)v->num_channels * v->image_size * v->image_size;
    int rows = cs_tower_trainer_image_rows(t);
    if (t->emb) {
        /* Nothing is frozen: the input is the patches the embedding multiplies. */
        for (size_t i = 0; i < n; i++)
            cs__vision_im2col(pixels + i * img, v->image_size, v->patch_size, v->num_channels,
                             out + i * (size_t)rows * t->kin);
        return 0;
    }
    int ints[2 * PREFIX_IMAGES];
    for (size_t i = 0; i < n; i += PREFIX_IMAGES) {
        int b = (int)(n - i < PREFIX_IMAGES ? n - i : PREFIX_IMAGES);
        float *x = out + i * (size_t)rows * t->d;
        for (int s = 0; s < b; s++) {
            ints[s] = s * rows;
            ints[PREFIX_IMAGES + s] = rows;
        }
        int rc = cs__vision_embed(t->m, pixels + i * img, b, x, err);
        if (!rc) rc = frozen_layers(t, x, b * rows, ints, ints + PREFIX_IMAGES, b, err);
        if (rc) return rc;
    }
    return 0;
}

int cs_tower_trainer_prefix_text(const cs_tower_trainer *t, const char *text, float **out,
                                 int *rows, cs_error *err)
{
    *out = NULL;
    if (t->tower != CS_TOWER_TEXT)
        return cs_error_set(err, CS_E_ARG, "texts go through the text tower's trainer");
    int ctx = t->m->cfg.text.max_positions, n = 0;
    int32_t *ids = malloc((size_t)ctx * sizeof *ids);
    if (!ids) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    int rc = cs_tokenizer_encode(t->m->tok, text, ctx, ids, &n, err);
    if (!rc) {
        n = cs__text_pool_position(t->m, ids, n) + 1;
        if (!(*out = malloc((size_t)n * (t->emb ? 1 : t->d) * sizeof(float))))
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    if (!rc && t->emb) {
        /* Nothing is frozen: the input is the token ids (exact as floats: < 2^24). */
        for (int j = 0; j < n; j++) (*out)[j] = (float)ids[j];
    } else if (!rc) {
        cs__text_embed(t->m, ids, n, *out);
        int start = 0;
        rc = frozen_layers(t, *out, n, &start, &n, 1, err);
    }
    free(ids);
    if (rc) {
        free(*out);
        *out = NULL;
        return rc;
    }
    *rows = n;
    return 0;
}

/* ---- kernels ------------------------------------------------------------------------ */

/* y = x W^T + b for rows of x: W [out, in]. */
static void linear(const float *x, int rows, int in, const float *w, const float *b, int out,
                   float *y)
{
    for (int r = 0; r < rows; r++) memcpy(y + (size_t)r * out, b, (size_t)out * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, x, in, w, in,
                1.0f, y, out);
}

/* Backward of linear: dW += dy^T x, db += column sums of dy (db NULL: not wanted),
 * dx (=, or += when acc) dy W. */
static void linear_back(const float *x, const float *dy, int rows, int in, int out,
                        const float *w, float *dw, float *db, float *dx, bool acc)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, rows, 1.0f, dy, out, x, in,
                1.0f, dw, in);
    for (int c = 0; db && c < out; c++) {
        double s = 0.0;
        for (int r = 0; r < rows; r++) s += dy[(size_t)r * out + c];
        db[c] += (float)s;
    }
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, in, out, 1.0f, dy, out, w,
                    in, acc ? 1.0f : 0.0f, dx, in);
}

static void ln_forward(const float *x, float *y, int rows, int d, const float *w,
                       const float *b, float eps, float *mean, float *rstd)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * d;
        double s = 0.0, ss = 0.0;
        for (int c = 0; c < d; c++) s += xr[c];
        double mu = s / d;
        for (int c = 0; c < d; c++) ss += (xr[c] - mu) * (xr[c] - mu);
        float rs = (float)(1.0 / sqrt(ss / d + eps));
        mean[r] = (float)mu;
        rstd[r] = rs;
        for (int c = 0; c < d; c++) y[(size_t)r * d + c] = (float)((xr[c] - mu) * rs) * w[c] + b[c];
    }
}

/* dx += LN'(dy): with xhat = (x - mean) rstd, dxhat = dy w,
 * dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)); dw += dy xhat, db += dy. */
static void ln_backward(const float *x, const float *dy, int rows, int d, const float *w,
                        const float *mean, const float *rstd, float *dx, float *dw, float *db)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * d, *g = dy + (size_t)r * d;
        double s1 = 0.0, s2 = 0.0;
        for (int c = 0; c < d; c++) {
            double xh = (xr[c] - mean[r]) * rstd[r], gh = (double)g[c] * w[c];
            s1 += gh;
            s2 += gh * xh;
            dw[c] += (float)(g[c] * xh);
            db[c] += g[c];
        }
        s1 /= d;
        s2 /= d;
        for (int c = 0; c < d; c++) {
            double xh = (xr[c] - mean[r]) * rstd[r], gh = (double)g[c] * w[c];
            dx[(size_t)r * d + c] += (float)(rstd[r] * (gh - s1 - xh * s2));
        }
    }
}

static float act_fwd(float f, int act)
{
    if (act == CS_ACT_QUICK_GELU) return f / (1.0f + expf(-1.702f * f));
    return 0.5f * f * (1.0f + erff(f * (float)M_SQRT1_2));
}

static float act_grad(float f, int act)
{
    if (act == CS_ACT_QUICK_GELU) {
        float s = 1.0f / (1.0f + expf(-1.702f * f));
        return s + 1.702f * f * s * (1.0f - s);
    }
    return 0.5f * (1.0f + erff(f * (float)M_SQRT1_2)) +
           f * expf(-0.5f * f * f) * (float)(0.5 * M_2_SQRTPI * M_SQRT1_2);
}

/* Attention of one sequence (rows n starting at row r0), all heads: p receives the
 * weights (heads * n * n; a causal row's masked entries are 0). */
static void attn_forward(const cs_tower_trainer *t, const act *A, int r0, int n, float *p)
{
    int d = t->d, hd = t->hd;
    bool causal = t->tower == CS_TOWER_TEXT;
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < t->heads; h++) {
        float *ph = p + (size_t)h * n * n;
        for (int i = 0; i < n; i++) {
            const float *qi = A->q + (size_t)(r0 + i) * d + h * hd;
            float *row = ph + (size_t)i * n;
            int nk = causal ? i + 1 : n;
            float mx = -INFINITY;
            for (int j = 0; j < nk; j++) {
                const float *kj = A->k + (size_t)(r0 + j) * d + h * hd;
                float s = 0.0f;
                for (int c = 0; c < hd; c++) s += qi[c] * kj[c];
                row[j] = s * scale;
                mx = row[j] > mx ? row[j] : mx;
            }
            double sum = 0.0;
            for (int j = 0; j < nk; j++) sum += row[j] = expf(row[j] - mx);
            for (int j = 0; j < nk; j++) row[j] = (float)(row[j] / sum);
            for (int j = nk; j < n; j++) row[j] = 0.0f;
            float *ai = A->a + (size_t)(r0 + i) * d + h * hd;
            memset(ai, 0, (size_t)hd * sizeof(float));
            for (int j = 0; j < nk; j++) {
                const float *vj = A->v + (size_t)(r0 + j) * d + h * hd;
                for (int c = 0; c < hd; c++) ai[c] += row[j] * vj[c];
            }
        }
    }
}

/* Its backward: da -> dq, dk, dv (rows r0.., all heads; dq/dk/dv are overwritten). With
 * S = scale q k^T and P = softmax(S): dP = da v^T, dv = P^T da,
 * dS = P (dP - rowsum(P dP)), dq = scale dS k, dk = scale dS^T q. */
static void attn_backward(const cs_tower_trainer *t, const act *A, int r0, int n,
                          const float *p, const float *da, float *dq, float *dk, float *dv,
                          float *ds)
{
    int d = t->d, hd = t->hd;
    bool causal = t->tower == CS_TOWER_TEXT;
    float scale = 1.0f / sqrtf((float)hd);
    for (int i = 0; i < n; i++) {
        size_t o = (size_t)(r0 + i) * d;
        memset(dq + o, 0, (size_t)d * sizeof(float));
        memset(dk + o, 0, (size_t)d * sizeof(float));
        memset(dv + o, 0, (size_t)d * sizeof(float));
    }
    for (int h = 0; h < t->heads; h++) {
        const float *ph = p + (size_t)h * n * n;
        for (int i = 0; i < n; i++) {
            int nk = causal ? i + 1 : n;
            const float *pi = ph + (size_t)i * n;
            const float *dai = da + (size_t)(r0 + i) * d + h * hd;
            double dot = 0.0;
            for (int j = 0; j < nk; j++) {
                const float *vj = A->v + (size_t)(r0 + j) * d + h * hd;
                float *dvj = dv + (size_t)(r0 + j) * d + h * hd;
                float g = 0.0f;
                for (int c = 0; c < hd; c++) {
                    g += dai[c] * vj[c];
                    dvj[c] += pi[j] * dai[c];
                }
                ds[j] = g;
                dot += (double)pi[j] * g;
            }
            const float *qi = A->q + (size_t)(r0 + i) * d + h * hd;
            float *dqi = dq + (size_t)(r0 + i) * d + h * hd;
            for (int j = 0; j < nk; j++) {
                float g = pi[j] * (ds[j] - (float)dot) * scale;
                const float *kj = A->k + (size_t)(r0 + j) * d + h * hd;
                float *dkj = dk + (size_t)(r0 + j) * d + h * hd;
                for (int c = 0; c < hd; c++) {
                    dqi[c] += g * kj[c];
                    dkj[c] += g * qi[c];
                }
            }
        }
    }
}

/* ---- forward and backward ------------------------------------------------------------ */

/* Room for a batch of b sequences, n rows in all. */
static int batch_alloc(cs_tower_trainer *t, const int *rows, int b, cs_error *err)
{
    t->b = 0;   /* no batch until this one is in place */
    free(t->start);
    t->start = malloc((size_t)b * (2 * sizeof(int) + sizeof(size_t)) + (size_t)t->k * sizeof(act));
    if (!t->start) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    t->rows = t->start + b;
    t->p_off = (size_t *)(t->rows + b);
    t->acts = (act *)(t->p_off + b);
    size_t n = 0, pw = 0;
    for (int s = 0; s < b; s++) {
        t->start[s] = (int)n;
        t->rows[s] = rows[s];
        t->p_off[s] = pw;
        n += (size_t)rows[s];
        pw += (size_t)t->heads * rows[s] * rows[s];
    }
    size_t d = (size_t)t->d, f = (size_t)t->inter;
    size_t per = n * (8 * d + 2 * f + 4) + pw;
    size_t total = per * (size_t)t->k + n * d + 2 * (size_t)b + (t->emb ? n * d + 2 * n : 0);
    if (total > t->block_cap) {
        free(t->block);
        t->block_cap = 0;
        if (!(t->block = malloc(total * sizeof(float))))
            return cs_error_set(err, CS_E_NOMEM, "out of memory for the activations of %zu rows "
                                                 "(%.0f MiB)", n, total * 4.0 / 1048576.0);
        t->block_cap = total;
    }
    float *p = t->block;
    for (int l = 0; l < t->k; l++) {
        act *A = &t->acts[l];
        A->x = p; p += n * d;
        A->h1 = p; p += n * d;
        A->q = p; p += n * d;
        A->k = p; p += n * d;
        A->v = p; p += n * d;
        A->a = p; p += n * d;
        A->x1 = p; p += n * d;
        A->h2 = p; p += n * d;
        A->f = p; p += n * f;
        A->g = p; p += n * f;
        A->mean1 = p; p += n;
        A->rstd1 = p; p += n;
        A->mean2 = p; p += n;
        A->rstd2 = p; p += n;
        A->p = p; p += pw;
    }
    t->y = p; p += n * d;
    t->fmean = p; p += b;
    t->frstd = p; p += b;
    if (t->emb) {
        t->xe = p; p += n * d;
        t->emean = p; p += n;
        t->erstd = p;
    }
    t->b = b;
    t->n = (int)n;
    return 0;
}

/* The pooling row of sequence s: CLS (its first) for images, EOT (its last) for texts. */
static int pool_row(const cs_tower_trainer *t, int s)
{
    return t->tower == CS_TOWER_VISION ? t->start[s] : t->start[s] + t->rows[s] - 1;
}

/* The embeddings of the batch into acts[0].x. Vision: [CLS] + patches W^T, plus the
 * positions, then pre_layrnorm (its input kept in xe); text: token + position rows. */
static void embed_forward(cs_tower_trainer *t)
{
    int d = t->d;
    float *x0 = t->acts[0].x;
    for (int s = 0; s < t->b; s++) {
        float *xs = x0 + (size_t)t->start[s] * d;
        if (t->tower == CS_TOWER_TEXT) {
            for (int j = 0; j < t->rows[s]; j++) {
                const float *te = t->tok + (size_t)t->in[s][j] * d, *pe = t->pos + (size_t)j * d;
                for (int c = 0; c < d; c++) xs[(size_t)j * d + c] = te[c] + pe[c];
            }
            continue;
        }
        float *es = t->xe + (size_t)t->start[s] * d;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t->in_rows[s], d, t->kin, 1.0f,
                    t->in[s], t->kin, t->patch_w, t->kin, 0.0f, es + d, d);
        for (int c = 0; c < d; c++) es[c] = t->cls[c];
        for (int r = 0; r < t->rows[s]; r++)
            for (int c = 0; c < d; c++) es[(size_t)r * d + c] += t->pos[(size_t)r * d + c];
    }
    if (t->tower == CS_TOWER_VISION)
        ln_forward(t->xe, x0, t->n, d, t->pre_w, t->pre_b, t->eps, t->emean, t->erstd);
}

/* The embeddings' gradients from dx = dLoss/d(acts[0].x). */
static void embed_backward(cs_tower_trainer *t, const float *dx, float *scratch)
{
    int d = t->d;
    float *gpos = grad_of(t, t->pos);
    if (t->tower == CS_TOWER_TEXT) {
        float *gtok = grad_of(t, t->tok);
        for (int s = 0; s < t->b; s++)
            for (int j = 0; j < t->rows[s]; j++) {
                const float *g = dx + (size_t)(t->start[s] + j) * d;
                float *gt = gtok + (size_t)t->in[s][j] * d, *gp = gpos + (size_t)j * d;
                for (int c = 0; c < d; c++) {
                    gt[c] += g[c];
                    gp[c] += g[c];
                }
            }
        return;
    }
    float *de = scratch;   /* dLoss/d(pre_layrnorm's input), n * d */
    memset(de, 0, (size_t)t->n * d * sizeof(float));
    ln_backward(t->xe, dx, t->n, d, t->pre_w, t->emean, t->erstd, de, grad_of(t, t->pre_w),
                grad_of(t, t->pre_b));
    float *gcls = grad_of(t, t->cls), *gw = grad_of(t, t->patch_w);
    for (int s = 0; s < t->b; s++) {
        const float *ds = de + (size_t)t->start[s] * d;
        for (int r = 0; r < t->rows[s]; r++)
            for (int c = 0; c < d; c++) gpos[(size_t)r * d + c] += ds[(size_t)r * d + c];
        for (int c = 0; c < d; c++) gcls[c] += ds[c];
        /* patch_w [d, kin] += dEmb^T [d, patches] * patches [patches, kin] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, t->kin, t->in_rows[s], 1.0f,
                    ds + d, d, t->in[s], t->kin, 1.0f, gw, t->kin);
    }
}

int cs_tower_trainer_forward(cs_tower_trainer *t, const float *const *x, const int *rows,
                             int b, float *pooled, cs_error *err)
{
    int rc = 0;
    t->b = 0;   /* no batch to go backward through until this forward is done */
    if (t->emb) {
        /* The hidden rows: a vision input's patches plus [CLS]; a text's tokens. */
        free(t->in);
        t->in = malloc((size_t)b * (sizeof *t->in + 2 * sizeof(int)));
        if (!t->in) return cs_error_set(err, CS_E_NOMEM, "out of memory");
        t->in_rows = (int *)(t->in + b);
        int *hidden = t->in_rows + b;
        for (int s = 0; s < b; s++) {
            t->in[s] = x[s];
            t->in_rows[s] = rows[s];
            hidden[s] = rows[s] + (t->tower == CS_TOWER_VISION);
        }
        rc = batch_alloc(t, hidden, b, err);
    } else {
        rc = batch_alloc(t, rows, b, err);
    }
    if (rc) return rc;
    int n = t->n, d = t->d, f = t->inter;
    if (t->emb) embed_forward(t);
    else
        for (int s = 0; s < b; s++)
            memcpy(t->acts[0].x + (size_t)t->start[s] * d, x[s], (size_t)rows[s] * d * sizeof(float));
    for (int l = 0; l < t->k; l++) {
        act *A = &t->acts[l];
        float *const *w = t->w[l];
        float *next = l + 1 < t->k ? t->acts[l + 1].x : t->y;
        ln_forward(A->x, A->h1, n, d, w[LN1W], w[LN1B], t->eps, A->mean1, A->rstd1);
        linear(A->h1, n, d, w[QW], w[QB], d, A->q);
        linear(A->h1, n, d, w[KW], w[KB], d, A->k);
        linear(A->h1, n, d, w[VW], w[VB], d, A->v);
        for (int s = 0; s < b; s++) attn_forward(t, A, t->start[s], t->rows[s], A->p + t->p_off[s]);
        /* x1 = x + out_proj(a): the residual connection. */
        linear(A->a, n, d, w[OW], w[OB], d, A->x1);
        for (size_t i = 0; i < (size_t)n * d; i++) A->x1[i] += A->x[i];
        ln_forward(A->x1, A->h2, n, d, w[LN2W], w[LN2B], t->eps, A->mean2, A->rstd2);
        linear(A->h2, n, d, w[F1W], w[F1B], f, A->f);
        for (size_t i = 0; i < (size_t)n * f; i++) A->g[i] = act_fwd(A->f[i], t->cfg->act);
        /* next = x1 + fc2(g): the second residual connection. */
        linear(A->g, n, f, w[F2W], w[F2B], d, next);
        for (size_t i = 0; i < (size_t)n * d; i++) next[i] += A->x1[i];
    }
    for (int s = 0; s < b; s++)
        ln_forward(t->y + (size_t)pool_row(t, s) * d, pooled + (size_t)s * d, 1, d, t->lnf_w,
                   t->lnf_b, t->eps, t->fmean + s, t->frstd + s);
    return 0;
}

int cs_tower_trainer_backward(cs_tower_trainer *t, const float *dpooled, cs_error *err)
{
    if (!t->b) return cs_error_set(err, CS_E_ARG, "backward without a forward pass");
    int n = t->n, d = t->d, f = t->inter;
    size_t nd = (size_t)n * d;
    int max_rows = 1;
    for (int s = 0; s < t->b; s++) max_rows = t->rows[s] > max_rows ? t->rows[s] : max_rows;
    size_t need = 6 * nd + (size_t)n * f + (size_t)max_rows;
    if (need > t->scratch_cap) {
        free(t->scratch);
        t->scratch_cap = 0;
        if (!(t->scratch = malloc(need * sizeof(float))))
            return cs_error_set(err, CS_E_NOMEM, "out of memory for the backward pass");
        t->scratch_cap = need;
    }
    float *buf = t->scratch;
    memset(buf, 0, nd * sizeof(float));   /* dx: only the pooling rows are set below */
    float *dx = buf, *dx1 = dx + nd, *dh = dx1 + nd, *dq = dh + nd, *dk = dq + nd, *dv = dk + nd,
          *dg = dv + nd, *ds = dg + (size_t)n * f;
    /* Only the pooling rows reach the output. */
    for (int s = 0; s < t->b; s++) {
        int r = pool_row(t, s);
        ln_backward(t->y + (size_t)r * d, dpooled + (size_t)s * d, 1, d, t->lnf_w, t->fmean + s,
                    t->frstd + s, dx + (size_t)r * d, grad_of(t, t->lnf_w), grad_of(t, t->lnf_b));
    }
    for (int l = t->k - 1; l >= 0; l--) {
        const act *A = &t->acts[l];
        float *const *w = t->w[l];
        /* MLP: dx is dL/d(output); the residual passes it to x1 unchanged. */
        linear_back(A->g, dx, n, f, d, w[F2W], grad_of(t, w[F2W]), grad_of(t, w[F2B]), dg, false);
        for (size_t i = 0; i < (size_t)n * f; i++) dg[i] *= act_grad(A->f[i], t->cfg->act);
        linear_back(A->h2, dg, n, d, f, w[F1W], grad_of(t, w[F1W]), grad_of(t, w[F1B]), dh, false);
        memcpy(dx1, dx, nd * sizeof(float));
        ln_backward(A->x1, dh, n, d, w[LN2W], A->mean2, A->rstd2, dx1, grad_of(t, w[LN2W]),
                    grad_of(t, w[LN2B]));
        /* Attention: dx1 reaches x through the residual and through out_proj. */
        linear_back(A->a, dx1, n, d, d, w[OW], grad_of(t, w[OW]), grad_of(t, w[OB]), dh, false);
        for (int s = 0; s < t->b; s++)
            attn_backward(t, A, t->start[s], t->rows[s], A->p + t->p_off[s], dh, dq, dk, dv, ds);
        linear_back(A->h1, dq, n, d, d, w[QW], grad_of(t, w[QW]), grad_of(t, w[QB]), dh, false);
        /* The keys' bias adds one number to all of a query's scores, which the softmax
         * ignores: its gradient is exactly zero. Summing it would only turn rounding
         * noise into AdamW steps of size lr (AdamW divides by the gradient's size). */
        linear_back(A->h1, dk, n, d, d, w[KW], grad_of(t, w[KW]), NULL, dh, true);
        linear_back(A->h1, dv, n, d, d, w[VW], grad_of(t, w[VW]), grad_of(t, w[VB]), dh, true);
        memcpy(dx, dx1, nd * sizeof(float));
        ln_backward(A->x, dh, n, d, w[LN1W], A->mean1, A->rstd1, dx, grad_of(t, w[LN1W]),
                    grad_of(t, w[LN1B]));
    }
    if (t->emb) embed_backward(t, dx, dh);
    return 0;
}
