/* SSIM and MS-SSIM of single-channel planes of doubles on the 0..255 scale,
 * the full-reference half of the synthetic benchmark's observer model
 * (datasets/observer.h). The exact formulas, so that an independent
 * implementation (tests/ref/synthetic_vs_numpy.py) can recompute them:
 *
 * SSIM (Wang, Bovik, Sheikh, Simoncelli, IEEE TIP 2004), as their
 * reference code: an 11x11 Gaussian window w, sigma 1.5, normalised to sum
 * 1, applied at the "valid" positions only (no padding: (W-10) x (H-10)
 * maps); mu_x = w*x, sigma_x^2 = w*(x^2) - mu_x^2 (likewise y),
 * sigma_xy = w*(xy) - mu_x mu_y; C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2;
 *   cs   = (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2)
 *   ssim = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1) * cs
 * and SSIM, CS are the means of these maps. Also reported: the mean local
 * standard deviation of x, mean of sqrt(max(sigma_x^2, 0)).
 *
 * MS-SSIM (Wang, Simoncelli, Bovik, Asilomar 2003) over M scales: scale 1
 * is the input, scale j+1 is scale j averaged over 2x2 blocks (an odd last
 * row or column dropped), and
 *   MS-SSIM = prod_{j<M} max(CS_j, 0)^{w_j} * max(SSIM_M, 0)^{w_M}
 * with the paper's weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), the
 * first M of them divided by their sum. M is the largest number of scales
 * (1..5) whose smallest scale still measures at least 22 px (twice the
 * window) on its shorter side: 48 px -> 2, 96 -> 3, 256 -> 4, 512 -> 5. */
#ifndef BIQA_DATASETS_SSIM_H
#define BIQA_DATASETS_SSIM_H

#include "core/error.h"

enum { BIQA_SSIM_WINDOW = 11, BIQA_MSSSIM_MAX_SCALES = 5 };

typedef struct biqa_ssim {
    double ssim, cs; /* means of the SSIM and contrast-structure maps */
    double sigma_x;  /* mean local standard deviation of x */
} biqa_ssim;

/* One scale; w and h at least 11. */
int biqa_ssim_plane(const double *x, const double *y, int w, int h, biqa_ssim *out,
                    biqa_error *err);

/* The number of scales M of a w x h image; 0 when even one does not fit
 * (shorter side under 22 px). */
int biqa_msssim_scales(int w, int h);

/* MS-SSIM over biqa_msssim_scales(w, h) scales; first (may be NULL) gets
 * scale 1's statistics. */
int biqa_msssim_plane(const double *x, const double *y, int w, int h, double *out,
                      biqa_ssim *first, biqa_error *err);

#endif
