/* Optimiser updates, elementwise, with the arithmetic of torch.optim.SGD
 * (dampening 0) and torch.optim.AdamW (amsgrad off), and the MoCo key
 * encoder's exponential moving average. Scalars are evaluated in double. */
#include <math.h>

#include "kernels/ref/ref_ops.h"

/* g = grad + wd p; v = mu v + g; p -= lr (nesterov ? g + mu v : v). With
 * v = 0 this equals PyTorch's first step, which sets v = g. */
void biqa_ref_sgd_step(biqa_backend *be, biqa_tensor *p, const biqa_tensor *grad,
                       biqa_tensor *velocity, float lr, float momentum, float weight_decay,
                       int nesterov)
{
    (void)be;
    float *pp = biqa_f32(p), *pv = biqa_f32(velocity);
    const float *pg = biqa_f32(grad);
    for (size_t i = 0, n = biqa_numel(p); i < n; i++) {
        double g = (double)pg[i] + (double)weight_decay * pp[i];
        double v = (double)momentum * pv[i] + g;
        pv[i] = (float)v;
        pp[i] = (float)(pp[i] - (double)lr * (nesterov ? g + (double)momentum * v : v));
    }
}

/* step is 1-based (the count after this update, as PyTorch's state['step']). */
void biqa_ref_adamw_step(biqa_backend *be, biqa_tensor *p, const biqa_tensor *grad,
                         biqa_tensor *m, biqa_tensor *v, float lr, float beta1, float beta2,
                         float eps, float weight_decay, int step)
{
    (void)be;
    float *pp = biqa_f32(p), *pm = biqa_f32(m), *pv = biqa_f32(v);
    const float *pg = biqa_f32(grad);
    double bc1 = 1.0 - pow(beta1, step), bc2 = 1.0 - pow(beta2, step);
    for (size_t i = 0, n = biqa_numel(p); i < n; i++) {
        double g = pg[i];
        double param = pp[i] * (1.0 - (double)lr * weight_decay);
        double mi = (double)beta1 * pm[i] + (1.0 - beta1) * g;
        double vi = (double)beta2 * pv[i] + (1.0 - beta2) * g * g;
        pm[i] = (float)mi;
        pv[i] = (float)vi;
        pp[i] = (float)(param - (double)lr * (mi / bc1) / (sqrt(vi / bc2) + eps));
    }
}

void biqa_ref_ema(biqa_backend *be, biqa_tensor *dst, const biqa_tensor *src, float momentum)
{
    (void)be;
    float *pd = biqa_f32(dst);
    const float *ps = biqa_f32(src);
    for (size_t i = 0, n = biqa_numel(dst); i < n; i++)
        pd[i] = (float)((double)momentum * pd[i] + (1.0 - momentum) * ps[i]);
}
