/* Building blocks of the blur-type degradations, on interleaved RGB planes
 * of floats (3w values per row). Internal to kernels/image.
 *
 * Borders are reflect-101 (OpenCV's default BORDER_REFLECT_101:
 * ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...), repeated for kernels wider than
 * the image. Conversion back to bytes rounds half up and clips to [0, 255]. */
#ifndef BIQA_KERNELS_IMAGE_FILTER_H
#define BIQA_KERNELS_IMAGE_FILTER_H

#include <stddef.h>
#include <stdint.h>

static inline int biqa_reflect101(int i, int n)
{
    if (n == 1)
        return 0;
    int period = 2 * n - 2;
    i %= period;
    if (i < 0)
        i += period;
    return i < n ? i : period - i;
}

/* Truncating v + 0.5 is floor(v + 0.5) wherever the result survives the
 * clamp (v >= -0.5); the clamp is in integers, so loops of it vectorise
 * (float min/max would need -ffinite-math-only). |v| stays far below 2^31
 * in every op. */
static inline uint8_t biqa_to_u8(float v)
{
    int i = (int)(v + 0.5f);
    return (uint8_t)(i < 0 ? 0 : i > 255 ? 255 : i);
}

/* Hot loops are also compiled for x86-64-v3 (AVX2) and v4 (AVX-512), the
 * widest that the CPU supports picked when the program loads (GCC's
 * target_clones; other compilers and targets get the one baseline build).
 * Every version gives the same bytes: the loops vectorise across
 * independent outputs, each output's operations keep their order, and
 * -std=c11 keeps GCC from fusing a * b + c into an FMA
 * (-ffp-contract=off). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define BIQA_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define BIQA_CLONES
#endif

void biqa_u8_to_float(const uint8_t *in, size_t n, float *out);
void biqa_float_to_u8(const float *in, size_t n, uint8_t *out);

/* The largest kernel radius any blur builds (sigma up to 20 at 3 sigma). */
#define BIQA_MAX_RADIUS 60

/* The blur kernels' radius: ceil(3 sigma), at least 1 (cv2.GaussianBlur's
 * automatic size for 8-bit images gives the same for the table's sigmas). */
int biqa_blur_radius(double sigma);
/* Normalised Gaussian exp(-i^2 / (2 sigma^2)), i = -r..r: 2r+1 weights. */
void biqa_gaussian_kernel(double sigma, int r, float *k);

/* out = k (x) k (x) in for a symmetric kernel k of radius r (2r+1 weights),
 * rows then columns. The input is in (floats) or, when in is NULL, in8
 * (bytes); the output goes to out (floats, not in) or, when out is NULL, to
 * out8 (bytes, as biqa_to_u8). ring holds (2r+1) 3w floats, row 3(w+2r). */
void biqa_sep_filter(const float *in, const uint8_t *in8, int w, int h, const float *k, int r,
                     float *ring, float *row, float *out, uint8_t *out8);

/* A 2-D kernel as its non-zero taps: out(x, y) = sum w * in(x + dx, y + dy). */
typedef struct biqa_tap {
    int dx, dy;
    float w;
} biqa_tap;

/* out = sum over taps, |dx|, |dy| <= r, in order, four taps at a time
 * (acc += ((w0 s0 + w1 s1) + w2 s2) + w3 s3); ring holds (2r+1) 3(w+2r)
 * floats. */
void biqa_conv_taps(const uint8_t *in, int w, int h, const biqa_tap *taps, int ntaps, int r,
                    float *ring, uint8_t *out);

#endif
