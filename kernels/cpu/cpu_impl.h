/* Private to the cpu backend: its state and the op implementations, one
 * file per op family (conv.c, bnorm.c, pool.c, dense.c, loss.c, eltwise.c,
 * optim.c), wired into the table by cpu.c. */
#ifndef BIQA_KERNELS_CPU_IMPL_H
#define BIQA_KERNELS_CPU_IMPL_H

#include <oneapi/dnnl/dnnl.h>

#include "kernels/backend.h"

/* Reusable buffers, grown on demand and shared by the ops (one op runs at a
 * time on a backend): the blocked copies oneDNN works on, its scratchpad,
 * and small per-row partial sums. */
enum cpu_ws_slot {
    CPU_WS_SRC,     /* conv: the source (x) in oneDNN's layout */
    CPU_WS_DST,     /* conv: y or dy in oneDNN's layout */
    CPU_WS_DST2,    /* conv: dy for the weight gradient when it has its own copy */
    CPU_WS_WEI,     /* conv: the weights in oneDNN's layout */
    CPU_WS_DWEI,    /* conv: the weight gradient before it is added to dw */
    CPU_WS_SCRATCH, /* oneDNN's scratchpad */
    CPU_WS_PARTIAL, /* loss partial sums */
    CPU_WS_COUNT
};

typedef struct cpu_conv_plan cpu_conv_plan;

typedef struct cpu_ctx {
    int threads;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    cpu_conv_plan *plans; /* one per convolution shape seen, a list */
    void *ws[CPU_WS_COUNT];
    size_t ws_size[CPU_WS_COUNT];
} cpu_ctx;

static inline cpu_ctx *cpu_of(biqa_backend *be) { return (cpu_ctx *)be->ctx; }

/* Elementwise loops below this many elements run on the calling thread: a
 * fork/join costs more than the work. */
#define CPU_PAR_MIN 32768

/* Hot loops are compiled for AVX-512, AVX2 and baseline x86-64 and picked
 * at load time (GCC function multiversioning): the build targets baseline
 * x86-64, whose 16-byte vectors leave most of a modern core unused. Put it
 * on a function holding `#pragma omp simd` loops, not on one holding a
 * parallel region (the outlined region body would not be cloned). */
#if defined(__x86_64__) && defined(__GNUC__)
#define CPU_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CPU_HOT
#endif

/* Calls fn(arg, lo, hi) on contiguous slabs of [0, n), one per worker, with
 * slab bounds on 64-byte boundaries; on the calling thread alone when n <
 * CPU_PAR_MIN. */
typedef void (*cpu_range_fn)(void *arg, size_t lo, size_t hi);
void biqa_cpu_ranges(const biqa_backend *be, size_t n, cpu_range_fn fn, void *arg);

/* The op interface returns nothing, so a failure inside an op (out of
 * memory, a oneDNN error) cannot be returned: it is printed as one
 * `biqa: error:` line and the process aborts rather than computing garbage. */
_Noreturn void biqa_cpu_die(const char *what, const char *detail);
/* Slot s of the workspace with at least bytes bytes (64-byte aligned). */
void *biqa_cpu_ws(cpu_ctx *c, enum cpu_ws_slot s, size_t bytes);

void biqa_cpu_conv_free_plans(cpu_ctx *c);
void biqa_cpu_conv2d_fwd(biqa_backend *be, const biqa_conv_params *p, const biqa_tensor *x,
                         const biqa_tensor *w, const biqa_tensor *b, biqa_tensor *y);
void biqa_cpu_conv2d_bwd(biqa_backend *be, const biqa_conv_params *p, const biqa_tensor *x,
                         const biqa_tensor *w, const biqa_tensor *dy, biqa_tensor *dx,
                         biqa_tensor *dw, biqa_tensor *db);

