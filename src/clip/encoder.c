/* The pre-LN transformer shared by both towers. Each layer, as CLIP's:
 *
 *   h = LN1(x);  q, k, v = h Wq^T + bq, h Wk^T + bk, h Wv^T + bv
 *   x = x + attention(q, k, v) Wo^T + bo          (residual connection)
 *   x = x + act(LN2(x) W1^T + b1) W2^T + b2       (residual connection)
 *
 * All sequences of a batch are stacked into one [n_tokens, D] matrix so every linear
 * layer is a single large GEMM; only attention works per sequence. The residual adds
 * are done by the GEMMs themselves (they add onto x instead of writing a copy that a
 * second pass would add).
 *
 * The last layer of a pooled tower only needs the rows that are pooled (CLS for images,
 * EOT for texts): keys and values still come from every token, but queries, the output
 * projection and the MLP run on those rows alone. The same layer body does both: it is
 * given the rows of interest. */
#include <math.h>
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

static int scratch_alloc(cs__workspace *ws, scratch *s, size_t n, size_t d, size_t inter,
                         size_t per_worker, size_t workers)
{
    size_t total = 5 * n * d + n * inter + workers * per_worker;
    float *p = cs__workspace_take(ws, total * sizeof(float));
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

/* The sequences of the batch and the rows a layer computes outputs for. */
typedef struct {
    const int *start, *len;  /* sequence s: rows start[s] .. start[s]+len[s]-1 */
    int n_seq, n_tokens;
    bool causal;
    const int *rows;         /* one row per sequence (its pooled row), or NULL: all rows */
} batch;

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
    cs__layernorm(j->x + o, j->y + o, end - begin, j->d, j->w, j->b, j->eps);
    (void)worker;
}

static void layernorm(const cs__exec *ex, const float *x, float *y, int rows, int d, const float *w,
                      const float *b, float eps)
{
    rows_job j = {x, w, b, y, d, 0, eps};
    cs__parallel_for(ex, rows, (size_t)rows * d, ln_rows, &j);
}

static void act_rows(void *ctx, int begin, int end, int worker)
{
    const rows_job *j = ctx;
    cs__act(j->y + (size_t)begin * j->d, (size_t)(end - begin) * j->d, j->act);
    (void)worker;
}

static void activation(const cs__exec *ex, float *y, int rows, int n, int act)
{
    rows_job j = {NULL, NULL, NULL, y, n, act, 0};
    cs__parallel_for(ex, rows, (size_t)rows * n, act_rows, &j);
}

typedef struct {
    const scratch *s;
    const batch *bt;
    int d, heads, hd;
} attn_job;

/* Attention of sequences [begin, end): their queries are all their rows (q and a indexed
 * by token), or their one row of interest (q and a indexed by sequence). */
static void attn_seqs(void *ctx, int begin, int end, int worker)
{
    const attn_job *j = ctx;
    const batch *bt = j->bt;
    float *scores = j->s->scores + (size_t)worker * j->s->scores_stride;
    for (int q = begin; q < end; q++) {
        size_t kv = (size_t)bt->start[q] * j->d;
        if (bt->rows) {
            int pos = bt->rows[q] - bt->start[q];
            size_t o = (size_t)q * j->d;
            cs__attention(j->s->q + o, j->d, &pos, 1, j->s->k + kv, j->s->v + kv, j->d,
                         bt->len[q], j->heads, j->hd, bt->causal, j->s->a + o, j->d, scores);
        } else {
            cs__attention(j->s->q + kv, j->d, NULL, bt->len[q], j->s->k + kv, j->s->v + kv, j->d,
                         bt->len[q], j->heads, j->hd, bt->causal, j->s->a + kv, j->d, scores);
        }
    }
}

/* One layer. x [n_tokens, D] is the layer's input; the output rows go to xr, which holds
 * the input rows of interest on entry: x itself when bt->rows is NULL, else [n_seq, D]. */
