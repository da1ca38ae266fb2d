/* InfoNCE logits (MoCo, He et al. 2020, Algorithm 1), softmax cross-entropy
 * (torch.nn.functional.cross_entropy) and the regression losses
 * (F.l1_loss, F.smooth_l1_loss, F.mse_loss), all with reduction 'mean'. */
#include <math.h>

#include "kernels/ref/ref_ops.h"

static double dot(const float *a, const float *b, size_t d)
{
    double s = 0;
    for (size_t j = 0; j < d; j++)
        s += (double)a[j] * b[j];
    return s;
}

void biqa_ref_mask(biqa_backend *be, biqa_tensor *t, const int32_t *rows, const int32_t *cols,
                   int count, float value)
{
    (void)be;
    size_t m = biqa_numel(t) / (size_t)t->n;
    for (int i = 0; i < count; i++)
        biqa_f32(t)[(size_t)rows[i] * m + (size_t)cols[i]] = value;
}

void biqa_ref_infonce_fwd(biqa_backend *be, const biqa_tensor *q, const biqa_tensor *k,
                          const biqa_tensor *neg, float tau, biqa_tensor *logits)
{
    (void)be;
    size_t d = biqa_numel(q) / (size_t)q->n, m = (size_t)neg->n, cols = 1 + m;
    for (size_t i = 0; i < (size_t)q->n; i++) {
        const float *qi = biqa_f32(q) + i * d;
        float *row = biqa_f32(logits) + i * cols;
        row[0] = (float)(dot(qi, biqa_f32(k) + i * d, d) / tau);
        for (size_t j = 0; j < m; j++)
            row[1 + j] = (float)(dot(qi, biqa_f32(neg) + j * d, d) / tau);
    }
}

/* With G = dlogits: dq_i = (G_i0 k_i + sum_j G_ij neg_j) / tau,
 * dk_i = G_i0 q_i / tau, dneg_j = sum_i G_ij q_i / tau (all written). */
void biqa_ref_infonce_bwd(biqa_backend *be, const biqa_tensor *q, const biqa_tensor *k,
                          const biqa_tensor *neg, float tau, const biqa_tensor *dlogits,
                          biqa_tensor *dq, biqa_tensor *dk, biqa_tensor *dneg)
{
    (void)be;
    size_t n = (size_t)q->n, d = biqa_numel(q) / n, m = (size_t)neg->n, cols = 1 + m;
    const float *pq = biqa_f32(q), *pk = biqa_f32(k), *pn = biqa_f32(neg);
    const float *g = biqa_f32(dlogits);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < d; c++) {
            double s = (double)g[i * cols] * pk[i * d + c];
            for (size_t j = 0; j < m; j++)
                s += (double)g[i * cols + 1 + j] * pn[j * d + c];
            biqa_f32(dq)[i * d + c] = (float)(s / tau);
            if (dk)
                biqa_f32(dk)[i * d + c] = (float)((double)g[i * cols] * pq[i * d + c] / tau);
        }
    if (dneg)
        for (size_t j = 0; j < m; j++)
            for (size_t c = 0; c < d; c++) {
                double s = 0;
                for (size_t i = 0; i < n; i++)
                    s += (double)g[i * cols + 1 + j] * pq[i * d + c];
                biqa_f32(dneg)[j * d + c] = (float)(s / tau);
            }
}

/* loss = mean_i (logsumexp(z_i) - z_i[label_i]);
 * dlogits = dloss (softmax(z_i) - onehot(label_i)) / n. The maximum is
 * subtracted before exp for stability. */
void biqa_ref_xent(biqa_backend *be, const biqa_tensor *logits, const int32_t *labels,
                   float dloss, float *loss, biqa_tensor *dlogits)
{
    (void)be;
    size_t n = (size_t)logits->n, classes = biqa_numel(logits) / n;
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        const float *z = biqa_f32(logits) + i * classes;
        double mx = z[0], sum = 0;
        for (size_t c = 1; c < classes; c++)
            mx = z[c] > mx ? z[c] : mx;
        for (size_t c = 0; c < classes; c++)
            sum += exp(z[c] - mx);
        double lse = mx + log(sum);
        total += lse - z[labels[i]];
        if (dlogits)
            for (size_t c = 0; c < classes; c++) {
                double p = exp(z[c] - lse) - (c == (size_t)labels[i]);
                biqa_f32(dlogits)[i * classes + c] = (float)(dloss * p / (double)n);
            }
    }
    *loss = (float)(total / (double)n);
}

/* Per-element loss and its derivative in d = pred - target. L1's
 * derivative at d = 0 is sign(0) = 0. smooth-L1 is 0.5 d^2 / beta where
 * |d| < beta and |d| - 0.5 beta elsewhere; beta = 0 is L1 exactly, as
 * F.smooth_l1_loss computes it since PyTorch 2.1 (pytorch/pytorch#96813:
 * 1.13's kernel returned -1 at d = 0, not the least-norm subgradient 0). */
static double regress_elem(int kind, double beta, double d, double *grad)
{
    if (kind == BIQA_LOSS_MSE) {
        *grad = 2 * d;
        return d * d;
    }
    if (kind == BIQA_LOSS_SMOOTH_L1 && fabs(d) < beta) {
        *grad = d / beta;
        return 0.5 * d * d / beta;
    }
    *grad = (d > 0) - (d < 0);
    return kind == BIQA_LOSS_SMOOTH_L1 ? fabs(d) - 0.5 * beta : fabs(d);
}

void biqa_ref_regress(biqa_backend *be, int kind, float beta, const biqa_tensor *pred,
                      const biqa_tensor *target, float dloss, float *loss, biqa_tensor *dpred)
{
    (void)be;
    size_t count = biqa_numel(pred);
    double total = 0;
    for (size_t i = 0; i < count; i++) {
        double grad, d = (double)biqa_f32(pred)[i] - biqa_f32(target)[i];
        total += regress_elem(kind, beta, d, &grad);
        if (dpred)
            biqa_f32(dpred)[i] = (float)(dloss * grad / (double)count);
    }
    *loss = (float)(total / (double)count);
}
