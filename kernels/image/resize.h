/* Image resizing with cv2.resize's semantics, so the two can be compared.
 *   NEAREST: pixel-centred: the source pixel under the output pixel's
 *            centre, (dx + 1/2) in / out, in OpenCV 4.6's INTER_NEAREST_EXACT
 *            fixed point, bit for bit: index (s dx + s / 2 - 1) >> 16 with
 *            s = round(in 2^16 / out), so exact ties go to the lower pixel
 *            (later OpenCV releases break them by the width's parity). Not
 *            OpenCV's INTER_NEAREST: its floor(dx in / out) shifts the image
 *            by up to a pixel, so that a down-up by 3.5 distorts more than
 *            one by 4 and the degradation would not grow with its level.
 *   LINEAR, CUBIC: pixel-centre alignment, source coordinate
 *            (dx + 0.5) * in / out - 0.5; 2 taps (linear, coordinate
 *            clamped into the image) or 4 taps (Keys cubic with a = -0.75,
 *            taps clamped to the edge), no antialiasing when shrinking.
 * Separable, in float; rounded half up and clipped once at the end
 * (OpenCV uses 11-bit fixed-point weights, so it can differ by 1). */
#ifndef BIQA_KERNELS_IMAGE_RESIZE_H
#define BIQA_KERNELS_IMAGE_RESIZE_H

#include "kernels/image/image.h"

enum { BIQA_INTER_NEAREST, BIQA_INTER_LINEAR, BIQA_INTER_CUBIC };

/* out (allocated here, must not be in) = in resized to w x h. */
int biqa_image_resize(const biqa_image *in, int w, int h, int interp, biqa_image *out,
                      biqa_error *err);

#endif
