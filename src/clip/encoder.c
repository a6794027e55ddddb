/* The pre-LN transformer shared by both towers: x += attn(LN1(x)); x += mlp(LN2(x)).
 * All sequences of a batch are stacked into one [n_tokens, D] matrix so every linear
 * layer is a single large GEMM; only attention works per sequence. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clip/kernels.h"
#include "clip/model.h"
#include "clip/parallel.h"
#include "clip/workspace.h"

typedef struct {
    float *h, *q, *k, *v, *a, *mlp, *scores; /* scores: one attention scratch per worker */
    size_t scores_stride;
    void *block;
} scratch;

static int scratch_alloc(cs_workspace *ws, scratch *s, size_t n, size_t d, size_t inter, size_t per_worker,
                         size_t workers)
{
    size_t total = 5 * n * d + n * inter + workers * per_worker;
    float *p = cs_workspace_take(ws, total * sizeof(float));
    if (!p) return -1;
    s->block = p;
    s->h = p;
    s->q = s->h + n * d;
    s->k = s->q + n * d;
    s->v = s->k + n * d;
    s->a = s->v + n * d;
    s->mlp = s->a + n * d;
    s->scores = s->mlp + n * inter;
    s->scores_stride = per_worker;
    return 0;
}

/* Row-parallel wrappers of the elementwise kernels (see parallel.h). */
typedef struct {
    const float *x, *w, *b;
    float *y;
    int d, act;
    float eps;
} rows_job;

static void ln_rows(void *ctx, int begin, int end, int worker)
{
    const rows_job *j = ctx;
    size_t o = (size_t)begin * j->d;
    cs_layernorm(j->x + o, j->y + o, end - begin, j->d, j->w, j->b, j->eps);
}

static void layernorm(const cs_exec *ex, const float *x, float *y, int rows, int d, const float *w,
                      const float *b, float eps)
{
    rows_job j = {x, w, b, y, d, 0, eps};
    cs_parallel_for(ex, rows, (size_t)rows * d, ln_rows, &j);
}

static void act_rows(void *ctx, int begin, int end, int worker)
{
    const rows_job *j = ctx;
    cs_act(j->y + (size_t)begin * j->d, (size_t)(end - begin) * j->d, j->act);
}

static void activation(const cs_exec *ex, float *y, int rows, int n, int act)
{
    rows_job j = {NULL, NULL, NULL, y, n, act, 0};
    cs_parallel_for(ex, rows, (size_t)rows * n, act_rows, &j);
}

typedef struct {
    scratch *s;
    const int *start, *len;
    int d, heads, hd;
    bool causal;
} attn_job;

static void attn_seqs(void *ctx, int begin, int end, int worker)
{
    const attn_job *j = ctx;
    float *scores = j->s->scores + (size_t)worker * j->s->scores_stride;
    for (int q = begin; q < end; q++) {
        size_t o = (size_t)j->start[q] * j->d;
        cs_attention(j->s->q + o, j->d, NULL, j->len[q], j->s->k + o, j->s->v + o, j->d,
                     j->len[q], j->heads, j->hd, j->causal, j->s->a + o, j->d, scores);
    }
}

/* x[rows] += MLP(LN2(x[rows])), using s->h and s->mlp. */
static void mlp_block(const cs_exec *ex, const cs_clip_tower_config *cfg, const cs_clip_layer *L,
                      float *x, int rows, scratch *s)
{
    int d = cfg->hidden, inter = cfg->intermediate;
    layernorm(ex, x, s->h, rows, d, L->ln2_w, L->ln2_b, (float)cfg->ln_eps);
    cs_linear_bias(ex, s->h, d, rows, d, L->fc1_w, L->fc1_b, inter, s->mlp, inter);
    activation(ex, s->mlp, rows, inter, cfg->act);
    cs_linear(ex, s->mlp, inter, rows, inter, L->fc2_w, d, x, d, true);
    cs_add_bias(x, rows, d, L->fc2_b);
}

int cs_encoder_forward(const cs_exec *ex, const cs_clip_tower_config *cfg, const cs_clip_layer *layers, float *x,
                       int n_tokens, const int *seq_start, const int *seq_len, int n_seq,
                       bool causal, const int *pool_rows, float *pooled, cs_error *err)
{
    int d = cfg->hidden, heads = cfg->heads, hd = d / heads;
    float scale = 1.0f / sqrtf((float)hd);
    float eps = (float)cfg->ln_eps;
    int max_t = 1;
    for (int s = 0; s < n_seq; s++) max_t = seq_len[s] > max_t ? seq_len[s] : max_t;
    scratch s;
    if (scratch_alloc(ex->ws, &s, (size_t)n_tokens, (size_t)d, (size_t)cfg->intermediate,
                      cs_attention_scratch(max_t, max_t, hd), (size_t)cs_parallel_workers(ex)) != 0)
        return cs_error_set(err, CS_E_NOMEM, "encoder: out of memory for %d tokens", n_tokens);
    for (int l = 0; l < cfg->layers; l++) {
        const cs_clip_layer *L = &layers[l];
        bool last = pool_rows && l == cfg->layers - 1;
        layernorm(ex, x, s.h, n_tokens, d, L->ln1_w, L->ln1_b, eps);
        cs_linear_bias(ex, s.h, d, n_tokens, d, L->k_w, L->k_b, d, s.k, d);
        cs_linear_bias(ex, s.h, d, n_tokens, d, L->v_w, L->v_b, d, s.v, d);
        if (!last) {
            cs_linear_bias(ex, s.h, d, n_tokens, d, L->q_w, L->q_b, d, s.q, d);
            cs_scale(s.q, (size_t)n_tokens * d, scale);
            attn_job aj = {&s, seq_start, seq_len, d, heads, hd, causal};
            cs_parallel_for(ex, n_seq, (size_t)n_tokens * max_t * d, attn_seqs, &aj);
            cs_linear(ex, s.a, d, n_tokens, d, L->o_w, d, x, d, true);
            cs_add_bias(x, n_tokens, d, L->o_b);
            mlp_block(ex, cfg, L, x, n_tokens, &s);
            continue;
        }
        /* Last layer with pooling: nothing but the pooled rows can reach the output, so
         * queries, projections and the MLP run on those rows only. */
        for (int q = 0; q < n_seq; q++)
            memcpy(s.a + (size_t)q * d, s.h + (size_t)pool_rows[q] * d, (size_t)d * 4);
        cs_linear_bias(ex, s.a, d, n_seq, d, L->q_w, L->q_b, d, s.q, d);
        cs_scale(s.q, (size_t)n_seq * d, scale);
        for (int q = 0; q < n_seq; q++) {
            size_t o = (size_t)seq_start[q] * d;
            int pos = pool_rows[q] - seq_start[q];
            cs_attention(s.q + (size_t)q * d, d, &pos, 1, s.k + o, s.v + o, d, seq_len[q], heads,
                         hd, causal, s.a + (size_t)q * d, d, s.scores);
            memcpy(pooled + (size_t)q * d, x + (size_t)pool_rows[q] * d, (size_t)d * 4);
        }
        cs_linear(ex, s.a, d, n_seq, d, L->o_w, d, pooled, d, true);
        cs_add_bias(pooled, n_seq, d, L->o_b);
        mlp_block(ex, cfg, L, pooled, n_seq, &s);
    }
    cs_workspace_give(ex->ws, s.block);
    return 0;
}
