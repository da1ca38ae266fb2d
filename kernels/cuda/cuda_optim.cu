/* Optimiser updates and the momentum encoder's moving average, elementwise
 * with the ref backend's arithmetic (kernels/ref/ref_optim.c: torch.optim
 * SGD with dampening 0, AdamW without amsgrad), evaluated in double as
 * there: the updates read and write memory once per operand, so the
 * double arithmetic costs nothing measurable. */
#include "kernels/cuda/cuda_impl.h"

#define THREADS 256
#define GRID_STRIDE(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
         i += (size_t)gridDim.x * blockDim.x)

__global__ void k_sgd(size_t n, float *p, const float *grad, float *vel, double lr, double mu,
                      double wd, int nesterov)
{
    GRID_STRIDE(i, n)
    {
        double g = (double)grad[i] + wd * p[i];
        double v = mu * vel[i] + g;
        vel[i] = (float)v;
        p[i] = (float)(p[i] - lr * (nesterov ? g + mu * v : v));
    }
}

__global__ void k_adamw(size_t n, float *p, const float *grad, float *m, float *v, double lr,
                        double b1, double b2, double eps, double wd, double bc1, double bc2)
{
    GRID_STRIDE(i, n)
    {
        double g = grad[i];
        double param = p[i] * (1.0 - lr * wd);
        double mi = b1 * m[i] + (1.0 - b1) * g;
        double vi = b2 * v[i] + (1.0 - b2) * g * g;
        m[i] = (float)mi;
        v[i] = (float)vi;
        p[i] = (float)(param - lr * (mi / bc1) / (sqrt(vi / bc2) + eps));
    }
}

__global__ void k_ema(size_t n, float *dst, const float *src, double m)
{
    GRID_STRIDE(i, n) dst[i] = (float)(m * dst[i] + (1.0 - m) * src[i]);
}

static const float *in(cu_ctx *c, const biqa_tensor *t)
{
    return (const float *)cu_in(c, t, cu_plain());
}

void cu_sgd_step(biqa_backend *be, biqa_tensor *p, const biqa_tensor *grad,
                 biqa_tensor *velocity, float lr, float momentum, float weight_decay,
                 int nesterov)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    size_t n = biqa_numel(p);
    if (!n)
        return;
    const float *g = in(c, grad);
    float *pp = cu_plain_inout(c, p), *pv = cu_plain_inout(c, velocity);
    k_sgd<<<cu_blocks(c, n, THREADS), THREADS, 0, c->stream>>>(n, pp, g, pv, lr, momentum,
                                                                weight_decay, nesterov);
    LAUNCH_CHECK("k_sgd");
}

/* step is 1-based (PyTorch's state['step'] after this update). */
void cu_adamw_step(biqa_backend *be, biqa_tensor *p, const biqa_tensor *grad, biqa_tensor *m,
                   biqa_tensor *v, float lr, float beta1, float beta2, float eps,
                   float weight_decay, int step)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    size_t n = biqa_numel(p);
    if (!n)
        return;
    const float *g = in(c, grad);
    float *pp = cu_plain_inout(c, p), *pm = cu_plain_inout(c, m), *pv = cu_plain_inout(c, v);
    double bc1 = 1.0 - pow((double)beta1, step), bc2 = 1.0 - pow((double)beta2, step);
    k_adamw<<<cu_blocks(c, n, THREADS), THREADS, 0, c->stream>>>(
        n, pp, g, pm, pv, lr, beta1, beta2, eps, weight_decay, bc1, bc2);
    LAUNCH_CHECK("k_adamw");
}

void cu_ema(biqa_backend *be, biqa_tensor *dst, const biqa_tensor *src, float momentum)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    size_t n = biqa_numel(dst);
    if (!n)
        return;
    const float *s = in(c, src);
    k_ema<<<cu_blocks(c, n, THREADS), THREADS, 0, c->stream>>>(n, cu_plain_inout(c, dst), s,
                                                                momentum);
    LAUNCH_CHECK("k_ema");
}
