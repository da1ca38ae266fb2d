/* qpt: quality-aware contrastive pretraining (paper/QPT.md) on the MoCo v2
 * machinery of methods/moco.c.
 *
 * Per source image the QPT recipe (datasets/augment.h) draws V degradation
 * chains from the degrade.* sampler, applies each to the whole image and
 * crops two S x S patches per degraded image whose IoU lies in
 * [iou_min, iou_max], with only a horizontal flip on top (no colour jitter,
 * blur or resize: they change quality). The query of a patch has as its
 * positive the key of the other patch of the same degraded image; its
 * negatives are the whole key bank: this batch's keys (the same content
 * under the other V - 1 chains, QPT.md's N_content, and the other images'
 * patches, N_other) and the ring of past keys (N_other), with the two keys
 * of its own degraded image masked.
 *
 * Knobs: those of moco.c (model.backbone, run.seed, pretrain.* [assumed],
 * moco.* [assumed]) and qpt.variants [assumed], qpt.patch_size [assumed],
 * qpt.iou_min [assumed], qpt.iou_max [assumed], qpt.hflip [assumed] (only
 * true: the loader's recipe always flips with p = 0.5), degrade.family,
 * degrade.k, degrade.types, degrade.levels, degrade.order [all assumed]. */
#include "methods/method.h"

static int create(const biqa_pretrain_config *cfg, int num_classes, biqa_backend *be, void **out,
                  biqa_error *err)
{
    (void)num_classes;
    if (cfg->variants < 1)
        return biqa_fail(err, "qpt.variants: %d, at least 1 is needed", cfg->variants);
    return biqa_moco_create(cfg, 1, be, out, err);
}

const biqa_method biqa_method_qpt = {
    .name = "qpt", .summary = "QPT: quality-aware contrastive pretraining (MoCo v2 machinery)",
    .recipe = BIQA_RECIPE_QPT, .create = create, .destroy = biqa_moco_destroy,
    .step = biqa_moco_step, .after_update = biqa_moco_after_update, .params = biqa_moco_params,
    .backbone = biqa_moco_backbone, .snapshot = biqa_moco_snapshot};
