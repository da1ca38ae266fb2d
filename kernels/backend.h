/* The backend interface: one table of function pointers per backend
 * (ggml-backend style). Everything a method does to numbers goes through it,
 * so `ref` (naive, the oracle), `cpu` (fast) and `cuda` are interchangeable
 * and can be compared op by op.
 *
 * Conventions for every op:
 * - Tensors are float32 in the backend's layout, on the backend's memory.
 *   Callers see float32 NCHW: what upload wrote, download reads back, and
 *   a backend that keeps an op's output in another layout or type (the
 *   cuda backend: activations NHWC, bfloat16 under bf16; issue #7) converts
 *   on download and on any read through another view of that memory.
 * - Outputs and input gradients (dx) are WRITTEN (overwritten).
 * - Parameter gradients (dw, db, dgamma, dbeta) are ACCUMULATED (+=), as in
 *   PyTorch, so one parameter used twice gets the sum; zero them per step.
 * - Optional outputs may be NULL (e.g. dx of the first layer, a bias).
 * - Reductions to a scalar loss are means over the batch (PyTorch's default
 *   reduction='mean'); backward ops take the scale of the incoming gradient
 *   (dloss, usually 1).
 * - Ops check nothing at run time beyond what is cheap: shapes are the
 *   model's responsibility (methods/), and the ops tests cover the rest.
 * Semantics are PyTorch's (torch.nn.functional) unless stated. */
#ifndef BIQA_KERNELS_BACKEND_H
#define BIQA_KERNELS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "kernels/tensor.h"

typedef struct biqa_backend biqa_backend;

typedef struct biqa_conv_params {
    int stride, pad; /* symmetric zero padding; dilation 1, groups 1 */
} biqa_conv_params;

typedef struct biqa_pool_params {
    int kernel, stride, pad; /* max pool; padding counts as -inf */
} biqa_pool_params;

/* What the matrix ops (convolution, linear, InfoNCE) compute in (issue #7;
 * --precision, knob compute.precision):
 *   fp32  float32 arithmetic everywhere (every backend);
 *   tf32  float32 storage, TensorFloat-32 matrix products: operands rounded
 *         to 10 mantissa bits, float32 accumulation (cuda only);
 *   bf16  bfloat16 activations and matrix operands, float32 accumulation;
 *         parameters, their gradients and the optimiser state stay float32
 *         ("master weights"), as do batch-norm statistics and losses (cuda
 *         only).
 * ref and cpu compute in fp32 and refuse the others. */
enum biqa_precision { BIQA_PREC_FP32 = 0, BIQA_PREC_TF32 = 1, BIQA_PREC_BF16 = 2 };

struct biqa_backend {
    const char *name;
    void *ctx;     /* backend state (thread pool, handles, caches) */
    int threads;   /* worker threads the backend uses */
    enum biqa_precision precision; /* added for issue #7; ref and cpu: BIQA_PREC_FP32 */

    /* ---- memory ---- */
    void *(*alloc)(biqa_backend *be, size_t bytes); /* NULL when out of memory */
    void (*free)(biqa_backend *be, void *p);
    void (*upload)(biqa_backend *be, void *dst, const float *src, size_t count);
    void (*download)(biqa_backend *be, float *dst, const void *src, size_t count);
    void (*fill)(biqa_backend *be, biqa_tensor *t, float value);
    void (*copy)(biqa_backend *be, biqa_tensor *dst, const biqa_tensor *src);

    /* ---- elementwise ---- */
    /* y = a + b (y may alias a or b). */
    void (*add)(biqa_backend *be, const biqa_tensor *a, const biqa_tensor *b, biqa_tensor *y);
    /* y += alpha * x */
    void (*axpy)(biqa_backend *be, float alpha, const biqa_tensor *x, biqa_tensor *y);
    /* y = max(x, 0) (y may alias x); dx = dy where y > 0, else 0. */
    void (*relu_fwd)(biqa_backend *be, const biqa_tensor *x, biqa_tensor *y);
    void (*relu_bwd)(biqa_backend *be, const biqa_tensor *y, const biqa_tensor *dy,
                     biqa_tensor *dx);