static void encoder_layer(const cs__exec *ex, const cs__clip_tower_config *cfg,
                          const cs__clip_layer *L, const float *x, const batch *bt, float *xr,
                          scratch *s)
{
    int d = cfg->hidden, inter = cfg->intermediate, hd = d / cfg->heads;
    int n = bt->n_tokens, nr = bt->rows ? bt->n_seq : n;
    float eps = (float)cfg->ln_eps;

    /* attention: keys and values of every token, queries of the rows of interest */
    layernorm(ex, x, s->h, n, d, L->ln1_w, L->ln1_b, eps);
    cs__linear_bias(ex, s->h, d, n, d, L->k_w, L->k_b, d, s->k, d);
    cs__linear_bias(ex, s->h, d, n, d, L->v_w, L->v_b, d, s->v, d);
    const float *hq = s->h;
    if (bt->rows) {
        for (int q = 0; q < nr; q++)
            memcpy(s->a + (size_t)q * d, s->h + (size_t)bt->rows[q] * d, (size_t)d * sizeof(float));
        hq = s->a;
    }
    cs__linear_bias(ex, hq, d, nr, d, L->q_w, L->q_b, d, s->q, d);
    cs__scale(s->q, (size_t)nr * d, 1.0f / sqrtf((float)hd));
    attn_job aj = {s, bt, d, cfg->heads, hd};
    int max_len = 1;
    for (int q = 0; q < bt->n_seq; q++) max_len = bt->len[q] > max_len ? bt->len[q] : max_len;
    cs__parallel_for(ex, bt->n_seq, (size_t)nr * max_len * d, attn_seqs, &aj);
    /* residual connection */
    cs__linear_residual(ex, s->a, d, nr, d, L->o_w, L->o_b, d, xr, d);

    /* MLP */
    layernorm(ex, xr, s->h, nr, d, L->ln2_w, L->ln2_b, eps);
    cs__linear_bias(ex, s->h, d, nr, d, L->fc1_w, L->fc1_b, inter, s->mlp, inter);
    activation(ex, s->mlp, nr, inter, cfg->act);
    /* residual connection */
    cs__linear_residual(ex, s->mlp, inter, nr, inter, L->fc2_w, L->fc2_b, d, xr, d);
}

int cs__encoder_forward(const cs__exec *ex, const cs__clip_tower_config *cfg,
                       const cs__clip_layer *layers, float *x, int n_tokens, const int *seq_start,
                       const int *seq_len, int n_seq, bool causal, const int *pool_rows,
                       float *pooled, cs_error *err)
{
    int d = cfg->hidden, hd = d / cfg->heads;
    int max_t = 1;
    for (int s = 0; s < n_seq; s++) max_t = seq_len[s] > max_t ? seq_len[s] : max_t;
    scratch s;
    if (scratch_alloc(ex->ws, &s, (size_t)n_tokens, (size_t)d, (size_t)cfg->intermediate,
                      cs__attention_scratch(max_t, max_t, hd), (size_t)cs__parallel_workers(ex)) != 0)
        return cs_error_set(err, CS_E_NOMEM, "encoder: out of memory for %d tokens", n_tokens);
    batch all = {seq_start, seq_len, n_seq, n_tokens, causal, NULL};
    for (int l = 0; l < cfg->layers; l++) {
        if (pool_rows && l == cfg->layers - 1) {
            batch some = all;
            some.rows = pool_rows;
            for (int q = 0; q < n_seq; q++)
                memcpy(pooled + (size_t)q * d, x + (size_t)pool_rows[q] * d, (size_t)d * sizeof(float));
            encoder_layer(ex, cfg, &layers[l], x, &some, pooled, &s);
        } else {
            encoder_layer(ex, cfg, &layers[l], x, &all, x, &s);
        }
    }
    cs__workspace_give(ex->ws, s.block);
    return 0;
}

void cs__tower_head(const cs__exec *ex, const cs_clip *m, float *pooled, int b, int d,
                    const float *ln_w, const float *ln_b, float eps, const float *proj,
                    bool project, float *out)
{
    cs__layernorm(pooled, pooled, b, d, ln_w, ln_b, eps);
    if (project)
        cs__linear(ex, pooled, d, b, d, proj, m->cfg.projection_dim, out, m->cfg.projection_dim,
                   false);
    else
        memcpy(out, pooled, (size_t)b * d * sizeof(float));
}
