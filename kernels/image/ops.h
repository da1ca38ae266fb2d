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

/* HSV and HLS back to RGB (colour.c's hue, iso.c): in hue sector k of six
 * (60 degrees each) each channel takes the role (BIQA_ROLE_R >> 2k) & 3
 * (likewise G, B): 0 the maximum, 1 the rising value, 2 the minimum, 3 the
 * falling value. A sector of 6 (a hue of 360 after rounding) reads as 0.
 * A selection without branches or tables, so loops of it vectorise. */
#define BIQA_ROLE_R 0x01AC
#define BIQA_ROLE_G 0x1AC1
#define BIQA_ROLE_B 0x2C1A

static inline float biqa_role_pick(int role, float max, float rising, float min, float falling)
{
    const float a = role & 1 ? rising : max, b = role & 1 ? falling : min;
    return role & 2 ? b : a;
}

#endif
