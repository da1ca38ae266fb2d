/* The common model interface (DESIGN.md): every method, every downstream
 * protocol and every backend meets here. A model is a network on one
 * backend: create it by backbone name, run forward to pooled features (and
 * logits when it has a classifier), backward from the gradients of those,
 * iterate its parameters for an optimiser, switch train/eval, and save/load
 * safetensors checkpoints with torchvision's state_dict names and OIHW
 * weights, so torchvision loads a biqa checkpoint and biqa loads
 * torchvision's weights.
 *
 * Backbones: "resnet18", "resnet34", "resnet50", "resnet101" (torchvision's
 * v1.5 topology: stride in the bottleneck's 3x3 conv), and width-scaled
 * variants "resnet18-w0.25" etc. (every channel count times the factor,
 * at least 1) for CPU-sized work.
 *
 * Heads are models too, composed after a backbone's pooled features:
 * "mlp:IN-H1-...-OUT" is a stack of linear layers with ReLU between them
 * (nn.Sequential(Linear, ReLU, Linear, ...), state_dict names "0.weight",
 * "0.bias", "2.weight", ...): "mlp:2048-2048-128" is MoCo v2's projection,
 * "mlp:2048-1" a linear regression head, "mlp:2048-1000" a classifier. Its
 * input is (n, IN, 1, 1), its features the last layer's output. */
#ifndef BIQA_METHODS_MODEL_H
#define BIQA_METHODS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "kernels/backend.h"
#include "methods/optim.h"

typedef struct biqa_model biqa_model;

typedef struct biqa_model_options {
    int num_classes; /* > 0: a classifier `fc` (features -> num_classes) after pooling */
    uint64_t seed;   /* initialisation (torchvision's init schemes, biqa's RNG) */
    int input_grad;  /* 1: backward also computes the gradient w.r.t. the input */
} biqa_model_options;

biqa_model *biqa_model_create(const char *backbone, const biqa_model_options *opt,
                              biqa_backend *be, biqa_error *err);
void biqa_model_destroy(biqa_model *m);

/* Pooled feature width D (2048 for resnet50, 512 for resnet18). */
int biqa_model_feature_dim(const biqa_model *m);
int biqa_model_num_classes(const biqa_model *m);

/* Training mode: batch norm uses and updates batch statistics. */
void biqa_model_train(biqa_model *m, int training);

/* Forward a batch x (n, 3, h, w) in backend memory. *features (n, D, 1, 1)
 * and *logits (n, K, 1, 1, NULL without a classifier) point into the
 * model's activation memory, valid until the next forward. */
int biqa_model_forward(biqa_model *m, const biqa_tensor *x, const biqa_tensor **features,
                       const biqa_tensor **logits, biqa_error *err);

/* Backward through the last forward from the gradient of the features
 * and/or of the logits (either may be NULL); parameter gradients
 * accumulate (kernels/backend.h). */
int biqa_model_backward(biqa_model *m, const biqa_tensor *dfeatures, const biqa_tensor *dlogits,
                        biqa_error *err);

/* The gradient w.r.t. the last forward's input, after backward (NULL
 * unless created with input_grad). */
const biqa_tensor *biqa_model_input_grad(const biqa_model *m);

/* The trainable parameters (weights and biases with their gradients). */
size_t biqa_model_params(biqa_model *m, biqa_param **params);

/* Checkpoints. save writes every parameter and buffer under torchvision's
 * names (running stats, num_batches_tracked as I64). load reads a
 * safetensors file (F32/F16/BF16/F64); with strict it fails, listing by
 * name, on missing keys, unexpected keys and shape mismatches, and changes
 * nothing; without strict it loads what matches by name and shape (e.g. a
 * backbone without the checkpoint's fc) and warns once per key it passed
 * over, so nothing is skipped silently. */
int biqa_model_save(biqa_model *m, const char *path, const char *metadata_json, biqa_error *err);
int biqa_model_load(biqa_model *m, const char *path, int strict, biqa_error *err);

#endif
