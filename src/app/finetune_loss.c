/* The contrastive loss of a batch and its exact gradient w.r.t. the projection heads.
 * Everything is in double and in a fixed order of operations, so that a run gives the
 * same numbers whatever the thread count (a resumed run equals an uninterrupted one).
 *
 * Backward pass, for the record (B pairs, S = scale * A B^T with A, B the normalised
 * embeddings as rows):
 *   dS[i][j] = ( softmax_row(S)[i][j] - [i==j] ) / (2B)            image i's row (CLIP)
 *            + ( softmax_col(S)[i][j] - [i==j] ) / (2B or B)        text j's row
 *   dA = scale * dS B,  dB = scale * dS^T A
 *   du = (da - a <a, da>) / |u|       (through u -> u/|u|)
 *   dWv = sum_i du_i x_i^T,  dWt = sum_j dv_j y_j^T
 *   dx_i = Wv^T du_i,  dy_j = Wt^T dv_j        (into the towers, when they train)      */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/finetune_internal.h"

/* rows of y [b, p] = W [p, d] x_i, then normalised in place; norms kept for backward. */
static void project(const float *const *x, int b, int d, int p, const float *w, double *y,
                    double *norm)
{
    for (int i = 0; i < b; i++) {
        double ss = 0.0;
        for (int r = 0; r < p; r++) {
            const float *wr = w + (size_t)r * d;
            double s = 0.0;
            for (int c = 0; c < d; c++) s += (double)wr[c] * x[i][c];
            y[(size_t)i * p + r] = s;
            ss += s * s;
        }
        norm[i] = sqrt(ss);
        double inv = norm[i] > 0.0 ? 1.0 / norm[i] : 0.0;
        for (int r = 0; r < p; r++) y[(size_t)i * p + r] *= inv;
    }
}

/* Cross-entropy of a logit vector (stride apart) against target t; softmax - onehot,
 * times coef, is added into g (same stride). */
static double ce(const double *z, int n, size_t stride, int t, double coef, double *g)
{
    double mx = z[0];
    for (int k = 1; k < n; k++)
        if (z[k * stride] > mx) mx = z[k * stride];
    double sum = 0.0;
    for (int k = 0; k < n; k++) sum += exp(z[k * stride] - mx);
    double lse = mx + log(sum);
    if (g)
        for (int k = 0; k < n; k++)
            g[k * stride] += coef * (exp(z[k * stride] - lse) - (k == t ? 1.0 : 0.0));
    return lse - z[t * stride];
}

/* dW [p, d] = sum_i du_i x_i^T, where du = (da - a <a, da>) / |u| row by row; and, when
 * gx is not NULL, the features' gradient dx_i = W^T du_i (gx: b * d). */
static void head_grad(const float *const *x, int b, int d, int p, const double *a,
                      const double *norm, double *da, double *row, const float *w, float *gw,
                      float *gx)
{
    for (int i = 0; i < b; i++) {
        double *g = da + (size_t)i * p;
        const double *ai = a + (size_t)i * p;
        double dot = 0.0;
        for (int r = 0; r < p; r++) dot += ai[r] * g[r];
        double inv = norm[i] > 0.0 ? 1.0 / norm[i] : 0.0;
        for (int r = 0; r < p; r++) g[r] = (g[r] - ai[r] * dot) * inv;
    }
    for (int r = 0; r < p; r++) {
        memset(row, 0, (size_t)d * sizeof *row);
        for (int i = 0; i < b; i++) {
            double gi = da[(size_t)i * p + r];
            for (int c = 0; c < d; c++) row[c] += gi * x[i][c];
        }
        for (int c = 0; c < d; c++) gw[(size_t)r * d + c] = (float)row[c];
    }
    for (int i = 0; gx && i < b; i++) {
        memset(row, 0, (size_t)d * sizeof *row);
        for (int r = 0; r < p; r++) {
            double gi = da[(size_t)i * p + r];
            const float *wr = w + (size_t)r * d;
            for (int c = 0; c < d; c++) row[c] += gi * wr[c];
        }
        for (int c = 0; c < d; c++) gx[(size_t)i * d + c] = (float)row[c];
    }
}

double cs__ft_batch_loss(const cs__ft_dims *d, const float *const *xi, const float *const *xt,
                        int b, const float *wv, const float *wt, double scale, int loss,
                        float *gv, float *gt, float *gxi, float *gxt)
{
    int p = d->p, grad = gv && gt;
    size_t bp = (size_t)b * p;
    size_t maxd = (size_t)(d->dv > d->dt ? d->dv : d->dt);
    double *a = malloc((4 * bp + 2 * (size_t)b * b + 2 * (size_t)b + maxd) * sizeof *a);
    if (!a) return -1.0;
    double *bt = a + bp, *da = bt + bp, *db = da + bp, *s = db + bp, *ds = s + (size_t)b * b,
           *nu = ds + (size_t)b * b, *nv = nu + b, *row = nv + b;
    project(xi, b, d->dv, p, wv, a, nu);
    project(xt, b, d->dt, p, wt, bt, nv);
    for (int i = 0; i < b; i++)
        for (int j = 0; j < b; j++) {
            double dot = 0.0;
            for (int r = 0; r < p; r++) dot += a[(size_t)i * p + r] * bt[(size_t)j * p + r];
            s[(size_t)i * b + j] = scale * dot;
        }
    memset(ds, 0, (size_t)b * b * sizeof *ds);
    double total = 0.0;
    int both = loss == CS_FT_LOSS_CLIP;
    double w = both ? 0.5 / b : 1.0 / b;
    /* Each text's row over the batch's images: column j of S. */
    for (int j = 0; j < b; j++) total += w * ce(s + j, b, (size_t)b, j, w, grad ? ds + j : NULL);
    if (both)
        for (int i = 0; i < b; i++)
            total += w * ce(s + (size_t)i * b, b, 1, i, w, grad ? ds + (size_t)i * b : NULL);
    if (grad) {
        for (int i = 0; i < b; i++)
            for (int r = 0; r < p; r++) {
                double ga = 0.0, gb = 0.0;
                for (int k = 0; k < b; k++) {
                    ga += ds[(size_t)i * b + k] * bt[(size_t)k * p + r];
                    gb += ds[(size_t)k * b + i] * a[(size_t)k * p + r];
                }
                da[(size_t)i * p + r] = scale * ga;
                db[(size_t)i * p + r] = scale * gb;
            }
        head_grad(xi, b, d->dv, p, a, nu, da, row, wv, gv, gxi);
        head_grad(xt, b, d->dt, p, bt, nv, db, row, wt, gt, gxt);
    }
    free(a);
    return total;
}
