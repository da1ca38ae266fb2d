/* Per-view augmentation recipes of the pretraining methods. Every output is
 * a pure function of (recipe, image, seed, index): the draws of view j come
 * from core/rng.h keyed by (u64(seed, "augment/item", index), stream j), so
 * a view never depends on thread count or on other views.
 *
 * Views are float32 CHW, S x S, normalised with ImageNet's mean
 * (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225) after scaling pixels
 * to [0, 1], as torchvision's ToTensor + Normalize do. The ops follow
 * torchvision 0.14's *tensor* functional path (a float image in [0, 1]):
 *
 * CLASSIFY (supervised, scratch, fine-tune training): 1 view.
 *   RandomResizedCrop(S, scale [0.08, 1], ratio [3/4, 4/3]) with
 *   torchvision's get_params (10 tries, then its central-crop fallback;
 *   Python's round-half-even), bilinear resize as F.interpolate
 *   (align_corners = False, no antialias: torchvision's tensor default in
 *   0.14; its PIL path antialiases when shrinking), horizontal flip p = 0.5.
 * MOCO_V2 (moco, simclr): 2 views, each as MoCo v2's augmentation:
 *   RandomResizedCrop(S, scale [0.2, 1]); with p = 0.8 ColorJitter(0.4, 0.4,
 *   0.4, 0.1): brightness, contrast, saturation factors uniform in [0.6, 1.4],
 *   hue in [-0.1, 0.1], the four applied in a random order (torchvision's
 *   randperm(4)), each clamped to [0, 1] as adjust_* on tensors do;
 *   grayscale with p = 0.2 (0.2989 R + 0.587 G + 0.114 B into all three);
 *   with p = 0.5 a Gaussian blur, sigma uniform in [0.1, 2]; flip p = 0.5.
 *   Deviations: MoCo v2 blurs with PIL's ImageFilter.GaussianBlur(radius =
 *   sigma); here it is torchvision's F.gaussian_blur (reflect padding) with
 *   kernel size 2 ceil(3 sigma) + 1, capped to the largest odd size below S.
 *   Draws come from core/rng.h, not torch's generator, so the same seed
 *   gives other crops than PyTorch (the ops on given boxes/factors match).
 * QPT (paper/QPT.md, [assumed] knobs): 2 V views. For variant v = 0..V-1 a
 *   chain is draw v of the sampler under the item seed (chain.h) and applied
 *   to the whole image with seed u64(item seed, "augment/qpt-apply", v);
 *   from the degraded image two S x S crops (no resize) whose IoU lies in
 *   [iou_min, iou_max]: the first box uniform over the image, the second
 *   uniform among the positions overlapping it, rejected until the IoU fits
 *   (at most iou_tries times). Fallback when every try fails: among the
 *   offsets (dx, dy) in [0, S]^2 whose two boxes fit, the one whose IoU is
 *   nearest the range's middle (first in (dy, dx) order on ties), the pair
 *   centred in the image. An image with
 *   no such pair (smaller than S, or too small for the IoU range) is an
 *   error. Then each patch is flipped with p = 0.5, independently; nothing
 *   else (no colour jitter, blur or resize: they change quality).
 *
 * View order: item-major; MOCO_V2 view 2i + p; QPT view (i V + v) 2 + p:
 * the two patches of one variant adjacent, the variants of one image
 * adjacent. */
#ifndef BIQA_DATASETS_AUGMENT_H
#define BIQA_DATASETS_AUGMENT_H

#include <stdint.h>

#include "core/error.h"
#include "kernels/image/chain.h"
#include "kernels/image/image.h"

enum biqa_recipe_kind { BIQA_RECIPE_CLASSIFY, BIQA_RECIPE_MOCO, BIQA_RECIPE_QPT };

/* Room for any chain's text and its NUL (16 steps of "name:L,"). */
#define BIQA_CHAIN_TEXT 384

typedef struct biqa_recipe {
    enum biqa_recipe_kind kind;
    int size;                   /* S, output side in px */
    int variants;               /* QPT: V [assumed 2..4; default 2] */
    double iou_min, iou_max;    /* QPT: [assumed 0.1, 0.3] */
    int iou_tries;              /* QPT: rejection-sampling tries (default 100) */
    biqa_chain_sampler sampler; /* QPT: default biqa_chain_sampler_default() */
} biqa_recipe;

/* The recipe with the defaults above. */
biqa_recipe biqa_recipe_default(enum biqa_recipe_kind kind, int size);
/* "classify", "moco", "qpt". */
int biqa_recipe_parse_kind(const char *name, enum biqa_recipe_kind *out, biqa_error *err);
const char *biqa_recipe_name(enum biqa_recipe_kind kind);
int biqa_recipe_check(const biqa_recipe *r, biqa_error *err);
/* Views per source image: 1, 2 or 2 V. */
int biqa_recipe_views(const biqa_recipe *r);

typedef struct biqa_box {
    int x, y, w, h;
} biqa_box;

typedef struct biqa_view_info {
    int group;                   /* QPT: the variant v; else 0 */
    biqa_box box;                /* the crop in the (degraded) source image */
    int flipped;
    char chain[BIQA_CHAIN_TEXT]; /* QPT: the variant's chain text; else "" */
    uint64_t chain_seed;         /* QPT: its apply seed; else 0 */
} biqa_view_info;

/* out: biqa_recipe_views(r) x 3 x S x S floats; info: one per view (may be
 * NULL). Errors name the image by `name`. */
int biqa_augment(const biqa_recipe *r, const char *name, const biqa_image *im, uint64_t seed,
                 uint64_t index, float *out, biqa_view_info *info, biqa_error *err);

/* ---- the ops, on a float CHW image in [0, 1] (exposed for the oracle) ---- */
double biqa_box_iou(biqa_box a, biqa_box b);
/* to_tensor + crop + resize to S x S (bilinear, align_corners = False). */
void biqa_resized_crop(const biqa_image *im, biqa_box box, int size, float *chw);
void biqa_adjust_brightness(float *chw, int hw, float f);
void biqa_adjust_contrast(float *chw, int hw, float f);
void biqa_adjust_saturation(float *chw, int hw, float f);
void biqa_adjust_hue(float *chw, int hw, float f);
void biqa_grayscale(float *chw, int hw);
/* ksize odd, 1..127 and < min(h, w) (reflect padding); tmp: h w floats. */
void biqa_gaussian_blur(float *chw, int h, int w, int ksize, float sigma, float *tmp);
/* The kernel size the MOCO_V2 recipe uses for sigma at side S. */
int biqa_blur_ksize(float sigma, int size);

#endif
