/* QPT's degradation space: 26 degradation types x 5 levels, each a pure
 * function of (image, type, level, seed).
 *
 * The types and their level parameters are the table of paper/QPT.md
 * ("The degradation space"), itself a third-party implementation's space
 * that the paper does not confirm [assumed]; degrade.c holds it as one
 * table. Where that table is silent this code fixes a convention, stated
 * beside each op (kernels/image/blur.c, noise.c, colour.c, resize.c, ...):
 *   - uint8 in and out: every op clips to [0, 255] and rounds half up;
 *     inside an op values are float (never rounded between its stages,
 *     except where a stage is itself an 8-bit image, as the downscaled
 *     image of a down-up resize or the decoded JPEG).
 *   - borders reflect-101 (OpenCV's default), except the median (edge
 *     replication, as cv2.medianBlur) and the resizes (cv2.resize's).
 *   - randomness only from core/rng.h keyed by (seed, stream = FNV-1a of
 *     "degrade/<name>", index = the position of the value drawn), so the
 *     output never depends on threads or on what else was drawn.
 * The output has the input's size. */
#ifndef BIQA_KERNELS_IMAGE_DEGRADE_H
#define BIQA_KERNELS_IMAGE_DEGRADE_H

#include <stdint.h>

#include "core/error.h"
#include "kernels/image/image.h"

enum {
    BIQA_DEG_SHARPEN, BIQA_DEG_GBLUR, BIQA_DEG_MBLUR, BIQA_DEG_MEDIAN, BIQA_DEG_GLASS,
    BIQA_DEG_GGBLUR, BIQA_DEG_DEFOCUS, BIQA_DEG_ZOOM, BIQA_DEG_ISO, BIQA_DEG_NOISE,
    BIQA_DEG_GREY_NOISE, BIQA_DEG_SPECKLE, BIQA_DEG_BRIGHT_UP, BIQA_DEG_BRIGHT_DOWN,
    BIQA_DEG_CONTRAST_UP, BIQA_DEG_CONTRAST_DOWN, BIQA_DEG_GAMMA_UP, BIQA_DEG_GAMMA_DOWN,
    BIQA_DEG_HUE_UP, BIQA_DEG_HUE_DOWN, BIQA_DEG_SAT_UP, BIQA_DEG_SAT_DOWN, BIQA_DEG_JPEG,
    BIQA_DEG_RESIZE_NEAREST, BIQA_DEG_RESIZE_BILINEAR, BIQA_DEG_RESIZE_BICUBIC,
    BIQA_DEG_TYPES
};
enum { BIQA_DEG_LEVELS = 5 };

typedef struct biqa_degrade_type {
    const char *name;   /* stable short name, used in chain text ("gblur") */
    const char *params; /* what the parameters are ("sigma, max shift px") */
    int nparams;        /* 1 or 2 */
    int random;         /* 1 when the output depends on the seed */
    double level[BIQA_DEG_LEVELS][2]; /* parameters of levels 1..5 */
    double lo[2], hi[2];              /* accepted parameter range (for configured levels) */
    int integer;                      /* bit i set: parameter i must be a whole number */
} biqa_degrade_type;

/* The type's row of the table, NULL when type is out of range. */
const biqa_degrade_type *biqa_degrade_info(int type);
/* The type called name, or -1. */
int biqa_degrade_find(const char *name);

/* out = the degradation `type` with explicit parameters (so configured
 * levels can replace the table's), applied to in. out is allocated here
 * (biqa_image_free it) and must not be in. */
int biqa_degrade_apply(const biqa_image *in, int type, const double param[2], uint64_t seed,
                       biqa_image *out, biqa_error *err);
/* The same at one of the table's levels, 1..5. */
int biqa_degrade_apply_one(const biqa_image *in, int type, int level, uint64_t seed,
                           biqa_image *out, biqa_error *err);

#endif
