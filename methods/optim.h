/* Optimisers and learning-rate schedules over a model's parameters, with
 * the arithmetic done by the backend's update ops (kernels/backend.h), so the
 * same optimiser runs on every backend.
 *
 * Weight decay excludes parameters marked no_decay (batch-norm weights and
 * biases, and every bias: the usual recipe for ResNet pretraining), as a
 * second PyTorch param group with weight_decay 0 would.
 *
 * SGD is torch.optim.SGD with dampening 0 (weight decay added to the
 * gradient, the first momentum buffer equal to the first gradient);
 * AdamW is torch.optim.AdamW (decoupled decay p -= lr wd p, bias
 * correction with the optimiser's own step counter t = 1, 2, ...).
 * tests/ref/optim_vs_torch.py checks both, with every schedule, against
 * PyTorch on each CPU backend. */
#ifndef BIQA_METHODS_OPTIM_H
#define BIQA_METHODS_OPTIM_H

#include <stddef.h>

#include "core/error.h"
#include "kernels/backend.h"

/* One trainable tensor with its gradient (both backend memory). */
typedef struct biqa_param {
    const char *name; /* torchvision state_dict key, e.g. "layer1.0.conv1.weight" */
    biqa_tensor value, grad;
    int no_decay;
} biqa_param;

enum biqa_optim_kind { BIQA_OPTIM_SGD = 0, BIQA_OPTIM_ADAMW = 1 };

typedef struct biqa_optim_config {
    enum biqa_optim_kind kind;
    float momentum;     /* SGD, >= 0 */
    int nesterov;       /* SGD, needs momentum > 0 (as PyTorch) */
    float weight_decay; /* >= 0 */
    float beta1, beta2, eps; /* AdamW: betas in [0, 1), eps >= 0 */
} biqa_optim_config;

typedef struct biqa_optim biqa_optim;

/* Checks cfg (the ranges above) and that every value and grad have the same
 * element count, then allocates the state (SGD's momentum buffers, or
 * AdamW's m and v) in one block on be, zeroed. params is copied (the
 * tensors it points to are not: they stay the caller's). */
biqa_optim *biqa_optim_create(biqa_backend *be, const biqa_optim_config *cfg,
                              biqa_param *params, size_t count, biqa_error *err);
/* One update of every parameter with learning rate lr. */
void biqa_optim_step(biqa_optim *o, float lr);
/* Sets every gradient to 0 (gradients accumulate, kernels/backend.h). */
void biqa_optim_zero_grad(biqa_optim *o);
void biqa_optim_destroy(biqa_optim *o);
/* The optimiser's state, for training snapshots (methods/snapshot.h):
 * *params the parameters, *state per_param tensors per parameter (SGD:
 * momentum_buffer; AdamW: exp_avg then exp_avg_sq, as torch.optim names
 * them), *step the update counter AdamW's bias correction uses. */
size_t biqa_optim_state(biqa_optim *o, const biqa_param **params, biqa_tensor **state,
                        int *per_param, int **step);

/* Learning-rate schedules, as a function of the 0-based step s (the lr used
 * by the s-th update). With W = warmup_steps, base = base_lr:
 *   warm-up, s < W:  lr = base (s + 1) / W   (linear, ends at base; equal
 *                    to torch LinearLR(start_factor 1/W, total_iters W-1))
 * then, with k = s - W (steps since warm-up):
 *   constant:        lr = base
 *   cosine:          with K = total_steps - W,
 *                    lr = min_lr + (base - min_lr) (1 + cos(pi k / K)) / 2
 *                    for k < K, and min_lr for k >= K (clamped where
 *                    torch's CosineAnnealingLR(T_max K, eta_min min_lr)
 *                    would rise again); k = 0 gives base, k = K min_lr
 *   step:            lr = base gamma^floor(k / step_size)   (torch StepLR)
 * A negative step counts as step 0. */
enum biqa_schedule_kind { BIQA_SCHED_CONSTANT = 0, BIQA_SCHED_COSINE = 1, BIQA_SCHED_STEP = 2 };

typedef struct biqa_schedule {
    enum biqa_schedule_kind kind;
    double base_lr;
    long total_steps;  /* cosine: the decay spans warm-up end .. total_steps */
    long warmup_steps; /* linear warm-up from base_lr / warmup_steps to base_lr */
    double min_lr;     /* cosine floor */
    long step_size;    /* step: multiply by gamma every step_size steps after warm-up */
    double gamma;
} biqa_schedule;

/* Checks s: base_lr > 0, warmup_steps >= 0; cosine: 0 <= min_lr <= base_lr
 * and total_steps > warmup_steps; step: step_size >= 1, 0 < gamma. The
 * error names the field. */
int biqa_schedule_check(const biqa_schedule *s, biqa_error *err);
/* Learning rate for step (0-based), by the formulas above; s must pass
 * biqa_schedule_check. */
double biqa_schedule_lr(const biqa_schedule *s, long step);

#endif
