/* The model interface, dispatched to the kind the name asks for. */
#include <stdlib.h>
#include <string.h>

#include "methods/model_impl.h"

biqa_model *biqa_model_create(const char *name, const biqa_model_options *opt, biqa_backend *be,
                              biqa_error *err)
{
    if (strncmp(name, "mlp:", 4) == 0)
        return biqa_mlp_create(name + 4, opt, be, err);
    return biqa_resnet_create(name, opt, be, err);
}

biqa_model *biqa_model_wrap(const biqa_model_ops *ops, void *impl, biqa_backend *be,
                            int num_classes, int feature_dim, biqa_param *params, size_t nparams,
                            biqa_state_dict *sd, const biqa_model_options *opt, biqa_error *err)
{
    biqa_model *m = calloc(1, sizeof *m);
    if (!m) {
        ops->destroy(impl);
        biqa_fail(err, "out of memory creating the model");
        return NULL;
    }
    *m = (biqa_model){ops, impl, be, num_classes, feature_dim, opt && opt->input_grad,
                      params, nparams, sd, NULL};
    return m;
}

void biqa_model_destroy(biqa_model *m)
{
    if (!m)
        return;
    m->ops->destroy(m->impl);
    free(m);
}

int biqa_model_feature_dim(const biqa_model *m) { return m->feature_dim; }
int biqa_model_num_classes(const biqa_model *m) { return m->num_classes; }
void biqa_model_train(biqa_model *m, int training) { m->ops->set_training(m->impl, training); }
const biqa_tensor *biqa_model_input_grad(const biqa_model *m) { return m->dinput; }

int biqa_model_forward(biqa_model *m, const biqa_tensor *x, const biqa_tensor **features,
                       const biqa_tensor **logits, biqa_error *err)
{
    m->dinput = NULL;
    return m->ops->forward(m->impl, x, features, logits, err);
}

int biqa_model_backward(biqa_model *m, const biqa_tensor *dfeatures, const biqa_tensor *dlogits,
                        biqa_error *err)
{
    return m->ops->backward(m->impl, dfeatures, dlogits, m->input_grad ? &m->dinput : NULL, err);
}

size_t biqa_model_params(biqa_model *m, biqa_param **params)
{
    *params = m->params;
    return m->nparams;
}

int biqa_model_save(biqa_model *m, const char *path, const char *metadata_json, biqa_error *err)
{
    return biqa_state_save(m->sd, m->be, path, metadata_json, err);
}

int biqa_model_load(biqa_model *m, const char *path, int strict, biqa_error *err)
{
    return biqa_state_load(m->sd, m->be, path, strict, err);
}
