/* Optimisers and learning-rate schedules of fine-tuning, written to match PyTorch's
 * AdamW/SGD and transformers' schedules step for step (same formulas, same order of
 * operations, float32 parameters and moments; the arithmetic in double). */
#include <math.h>

#include "app/finetune_internal.h"

void cs__ft_adamw_step(const cs__ft_adamw *a, float *param, const float *grad, float *m,
                      float *v, size_t n, double lr, long t)
{
    double bc1 = 1.0 - pow(a->beta1, (double)t), bc2 = 1.0 - pow(a->beta2, (double)t);
    double step_size = lr / bc1, bc2_sqrt = sqrt(bc2), decay = 1.0 - lr * a->weight_decay;
    for (size_t i = 0; i < n; i++) {
        double g = grad[i];
        /* Decoupled weight decay first, on the parameter alone (torch: p.mul_(1 - lr*wd)). */
        double p = (double)param[i] * decay;
        m[i] = (float)(a->beta1 * m[i] + (1.0 - a->beta1) * g);
        v[i] = (float)(a->beta2 * v[i] + (1.0 - a->beta2) * g * g);
        double denom = sqrt((double)v[i]) / bc2_sqrt + a->eps;
        param[i] = (float)(p - step_size * (double)m[i] / denom);
    }
}

void cs__ft_sgd_step(float *param, const float *grad, size_t n, double lr)
{
    for (size_t i = 0; i < n; i++) param[i] = (float)((double)param[i] - lr * grad[i]);
}

double cs__ft_lr_at(int schedule, double lr, long step, long warmup, long total)
{
    if (step < warmup) return lr * (double)step / (double)(warmup > 1 ? warmup : 1);
    if (schedule == CS_FT_CONSTANT) return lr;
    long span = total - warmup > 1 ? total - warmup : 1;
    double progress = (double)(step - warmup) / (double)span;
    if (schedule == CS_FT_LINEAR) {
        double f = (double)(total - step) / (double)span;
        return lr * (f > 0.0 ? f : 0.0);
    }
    double f = 0.5 * (1.0 + cos(M_PI * progress)); /* cosine, num_cycles 0.5 */
    return lr * (f > 0.0 ? f : 0.0);
}
