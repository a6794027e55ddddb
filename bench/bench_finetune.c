/* bench_finetune: cost of one optimisation step of `clipsearch finetune --train heads`
 * at ViT-B/32 sizes (vision 768, text 512, projection 512) on random features: the
 * batch loss with its gradient (double precision, app/finetune_loss.c) and the AdamW
 * update of both heads. The towers' feature caching is measured by the command itself
 * (its --json summary: cache_seconds, images_per_second).
 *
 *   bench_finetune [--batch B] [--steps N] [--dv D] [--dt D] [--proj P]            */
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

int main(int argc, char **argv)
{
    int b = 32, steps = 20;
    cs_ft_dims d = {768, 512, 512};
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--batch")) b = v;
        else if (!strcmp(argv[i], "--steps")) steps = v;
        else if (!strcmp(argv[i], "--dv")) d.dv = v;
        else if (!strcmp(argv[i], "--dt")) d.dt = v;
        else if (!strcmp(argv[i], "--proj")) d.p = v;
    }
    if (b < 2 || steps < 1 || d.dv < 1 || d.dt < 1 || d.p < 1) {
        fprintf(stderr, "usage: bench_finetune [--batch B>=2] [--steps N] [--dv D] [--dt D] [--proj P]\n");
        return 2;
    }
    size_t nv = (size_t)d.p * d.dv, nt = (size_t)d.p * d.dt;
    float *xi = malloc((size_t)b * d.dv * sizeof(float)), *xt = malloc((size_t)b * d.dt * sizeof(float));
    float *w = calloc(6 * (nv + nt), sizeof(float));
    const float **pi = malloc((size_t)b * sizeof *pi), **pt = malloc((size_t)b * sizeof *pt);
    if (!xi || !xt || !w || !pi || !pt) return 1;
    float *wv = w, *wt = wv + nv, *gv = wt + nt, *gt = gv + nv, *mv = gt + nt, *vv = mv + nv,
          *mt = vv + nv, *vt = mt + nt;
    uint64_t s = 1;
    for (size_t i = 0; i < (size_t)b * d.dv; i++) xi[i] = (float)((s = s * 6364136223846793005ull + 1) >> 40) / 16777216.0f - 0.5f;
    for (size_t i = 0; i < (size_t)b * d.dt; i++) xt[i] = (float)((s = s * 6364136223846793005ull + 1) >> 40) / 16777216.0f - 0.5f;
    for (size_t i = 0; i < nv + nt; i++) w[i] = (float)((s = s * 6364136223846793005ull + 1) >> 40) / 16777216.0f * 0.05f - 0.025f;
    for (int i = 0; i < b; i++) {
        pi[i] = xi + (size_t)i * d.dv;
        pt[i] = xt + (size_t)i * d.dt;
    }
    cs_ft_adamw a = {0.9, 0.999, 1e-8, 0.01};
    double tl = 0, ta = 0, loss = 0;
    for (int k = 1; k <= steps; k++) {
        double t0 = now();
        loss = cs_ft_batch_loss(&d, pi, pt, b, wv, wt, 100.0, CS_FT_LOSS_CLIP, gv, gt);
        double t1 = now();
        cs_ft_adamw_step(&a, wv, gv, mv, vv, nv, 1e-4, k);
        cs_ft_adamw_step(&a, wt, gt, mt, vt, nt, 1e-4, k);
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
