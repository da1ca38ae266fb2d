/* The synthetic BIQA benchmark (DESIGN.md, "The synthetic benchmark"):
 * generated, never downloaded, the embedded default dataset of the demo.
 *
 * Content. Pristine images are dead-leaves scenes (datasets/dead_leaves.h)
 * in K content classes, square, image_size px. Pretraining content p
 * (p = 0 .. K * pretrain_per_class - 1) has class p mod K and content seed
 * u64(seed, "synthetic/pretrain", p); downstream reference r has class
 * r mod K and content seed u64(seed, "synthetic/downstream", r) (core/rng.h
 * keys; stream names as text). The two streams are disjoint, so no
 * downstream reference reuses a pretraining content.
 *
 * Distortions. Reference r has `distortions` distorted versions; slot
 * d = 0 .. D-1 is downstream image i = r D + d, degraded by a chain of
 *   k(d) = 1 + floor(5 d / D)      steps (1 .. 5: D = 8 gives 1,1,2,2,3,4,4,5)
 * drawn from the default sampler (kernels/image/chain.h:
 * biqa_chain_sampler_default() with k = k(d): types with replacement from
 * all 26, levels 1..5, random order) as its draw number i under the seed
 * u64(seed, "synthetic/chains", 0), and applied with the seed
 * u64(seed, "synthetic/apply", i) >> 1 (the `seed` column below; `biqa
 * degrade apply --chain C --seed S` remakes the image from its reference). Single steps
 * reach near-pristine quality, five steps the bottom of the scale.
 *
 * MOS. The observer model of datasets/observer.h (full-reference MS-SSIM
 * and chroma SSIM against the reference, a per-content masking factor, a
 * monotone map to 1..100, 20 simulated raters), with key seed and image i.
 *
 * On disk, everything relative to the dataset directory:
 *   images/rRRRRR_dDD.png     downstream images
 *   refs/rRRRRR.png           their pristine references
 *   meta.csv                  one row per downstream image, sorted by image:
 *       image,mos,std,ref,chain,seed,content_class,split_hint
 *     image, ref: paths; mos, std: the panel's mean and sample std (1..100,
 *     higher is better, printed %.6f); chain: its text ("jpeg:3,gblur:2",
 *     quoted, RFC 4180); seed: the chain's apply seed (decimal uint64);
 *     content_class: 0..K-1; split_hint: "train" or "test", a suggested
 *     content-disjoint split by reference (the test_percent% references
 *     with the smallest u64(seed, "synthetic/split", r), ties by r; the
 *     protocol's repeated splits come from the split generator)
 *   pretrain/cKK/pPPPPPP.png  pretraining contents, one folder per class
 *                             (the ImageNet train layout)
 *   digests.sha256            "sha256  path" of every file above, sorted
 *                             by path (sha256sum -c reads it)
 *   manifest.json             what was made: sizes, seed (a decimal string),
 *                             counts, chain lengths, observer parameters,
 *                             SHA-256 of meta.csv and of digests.sha256
 * The dataset is written into "<out>.partial-<pid>" beside <out>, synced,
 * then renamed to <out>: a half-made dataset never appears at <out>. Every
 * file is a pure function of (spec, seed, its index), so the output is
 * byte-identical whatever the thread count. */
#ifndef BIQA_DATASETS_SYNTHETIC_H
#define BIQA_DATASETS_SYNTHETIC_H

#include <stdint.h>

#include "core/digest.h"
#include "core/error.h"
#include "kernels/image/chain.h"
#include "kernels/image/image.h"

typedef struct biqa_synthetic_spec {
    const char *size;       /* "test", "demo", "large" */
    int image_size;         /* side of the square images, px (at least 22) */
    int classes;            /* content classes K, 1..100 */
    int pretrain_per_class; /* pretraining contents per class */
    int refs;               /* downstream references */
    int distortions;        /* distorted images per reference */
    int max_shapes;         /* dead-leaves shapes per image at most */
    int test_percent;       /* references marked split_hint "test" */
} biqa_synthetic_spec;

/* The spec of a named size: test (CI: tens of images, seconds), demo (the
 * demo profile on a 2-core CPU), large (GPU profiles); see synthetic.c. */
int biqa_synthetic_spec_named(const char *size, biqa_synthetic_spec *out, biqa_error *err);
int biqa_synthetic_spec_check(const biqa_synthetic_spec *s, biqa_error *err);

/* k(d): the chain length of distortion slot d. */
int biqa_synthetic_chain_length(const biqa_synthetic_spec *s, int slot);

/* The pure functions every file comes from. Images are allocated here. */
int biqa_synthetic_pretrain_image(const biqa_synthetic_spec *s, uint64_t seed, int index,
                                  biqa_image *out, int *cls, biqa_error *err);
int biqa_synthetic_reference(const biqa_synthetic_spec *s, uint64_t seed, int ref,
                             biqa_image *out, int *cls, biqa_error *err);
void biqa_synthetic_chain(const biqa_synthetic_spec *s, uint64_t seed, int ref, int slot,
                          biqa_chain *chain, uint64_t *apply_seed);
/* Whether reference r is in the suggested test split. */
int biqa_synthetic_is_test(const biqa_synthetic_spec *s, uint64_t seed, int ref);

typedef struct biqa_synthetic_summary {
    int pretrain, refs, images;
    double mos_min, mos_max, mos_mean;
    char meta_sha256[BIQA_SHA256_HEX_LEN];
} biqa_synthetic_summary;

/* Makes the dataset at out (see above). threads: OpenMP threads, 0 for the
 * default. An existing complete dataset (a directory with manifest.json) is
 * replaced only with force, and only when its manifest says it is a
 * synthetic dataset; an existing non-empty directory without manifest.json
 * is never touched. */
int biqa_synthetic_make(const biqa_synthetic_spec *s, uint64_t seed, const char *out,
                        int threads, int force, biqa_synthetic_summary *summary,
                        biqa_error *err);

#endif
