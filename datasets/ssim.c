/* SSIM and MS-SSIM (formulas in ssim.h). */
#include "datasets/ssim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { R = BIQA_SSIM_WINDOW / 2, MIN_SIDE = 2 * BIQA_SSIM_WINDOW };

static void gaussian_window(double g[BIQA_SSIM_WINDOW])
{
    double sum = 0;
    for (int i = 0; i < BIQA_SSIM_WINDOW; i++)
        sum += g[i] = exp(-(double)((i - R) * (i - R)) / (2 * 1.5 * 1.5));
    for (int i = 0; i < BIQA_SSIM_WINDOW; i++)
        g[i] /= sum;
}

/* out[(h-10) x (w-10)] = window (x) window over in at the valid positions,
 * rows first; tmp holds h (w-10) doubles. */
static void filter_valid(const double *in, int w, int h, const double *g, double *tmp,
                         double *out)
{
    const int ow = w - 2 * R, oh = h - 2 * R;
    for (int r = 0; r < h; r++)
        for (int c = 0; c < ow; c++) {
            const double *p = in + (size_t)r * w + c;
            double s = 0;
            for (int k = 0; k < BIQA_SSIM_WINDOW; k++)
                s += g[k] * p[k];
            tmp[(size_t)r * ow + c] = s;
        }
    for (int r = 0; r < oh; r++)
        for (int c = 0; c < ow; c++) {
            double s = 0;
            for (int k = 0; k < BIQA_SSIM_WINDOW; k++)
                s += g[k] * tmp[(size_t)(r + k) * ow + c];
            out[(size_t)r * ow + c] = s;
        }
}

int biqa_ssim_plane(const double *x, const double *y, int w, int h, biqa_ssim *out,
                    biqa_error *err)
{
    if (w < BIQA_SSIM_WINDOW || h < BIQA_SSIM_WINDOW)
        return biqa_fail(err, "ssim: a %dx%d plane is smaller than the %dx%d window", w, h,
                         BIQA_SSIM_WINDOW, BIQA_SSIM_WINDOW);
    const int ow = w - 2 * R, oh = h - 2 * R;
    const size_t n = (size_t)ow * oh, np = (size_t)w * h;
    double *buf = malloc(((size_t)h * ow + 5 * n + 3 * np) * sizeof *buf);
    if (!buf)
        return biqa_fail(err, "ssim: out of memory for a %dx%d plane", w, h);
    double g[BIQA_SSIM_WINDOW], *tmp = buf, *m[5], *prod = buf + (size_t)h * ow + 5 * n;
    gaussian_window(g);
    for (size_t i = 0; i < np; i++) {
        prod[i] = x[i] * x[i];
        prod[np + i] = y[i] * y[i];
        prod[2 * np + i] = x[i] * y[i];
    }
    const double *planes[5] = {x, y, prod, prod + np, prod + 2 * np};
    for (int k = 0; k < 5; k++) {
        m[k] = buf + (size_t)h * ow + k * n;
        filter_valid(planes[k], w, h, g, tmp, m[k]);
    }
    const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
    double ssim = 0, cs = 0, sigma = 0;
    for (size_t i = 0; i < n; i++) {
        const double mx = m[0][i], my = m[1][i];
        const double sxx = m[2][i] - mx * mx, syy = m[3][i] - my * my, sxy = m[4][i] - mx * my;
        const double c = (2 * sxy + c2) / (sxx + syy + c2);
        cs += c;
        ssim += (2 * mx * my + c1) / (mx * mx + my * my + c1) * c;
        sigma += sqrt(sxx > 0 ? sxx : 0);
    }
    free(buf);
    out->ssim = ssim / (double)n;
    out->cs = cs / (double)n;
    out->sigma_x = sigma / (double)n;
    return 0;
}

int biqa_msssim_scales(int w, int h)
{
    int side = w < h ? w : h, m = 0;
    while (m < BIQA_MSSSIM_MAX_SCALES && side >= MIN_SIDE) {
        m++;
        side /= 2;
    }
    return m;
}

/* 2x2 block means; an odd last row or column is dropped. */
static void halve(const double *in, int w, int h, double *out)
{
    const int ow = w / 2, oh = h / 2;
    for (int r = 0; r < oh; r++)
        for (int c = 0; c < ow; c++) {
            const double *p = in + (size_t)2 * r * w + 2 * c;
            out[(size_t)r * ow + c] = (p[0] + p[1] + p[w] + p[w + 1]) / 4;
        }
}

int biqa_msssim_plane(const double *x, const double *y, int w, int h, double *out,
                      biqa_ssim *first, biqa_error *err)
{
    static const double weights[BIQA_MSSSIM_MAX_SCALES] = {0.0448, 0.2856, 0.3001, 0.2363,
                                                           0.1333};
    const int m = biqa_msssim_scales(w, h);
    if (m == 0)
        return biqa_fail(err, "ms-ssim: a %dx%d image is under %d px on a side", w, h, MIN_SIDE);
    double wsum = 0;
    for (int j = 0; j < m; j++)
        wsum += weights[j];
    /* Scales 2..M in one buffer: each is at most a quarter of the last. */
    const size_t n = (size_t)w * h;
    double *buf = malloc(2 * (n / 2 + 1) * sizeof *buf);
    if (!buf)
        return biqa_fail(err, "ms-ssim: out of memory for a %dx%d image", w, h);
    const double *cx = x, *cy = y;
    double *next = buf, result = 1;
    for (int j = 0; j < m; j++) {
        biqa_ssim s;
        if (biqa_ssim_plane(cx, cy, w, h, &s, err) < 0) {
            free(buf);
            return -1;
        }
        if (j == 0 && first)
            *first = s;
        const double v = j == m - 1 ? s.ssim : s.cs;
        result *= pow(v > 0 ? v : 0, weights[j] / wsum);
        if (j == m - 1)
            break;
        const size_t half = (size_t)(w / 2) * (h / 2);
        double *nx = next, *ny = next + half;
        halve(cx, w, h, nx);
        halve(cy, w, h, ny);
        cx = nx;
        cy = ny;
        next = ny + half;
        w /= 2;
        h /= 2;
    }
    free(buf);
    *out = result;
    return 0;
}
