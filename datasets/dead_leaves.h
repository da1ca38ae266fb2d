/* Pristine content of the synthetic benchmark: dead-leaves images in K
 * content classes (DESIGN.md, "The synthetic benchmark").
 *
 * A dead-leaves image is a stack of opaque random shapes seen from above:
 * shape 0 is in front, each later shape lies under all earlier ones and
 * shows only where nothing covers it. Sizes follow a power law (radius
 * density ~ r^-alpha on [r_min, r_max]), which gives natural-image-like,
 * roughly scale-invariant statistics (Lee, Mumford, Huang 2001). Shapes are
 * drawn until every pixel is covered or max_shapes is reached; a pixel
 * nothing covers shows the background (palette colour 0).
 *
 * The class decides the statistics a classifier can learn: its palette
 * (6 colours around a class hue), the share of discs against rotated
 * rectangles, the size exponent alpha, the rectangles' elongation, the
 * texture (a sine grating's frequency and strength inside shapes, a pixel
 * grain) and the strength of the smooth gradients (a shading ramp across
 * each shape and one illumination ramp across the image). The content seed
 * decides everything else. Every value comes from core/rng.h:
 *   class c:        seed, stream "synthetic/class",  index 32 c + k
 *   shape j:        content seed, stream "synthetic/leaves", index 16 j + k
 *   image globals:  content seed, stream "synthetic/scene",  index k
 *   grain, pixel p: content seed, stream "synthetic/grain",  index p
 * so an image is a pure function of (seed, class, content seed, size). */
#ifndef BIQA_DATASETS_DEAD_LEAVES_H
#define BIQA_DATASETS_DEAD_LEAVES_H

#include <stdint.h>

#include "core/error.h"
#include "kernels/image/image.h"

enum { BIQA_LEAVES_PALETTE = 6 };

typedef struct biqa_leaves_class {
    double palette[BIQA_LEAVES_PALETTE][3]; /* RGB, 0..255 */
    double disc_share;   /* probability that a shape is a disc, else a rectangle */
    double alpha;        /* radius density ~ r^-alpha */
    double elongation;   /* rectangles' aspect ratio is log-uniform in [1/e, e] */
    double grating_freq; /* cycles per pixel of the texture grating */
    double grating_amp;  /* relative modulation of a grated shape's colour */
    double grain;        /* std of the pixel grain, 0..255 levels */
    double shading;      /* largest relative shading change across a shape */
    double illumination; /* largest relative illumination change across the image */
} biqa_leaves_class;

/* The statistics of class cls (0-based) under seed. Classes spread their
 * hues around the colour wheel: class c's palette is centred on the hue
 * 360 (c + 0.25 + 0.5 u) / K degrees, u uniform, so neighbours stay apart. */
void biqa_leaves_class_params(uint64_t seed, int cls, int classes, biqa_leaves_class *out);

/* Renders a size x size image of class c with the content seed; at most
 * max_shapes shapes. out is allocated here. */
int biqa_leaves_render(const biqa_leaves_class *c, uint64_t content_seed, int size,
                       int max_shapes, biqa_image *out, biqa_error *err);

#endif
