/* Losses (kernels/ref/ref_loss.c's semantics): softmax cross-entropy, the
 * regression losses, and the mask contrastive losses put over their
 * logits. Per-row or per-element terms are summed in a fixed order (one
 * block, double) so the loss is the same on every run; *loss lands on
 * the host through cu_scalar_to_host. */
#include <math.h>

#include "kernels/cuda/cuda_impl.h"

#define THREADS 256

__device__ float block_max(float v)
{
    __shared__ float warp[32];
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    int lane = threadIdx.x & 31, id = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0)
        warp[id] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        float s = threadIdx.x < (blockDim.x >> 5) ? warp[threadIdx.x] : -INFINITY;
        for (int o = 16; o > 0; o >>= 1)
            s = fmaxf(s, __shfl_down_sync(0xffffffffu, s, o));
        if (threadIdx.x == 0)
            warp[0] = s;
    }
    __syncthreads();
    return warp[0];
}

__device__ double block_sum_double(double v)
{
    __shared__ double warp[32];
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, id = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0)
        warp[id] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        double s = threadIdx.x < (blockDim.x >> 5) ? warp[threadIdx.x] : 0.0;
        for (int o = 16; o > 0; o >>= 1)
            s += __shfl_down_sync(0xffffffffu, s, o);
        if (threadIdx.x == 0)
            warp[0] = s;
    }
    __syncthreads();
    return warp[0];
}

/* One block per row: lse = max + log(sum exp(z - max)) (fmaxf skips NaN,
 * so a NaN logit still reaches the sum and the loss); row_loss = lse -
 * z[label]; dlogits = dloss (softmax - onehot) / n. A label outside the
 * row gives a NaN loss. */
__global__ void k_xent(int n, int k, const float *z, const int32_t *labels, float dloss,
                       float *row_loss, float *dz)
{
    size_t row = blockIdx.x;
    const float *zr = z + row * k;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < k; j += blockDim.x)
        mx = fmaxf(mx, zr[j]);
    mx = block_max(mx);
    double s = 0;
    for (int j = threadIdx.x; j < k; j += blockDim.x)
        s += exp((double)zr[j] - mx);
    double lse = mx + log(block_sum_double(s));
    int label = labels[row];
    if (threadIdx.x == 0)
        row_loss[row] = label >= 0 && label < k ? (float)(lse - zr[label]) : NAN;
    if (!dz)
        return;
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        double p = exp((double)zr[j] - lse) - (j == label);
        dz[row * k + j] = (float)(dloss * p / (double)n);
    }
}

/* out = sum(terms[0 .. count)) / count, one block, double. */
__global__ void k_mean(size_t count, const float *terms, float *out)
{
    double s = 0;
    for (size_t i = threadIdx.x; i < count; i += blockDim.x)
        s += terms[i];
    s = block_sum_double(s);
    if (threadIdx.x == 0)
        *out = (float)(s / (double)count);
}

/* Per element: the loss of d = pred - target and dpred = dloss grad / n
 * (kernels/ref/ref_loss.c regress_elem: L1's derivative at 0 is 0;
 * smooth-L1 with beta = 0 is L1). */
__global__ void k_regress(size_t n, int kind, float beta, const float *pred, const float *target,
                          float dloss, float *terms, float *dpred)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        double d = (double)pred[i] - target[i], grad, loss;
        if (kind == BIQA_LOSS_MSE) {
            grad = 2 * d;
            loss = d * d;
        } else if (kind == BIQA_LOSS_SMOOTH_L1 && fabs(d) < beta) {
            grad = d / beta;
            loss = 0.5 * d * d / beta;
        } else {
            grad = (d > 0) - (d < 0);
            loss = kind == BIQA_LOSS_SMOOTH_L1 ? fabs(d) - 0.5 * beta : fabs(d);
        }
        terms[i] = (float)loss;
        if (dpred)
            dpred[i] = (float)(dloss * grad / (double)n);
    }
}

__global__ void k_mask(int count, size_t cols, const int32_t *rows, const int32_t *idx,
                       float value, float *t)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count)
        t[(size_t)rows[i] * cols + (size_t)idx[i]] = value;
}

void cu_mask(biqa_backend *be, biqa_tensor *t, const int32_t *rows, const int32_t *cols,
             int count, float value)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    if (count <= 0)
        return;
    float *pt = cu_plain_inout(c, t);
    size_t bytes = (size_t)count * sizeof(int32_t);
    const int32_t *dr = (const int32_t *)cu_host_to_scratch(c, rows, bytes);
    const int32_t *dc = (const int32_t *)cu_host_to_scratch(c, cols, bytes);
    size_t m = biqa_numel(t) / (size_t)t->n;
    k_mask<<<(unsigned)((count + THREADS - 1) / THREADS), THREADS, 0, c->stream>>>(count, m, dr,
                                                                                   dc, value, pt);
    LAUNCH_CHECK("k_mask");
}

void cu_xent(biqa_backend *be, const biqa_tensor *logits, const int32_t *labels, float dloss,
             float *loss, biqa_tensor *dlogits)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    int n = logits->n, k = n ? (int)(biqa_numel(logits) / (size_t)n) : 0;
    const float *z = (const float *)cu_in(c, logits, cu_plain());
    float *terms = (float *)cu_scratch(c, ((size_t)n + 1) * sizeof(float));
    float *dz = dlogits ? (float *)cu_out(c, dlogits, cu_plain()) : NULL;
    if (n) {
        const int32_t *dl =
            (const int32_t *)cu_host_to_scratch(c, labels, (size_t)n * sizeof(int32_t));
        k_xent<<<(unsigned)n, THREADS, 0, c->stream>>>(n, k, z, dl, dloss, terms, dz);
        LAUNCH_CHECK("k_xent");
    }
    k_mean<<<1, THREADS, 0, c->stream>>>((size_t)n, terms, terms + n);
    LAUNCH_CHECK("k_mean");
    cu_scalar_to_host(c, terms + n, loss);
}

void cu_regress(biqa_backend *be, int kind, float beta, const biqa_tensor *pred,
                const biqa_tensor *target, float dloss, float *loss, biqa_tensor *dpred)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    size_t n = biqa_numel(pred);
    const float *pp = (const float *)cu_in(c, pred, cu_plain());
    const float *pt = (const float *)cu_in(c, target, cu_plain());
    float *terms = (float *)cu_scratch(c, (n + 1) * sizeof(float));
    float *dp = dpred ? (float *)cu_out(c, dpred, cu_plain()) : NULL;
    if (n) {
        k_regress<<<cu_blocks(c, n, THREADS), THREADS, 0, c->stream>>>(n, kind, beta, pp, pt,
                                                                       dloss, terms, dp);
        LAUNCH_CHECK("k_regress");
    }
    k_mean<<<1, THREADS, 0, c->stream>>>(n, terms, terms + n);
    LAUNCH_CHECK("k_mean");
    cu_scalar_to_host(c, terms + n, loss);
}
