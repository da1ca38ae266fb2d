/* The degradation ops behind kernels/image/degrade.c, one signature for
 * all: read in, write out (3 w h bytes, allocated by the caller, never in),
 * parameters p as in degrade.c's table (already range-checked), random
 * values from core/rng.h keyed by (seed, stream, index). Return -1 only
 * when out of memory. Internal to kernels/image. */
#ifndef BIQA_KERNELS_IMAGE_OPS_H
#define BIQA_KERNELS_IMAGE_OPS_H

#include "kernels/image/image.h"

typedef int biqa_degrade_op(const biqa_image *in, const double *p, uint64_t seed,
                            uint64_t stream, uint8_t *out, biqa_error *err);

biqa_degrade_op biqa_op_sharpen, biqa_op_gblur, biqa_op_mblur, biqa_op_median, biqa_op_glass,
    biqa_op_ggblur, biqa_op_defocus, biqa_op_zoom, biqa_op_iso, biqa_op_noise,
    biqa_op_grey_noise, biqa_op_speckle, biqa_op_brightness, biqa_op_contrast, biqa_op_gamma,
    biqa_op_hue, biqa_op_saturation, biqa_op_jpeg, biqa_op_resize_nearest,
    biqa_op_resize_bilinear, biqa_op_resize_bicubic;

#endif
