/* bench_finetune: cost of one optimisation step of `clipsearch finetune --train heads`
 * at ViT-B/32 sizes (vision 768, text 512, projection 512) on random features: the
 * batch loss with its gradient (double precision, app/finetune_loss.c) and the AdamW
 * update of both heads. The towers' feature caching is measured by the command itself
 * (its --json summary: cache_seconds, images_per_second).
 *
 *   bench_finetune [--batch B] [--steps N] [--dv D] [--dt D] [--proj P] [--dump FILE]
 *
 * --dump FILE writes a small problem (b 12, dims 96/64/32, the last image a repeat of
 * the first) with its losses and gradients for bench/finetune_torch_check.py, which
 * recomputes them with PyTorch autograd.                                             */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/finetune_internal.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Uniform in [-0.5, 0.5), an LCG step on s. */
#define RND(s) \
    ((float)((s = s * 6364136223846793005ull + 1442695040888963407ull) >> 40) / 16777216.0f - 0.5f)

/* Inputs (float32: xi, xt, wv, wt), then per loss (clip, mnrl): the loss (float64) and
 * the gradients (float32 dWv, dWt). Scale 14.3. */
static int dump(const char *path)
{
    enum { B = 12, DV = 96, DT = 64, P = 32 };
    static float xi[B * DV], xt[B * DT], wv[P * DV], wt[P * DT], gv[P * DV], gt[P * DT];
    uint64_t s = 7;
    for (int i = 0; i < B * DV; i++) xi[i] = RND(s);
    for (int i = 0; i < B * DT; i++) xt[i] = RND(s);
    for (int i = 0; i < P * DV; i++) wv[i] = 0.2f * RND(s);
    for (int i = 0; i < P * DT; i++) wt[i] = 0.2f * RND(s);
    memcpy(xi + (B - 1) * DV, xi, DV * sizeof(float)); /* one image, two captions */
    const float *pi[B], *pt[B];
    for (int i = 0; i < B; i++) pi[i] = xi + i * DV, pt[i] = xt + i * DT;
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    cs__ft_dims d = {DV, DT, P};
    fwrite(xi, 4, B * DV, f), fwrite(xt, 4, B * DT, f);
    fwrite(wv, 4, P * DV, f), fwrite(wt, 4, P * DT, f);
    for (int loss = 0; loss < 2; loss++) {
        double l = cs__ft_batch_loss(&d, pi, pt, B, wv, wt, 14.3, loss, gv, gt, NULL, NULL);
        fwrite(&l, 8, 1, f), fwrite(gv, 4, P * DV, f), fwrite(gt, 4, P * DT, f);
    }
    return fclose(f) != 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--dump")) return dump(argv[2]);
    int b = 32, steps = 20;
    cs__ft_dims d = {768, 512, 512};
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--batch")) b = v;
        else if (!strcmp(argv[i], "--steps")) steps = v;
        else if (!strcmp(argv[i], "--dv")) d.dv = v;
        else if (!strcmp(argv[i], "--dt")) d.dt = v;
        else if (!strcmp(argv[i], "--proj")) d.p = v;
    }
    if (b < 2 || steps < 1 || d.dv < 1 || d.dt < 1 || d.p < 1) {
        fprintf(stderr, "usage: bench_finetune [--batch B>=2] [--steps N] [--dv D] [--dt D] "
                        "[--proj P] | --dump FILE\n");
        return 2;
    }
    size_t nv = (size_t)d.p * d.dv, nt = (size_t)d.p * d.dt;
    float *xi = malloc((size_t)b * d.dv * sizeof(float));
    float *xt = malloc((size_t)b * d.dt * sizeof(float));
    float *w = calloc(6 * (nv + nt), sizeof(float));
    const float **pi = malloc((size_t)b * sizeof *pi), **pt = malloc((size_t)b * sizeof *pt);
    if (!xi || !xt || !w || !pi || !pt) return 1;
    float *wv = w, *wt = wv + nv, *gv = wt + nt, *gt = gv + nv, *mv = gt + nt, *vv = mv + nv,
          *mt = vv + nv, *vt = mt + nt;
    uint64_t s = 1;
    for (size_t i = 0; i < (size_t)b * d.dv; i++) xi[i] = RND(s);
    for (size_t i = 0; i < (size_t)b * d.dt; i++) xt[i] = RND(s);
    for (size_t i = 0; i < nv + nt; i++) w[i] = 0.05f * RND(s);
    for (int i = 0; i < b; i++) {
        pi[i] = xi + (size_t)i * d.dv;
        pt[i] = xt + (size_t)i * d.dt;
    }
    cs__ft_adamw a = {0.9, 0.999, 1e-8, 0.01};
    double tl = 0, ta = 0, loss = 0;
    for (int k = 1; k <= steps; k++) {
        double t0 = now();
        loss = cs__ft_batch_loss(&d, pi, pt, b, wv, wt, 100.0, CS_FT_LOSS_CLIP, gv, gt, NULL, NULL);
        double t1 = now();
        cs__ft_adamw_step(&a, wv, gv, mv, vv, nv, 1e-4, k);
        cs__ft_adamw_step(&a, wt, gt, mt, vt, nt, 1e-4, k);
        ta += now() - t1;
        tl += t1 - t0;
    }
    printf("batch %d, dims vision %d text %d proj %d, %d steps: loss+gradient %.2f ms/step, "
           "AdamW %.2f ms/step, %.0f pairs/s (last loss %.4f)\n",
           b, d.dv, d.dt, d.p, steps, 1e3 * tl / steps, 1e3 * ta / steps,
           steps * (double)b / (tl + ta), loss);
    free(xi), free(xt), free(w), free(pi), free(pt);
    return 0;
}