    /* ---- convolution: y = conv2d(x, w) + b; w is OIHW ---- */
    void (*conv2d_fwd)(biqa_backend *be, const biqa_conv_params *p, const biqa_tensor *x,
                       const biqa_tensor *w, const biqa_tensor *b, biqa_tensor *y);
    void (*conv2d_bwd)(biqa_backend *be, const biqa_conv_params *p, const biqa_tensor *x,
                       const biqa_tensor *w, const biqa_tensor *dy, biqa_tensor *dx,
                       biqa_tensor *dw, biqa_tensor *db);

    /* ---- batch norm over (n, h, w) per channel ----
     * Training: normalise by the batch mean and biased variance; update the
     * running stats as PyTorch does (momentum m: r = (1-m) r + m s, with the
     * unbiased variance for running_var); save mean and 1/sqrt(var+eps) for
     * backward. Eval: normalise by the running stats.
     * Backward with batch_stats = 1 differentiates through the batch
     * statistics (training mode); with 0 mean and invstd are constants
     * (eval mode: pass the running mean and 1/sqrt(running_var + eps)). */
    void (*bn_fwd_train)(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *gamma,
                         const biqa_tensor *beta, biqa_tensor *running_mean,
                         biqa_tensor *running_var, float momentum, float eps, biqa_tensor *y,
                         biqa_tensor *save_mean, biqa_tensor *save_invstd);
    void (*bn_fwd_eval)(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *gamma,
                        const biqa_tensor *beta, const biqa_tensor *running_mean,
                        const biqa_tensor *running_var, float eps, biqa_tensor *y);
    void (*bn_bwd)(biqa_backend *be, int batch_stats, const biqa_tensor *x,
                   const biqa_tensor *dy, const biqa_tensor *gamma, const biqa_tensor *mean,
                   const biqa_tensor *invstd, biqa_tensor *dx, biqa_tensor *dgamma,
                   biqa_tensor *dbeta);

    /* ---- pooling ----
     * Max pool records the flat index (within its (n, c) plane) of each
     * output's maximum in argmax (int32, same count as y); the first maximum
     * wins ties, as PyTorch's CPU kernel. */
    void (*maxpool_fwd)(biqa_backend *be, const biqa_pool_params *p, const biqa_tensor *x,
                        biqa_tensor *y, int32_t *argmax);
    void (*maxpool_bwd)(biqa_backend *be, const biqa_tensor *dy, const int32_t *argmax,
                        biqa_tensor *dx);
    /* Global average pool: y (n, c, 1, 1) = mean over h, w. */
    void (*avgpool_fwd)(biqa_backend *be, const biqa_tensor *x, biqa_tensor *y);
    void (*avgpool_bwd)(biqa_backend *be, const biqa_tensor *dy, biqa_tensor *dx);

    /* ---- linear: y (n, o) = x (n, i) w^T + b, w is (o, i) ---- */
    void (*linear_fwd)(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *w,
                       const biqa_tensor *b, biqa_tensor *y);
    void (*linear_bwd)(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *w,
                       const biqa_tensor *dy, biqa_tensor *dx, biqa_tensor *dw,
                       biqa_tensor *db);

    /* ---- L2 normalisation of rows: y = x / max(|x|, eps) (F.normalize) ---- */
    void (*l2norm_fwd)(biqa_backend *be, const biqa_tensor *x, float eps, biqa_tensor *y);
    void (*l2norm_bwd)(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *dy, float eps,
                       biqa_tensor *dx);

    /* ---- InfoNCE logits (MoCo): rows of q (n, d), positives k (n, d),
     * negatives neg (m, d):  logits (n, 1 + m) = [q.k, q neg^T] / tau.
     * Backward writes dq and, where not NULL, dk and dneg. ---- */
    void (*infonce_fwd)(biqa_backend *be, const biqa_tensor *q, const biqa_tensor *k,
                        const biqa_tensor *neg, float tau, biqa_tensor *logits);
    void (*infonce_bwd)(biqa_backend *be, const biqa_tensor *q, const biqa_tensor *k,
                        const biqa_tensor *neg, float tau, const biqa_tensor *dlogits,
                        biqa_tensor *dq, biqa_tensor *dk, biqa_tensor *dneg);

    /* Sets entries (rows[i], cols[i]), i < count, of a matrix t (n, m) to
     * value: how contrastive losses drop a sample from its own negatives
     * (value -INFINITY removes it from the softmax; its gradient is 0).
     * rows and cols are host memory. */
    void (*mask)(biqa_backend *be, biqa_tensor *t, const int32_t *rows, const int32_t *cols,
                 int count, float value);

