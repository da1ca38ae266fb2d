/* Tensors: a view of backend memory with a 4-D shape. Every activation is
 * (n, c, h, w); a matrix is (rows, cols, 1, 1); a vector is (len, 1, 1, 1).
 * Shapes are always given in NCHW order; `layout` says how the elements lie
 * in memory (the ref and cpu backends use NCHW, like PyTorch; the CUDA
 * backend may use NHWC). Weights of convolutions are OIHW (o, i, kh, kw), as
 * torchvision stores them. */
#ifndef BIQA_KERNELS_TENSOR_H
#define BIQA_KERNELS_TENSOR_H

#include <stddef.h>
#include <stdint.h>

enum biqa_dtype { BIQA_F32 = 0, BIQA_BF16 = 1 };
enum biqa_layout { BIQA_NCHW = 0, BIQA_NHWC = 1 };

typedef struct biqa_tensor {
    void *data;
    int n, c, h, w;
    enum biqa_dtype dtype;
    enum biqa_layout layout;
} biqa_tensor;

static inline size_t biqa_numel(const biqa_tensor *t)
{
    return (size_t)t->n * (size_t)t->c * (size_t)t->h * (size_t)t->w;
}

static inline float *biqa_f32(const biqa_tensor *t) { return (float *)t->data; }

/* A float32 NCHW view of data. */
static inline biqa_tensor biqa_view(void *data, int n, int c, int h, int w)
{
    biqa_tensor t = {data, n, c, h, w, BIQA_F32, BIQA_NCHW};
    return t;
}

#endif
