/* Evaluation during fine-tuning: the loss over a set in file-order batches and
 * text -> image recall@k among the set's distinct images, from the cached features and
 * the heads as they are. Plain double loops, like the loss, so that the numbers do not
 * depend on threads. */
#include <math.h>
#include <stdlib.h>

#include "app/finetune_internal.h"

void cs__ft_gather(cs__ft_trainer *t, const cs__ft_item *items, const size_t *order, size_t from,
                  int b)
{
    for (int k = 0; k < b; k++) {
        const cs__ft_item *it = &items[order ? order[from + k] : from + k];
        t->xi[k] = t->c->xi + (size_t)it->img * t->dims.dv;
        t->xt[k] = t->c->xt + (size_t)it->txt * t->dims.dt;
    }
}

/* Mean loss over consecutive batches (file order), weighted by batch size. */
double cs__ft_eval_loss(cs__ft_trainer *t, const cs__ft_item *items, size_t n, int batch,
                       const float *wv, const float *wt)
{
    if (n == 0) return NAN;
    double sum = 0.0;
    for (size_t i = 0; i < n; i += (size_t)batch) {
        int b = (int)(n - i < (size_t)batch ? n - i : (size_t)batch);
        cs__ft_gather(t, items, NULL, i, b);
        sum += b * cs__ft_batch_loss(&t->dims, t->xi, t->xt, b, wv, wt, t->scale, t->loss,
                                    NULL, NULL, NULL, NULL);
    }
    return sum / (double)n;
}

static void embed_rows(const float *x, int d, int p, const float *w, double *out)
{
    double ss = 0.0;
    for (int r = 0; r < p; r++) {
        double s = 0.0;
        for (int c = 0; c < d; c++) s += (double)w[(size_t)r * d + c] * x[c];
        out[r] = s;
        ss += s * s;
    }
    double inv = ss > 0.0 ? 1.0 / sqrt(ss) : 0.0;
    for (int r = 0; r < p; r++) out[r] *= inv;
}

/* Text -> image recall@1 and @5 among the distinct images of the set: a caption is a
 * hit at k when fewer than k other images score strictly higher than its own. Image ->
 * text: an image is a hit at k when fewer than k captions of other images score
 * strictly higher than its best own caption. */
int cs__ft_recall(cs__ft_trainer *t, const cs__ft_item *items, size_t n, const float *wv,
                 const float *wt, double *r1, double *r5, double *i2t1, double *i2t5)
{
    *r1 = *r5 = *i2t1 = *i2t5 = NAN;
    if (n == 0) return 0;
    const cs__ft_cache *c = t->c;
    int p = t->dims.p;
    uint32_t *slot = malloc(c->n_img * sizeof *slot + 1);
    double *ie = malloc(n * (size_t)p * sizeof *ie), *te = malloc(n * (size_t)p * sizeof *te);
    double *s = malloc(n * sizeof *s), *best = malloc(n * sizeof *best);
    uint32_t *imgs = malloc(n * sizeof *imgs);
    int rc = !slot || !ie || !te || !s || !best || !imgs ? CS_E_NOMEM : 0;
    size_t ni = 0, h1 = 0, h5 = 0, g1 = 0, g5 = 0;
    if (!rc) {
        for (size_t i = 0; i < c->n_img; i++) slot[i] = UINT32_MAX;
        for (size_t i = 0; i < n; i++)
            if (slot[items[i].img] == UINT32_MAX) {
                slot[items[i].img] = (uint32_t)ni;
                imgs[ni] = items[i].img;
                embed_rows(c->xi + (size_t)imgs[ni] * t->dims.dv, t->dims.dv, p, wv,
                           ie + ni * (size_t)p);
                ni++;
            }
        for (size_t i = 0; i < n; i++)
            embed_rows(c->xt + (size_t)items[i].txt * t->dims.dt, t->dims.dt, p, wt,
                       te + i * (size_t)p);
        for (size_t i = 0; i < n; i++) {
            const double *ti = te + i * (size_t)p;
            double own = 0.0;
            const double *oe = ie + (size_t)slot[items[i].img] * p;
            for (int r = 0; r < p; r++) own += oe[r] * ti[r];
            size_t above = 0;
            for (size_t k = 0; k < ni; k++) {
                double v = 0.0;
                for (int r = 0; r < p; r++) v += ie[k * (size_t)p + r] * ti[r];
                if (v > own) above++;
            }
            h1 += above < 1;
            h5 += above < 5;
        }
        for (size_t k = 0; k < ni; k++) {
            const double *ik = ie + k * (size_t)p;
            best[k] = -INFINITY;
            for (size_t i = 0; i < n; i++) {
                double v = 0.0;
                for (int r = 0; r < p; r++) v += ik[r] * te[i * (size_t)p + r];
                s[i] = v;
                if (slot[items[i].img] == k && v > best[k]) best[k] = v;
            }
            size_t above = 0;
            for (size_t i = 0; i < n; i++) above += slot[items[i].img] != k && s[i] > best[k];
            g1 += above < 1;
            g5 += above < 5;
        }
        *r1 = (double)h1 / (double)n;
        *r5 = (double)h5 / (double)n;
        *i2t1 = (double)g1 / (double)ni;
        *i2t5 = (double)g5 / (double)ni;
    }
    free(slot);
    free(ie);
    free(te);
    free(s);
    free(best);
    free(imgs);
    return rc;
}
