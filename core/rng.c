#include "core/rng.h"

uint64_t biqa_rng_u64(uint64_t seed, uint64_t stream, uint64_t index)
{
    return biqa_rng_next(biqa_rng_key(seed, stream), index);
}

double biqa_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
    return (double)(biqa_rng_u64(seed, stream, index) >> 11) * 0x1.0p-53;
}

uint64_t biqa_rng_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t n)
{
    uint64_t v = (uint64_t)(biqa_rng_uniform(seed, stream, index) * (double)n);
    return v < n ? v : n - 1;
}

uint64_t biqa_rng_stream(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return h;
}
