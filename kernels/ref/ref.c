/* The reference backend: its table, host memory (plain malloc; upload and
 * download are copies) and the elementwise ops. */
#include "kernels/ref/ref.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/ref/ref_ops.h"

static void *ref_alloc(biqa_backend *be, size_t bytes)
{
    (void)be;
    return malloc(bytes ? bytes : 1); /* a valid pointer even for empty tensors */
}

static void ref_free(biqa_backend *be, void *p)
{
    (void)be;
    free(p);
}

static void ref_upload(biqa_backend *be, void *dst, const float *src, size_t count)
{
    (void)be;
    if (count)
        memcpy(dst, src, count * sizeof(float));
}

static void ref_download(biqa_backend *be, float *dst, const void *src, size_t count)
{
    (void)be;
    if (count)
        memcpy(dst, src, count * sizeof(float));
}

static void ref_fill(biqa_backend *be, biqa_tensor *t, float value)
{
    (void)be;
    float *p = biqa_f32(t);
    for (size_t i = 0, n = biqa_numel(t); i < n; i++)
        p[i] = value;
}

static void ref_copy(biqa_backend *be, biqa_tensor *dst, const biqa_tensor *src)
{
    (void)be;
    const float *s = biqa_f32(src);
    float *d = biqa_f32(dst);
    for (size_t i = 0, n = biqa_numel(dst); i < n; i++)
        d[i] = s[i];
}

static void ref_add(biqa_backend *be, const biqa_tensor *a, const biqa_tensor *b, biqa_tensor *y)
{
    (void)be;
    const float *pa = biqa_f32(a), *pb = biqa_f32(b);
    float *py = biqa_f32(y);
    for (size_t i = 0, n = biqa_numel(y); i < n; i++)
        py[i] = pa[i] + pb[i];
}

static void ref_axpy(biqa_backend *be, float alpha, const biqa_tensor *x, biqa_tensor *y)
{
    (void)be;
    const float *px = biqa_f32(x);
    float *py = biqa_f32(y);
    for (size_t i = 0, n = biqa_numel(y); i < n; i++)
        py[i] += alpha * px[i];
}

static void ref_relu_fwd(biqa_backend *be, const biqa_tensor *x, biqa_tensor *y)
{
    (void)be;
    const float *px = biqa_f32(x);
    float *py = biqa_f32(y);
    for (size_t i = 0, n = biqa_numel(y); i < n; i++)
        py[i] = px[i] > 0 ? px[i] : 0;
}

/* PyTorch's threshold_backward: the gradient passes where the output is > 0. */
static void ref_relu_bwd(biqa_backend *be, const biqa_tensor *y, const biqa_tensor *dy,
                         biqa_tensor *dx)
{
    (void)be;
    const float *py = biqa_f32(y), *pdy = biqa_f32(dy);
    float *pdx = biqa_f32(dx);
    for (size_t i = 0, n = biqa_numel(dx); i < n; i++)
        pdx[i] = py[i] > 0 ? pdy[i] : 0;
}

static void ref_destroy(biqa_backend *be)
{
    free(be);
}

biqa_backend *biqa_ref_backend_create(biqa_error *err)
{
    biqa_backend *be = calloc(1, sizeof *be);
    if (!be) {
        biqa_fail(err, "backend 'ref': out of memory");
        return NULL;
    }
    be->name = "ref";
    be->threads = 1;
    be->alloc = ref_alloc;
    be->free = ref_free;
    be->upload = ref_upload;
    be->download = ref_download;
    be->fill = ref_fill;
    be->copy = ref_copy;
    be->add = ref_add;
    be->axpy = ref_axpy;
    be->relu_fwd = ref_relu_fwd;
    be->relu_bwd = ref_relu_bwd;
    be->conv2d_fwd = biqa_ref_conv2d_fwd;
    be->conv2d_bwd = biqa_ref_conv2d_bwd;
    be->bn_fwd_train = biqa_ref_bn_fwd_train;
    be->bn_fwd_eval = biqa_ref_bn_fwd_eval;
    be->bn_bwd = biqa_ref_bn_bwd;
    be->maxpool_fwd = biqa_ref_maxpool_fwd;
    be->maxpool_bwd = biqa_ref_maxpool_bwd;
    be->avgpool_fwd = biqa_ref_avgpool_fwd;
    be->avgpool_bwd = biqa_ref_avgpool_bwd;
    be->linear_fwd = biqa_ref_linear_fwd;
    be->linear_bwd = biqa_ref_linear_bwd;
    be->l2norm_fwd = biqa_ref_l2norm_fwd;
    be->l2norm_bwd = biqa_ref_l2norm_bwd;
    be->infonce_fwd = biqa_ref_infonce_fwd;
    be->infonce_bwd = biqa_ref_infonce_bwd;
    be->mask = biqa_ref_mask;
    be->xent = biqa_ref_xent;
    be->regress = biqa_ref_regress;
    be->sgd_step = biqa_ref_sgd_step;
    be->adamw_step = biqa_ref_adamw_step;
    be->ema = biqa_ref_ema;
    be->destroy = ref_destroy;
    return be;
}
