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

int biqa_state_add(biqa_state_dict *sd, const char *name, int ndim, const int64_t *shape,
                   biqa_tensor *tensor, int64_t *counter);
void biqa_state_free(biqa_state_dict *sd);

int biqa_state_save(const biqa_state_dict *sd, biqa_backend *be, const char *path,
                    const char *metadata_json, biqa_error *err);
int biqa_state_load(const biqa_state_dict *sd, biqa_backend *be, const char *path, int strict,
                    biqa_error *err);

#endif
