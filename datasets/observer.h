/* The synthetic benchmark's observer model: how a panel of R simulated
 * observers rates a distorted image against its pristine reference. The
 * whole formula, with the parameters of biqa_observer (whose defaults are
 * in observer.c and whose values every dataset's manifest.json records):
 *
 * 1. Colour planes of both images, in double, unrounded (JPEG/JFIF BT.601):
 *      Y  =       0.299 R    + 0.587 G    + 0.114 B
 *      Cb = 128 - 0.168736 R - 0.331264 G + 0.5 B
 *      Cr = 128 + 0.5 R      - 0.418688 G - 0.081312 B
 * 2. Fidelity (datasets/ssim.h for SSIM and MS-SSIM):
 *      q_Y = MS-SSIM(Y_ref, Y_dist)
 *      q_C = (max(SSIM(Cb_ref, Cb_dist), 0) + max(SSIM(Cr_ref, Cr_dist), 0)) / 2
 *      Q   = q_Y * q_C^chroma_exponent
 * 3. Content dependence (masking): the reference's activity tau = the mean
 *    local standard deviation of Y_ref (scale 1 of the MS-SSIM); busy
 *    content hides distortions, flat content shows them:
 *      s = clamp((tau0 / max(tau, 1e-9))^kappa, s_min, s_max)
 *      D = s * (1 - Q)                                  (perceived distortion)
 * 4. Mapping to the 1..100 scale, monotone decreasing in D, 100 at D = 0:
 *      m = 1 + 99 / (1 + (D / d50)^slope)
 * 5. The panel: observer o (0..raters-1) of downstream image i rates
 *      r_o = clamp(m + sigma(m) z_o, 1, 100)
 *      sigma(m) = sigma_end + (sigma_mid - sigma_end) * 4 (m - 1)(100 - m) / 99^2
 *    (observers agree most at the ends of the scale, as in real panels),
 *    z_o a standard normal by Box-Muller from core/rng.h, key (seed,
 *    stream "synthetic/observer", index 2 (i raters + o) and that + 1):
 *      z_o = sqrt(-2 ln(1 - u1)) cos(2 pi u2)
 *    MOS = mean of r_o, std = their sample standard deviation (n - 1). */
#ifndef BIQA_DATASETS_OBSERVER_H
#define BIQA_DATASETS_OBSERVER_H

#include <stdint.h>

#include "core/error.h"
#include "kernels/image/image.h"

enum { BIQA_OBSERVER_MAX_RATERS = 256 };

typedef struct biqa_observer {
    double chroma_exponent;
    double tau0, kappa, s_min, s_max;
    double d50, slope;
    int raters; /* 2 .. BIQA_OBSERVER_MAX_RATERS */
    double sigma_end, sigma_mid;
} biqa_observer;

/* The parameters every synthetic dataset uses (observer.c says why). */
biqa_observer biqa_observer_default(void);

/* Steps 1-4 for one image. */
typedef struct biqa_observation {
    double q_y, q_c, quality;          /* MS-SSIM of Y, chroma SSIM, Q */
    double activity, sensitivity;      /* tau, s */
    double distortion, score;          /* D, m */
} biqa_observation;

int biqa_observer_score(const biqa_observer *o, const biqa_image *ref, const biqa_image *dist,
                        biqa_observation *out, biqa_error *err);

/* Step 5: the panel's MOS and std of the mapped score m of image i. */
void biqa_observer_rate(const biqa_observer *o, uint64_t seed, uint64_t image, double score,
                        double *mos, double *std);

#endif
