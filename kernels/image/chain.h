/* Degradation chains: a degraded image is a chain of (type, level) steps
 * applied in order to a pristine image, every step keyed by the chain's
 * seed. A chain prints and parses as text, "jpeg:3,gblur:2,hue+:1" (type
 * names of kernels/image/degrade.h, levels 1..5), so every degraded image a
 * run makes can be recorded and regenerated exactly.
 *
 * Samplers (QPT.md, "The degradation space"; all [assumed]):
 *   chain:        k types drawn with replacement from the allowed set, each
 *                 at a level drawn uniformly from [level_min, level_max],
 *                 in draw order, or with ordered = 1 sorted by (type in
 *                 the table's order, level);
 *   second-order: the BSRGAN / Real-ESRGAN pipeline as a chain of 8 steps:
 *                 two rounds, each one step of every stage (blur, resize,
 *                 noise, JPEG) with its type drawn from the stage's family
 *                 and its level from [level_min, level_max]; each round's
 *                 four stages in a random order (BSRGAN's shuffle), or with
 *                 ordered = 1 in Real-ESRGAN's fixed order blur, resize,
 *                 noise, JPEG. k is not used (the parse below sets it
 *                 to 8, the chain's length). The families are the types
 *                 of this table closest to those pipelines' operations:
 *                   blur:   gblur, mblur, ggblur, defocus (Gaussian,
 *                           anisotropic/motion, generalised-Gaussian and
 *                           plateau-like disk kernels)
 *                   resize: resize_nearest, resize_bilinear, resize_bicubic
 *                   noise:  noise, grey_noise, iso (Gaussian colour and
 *                           grey noise; ISO noise is the Poisson-based one)
 *                   jpeg:   jpeg
 *                 sharpen, median, glass, zoom, speckle and the colour
 *                 types belong to no stage; an allowed-type set restricts
 *                 each family, which must keep at least one type.
 * A draw is a pure function of (sampler, seed, index), from core/rng.h. */
#ifndef BIQA_KERNELS_IMAGE_CHAIN_H
#define BIQA_KERNELS_IMAGE_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "kernels/image/degrade.h"
#include "kernels/image/image.h"

#define BIQA_CHAIN_MAX 16
#define BIQA_CHAIN_ALL_TYPES ((1u << BIQA_DEG_TYPES) - 1)

typedef struct biqa_chain_step {
    int type;  /* BIQA_DEG_* */
    int level; /* 1..5 */
} biqa_chain_step;

typedef struct biqa_chain {
    int n;
    biqa_chain_step steps[BIQA_CHAIN_MAX];
} biqa_chain;

enum biqa_sampler_family { BIQA_SAMPLER_CHAIN = 0, BIQA_SAMPLER_SECOND_ORDER = 1 };

/* The stages of the second-order pipeline, in Real-ESRGAN's order. */
enum { BIQA_STAGE_BLUR, BIQA_STAGE_RESIZE, BIQA_STAGE_NOISE, BIQA_STAGE_JPEG, BIQA_STAGES };

typedef struct biqa_chain_sampler {
    enum biqa_sampler_family family;
    int k;                  /* chain: steps per chain (1..BIQA_CHAIN_MAX) */
    uint32_t types;         /* bit t set: type t may be drawn (all 26: BIQA_CHAIN_ALL_TYPES) */
    int level_min, level_max;
    int ordered;            /* 1: table order (chain) / fixed stage order (second-order) */
} biqa_chain_sampler;

/* QPT.md's default: k = 5 of all 26 types, levels 1..5, random order. */
biqa_chain_sampler biqa_chain_sampler_default(void);

/* A sampler from the texts of the config knobs (harness/knobs.c): family
 * "chain" or "second-order" (degrade.family), k (degrade.k), types "all" or
 * comma-separated names (degrade.types), levels "a-b" or "a" within 1..5
 * (degrade.levels), order "random" or "table" (degrade.order). Errors name
 * the knob. */
int biqa_chain_sampler_parse(const char *family, int64_t k, const char *types,
                             const char *levels, const char *order, biqa_chain_sampler *out, biqa_error *err);

/* The second-order stage of a type (BIQA_STAGE_*), or -1 for none. */
int biqa_chain_stage(int type);
/* "blur", "resize", "noise", "jpeg". */
const char *biqa_chain_stage_name(int stage);

/* "jpeg:3,gblur:2" -> chain; errors name the bad step, and list the type
 * names when one is unknown. Spaces around steps, names and levels are
 * ignored; "" is the empty chain (the pristine image). */
int biqa_chain_parse(const char *text, biqa_chain *out, biqa_error *err);
/* chain -> text; returns the length, as snprintf (buf may be NULL when len
 * is 0). The text parses back to the same chain. */
int biqa_chain_format(const biqa_chain *c, char *buf, size_t len);

/* Validates a sampler (k range, a non-empty type set, every second-order
 * family non-empty, levels in 1..5). */
int biqa_chain_sampler_check(const biqa_chain_sampler *s, biqa_error *err);
/* Draw number `index` of the sampler under seed. The sampler must pass
 * biqa_chain_sampler_check; one that does not draws the empty chain. */
void biqa_chain_sample(const biqa_chain_sampler *s, uint64_t seed, uint64_t index,
                       biqa_chain *out);

/* Applies the chain to in; step i uses the seed u64(seed, "chain/step", i)
 * of core/rng.h, so two equal steps in one chain draw different noise. out
 * is allocated here (the empty chain copies in); errors name the step. */
int biqa_chain_apply(const biqa_chain *c, const biqa_image *in, uint64_t seed,
                     biqa_image *out, biqa_error *err);

/* The number of distinct chains the sampler can draw (*size) and the
 * counting rule used, as one line (e.g. "ordered sequences of 5 steps drawn
 * with replacement from 26 types x 5 levels: (26*5)^5 = 37129300000
 * (3.71e10) chains; 26^5 = 11881376 (1.19e7) type sequences"). Never claims
 * the paper's ~2e7, whose counting rule is not known. -1 when the sampler
 * is invalid (rule then holds the reason). */
int biqa_chain_space(const biqa_chain_sampler *s, double *size, char *rule, size_t len);

#endif
