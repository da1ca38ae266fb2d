/* The synthetic benchmark's sizes and the pure functions its files come
 * from (synthetic.h). The writer is synthetic_make.c. */
#include "datasets/synthetic.h"

#include <string.h>

#include "core/rng.h"
#include "datasets/dead_leaves.h"
#include "datasets/ssim.h"

/* test: tens of images for CI, a couple of seconds.
 * demo: sized for the demo profile on a 2-core CPU (whole reproduce in
 *   10 minutes): 96 px leaves room for the 64 px QPT patches; 400
 *   pretraining images in 10 classes (40 each) are enough for a narrow
 *   ResNet-18 to learn the classes in a few epochs; 60 references x 8
 *   distortions = 480 scored images give 80/20 splits of 384/96 images,
 *   12 test references: enough for SRCC to separate the methods, small
 *   enough to fine-tune each of them 10 times.
 * large: for GPU profiles: 256 px (160 px QPT patches), 10,000 pretraining
 *   images in 20 classes, 400 references x 16 distortions = 6,400 scored. */
static const biqa_synthetic_spec SIZES[] = {
    {"test", 48, 4, 8, 12, 4, 2000, 20},
    {"demo", 96, 10, 40, 60, 8, 6000, 20},
    {"large", 256, 20, 500, 400, 16, 20000, 20},
};

int biqa_synthetic_spec_named(const char *size, biqa_synthetic_spec *out, biqa_error *err)
{
    for (size_t i = 0; i < sizeof SIZES / sizeof *SIZES; i++)
        if (strcmp(SIZES[i].size, size) == 0) {
            *out = SIZES[i];
            return 0;
        }
    return biqa_fail(err, "synthetic dataset size '%s' is unknown (test, demo or large)", size);
}

int biqa_synthetic_spec_check(const biqa_synthetic_spec *s, biqa_error *err)
{
    if (biqa_msssim_scales(s->image_size, s->image_size) == 0 || s->image_size > 4096)
        return biqa_fail(err, "synthetic: image_size %d is outside 22..4096", s->image_size);
    if (s->classes < 1 || s->classes > 100)
        return biqa_fail(err, "synthetic: classes %d is outside 1..100", s->classes);
    if (s->pretrain_per_class < 0 || s->pretrain_per_class > 100000)
        return biqa_fail(err, "synthetic: pretrain_per_class %d is outside 0..100000",
                         s->pretrain_per_class);
    if (s->refs < 1 || s->refs > 99999)
        return biqa_fail(err, "synthetic: refs %d is outside 1..99999", s->refs);
    if (s->distortions < 1 || s->distortions > 99)
        return biqa_fail(err, "synthetic: distortions %d is outside 1..99", s->distortions);
    if (s->max_shapes < 1)
        return biqa_fail(err, "synthetic: max_shapes %d must be positive", s->max_shapes);
    if (s->test_percent < 0 || s->test_percent > 100)
        return biqa_fail(err, "synthetic: test_percent %d is outside 0..100", s->test_percent);
    return 0;
}

int biqa_synthetic_chain_length(const biqa_synthetic_spec *s, int slot)
{
    return 1 + 5 * slot / s->distortions;
}

int biqa_synthetic_pretrain_image(const biqa_synthetic_spec *s, uint64_t seed, int index,
                                  biqa_image *out, int *cls, biqa_error *err)
{
    biqa_leaves_class c;
    *cls = index % s->classes;
    biqa_leaves_class_params(seed, *cls, s->classes, &c);
    const uint64_t content = biqa_rng_u64(seed, biqa_rng_stream("synthetic/pretrain"),
                                          (uint64_t)index);
    return biqa_leaves_render(&c, content, s->image_size, s->max_shapes, out, err);
}

int biqa_synthetic_reference(const biqa_synthetic_spec *s, uint64_t seed, int ref,
                             biqa_image *out, int *cls, biqa_error *err)
{
    biqa_leaves_class c;
    *cls = ref % s->classes;
    biqa_leaves_class_params(seed, *cls, s->classes, &c);
    const uint64_t content = biqa_rng_u64(seed, biqa_rng_stream("synthetic/downstream"),
                                          (uint64_t)ref);
    return biqa_leaves_render(&c, content, s->image_size, s->max_shapes, out, err);
}

void biqa_synthetic_chain(const biqa_synthetic_spec *s, uint64_t seed, int ref, int slot,
                          biqa_chain *chain, uint64_t *apply_seed)
{
    const uint64_t i = (uint64_t)ref * (uint64_t)s->distortions + (uint64_t)slot;
    biqa_chain_sampler sampler = biqa_chain_sampler_default();
    sampler.k = biqa_synthetic_chain_length(s, slot);
    biqa_chain_sample(&sampler, biqa_rng_u64(seed, biqa_rng_stream("synthetic/chains"), 0), i,
                      chain);
    /* 63 bits, so the seed also fits biqa's signed --seed option. */
    *apply_seed = biqa_rng_u64(seed, biqa_rng_stream("synthetic/apply"), i) >> 1;
}

int biqa_synthetic_is_test(const biqa_synthetic_spec *s, uint64_t seed, int ref)
{
    const uint64_t st = biqa_rng_stream("synthetic/split");
    const uint64_t key = biqa_rng_u64(seed, st, (uint64_t)ref);
    int rank = 0;
    for (int r = 0; r < s->refs; r++) {
        const uint64_t k = biqa_rng_u64(seed, st, (uint64_t)r);
        rank += k < key || (k == key && r < ref);
    }
    return rank < (s->refs * s->test_percent + 50) / 100;
}