void biqa_cpu_fill(biqa_backend *be, biqa_tensor *t, float value);
void biqa_cpu_copy(biqa_backend *be, biqa_tensor *dst, const biqa_tensor *src);
void biqa_cpu_add(biqa_backend *be, const biqa_tensor *a, const biqa_tensor *b, biqa_tensor *y);
void biqa_cpu_axpy(biqa_backend *be, float alpha, const biqa_tensor *x, biqa_tensor *y);
void biqa_cpu_relu_fwd(biqa_backend *be, const biqa_tensor *x, biqa_tensor *y);
void biqa_cpu_relu_bwd(biqa_backend *be, const biqa_tensor *y, const biqa_tensor *dy,
                       biqa_tensor *dx);

void biqa_cpu_bn_fwd_train(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *gamma,
                           const biqa_tensor *beta, biqa_tensor *running_mean,
                           biqa_tensor *running_var, float momentum, float eps, biqa_tensor *y,
                           biqa_tensor *save_mean, biqa_tensor *save_invstd);
void biqa_cpu_bn_fwd_eval(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *gamma,
                          const biqa_tensor *beta, const biqa_tensor *running_mean,
                          const biqa_tensor *running_var, float eps, biqa_tensor *y);
void biqa_cpu_bn_bwd(biqa_backend *be, int batch_stats, const biqa_tensor *x,
                     const biqa_tensor *dy, const biqa_tensor *gamma, const biqa_tensor *mean,
                     const biqa_tensor *invstd, biqa_tensor *dx, biqa_tensor *dgamma,
                     biqa_tensor *dbeta);

void biqa_cpu_maxpool_fwd(biqa_backend *be, const biqa_pool_params *p, const biqa_tensor *x,
                          biqa_tensor *y, int32_t *argmax);
void biqa_cpu_maxpool_bwd(biqa_backend *be, const biqa_tensor *dy, const int32_t *argmax,
                          biqa_tensor *dx);
void biqa_cpu_avgpool_fwd(biqa_backend *be, const biqa_tensor *x, biqa_tensor *y);
void biqa_cpu_avgpool_bwd(biqa_backend *be, const biqa_tensor *dy, biqa_tensor *dx);

void biqa_cpu_linear_fwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *w,
                         const biqa_tensor *b, biqa_tensor *y);
void biqa_cpu_linear_bwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *w,
                         const biqa_tensor *dy, biqa_tensor *dx, biqa_tensor *dw,
                         biqa_tensor *db);
void biqa_cpu_l2norm_fwd(biqa_backend *be, const biqa_tensor *x, float eps, biqa_tensor *y);
void biqa_cpu_l2norm_bwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *dy,
                         float eps, biqa_tensor *dx);
void biqa_cpu_infonce_fwd(biqa_backend *be, const biqa_tensor *q, const biqa_tensor *k,
                          const biqa_tensor *neg, float tau, biqa_tensor *logits);
void biqa_cpu_infonce_bwd(biqa_backend *be, const biqa_tensor *q, const biqa_tensor *k,
                          const biqa_tensor *neg, float tau, const biqa_tensor *dlogits,
                          biqa_tensor *dq, biqa_tensor *dk, biqa_tensor *dneg);

void biqa_cpu_mask(biqa_backend *be, biqa_tensor *t, const int32_t *rows, const int32_t *cols,
                   int count, float value);
void biqa_cpu_xent(biqa_backend *be, const biqa_tensor *logits, const int32_t *labels,
                   float dloss, float *loss, biqa_tensor *dlogits);
void biqa_cpu_regress(biqa_backend *be, int kind, float beta, const biqa_tensor *pred,
                      const biqa_tensor *target, float dloss, float *loss, biqa_tensor *dpred);

void biqa_cpu_sgd_step(biqa_backend *be, biqa_tensor *p, const biqa_tensor *grad,
                       biqa_tensor *velocity, float lr, float momentum, float weight_decay,
                       int nesterov);
void biqa_cpu_adamw_step(biqa_backend *be, biqa_tensor *p, const biqa_tensor *grad,
                         biqa_tensor *m, biqa_tensor *v, float lr, float beta1, float beta2,
                         float eps, float weight_decay, int step);
void biqa_cpu_ema(biqa_backend *be, biqa_tensor *dst, const biqa_tensor *src, float momentum);

#endif
