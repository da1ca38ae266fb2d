/* Moving batches between safetensors files and a model's backend: how
 * `biqa model forward` and the tests exchange tensors with PyTorch. */
#ifndef BIQA_METHODS_MODEL_IO_H
#define BIQA_METHODS_MODEL_IO_H

#include "core/safetensors.h"
#include "kernels/backend.h"

/* Reads tensor `name` of st (4-D, N x C x H x W, or 2-D N x D as N x D x 1 x
 * 1) into freshly allocated backend memory. Errors name the file and key. */
int biqa_tensor_from_st(const biqa_safetensors *st, const char *name, biqa_backend *be,
                        biqa_tensor *out, biqa_error *err);

/* Opens a weights file and tells how many classes its `fc` has (0: none),
 * so the model can be created to match. */
int biqa_weights_classes(const char *path, int *num_classes, biqa_error *err);

#endif
