/* Text tower: token + position embeddings, causal encoder, final_layer_norm at the first
 * <|endoftext|>, text_projection (skipped for callers that want the pooled features).
 * Each text runs only up to that position: with a causal mask nothing after it can
 * change the pooled state, so padding is never computed. */
#include <stdlib.h>
#include <string.h>

#include "clip/kernels.h"
#include "clip/model.h"

#define CS_TEXT_CHUNK 64

/* Pooling position: the first EOT. The real openai config carries the legacy
 * eos_token_id 2, so we do not trust the config; without any EOT we fall back to
 * transformers' legacy rule, the (first) position of the largest id. */
int cs__text_pool_position(const cs_clip *m, const int32_t *ids, int n)
{
    int best = 0;
    for (int j = 0; j < n; j++) {
        if (ids[j] == m->eot_id) return j;
        if (ids[j] > ids[best]) best = j;
    }
    return best;
}

void cs__text_embed(const cs_clip *m, const int32_t *ids, int n, float *x)
{
    int d = m->cfg.text.hidden;
    for (int j = 0; j < n; j++) {
        const float *te = m->tok_emb + (size_t)ids[j] * d, *pe = m->txt_pos + (size_t)j * d;
        float *xr = x + (size_t)j * d;
        for (int c = 0; c < d; c++) xr[c] = te[c] + pe[c];
    }
}

static int text_chunk(const cs_clip *m, const int32_t *const *ids, const int *n_ids, int b,
                      bool project, float *out, cs_error *err)
{
    const cs__clip_tower_config *t = &m->cfg.text;
    int d = t->hidden, n_tok = 0;
    int *ints = malloc((size_t)b * 3 * sizeof(int));
    if (!ints) return cs_error_set(err, CS_E_NOMEM, "text: out of memory");
    int *starts = ints, *lens = ints + b, *pool = ints + 2 * b;
    for (int i = 0; i < b; i++) {
        starts[i] = n_tok;
        lens[i] = cs__text_pool_position(m, ids[i], n_ids[i]) + 1;
        n_tok += lens[i];
        pool[i] = n_tok - 1;
    }
    float *x = malloc(((size_t)n_tok * d + (size_t)b * d) * sizeof(float));
    if (!x) {
        free(ints);
        return cs_error_set(err, CS_E_NOMEM, "text: out of memory for %d tokens", n_tok);
    }
    float *pooled = x + (size_t)n_tok * d;
    for (int i = 0; i < b; i++) cs__text_embed(m, ids[i], lens[i], x + (size_t)starts[i] * d);
    cs__exec ex = cs__clip_exec(m);
    int rc = cs__encoder_forward(&ex, t, m->txt_layers, x, n_tok, starts, lens, b, true, pool, pooled,
                                err);
    if (!rc)
        cs__tower_head(&ex, m, pooled, b, d, m->final_ln_w, m->final_ln_b, (float)t->ln_eps,
                       m->text_proj, project, out);
    free(x);
    free(ints);
    return rc;
}

static int text_run(const cs_clip *m, const int32_t *const *ids, const int *n_ids, size_t n,
                    bool project, float *out, cs_error *err)
{
    const cs__clip_tower_config *t = &m->cfg.text;
    for (size_t i = 0; i < n; i++) {
        if (!ids[i] || n_ids[i] < 1 || n_ids[i] > t->max_positions)
            return cs_error_set(err, CS_E_ARG,
                                "text %zu: %d token ids (must be 1..%d, the context length)", i,
                                n_ids[i], t->max_positions);
        for (int j = 0; j < n_ids[i]; j++)
            if (ids[i][j] < 0 || ids[i][j] >= t->vocab_size)
                return cs_error_set(err, CS_E_ARG, "text %zu: token id %d out of range [0, %d)",
                                    i, (int)ids[i][j], t->vocab_size);
    }
    size_t width = (size_t)(project ? m->cfg.projection_dim : t->hidden);
    for (size_t i = 0; i < n; i += CS_TEXT_CHUNK) {
        int b = (int)(n - i < CS_TEXT_CHUNK ? n - i : CS_TEXT_CHUNK);
        int rc = text_chunk(m, ids + i, n_ids + i, b, project, out + i * width, err);
        if (rc) return rc;
    }
    return 0;
}

int cs__text_forward(const cs_clip *m, const int32_t *const *ids, const int *n_ids, size_t n,
                    float *out, cs_error *err)
{
    return text_run(m, ids, n_ids, n, true, out, err);
}

int cs__text_pool(const cs_clip *m, const int32_t *const *ids, const int *n_ids, size_t n,
                 float *out, cs_error *err)
{
    return text_run(m, ids, n_ids, n, false, out, err);
}
