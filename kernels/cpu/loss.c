/* Losses, means over the batch (kernels/backend.h). Partial sums are taken
 * per row (cross-entropy) or per fixed block of elements (regression) and
 * added in order on the calling thread, so the loss does not depend on the
 * number of workers. */
#include <math.h>

#include "kernels/cpu/cpu_impl.h"

void biqa_cpu_xent(biqa_backend *be, const biqa_tensor *logits, const int32_t *labels,
                   float dloss, float *loss, biqa_tensor *dlogits)
{
    const int n = logits->n, k = (int)(biqa_numel(logits) / (size_t)n);
    const float *z = biqa_f32(logits);
    double *row_loss = biqa_cpu_ws(cpu_of(be), CPU_WS_PARTIAL, (size_t)n * sizeof(double));
    const float g = dloss / (float)n;
#pragma omp parallel for num_threads(be->threads) schedule(static) if ((long)n * k >= CPU_PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *r = z + (long)i * k;
        float mx = r[0];
        for (int j = 1; j < k; j++)
            mx = r[j] > mx ? r[j] : mx;
        double s = 0;
        for (int j = 0; j < k; j++)
            s += exp((double)r[j] - mx);
        double lse = mx + log(s);
        row_loss[i] = lse - r[labels[i]];
        if (dlogits) { /* d/dz of dloss * mean loss: (softmax - onehot) dloss / n */
            float *d = biqa_f32(dlogits) + (long)i * k;
            for (int j = 0; j < k; j++)
                d[j] = (float)exp((double)r[j] - lse) * g;
            d[labels[i]] -= g;
        }
    }
    double total = 0;
    for (int i = 0; i < n; i++)
        total += row_loss[i];
    *loss = (float)(total / n);
}

enum { BLOCK = 4096 };

void biqa_cpu_regress(biqa_backend *be, int kind, float beta, const biqa_tensor *pred,
                      const biqa_tensor *target, float dloss, float *loss, biqa_tensor *dpred)
{
    if (kind != BIQA_LOSS_L1 && kind != BIQA_LOSS_SMOOTH_L1 && kind != BIQA_LOSS_MSE)
        biqa_cpu_die("regress", "unknown loss kind");
    /* beta = 0 is the L1 loss, as F.smooth_l1_loss since torch 2.1
     * (pytorch/pytorch#96813; 1.13's kernel gave -1 instead of 0 at d = 0). */
    if (kind == BIQA_LOSS_SMOOTH_L1 && beta == 0.0f)
        kind = BIQA_LOSS_L1;
    const long n = (long)biqa_numel(pred), blocks = (n + BLOCK - 1) / BLOCK;
    const float *p = biqa_f32(pred), *t = biqa_f32(target);
    float *dp = dpred ? biqa_f32(dpred) : NULL;
    double *part = biqa_cpu_ws(cpu_of(be), CPU_WS_PARTIAL, (size_t)blocks * sizeof(double));
    const float g = dloss / (float)n;
#pragma omp parallel for num_threads(be->threads) schedule(static) if (n >= CPU_PAR_MIN)
    for (long bl = 0; bl < blocks; bl++) {
        long hi = (bl + 1) * BLOCK < n ? (bl + 1) * BLOCK : n;
        double s = 0;
        for (long i = bl * BLOCK; i < hi; i++) {
            float d = p[i] - t[i], a = fabsf(d), f, df;
            if (kind == BIQA_LOSS_MSE) {
                f = d * d;
                df = 2.0f * d;
            } else if (kind == BIQA_LOSS_L1) {
                f = a;
                df = (float)((d > 0) - (d < 0)); /* torch.sign: 0 at 0 */
            } else {
                f = a < beta ? 0.5f * d * d / beta : a - 0.5f * beta;
                df = d <= -beta ? -1.0f : d >= beta ? 1.0f : d / beta;
            }
            s += f;
            if (dp)
                dp[i] = df * g;
        }
        part[bl] = s;
    }
    double total = 0;
    for (long bl = 0; bl < blocks; bl++)
        total += part[bl];
    *loss = (float)(total / (double)n);
}
