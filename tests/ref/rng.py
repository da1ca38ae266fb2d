"""A NumPy mirror of core/rng.h (the counter-based generator whose algorithm
that header documents), so the reference scripts can rebuild exactly the
random draws biqa made: bootstrap resamples, motion-blur angles, glass-blur
swaps, ... Indices are uint64 arrays; arithmetic wraps mod 2^64."""
import numpy as np

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix(z):
    """SplitMix64's finaliser on a uint64 array."""
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def stream_id(name):
    """biqa_rng_stream: FNV-1a 64 of the name's bytes."""
    h = 0xCBF29CE484222325
    for byte in name.encode():
        h = ((h ^ byte) * 0x100000001B3) & M64
    return h


def u64(seed, stream, index):
    """biqa_rng_u64 for an array of indices."""
    with np.errstate(over="ignore"):
        key = mix(np.array([seed & M64], np.uint64))[0] ^ \
            mix(np.array([(stream + GOLDEN) & M64], np.uint64))[0]
        return mix(key + (np.asarray(index, np.uint64) + np.uint64(1)) * np.uint64(GOLDEN))


def uniform(seed, stream, index):
    """biqa_rng_uniform: the top 53 bits, in [0, 1)."""
    return (u64(seed, stream, index) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def below(seed, stream, index, n):
    """biqa_rng_below: floor(uniform * n), clamped to n - 1."""
    v = (uniform(seed, stream, index) * float(n)).astype(np.uint64)
    return np.minimum(v, np.uint64(n - 1))
