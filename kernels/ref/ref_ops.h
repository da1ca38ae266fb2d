/* The reference backend's ops, one group per file (ref.c holds the table,
 * memory and elementwise ops). Private to kernels/ref: everything else goes
 * through the biqa_backend table. Semantics: kernels/backend.h. */
#ifndef BIQA_KERNELS_REF_OPS_H
#define BIQA_KERNELS_REF_OPS_H

#include "kernels/backend.h"

/* ref_conv.c */
void biqa_ref_conv2d_fwd(biqa_backend *be, const biqa_conv_params *p, const biqa_tensor *x,
                         const biqa_tensor *w, const biqa_tensor *b, biqa_tensor *y);
void biqa_ref_conv2d_bwd(biqa_backend *be, const biqa_conv_params *p, const biqa_tensor *x,
                         const biqa_tensor *w, const biqa_tensor *dy, biqa_tensor *dx,
                         biqa_tensor *dw, biqa_tensor *db);

/* ref_norm.c */
void biqa_ref_bn_fwd_train(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *gamma,
                           const biqa_tensor *beta, biqa_tensor *running_mean,
                           biqa_tensor *running_var, float momentum, float eps, biqa_tensor *y,
                           biqa_tensor *save_mean, biqa_tensor *save_invstd);
void biqa_ref_bn_fwd_eval(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *gamma,
                          const biqa_tensor *beta, const biqa_tensor *running_mean,
                          const biqa_tensor *running_var, float eps, biqa_tensor *y);
void biqa_ref_bn_bwd(biqa_backend *be, int batch_stats, const biqa_tensor *x,
                     const biqa_tensor *dy, const biqa_tensor *gamma, const biqa_tensor *mean,
                     const biqa_tensor *invstd, biqa_tensor *dx, biqa_tensor *dgamma,
                     biqa_tensor *dbeta);
void biqa_ref_l2norm_fwd(biqa_backend *be, const biqa_tensor *x, float eps, biqa_tensor *y);
void biqa_ref_l2norm_bwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *dy,
                         float eps, biqa_tensor *dx);

/* ref_pool.c */
void biqa_ref_maxpool_fwd(biqa_backend *be, const biqa_pool_params *p, const biqa_tensor *x,
                          biqa_tensor *y, int32_t *argmax);
void biqa_ref_maxpool_bwd(biqa_backend *be, const biqa_tensor *dy, const int32_t *argmax,
                          biqa_tensor *dx);
void biqa_ref_avgpool_fwd(biqa_backend *be, const biqa_tensor *x, biqa_tensor *y);
void biqa_ref_avgpool_bwd(biqa_backend *be, const biqa_tensor *dy, biqa_tensor *dx);

/* ref_linear.c */
void biqa_ref_linear_fwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *w,
                         const biqa_tensor *b, biqa_tensor *y);
void biqa_ref_linear_bwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *w,
                         const biqa_tensor *dy, biqa_tensor *dx, biqa_tensor *dw,
                         biqa_tensor *db);

/* ref_loss.c */
void biqa_ref_infonce_fwd(biqa_backend *be, const biqa_tensor *q, const biqa_tensor *k,
                          const biqa_tensor *neg, float tau, biqa_tensor *logits);
void biqa_ref_infonce_bwd(biqa_backend *be, const biqa_tensor *q, const biqa_tensor *k,
                          const biqa_tensor *neg, float tau, const biqa_tensor *dlogits,
                          biqa_tensor *dq, biqa_tensor *dk, biqa_tensor *dneg);
void biqa_ref_mask(biqa_backend *be, biqa_tensor *t, const int32_t *rows, const int32_t *cols,
                   int count, float value);
void biqa_ref_xent(biqa_backend *be, const biqa_tensor *logits, const int32_t *labels,
                   float dloss, float *loss, biqa_tensor *dlogits);
void biqa_ref_regress(biqa_backend *be, int kind, float beta, const biqa_tensor *pred,
                      const biqa_tensor *target, float dloss, float *loss, biqa_tensor *dpred);

/* ref_optim.c */
void biqa_ref_sgd_step(biqa_backend *be, biqa_tensor *p, const biqa_tensor *grad,
                       biqa_tensor *velocity, float lr, float momentum, float weight_decay,
                       int nesterov);
void biqa_ref_adamw_step(biqa_backend *be, biqa_tensor *p, const biqa_tensor *grad,
                         biqa_tensor *m, biqa_tensor *v, float lr, float beta1, float beta2,
                         float eps, float weight_decay, int step);
void biqa_ref_ema(biqa_backend *be, biqa_tensor *dst, const biqa_tensor *src, float momentum);

#endif