    /* ---- losses, mean over the batch; *loss is a host float ----
     * Softmax cross-entropy of logits (n, k) against class labels (int32,
     * host memory); dlogits (written, may be NULL) is the gradient of
     * dloss * loss. */
    void (*xent)(biqa_backend *be, const biqa_tensor *logits, const int32_t *labels,
                 float dloss, float *loss, biqa_tensor *dlogits);
    /* Regression losses of pred against target (same shape): mean of
     * |d| (l1), smooth-L1 with beta (F.smooth_l1_loss), or d^2 (mse);
     * dpred (written, may be NULL) is the gradient of dloss * loss. */
    void (*regress)(biqa_backend *be, int kind, float beta, const biqa_tensor *pred,
                    const biqa_tensor *target, float dloss, float *loss, biqa_tensor *dpred);

    /* ---- optimiser updates, elementwise over a parameter ----
     * SGD (torch.optim.SGD): g = grad + wd p; v = mu v + g;
     *   p -= lr (nesterov ? g + mu v : v).
     * AdamW (torch.optim.AdamW): p -= lr wd p; m = b1 m + (1-b1) g;
     *   v = b2 v + (1-b2) g^2; p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
     * EMA (the MoCo key encoder): dst = m dst + (1 - m) src. */
    void (*sgd_step)(biqa_backend *be, biqa_tensor *p, const biqa_tensor *grad,
                     biqa_tensor *velocity, float lr, float momentum, float weight_decay,
                     int nesterov);
    void (*adamw_step)(biqa_backend *be, biqa_tensor *p, const biqa_tensor *grad,
                       biqa_tensor *m, biqa_tensor *v, float lr, float beta1, float beta2,
                       float eps, float weight_decay, int step);
    void (*ema)(biqa_backend *be, biqa_tensor *dst, const biqa_tensor *src, float momentum);

    /* ---- optional hooks (added for issue #7): NULL where a backend has
     * none (ref and cpu run every op to completion before it returns), so
     * every caller checks before calling. ----
     * sync waits for every op queued so far; -1 with err naming the device
     * error when one happened.
     * graph_begin .. graph_end record the ops called in between instead of
     * running them (a CUDA graph of a static step); graph_replay runs the
     * recording once more and waits for it. A replay sees the tensors,
     * scalars and host arrays (labels, mask indices) of the recording, so
     * only a step whose inputs stay put may be recorded (e.g. SGD at a
     * constant learning rate on a fixed batch). While recording, upload,
     * download and free are not allowed, and an op's host result (the
     * *loss of xent and regress) is written at each replay, so that
     * pointer must stay valid while the graph lives. A new graph_begin
     * replaces the previous graph; destroy frees it. */
    int (*sync)(biqa_backend *be, biqa_error *err);
    int (*graph_begin)(biqa_backend *be, biqa_error *err);
    int (*graph_end)(biqa_backend *be, biqa_error *err);
    int (*graph_replay)(biqa_backend *be, biqa_error *err);

    void (*destroy)(biqa_backend *be);
};

enum biqa_regress_kind { BIQA_LOSS_L1 = 0, BIQA_LOSS_SMOOTH_L1 = 1, BIQA_LOSS_MSE = 2 };

/* Creates a backend by name ("ref", "cpu", "cuda") with threads workers
 * (0: every core). Error when the name is unknown or the backend is not
 * available here (cuda without a device). The name may carry a precision
 * after a colon ("cuda:bf16"; issue #7), so that programs which take a
 * backend name (the test helpers) reach every precision; without one it is
 * fp32. */
biqa_backend *biqa_backend_create(const char *name, int threads, biqa_error *err);
/* The same with an explicit precision (the name then carries none). */
biqa_backend *biqa_backend_create_with(const char *name, int threads,
                                       enum biqa_precision precision, biqa_error *err);
/* "fp32", "tf32", "bf16" <-> enum biqa_precision; parse fails naming text. */
int biqa_precision_parse(const char *text, enum biqa_precision *out, biqa_error *err);
const char *biqa_precision_name(enum biqa_precision precision);
void biqa_backend_destroy(biqa_backend *be);

#endif
