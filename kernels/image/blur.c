/* Blurs built from kernels: unsharp-mask sharpening, Gaussian, motion,
 * glass and generalised-Gaussian blur. Kernel radius ceil(3 sigma) unless
 * an op says otherwise; reflect-101 borders (kernels/image/filter.h). */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/image/filter.h"
#include "kernels/image/ops.h"

/* Buffers of biqa_sep_filter: ring ((2r+1) 3w floats) and row (3(w+2r)),
 * after f (a float image, 3wh) when with_f. */
typedef struct planes {
    float *f, *ring, *row;
} planes;

static int planes_alloc(planes *p, int w, int h, int r, int with_f, biqa_error *err)
{
    const size_t n = with_f ? (size_t)3 * w * h : 0, nring = (size_t)(2 * r + 1) * 3 * w;
    float *buf = malloc((n + nring + 3 * ((size_t)w + 2 * r)) * sizeof *buf);
    if (!buf)
        return biqa_fail(err, "out of memory for a %dx%d image", w, h);
    p->f = buf;
    p->ring = buf + n;
    p->row = p->ring + nring;
    return 0;
}

/* out = (1 + c) x - c blur(x), blur = 3x3 Gaussian of sigma 0.8 (QPT.md). */
BIQA_CLONES
static void unsharp(const uint8_t *x, const float *blur, size_t n, float c, uint8_t *out)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        out[i] = biqa_to_u8((1 + c) * x[i] - c * blur[i]);
}

int biqa_op_sharpen(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                    uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream;
    planes pl = {0};
    if (planes_alloc(&pl, in->w, in->h, 1, 1, err) < 0)
        return -1;
    float k[3];
    biqa_gaussian_kernel(0.8, 1, k);
    biqa_sep_filter(NULL, in->px, in->w, in->h, k, 1, pl.ring, pl.row, pl.f, NULL);
    unsharp(in->px, pl.f, (size_t)3 * in->w * in->h, (float)p[0], out);
    free(pl.f);
    return 0;
}

/* cv2.GaussianBlur(x, (2r+1, 2r+1), sigma) with r = ceil(3 sigma). */
int biqa_op_gblur(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                  uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream;
    int r = biqa_blur_radius(p[0]);
    planes pl = {0};
    if (planes_alloc(&pl, in->w, in->h, r, 0, err) < 0)
        return -1;
    float k[2 * BIQA_MAX_RADIUS + 1];
    biqa_gaussian_kernel(p[0], r, k);
    biqa_sep_filter(NULL, in->px, in->w, in->h, k, r, pl.ring, pl.row, NULL, out);
    free(pl.f);
    return 0;
}

/* off[j] = the swap partner of pixel i0 + j, as an offset in floats. */
BIQA_CLONES
static void glass_offsets(uint64_t key, uint64_t i0, int n, int d, int w, ptrdiff_t *off)
{
    const uint32_t span = 2 * (uint32_t)d + 1;
#pragma omp simd
    for (int j = 0; j < n; j++) {
        const uint64_t v = biqa_rng_next(key, i0 + (uint64_t)j);
        const int dx = (int)(((uint64_t)(uint32_t)v * span) >> 32) - d;
        const int dy = (int)(((uint64_t)(uint32_t)(v >> 32) * span) >> 32) - d;
        off[j] = 3 * ((ptrdiff_t)dy * w + dx);
    }
}

/* Glass blur as in Hendrycks & Dietterich's ImageNet-C (one iteration):
 * Gaussian blur, then, visiting pixels from the bottom-right corner to
 * the top-left (rows and columns d .. size-1-d, so every partner is in the
 * image), swap each with the pixel at a random offset (dx, dy) in [-d, d]^2,
 * then blur again. The offsets of pixel (x, y) come from the one value
 * u64(seed, stream, y w + x): dx from its low 32 bits, dy from its high 32
 * bits, each as floor(bits (2d+1) / 2^32) - d. */
int biqa_op_glass(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                  uint8_t *out, biqa_error *err)
{
    const int w = in->w, h = in->h, d = (int)p[1], r = biqa_blur_radius(p[0]);
    planes pl = {0};
    if (planes_alloc(&pl, w, h, r, 1, err) < 0)
        return -1;
    float k[2 * BIQA_MAX_RADIUS + 1];
    biqa_gaussian_kernel(p[0], r, k);
    biqa_sep_filter(NULL, in->px, w, h, k, r, pl.ring, pl.row, pl.f, NULL);
    const uint64_t key = biqa_rng_key(seed, stream);
    ptrdiff_t *off = malloc((size_t)w * sizeof *off);
    if (!off) {
        free(pl.f);
        return biqa_fail(err, "out of memory for a %dx%d image", w, h);
    }
    for (int y = h - 1 - d; y >= d && d < w - d; y--) {
        /* The row's offsets first (a vectorised loop), then its swaps. */
        glass_offsets(key, (uint64_t)y * w + d, w - 2 * d, d, w, off);
        for (int x = w - 1 - d; x >= d; x--) {
            float *a = pl.f + 3 * ((size_t)y * w + x), *b = a + off[x - d], ta[3], tb[3];
            memcpy(ta, a, sizeof ta);
            memcpy(tb, b, sizeof tb);
            memcpy(a, tb, sizeof tb);
            memcpy(b, ta, sizeof ta);
        }
    }
    free(off);
    biqa_sep_filter(pl.f, NULL, w, h, k, r, pl.ring, pl.row, NULL, out);
    free(pl.f);
    return 0;
}

