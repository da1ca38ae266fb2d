/* scratch: no pretraining. The checkpoint is the backbone as initialised
 * from run.seed (torchvision's init schemes): the baseline every other
 * method must beat.
 * Knobs: model.backbone, run.seed. */
#include <stdlib.h>

#include "methods/method.h"

static int create(const biqa_pretrain_config *cfg, int num_classes, biqa_backend *be, void **state,
                  biqa_error *err)
{
    (void)num_classes;
    biqa_model_options opt = {.seed = cfg->seed};
    return (*state = biqa_model_create(cfg->backbone, &opt, be, err)) ? 0 : -1;
}

static void destroy(void *state) { biqa_model_destroy(state); }
static biqa_model *backbone(void *state) { return state; }

const biqa_method biqa_method_scratch = {
    .name = "scratch", .summary = "random initialisation (no pretraining)",
    .recipe = BIQA_RECIPE_CLASSIFY, .create = create, .destroy = destroy, .backbone = backbone};
