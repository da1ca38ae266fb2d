/* The observer model (formula in observer.h). */
#include "datasets/observer.h"

#include <math.h>
#include <stdlib.h>

#include "core/rng.h"
#include "datasets/ssim.h"

/* Calibrated once on the demo set (96 px, chains of 1..5 default steps) so
 * that MOS spans the scale: d50 is about the median perceived distortion,
 * tau0 about the median content activity; the chroma exponent lets pure
 * colour shifts (invisible to the luminance MS-SSIM) cost quality, less
 * than structural damage; 20 raters with a std of 4..10 points resemble the
 * per-image std of KADID-10k-style panels. */
biqa_observer biqa_observer_default(void)
{
    return (biqa_observer){.chroma_exponent = 0.5,
                           .tau0 = 17.0,
                           .kappa = 0.5,
                           .s_min = 0.5,
                           .s_max = 2.0,
                           .d50 = 0.25,
                           .slope = 1.5,
                           .raters = 20,
                           .sigma_end = 4.0,
                           .sigma_mid = 10.0};
}

/* Y, Cb, Cr planes of an image (3 w h doubles, plane after plane). */
static void planes(const biqa_image *im, double *out)
{
    const size_t n = (size_t)im->w * im->h;
    for (size_t i = 0; i < n; i++) {
        const double r = im->px[3 * i], g = im->px[3 * i + 1], b = im->px[3 * i + 2];
        out[i] = 0.299 * r + 0.587 * g + 0.114 * b;
        out[n + i] = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b;
        out[2 * n + i] = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b;
    }
}

int biqa_observer_score(const biqa_observer *o, const biqa_image *ref, const biqa_image *dist,
                        biqa_observation *out, biqa_error *err)
{
    if (ref->w != dist->w || ref->h != dist->h)
        return biqa_fail(err, "observer: reference %dx%d and distorted %dx%d differ in size",
                         ref->w, ref->h, dist->w, dist->h);
    const size_t n = (size_t)ref->w * ref->h;
    double *p = malloc(6 * n * sizeof *p);
    if (!p)
        return biqa_fail(err, "observer: out of memory for a %dx%d image", ref->w, ref->h);
    const double *a = p, *b = p + 3 * n;
    planes(ref, p);
    planes(dist, p + 3 * n);
    biqa_ssim first, cb, cr;
    int rc = biqa_msssim_plane(a, b, ref->w, ref->h, &out->q_y, &first, err);
    if (rc == 0)
        rc = biqa_ssim_plane(a + n, b + n, ref->w, ref->h, &cb, err);
    if (rc == 0)
        rc = biqa_ssim_plane(a + 2 * n, b + 2 * n, ref->w, ref->h, &cr, err);
    free(p);
    if (rc < 0)
        return biqa_fail_wrap(err, "observer");
    out->q_c = ((cb.ssim > 0 ? cb.ssim : 0) + (cr.ssim > 0 ? cr.ssim : 0)) / 2;
    out->quality = out->q_y * pow(out->q_c, o->chroma_exponent);
    out->activity = first.sigma_x;
    double s = pow(o->tau0 / fmax(out->activity, 1e-9), o->kappa);
    out->sensitivity = s < o->s_min ? o->s_min : s > o->s_max ? o->s_max : s;
    out->distortion = out->sensitivity * (1 - out->quality);
    out->score = 1 + 99 / (1 + pow(fmax(out->distortion, 0) / o->d50, o->slope));
    return 0;
}

void biqa_observer_rate(const biqa_observer *o, uint64_t seed, uint64_t image, double score,
                        double *mos, double *std)
{
    const uint64_t st = biqa_rng_stream("synthetic/observer");
    const double sigma = o->sigma_end + (o->sigma_mid - o->sigma_end) * 4 * (score - 1) *
                                            (100 - score) / (99.0 * 99.0);
    const double pi = 3.14159265358979323846;
    const int n = o->raters < BIQA_OBSERVER_MAX_RATERS ? o->raters : BIQA_OBSERVER_MAX_RATERS;
    double r[BIQA_OBSERVER_MAX_RATERS], sum = 0, sum2 = 0;
    for (int k = 0; k < n; k++) {
        const uint64_t idx = 2 * (image * (uint64_t)o->raters + (uint64_t)k);
        const double u1 = biqa_rng_uniform(seed, st, idx), u2 = biqa_rng_uniform(seed, st, idx + 1);
        const double z = sqrt(-2 * log(1 - u1)) * cos(2 * pi * u2);
        const double v = score + sigma * z;
        r[k] = v < 1 ? 1 : v > 100 ? 100 : v;
        sum += r[k];
    }
    const double mean = sum / n;
    for (int k = 0; k < n; k++)
        sum2 += (r[k] - mean) * (r[k] - mean);
    *mos = mean;
    *std = n > 1 ? sqrt(sum2 / (n - 1)) : 0;
}
