/* Dead-leaves rendering (see dead_leaves.h for the model and the streams).
 * Pixel (x, y) is sampled at its centre (x + 0.5, y + 0.5); colours are
 * computed in double and rounded half up, clipped to [0, 255], once, at
 * the end. */
#include "datasets/dead_leaves.h"

#include <math.h>
#include <stdlib.h>

#include "core/rng.h"

#define PI 3.14159265358979323846

/* HSV (h in degrees, s and v in [0, 1]) to RGB in 0..255. */
static void hsv_to_rgb(double h, double s, double v, double rgb[3])
{
    h = fmod(h, 360.0);
    if (h < 0)
        h += 360.0;
    double c = v * s, hp = h / 60.0, x = c * (1 - fabs(fmod(hp, 2.0) - 1)), m = v - c;
    double r = 0, g = 0, b = 0;
    switch ((int)hp) {
    case 0: r = c, g = x; break;
    case 1: r = x, g = c; break;
    case 2: g = c, b = x; break;
    case 3: g = x, b = c; break;
    case 4: r = x, b = c; break;
    default: r = c, b = x; break;
    }
    rgb[0] = 255 * (r + m);
    rgb[1] = 255 * (g + m);
    rgb[2] = 255 * (b + m);
}

void biqa_leaves_class_params(uint64_t seed, int cls, int classes, biqa_leaves_class *out)
{
    const uint64_t st = biqa_rng_stream("synthetic/class");
    double u[28];
    for (int k = 0; k < 28; k++)
        u[k] = biqa_rng_uniform(seed, st, 32 * (uint64_t)cls + (uint64_t)k);
    /* Hues a quarter of a class spacing from the neighbours' at least. */
    const double hue = 360.0 * (cls + 0.25 + 0.5 * u[0]) / classes, spread = 10 + 20 * u[9];
    out->disc_share = 0.1 + 0.8 * u[1];
    out->alpha = 2.0 + 1.2 * u[2];
    out->elongation = 1.0 + 3.0 * u[3];
    out->grating_freq = 0.04 + 0.2 * u[4];
    out->grating_amp = 0.3 * u[5];
    out->grain = 8.0 * u[6];
    out->shading = 0.5 * u[7];
    out->illumination = 0.6 * u[8];
    for (int p = 0; p < BIQA_LEAVES_PALETTE; p++) {
        const double *v = u + 10 + 3 * p;
        hsv_to_rgb(hue + spread * (2 * v[0] - 1), 0.25 + 0.6 * v[1], 0.3 + 0.65 * v[2],
                   out->palette[p]);
    }
}

/* One shape, drawn from its 15 uniforms. */
typedef struct shape {
    int disc;
    double cx, cy, r, reach;  /* reach: half-width of the bounding box */
    double half_a, half_b, cos_t, sin_t;  /* rectangle: half sides along the rotated axes */
    double colour[3];
    double grating, g_fx, g_fy, g_phase; /* grating amplitude (0: none) and wave vector */
    double shade, s_dx, s_dy;            /* shading amount and unit direction */
} shape;

static void draw_shape(const biqa_leaves_class *c, uint64_t content_seed, uint64_t j,
                       int size, shape *s)
{
    const uint64_t st = biqa_rng_stream("synthetic/leaves");
    double u[15];
    for (int k = 0; k < 15; k++)
        u[k] = biqa_rng_uniform(content_seed, st, 16 * j + (uint64_t)k);
    const double r_min = fmax(1.0, size / 64.0), r_max = size / 2.0, a = 1.0 - c->alpha;
    /* Inverse CDF of the density ~ r^-alpha on [r_min, r_max]. */
    s->r = pow(pow(r_min, a) + u[1] * (pow(r_max, a) - pow(r_min, a)), 1.0 / a);
    s->disc = u[0] < c->disc_share;
    s->cx = u[2] * size;
    s->cy = u[3] * size;
    const double *base = c->palette[(int)(u[4] * BIQA_LEAVES_PALETTE) % BIQA_LEAVES_PALETTE];
    for (int ch = 0; ch < 3; ch++)
        s->colour[ch] = base[ch] + 30.0 * (u[5 + ch] - 0.5);
    const double aspect = exp((2 * u[8] - 1) * log(c->elongation)), t = PI * u[9];
    s->half_a = s->r * sqrt(aspect);
    s->half_b = s->r / sqrt(aspect);
    s->cos_t = cos(t);
    s->sin_t = sin(t);
    s->reach = s->disc ? s->r : hypot(s->half_a, s->half_b);
    s->grating = u[10] < 0.5 ? c->grating_amp : 0.0;
    const double phi = PI * u[11], w = 2 * PI * c->grating_freq;
    s->g_fx = w * cos(phi);
    s->g_fy = w * sin(phi);
    s->g_phase = 2 * PI * u[12];
    const double psi = 2 * PI * u[13];
    s->s_dx = cos(psi);
    s->s_dy = sin(psi);
    s->shade = c->shading * u[14];
}

