/* The pre-LN transformer shared by both towers: x += attn(LN1(x)); x += mlp(LN2(x)).
 * All sequences of a batch are stacked into one [n_tokens, D] matrix so every linear
 * layer is a single large GEMM; only attention works per sequence. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clip/kernels.h"
#include "clip/model.h"

typedef struct {
    float *h, *q, *k, *v, *a, *mlp, *scores;
    void *block;
} scratch;

static int scratch_alloc(scratch *s, size_t n, size_t d, size_t inter, size_t max_t)
{
    size_t total = 5 * n * d + n * inter + max_t * max_t;
    float *p = malloc(total * sizeof(float));
    if (!p) return -1;
    s->block = p;
    s->h = p;
    s->q = s->h + n * d;
    s->k = s->q + n * d;
    s->v = s->k + n * d;
    s->a = s->v + n * d;
    s->mlp = s->a + n * d;
    s->scores = s->mlp + n * inter;
    return 0;
}

/* x[rows] += MLP(LN2(x[rows])), using s->h and s->mlp. */
static void mlp_block(const cs_clip_tower_config *cfg, const cs_clip_layer *L, float *x,
                      int rows, scratch *s)
{
    int d = cfg->hidden, inter = cfg->intermediate;
    cs_layernorm(x, s->h, rows, d, L->ln2_w, L->ln2_b, (float)cfg->ln_eps);
    cs_linear_bias(s->h, d, rows, d, L->fc1_w, L->fc1_b, inter, s->mlp, inter);
    cs_act(s->mlp, (size_t)rows * inter, cfg->act);
    cs_linear(s->mlp, inter, rows, inter, L->fc2_w, d, x, d, true);
    cs_add_bias(x, rows, d, L->fc2_b);
}

int cs_encoder_forward(const cs_clip_tower_config *cfg, const cs_clip_layer *layers, float *x,
                       int n_tokens, const int *seq_start, const int *seq_len, int n_seq,
                       bool causal, const int *pool_rows, float *pooled, cs_error *err)
{
    int d = cfg->hidden, heads = cfg->heads, hd = d / heads;
    float scale = 1.0f / sqrtf((float)hd);
    float eps = (float)cfg->ln_eps;
    int max_t = 1;
    for (int s = 0; s < n_seq; s++) max_t = seq_len[s] > max_t ? seq_len[s] : max_t;
    scratch s;
    if (scratch_alloc(&s, (size_t)n_tokens, (size_t)d, (size_t)cfg->intermediate,
                      (size_t)max_t) != 0)
        return cs_error_set(err, CS_E_NOMEM, "encoder: out of memory for %d tokens", n_tokens);
    for (int l = 0; l < cfg->layers; l++) {
        const cs_clip_layer *L = &layers[l];
        bool last = pool_rows && l == cfg->layers - 1;
        cs_layernorm(x, s.h, n_tokens, d, L->ln1_w, L->ln1_b, eps);
        cs_linear_bias(s.h, d, n_tokens, d, L->k_w, L->k_b, d, s.k, d);
        cs_linear_bias(s.h, d, n_tokens, d, L->v_w, L->v_b, d, s.v, d);
        if (!last) {
            cs_linear_bias(s.h, d, n_tokens, d, L->q_w, L->q_b, d, s.q, d);
            cs_scale(s.q, (size_t)n_tokens * d, scale);
            for (int q = 0; q < n_seq; q++) {
                size_t o = (size_t)seq_start[q] * d;
                cs_attention(s.q + o, d, NULL, seq_len[q], s.k + o, s.v + o, d, seq_len[q],
                             heads, hd, causal, s.a + o, d, s.scores);
            }
            cs_linear(s.a, d, n_tokens, d, L->o_w, d, x, d, true);
            cs_add_bias(x, n_tokens, d, L->o_b);
            mlp_block(cfg, L, x, n_tokens, &s);
            continue;
        }
        /* Last layer with pooling: nothing but the pooled rows can reach the output, so
         * queries, projections and the MLP run on those rows only. */
        for (int q = 0; q < n_seq; q++)
            memcpy(s.a + (size_t)q * d, s.h + (size_t)pool_rows[q] * d, (size_t)d * 4);
        cs_linear_bias(s.a, d, n_seq, d, L->q_w, L->q_b, d, s.q, d);
        cs_scale(s.q, (size_t)n_seq * d, scale);
        for (int q = 0; q < n_seq; q++) {
            size_t o = (size_t)seq_start[q] * d;
            int pos = pool_rows[q] - seq_start[q];
            cs_attention(s.q + (size_t)q * d, d, &pos, 1, s.k + o, s.v + o, d, seq_len[q], heads,
                         hd, causal, s.a + (size_t)q * d, d, s.scores);
            memcpy(pooled + (size_t)q * d, x + (size_t)pool_rows[q] * d, (size_t)d * 4);
        }
        cs_linear(s.a, d, n_seq, d, L->o_w, d, pooled, d, true);
        cs_add_bias(pooled, n_seq, d, L->o_b);
        mlp_block(cfg, L, pooled, n_seq, &s);
    }
    free(s.block);
    return 0;
}
