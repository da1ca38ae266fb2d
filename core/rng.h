/* Counter-based random numbers keyed by (seed, stream, index) (DESIGN.md,
 * Conventions): a value depends only on its key, never on thread count or on
 * the order in which values are drawn.
 *
 * Algorithm (documented so any language can reproduce a stream; the test
 * suite's Python mirror does): with SplitMix64's finaliser
 *   mix(z): z ^= z >> 30; z *= 0xbf58476d1ce4e5b9; z ^= z >> 27;
 *           z *= 0x94d049bb133111eb; z ^= z >> 31
 * the key is k = mix(seed) ^ mix(stream + 0x9e3779b97f4a7c15) and value i is
 *   u64(seed, stream, i) = mix(k + (i + 1) * 0x9e3779b97f4a7c15)    (mod 2^64)
 * i.e. a SplitMix64 sequence started at k. uniform() takes the top 53 bits:
 *   (u64 >> 11) * 2^-53, in [0, 1). */
#ifndef BIQA_CORE_RNG_H
#define BIQA_CORE_RNG_H

#include <stdint.h>

uint64_t biqa_rng_u64(uint64_t seed, uint64_t stream, uint64_t index);

/* The same values in two halves, for loops that draw many values of one
 * (seed, stream): biqa_rng_u64(seed, stream, i) ==
 * biqa_rng_next(biqa_rng_key(seed, stream), i), the key computed once. */
static inline uint64_t biqa_rng_mix(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ULL;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return z;
}

static inline uint64_t biqa_rng_key(uint64_t seed, uint64_t stream)
{
    return biqa_rng_mix(seed) ^ biqa_rng_mix(stream + 0x9e3779b97f4a7c15ULL);
}

static inline uint64_t biqa_rng_next(uint64_t key, uint64_t index)
{
    return biqa_rng_mix(key + (index + 1) * 0x9e3779b97f4a7c15ULL);
}
double biqa_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);
/* Integer in [0, n): floor(uniform * n); the bias is below 2^-53 * n. */
uint64_t biqa_rng_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t n);
/* Stream id from a name (FNV-1a 64 of the bytes), so streams read as words. */
uint64_t biqa_rng_stream(const char *name);

#endif