/* Applies the normalised taps (non-zero weights of a (2r+1)^2 grid). */
static int apply_grid(const biqa_image *in, const double *grid, int r, uint8_t *out,
                      biqa_error *err)
{
    int side = 2 * r + 1, ntaps = 0;
    biqa_tap *taps = malloc((size_t)side * side * sizeof *taps);
    float *ring = malloc((size_t)3 * (in->w + 2 * r) * (2 * r + 1) * sizeof *ring);
    if (!taps || !ring) {
        free(taps);
        free(ring);
        return biqa_fail(err, "out of memory for a %dx%d image", in->w, in->h);
    }
    double sum = 0;
    for (int i = 0; i < side * side; i++)
        sum += grid[i];
    for (int dy = -r; dy <= r; dy++)
        for (int dx = -r; dx <= r; dx++) {
            double g = grid[(dy + r) * side + dx + r];
            if (g > 0)
                taps[ntaps++] = (biqa_tap){dx, dy, (float)(g / sum)};
        }
    biqa_conv_taps(in->px, in->w, in->h, taps, ntaps, r, ring, out);
    free(taps);
    free(ring);
    return 0;
}

/* Motion blur: a straight line of length L through the pixel's centre, at
 * angle theta = pi u (u = uniform(seed, stream, 0); the line is symmetric,
 * so [0, pi) covers every direction). The kernel is the line's anti-aliased
 * raster: 1 + ceil(16 L) points evenly spaced on it, each split over its
 * four nearest grid cells bilinearly, then normalised. */
int biqa_op_mblur(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                  uint8_t *out, biqa_error *err)
{
    const double len = p[0], theta = M_PI * biqa_rng_uniform(seed, stream, 0);
    const int r = (int)ceil(len / 2) + 1, side = 2 * r + 1, npts = 1 + (int)ceil(16 * len);
    double *grid = calloc((size_t)side * side, sizeof *grid);
    if (!grid)
        return biqa_fail(err, "out of memory");
    for (int j = 0; j < npts; j++) {
        double t = npts == 1 ? 0 : len * ((double)j / (npts - 1) - 0.5);
        double x = t * cos(theta) + r, y = t * sin(theta) + r;
        int x0 = (int)floor(x), y0 = (int)floor(y);
        double fx = x - x0, fy = y - y0;
        grid[y0 * side + x0] += (1 - fx) * (1 - fy);
        grid[y0 * side + x0 + 1] += fx * (1 - fy);
        grid[(y0 + 1) * side + x0] += (1 - fx) * fy;
        grid[(y0 + 1) * side + x0 + 1] += fx * fy;
    }
    int rc = apply_grid(in, grid, r, out, err);
    free(grid);
    return rc;
}

/* Generalised-Gaussian blur: weight exp(-(rho / sigma)^beta) at distance rho
 * from the centre, on the disk rho <= R = ceil(3 sigma), normalised. With
 * beta = 1 (QPT.md) this is a Laplacian-shaped, heavier-tailed kernel;
 * beta = 2 is a Gaussian of std sigma / sqrt(2). (Real-ESRGAN's form
 * exp(-(rho^2 / 2 sigma^2)^beta) would make beta = 1 the Gaussian blur
 * again, a duplicate of "gblur", so the density form is used.) */
int biqa_op_ggblur(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                   uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream;
    const double sigma = p[0], beta = p[1];
    const int r = biqa_blur_radius(sigma), side = 2 * r + 1;
    double *grid = malloc((size_t)side * side * sizeof *grid);
    if (!grid)
        return biqa_fail(err, "out of memory");
    for (int dy = -r; dy <= r; dy++)
        for (int dx = -r; dx <= r; dx++) {
            double rho = sqrt((double)dx * dx + (double)dy * dy);
            grid[(dy + r) * side + dx + r] = rho <= r ? exp(-pow(rho / sigma, beta)) : 0;
        }
    int rc = apply_grid(in, grid, r, out, err);
    free(grid);
    return rc;
}
