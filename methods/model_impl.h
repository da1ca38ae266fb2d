/* What the model files share privately: the state dict, i.e. every tensor
 * a checkpoint holds, in torchvision's order. */
#ifndef BIQA_METHODS_MODEL_IMPL_H
#define BIQA_METHODS_MODEL_IMPL_H

#include "core/safetensors.h"
#include "methods/model.h"

typedef struct biqa_state_entry {
    char *name;
    int ndim;
    int64_t shape[4];
    biqa_tensor *tensor; /* float32 in backend memory; NULL for the counter */
    int64_t *counter;    /* num_batches_tracked (host), when tensor is NULL */
} biqa_state_entry;

typedef struct biqa_state_dict {
    biqa_state_entry *entries;
    size_t count, cap;
} biqa_state_dict;

/* A model kind (ResNet, MLP head) is a table of these over its own state;
 * methods/model.c dispatches the public interface through it. */
typedef struct biqa_model_ops {
    int (*forward)(void *impl, const biqa_tensor *x, const biqa_tensor **features,
                   const biqa_tensor **logits, biqa_error *err);
    /* Writes the gradient w.r.t. the input to *dinput when dinput is not
     * NULL (heads need it to reach the backbone; a backbone's first layer
     * skips it). */
    int (*backward)(void *impl, const biqa_tensor *dfeatures, const biqa_tensor *dlogits,
                    const biqa_tensor **dinput, biqa_error *err);
    void (*set_training)(void *impl, int training);
    void (*destroy)(void *impl);
} biqa_model_ops;

/* What every kind shares: the generic fields live here, the kind's own
 * state behind impl. */
struct biqa_model {
    const biqa_model_ops *ops;
    void *impl;
    biqa_backend *be;
    int num_classes, feature_dim, input_grad;
    biqa_param *params;
    size_t nparams;
    biqa_state_dict *sd;
    const biqa_tensor *dinput; /* after backward, when input_grad */
};

/* Wraps a kind's state as a biqa_model (NULL when out of memory, with impl
 * destroyed). */
biqa_model *biqa_model_wrap(const biqa_model_ops *ops, void *impl, biqa_backend *be,
                            int num_classes, int feature_dim, biqa_param *params, size_t nparams,
                            biqa_state_dict *sd, const biqa_model_options *opt, biqa_error *err);

biqa_model *biqa_resnet_create(const char *backbone, const biqa_model_options *opt,
                               biqa_backend *be, biqa_error *err);
biqa_model *biqa_mlp_create(const char *spec, const biqa_model_options *opt, biqa_backend *be,
                            biqa_error *err);

int biqa_state_add(biqa_state_dict *sd, const char *name, int ndim, const int64_t *shape,
                   biqa_tensor *tensor, int64_t *counter);
void biqa_state_free(biqa_state_dict *sd);

int biqa_state_save(const biqa_state_dict *sd, biqa_backend *be, const char *path,
                    const char *metadata_json, biqa_error *err);
int biqa_state_load(const biqa_state_dict *sd, biqa_backend *be, const char *path, int strict,
                    biqa_error *err);

#endif