static int inside(const shape *s, double dx, double dy)
{
    if (s->disc)
        return dx * dx + dy * dy <= s->r * s->r;
    const double along = dx * s->cos_t + dy * s->sin_t, across = -dx * s->sin_t + dy * s->cos_t;
    return fabs(along) <= s->half_a && fabs(across) <= s->half_b;
}

/* Paints the uncovered pixels of s; returns how many it covered. */
static long paint(const shape *s, int size, unsigned char *covered, double *rgb)
{
    int x0 = (int)floor(s->cx - s->reach), x1 = (int)ceil(s->cx + s->reach);
    int y0 = (int)floor(s->cy - s->reach), y1 = (int)ceil(s->cy + s->reach);
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > size - 1 ? size - 1 : x1;
    y1 = y1 > size - 1 ? size - 1 : y1;
    long n = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            const size_t p = (size_t)y * size + x;
            const double px = x + 0.5, py = y + 0.5, dx = px - s->cx, dy = py - s->cy;
            if (covered[p] || !inside(s, dx, dy))
                continue;
            double f = 1.0 + s->shade * (dx * s->s_dx + dy * s->s_dy) / s->reach;
            if (s->grating > 0)
                f *= 1.0 + s->grating * sin(s->g_fx * px + s->g_fy * py + s->g_phase);
            for (int ch = 0; ch < 3; ch++)
                rgb[3 * p + ch] = s->colour[ch] * f;
            covered[p] = 1;
            n++;
        }
    return n;
}

int biqa_leaves_render(const biqa_leaves_class *c, uint64_t content_seed, int size,
                       int max_shapes, biqa_image *out, biqa_error *err)
{
    if (size < 8 || max_shapes < 1)
        return biqa_fail(err, "dead leaves: size %d (at least 8) or max_shapes %d (at least 1) "
                              "out of range", size, max_shapes);
    if (biqa_image_alloc(out, size, size, "dead leaves", err) < 0)
        return -1;
    const size_t n = (size_t)size * size;
    unsigned char *covered = calloc(n, 1);
    double *rgb = malloc(3 * n * sizeof *rgb);
    if (!covered || !rgb) {
        free(covered);
        free(rgb);
        biqa_image_free(out);
        return biqa_fail(err, "dead leaves: out of memory for a %dx%d image", size, size);
    }
    long left = (long)n;
    for (int j = 0; j < max_shapes && left > 0; j++) {
        shape s;
        draw_shape(c, content_seed, (uint64_t)j, size, &s);
        left -= paint(&s, size, covered, rgb);
    }
    for (size_t p = 0; p < n; p++)
        if (!covered[p])
            for (int ch = 0; ch < 3; ch++)
                rgb[3 * p + ch] = c->palette[0][ch];
    /* Illumination ramp through the centre, then the grey grain (unit
     * variance uniform noise scaled to the class's std). */
    const uint64_t scene = biqa_rng_stream("synthetic/scene"), grain = biqa_rng_stream("synthetic/grain");
    const double omega = 2 * PI * biqa_rng_uniform(content_seed, scene, 0);
    const double amount = c->illumination * biqa_rng_uniform(content_seed, scene, 1);
    const double ox = cos(omega) / size, oy = sin(omega) / size, half = size / 2.0;
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            const size_t p = (size_t)y * size + x;
            const double light = 1.0 + amount * ((x + 0.5 - half) * ox + (y + 0.5 - half) * oy);
            const double g = c->grain * sqrt(12.0) *
                             (biqa_rng_uniform(content_seed, grain, p) - 0.5);
            for (int ch = 0; ch < 3; ch++) {
                const double v = rgb[3 * p + ch] * light + g;
                out->px[3 * p + ch] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(int)(v + 0.5);
            }
        }
    free(covered);
    free(rgb);
    return 0;
}
