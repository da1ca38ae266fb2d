/* Median blur over a k x k window, each channel separately, with edge
 * replication (as cv2.medianBlur, which uses BORDER_REPLICATE whatever the
 * size). The median is the largest m with #(window values < m) <= k^2 / 2;
 * each path below finds exactly that value, the fastest one for its k:
 *   k = 1:        the input.
 *   k = 3:        a selection network on sorted columns (median3).
 *   k = 5, 7, 9:  m bit by bit from the top, counting the window values
 *                 below it, one output byte per vector lane (median_bits).
 *   k = 11:       Perreault & Hebert's constant-time median with byte
 *                 counters (median_ph).
 *   k >= 13:      Huang's sliding histogram, O(k) per pixel: configured
 *                 sizes only, beyond the byte counters of median_ph.
 * All but Huang's are branch-free loops across a row, vectorised. */
#include <stdlib.h>
#include <string.h>

#include "kernels/image/filter.h"
#include "kernels/image/ops.h"

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static inline uint8_t min8(uint8_t a, uint8_t b)
{
    return a < b ? a : b;
}

static inline uint8_t max8(uint8_t a, uint8_t b)
{
    return a > b ? a : b;
}

static inline uint8_t med3(uint8_t a, uint8_t b, uint8_t c)
{
    return max8(min8(a, b), min8(max8(a, b), c));
}

/* 3 x 3: sort each window column (lo <= mid <= hi), then each row (the
 * los, the mids, the his). The 3 x 3 is then sorted both ways (sorting the
 * rows keeps the columns sorted), so the entry in row i, column j is >=
 * (i+1)(j+1) - 1 others and <= (3-i)(3-j) - 1 others: three entries lie
 * surely above the median and three below, which leaves max(los),
 * med(mids) and min(his), whose median is the window's (Paeth, "Median
 * finding on a 3x3 grid", Graphics Gems, 1990). A column's sort serves
 * the three outputs that see it. */
BIQA_CLONES
static void median3(int w, int h, const uint8_t *pad, size_t pstride, uint8_t *buf,
                    uint8_t *out)
{
    const int n = 3 * w, np = 3 * (w + 2);
    uint8_t *lo = buf, *mi = buf + np, *hi = buf + 2 * np;
    for (int y = 0; y < h; y++) {
        const uint8_t *a = pad + (size_t)clampi(y - 1, 0, h - 1) * pstride;
        const uint8_t *b = pad + (size_t)y * pstride;
        const uint8_t *c = pad + (size_t)clampi(y + 1, 0, h - 1) * pstride;
#pragma omp simd
        for (int i = 0; i < np; i++) {
            uint8_t s = min8(a[i], b[i]), t = max8(a[i], b[i]);
            lo[i] = min8(s, c[i]);
            hi[i] = max8(t, c[i]);
            mi[i] = max8(s, min8(t, c[i]));
        }
        uint8_t *o = out + (size_t)y * n;
#pragma omp simd
        for (int i = 0; i < n; i++) {
            uint8_t l = max8(max8(lo[i], lo[i + 3]), lo[i + 6]);
            uint8_t u = min8(min8(hi[i], hi[i + 3]), hi[i + 6]);
            o[i] = med3(l, med3(mi[i], mi[i + 3], mi[i + 6]), u);
        }
    }
}

/* k = 5, 7, 9: for bit = 128, 64, ..., 1, m gains the bit when at most
 * k^2 / 2 window values lie below m | bit. One output byte per lane of a
 * vectorised loop over the row; the window loops have constant trip
 * counts and are unrolled, so each lane's count stays in a register. The
 * work grows as k^2: Perreault & Hebert's constant work per pixel takes
 * over at k = 11 (about where they cross with AVX-512; earlier with
 * narrower vectors). */
static inline void median_bits(const uint8_t *const *rows, int n, int k, uint8_t *restrict o)
{
    const int half = k * k / 2;
#pragma omp simd
    for (int i = 0; i < n; i++) {
        uint8_t m = 0;
#pragma GCC unroll 8
        for (int bit = 128; bit; bit >>= 1) {
            const uint8_t t = (uint8_t)(m | bit);
            uint8_t cnt = 0;
#pragma GCC unroll 9
            for (int a = 0; a < k; a++)
#pragma GCC unroll 9
                for (int j = 0; j < k; j++)
                    cnt = (uint8_t)(cnt + (rows[a][i + 3 * j] < t));
            m = cnt <= half ? t : m;
        }
        o[i] = m;
    }
}

BIQA_CLONES
static void median_bits5(const uint8_t *const *rows, int n, uint8_t *o)
{
    median_bits(rows, n, 5, o);
}

BIQA_CLONES
static void median_bits7(const uint8_t *const *rows, int n, uint8_t *o)
{
    median_bits(rows, n, 7, o);
}

BIQA_CLONES
static void median_bits9(const uint8_t *const *rows, int n, uint8_t *o)
{
    median_bits(rows, n, 9, o);
}

/* Perreault & Hebert (IEEE TIP 2007): a histogram per image column over
 * the k rows of the window, moved down one row by one removal and one
 * insertion; the window's histogram is the sum of its k columns'. Both
 * have two levels, 16 coarse bins (value >> 4) and 256 fine ones: the
 * coarse counts find the 16-value block holding the median, and only that
 * block's fine counts are needed. It goes in vertical stripes of at most
 * STRIPE output pixels, so that the column histograms (3 (STRIPE + k - 1)
 * x 272 bytes) stay in the L2 cache whatever the image width.
 *
 * For k <= 11 every count of a window (at most k^2 = 121) fits in 7 bits,
 * so the counters are bytes: 16 of them are one vector register for adding
 * and subtracting columns, or two 64-bit words of eight lanes (SWAR) for
 * counting: multiplying a word by 0x0101010101010101 turns it into running
 * sums, and one subtraction compares eight lanes with a bound. Finding the
 * median's block and its place in the block takes no branch, and each row
 * goes in passes of independent work per pixel: the windows' coarse counts
 * (one column in, one out), the block (vectorised), the block's fine
 * counts summed afresh from the k columns (cheaper than Perreault &
 * Hebert's lazy updates with their unpredictable branches), the place in
 * the block (vectorised). */
enum { STRIPE = 256 };

#define LANES 0x0101010101010101ULL
#define HIGH 0x8080808080808080ULL

typedef struct ph_work {
    uint8_t (*fine)[256]; /* per byte column of the padded stripe */
    uint8_t (*coarse)[16];
    uint64_t (*counts)[2]; /* per output byte: 16 counts of its window */
    uint8_t *block, *below;
} ph_work;

/* For the 16 counts c of each of n windows (two words), with bound[i] <
 * 2^7 and every sum below 2^7: n_le[i] = the number of j < 16 with
 * c[0] + ... + c[j] <= bound[i], and sum_before[i] = c[0] + ... +
 * c[n_le[i] - 1]. */
BIQA_CLONES
static void count_le(const uint64_t (*c)[2], const uint8_t *bound, int n, uint8_t *n_le,
                     uint8_t *sum_before)
{
#pragma omp simd
    for (int i = 0; i < n; i++) {
        const int bd = bound[i];
        const uint64_t run0 = c[i][0] * LANES, run1 = c[i][1] * LANES; /* running sums */
        const int bound1 = bd - (int)(run0 >> 56);
        const uint64_t le0 = (((uint64_t)(0x80 + bd) * LANES - run0) & HIGH) >> 7;
        const uint64_t le1 =
            (((uint64_t)(0x80 + (bound1 < 0 ? -1 : bound1)) * LANES - run1) & HIGH) >> 7;
        /* The lanes counted are a prefix, so their sum is the sum before. */
        const uint64_t sel = (c[i][0] & (le0 * 0xFF)) + (c[i][1] & (le1 * 0xFF));
        sum_before[i] = (uint8_t)((sel * LANES) >> 56);
        n_le[i] = (uint8_t)(((le0 + le1) * LANES) >> 56);
    }
}

/* Output pixels x0 .. x0+nx-1 of every row; padded columns x0 .. x0+nx+2r-1. */
static void median_ph_stripe(int w, int h, int k, const uint8_t *pad, size_t pstride, int x0,
                             int nx, const ph_work *ws, uint8_t *out)
{
    const int r = k / 2, np = 3 * (nx + 2 * r), n = 3 * nx;
    const uint8_t half = (uint8_t)(k * k / 2);
    uint8_t(*fine)[256] = ws->fine;
    uint8_t(*coarse)[16] = ws->coarse;
    uint64_t(*counts)[2] = ws->counts;
    uint8_t *block = ws->block, *below = ws->below;
    const uint8_t *base = pad + 3 * (size_t)x0;
    memset(fine, 0, (size_t)np * sizeof *fine);
    memset(coarse, 0, (size_t)(np + 3) * sizeof *coarse);
    for (int a = -r; a <= r; a++) {
        const uint8_t *row = base + (size_t)clampi(a, 0, h - 1) * pstride;
        for (int p = 0; p < np; p++) {
            fine[p][row[p]]++;
            coarse[p][row[p] >> 4]++;
        }
    }
    for (int y = 0; y < h; y++) {
        if (y > 0) {
            const uint8_t *gone = base + (size_t)clampi(y - r - 1, 0, h - 1) * pstride;
            const uint8_t *come = base + (size_t)clampi(y + r, 0, h - 1) * pstride;
            for (int p = 0; p < np; p++) {
                const int u = gone[p], v = come[p];
                fine[p][u]--, coarse[p][u >> 4]--;
                fine[p][v]++, coarse[p][v >> 4]++;
            }
        }
        /* The windows' coarse counts: byte p sees columns p, p + 3, ...,
         * p + 6r, so window p + 3 is window p with column p + 3 + 6r in
         * and column p out. */
        uint8_t kc[3][16] = {{0}};
        for (int j = 0; j <= 2 * r; j++)
            for (int c = 0; c < 3; c++)
#pragma omp simd
                for (int i = 0; i < 16; i++)
                    kc[c][i] = (uint8_t)(kc[c][i] + coarse[3 * j + c][i]);
        for (int p = 0; p < n; p++) {
            uint8_t *q = kc[p % 3];
            memcpy(counts[p], q, 16);
            const uint8_t *in = coarse[p + 3 + 6 * r], *gone = coarse[p];
#pragma omp simd
            for (int i = 0; i < 16; i++)
                q[i] = (uint8_t)(q[i] + in[i] - gone[i]);
        }
        for (int p = 0; p < n; p++)
            below[p] = half;
        count_le(counts, below, n, block, below);
        /* The median's block b: its 16 fine counts, then the place in it
         * below which at most half - (the count below the block) lie. */
        for (int p = 0; p < n; p++) {
            uint8_t f[16] = {0};
            for (int j = 0; j <= 2 * r; j++) {
                const uint8_t *s = fine[p + 3 * j] + 16 * block[p];
#pragma omp simd
                for (int i = 0; i < 16; i++)
                    f[i] = (uint8_t)(f[i] + s[i]);
            }
            memcpy(counts[p], f, 16);
            below[p] = (uint8_t)(half - below[p]);
        }
        uint8_t *o = out + ((size_t)y * w + x0) * 3;
        count_le(counts, below, n, o, below);
#pragma omp simd
        for (int p = 0; p < n; p++)
            o[p] = (uint8_t)(o[p] + 16 * block[p]);
    }
}

static int median_ph(int w, int h, int k, const uint8_t *pad, size_t pstride, uint8_t *out,
                     biqa_error *err)
{
    const int r = k / 2, stripe = w < STRIPE ? w : STRIPE;
    const size_t np = (size_t)3 * (stripe + 2 * r), n = (size_t)3 * stripe;
    ph_work ws;
    ws.fine = malloc(np * sizeof *ws.fine);
    ws.coarse = malloc((np + 3) * sizeof *ws.coarse); /* + 3: read, not used */
    ws.counts = malloc(n * sizeof *ws.counts);
    ws.block = malloc(2 * n);
    ws.below = ws.block + n;
    if (!ws.fine || !ws.coarse || !ws.counts || !ws.block) {
        free(ws.fine);
        free(ws.coarse);
        free(ws.counts);
        free(ws.block);
        return biqa_fail(err, "out of memory");
    }
    for (int x0 = 0; x0 < w; x0 += stripe)
        median_ph_stripe(w, h, k, pad, pstride, x0, w - x0 < stripe ? w - x0 : stripe, &ws, out);
    free(ws.fine);
    free(ws.coarse);
    free(ws.counts);
    free(ws.block);
    return 0;
}

/* Huang: per step one column of k values leaves the window and one
 * enters; the median walks from its old value, tracking how many values
 * lie below it, skipping 16-value blocks through a coarse histogram. The
 * three channels advance together: their histogram updates are
 * independent, so they overlap in the CPU instead of waiting on each other. */
static void median_huang(int w, int h, int k, const uint8_t *pad, size_t pstride,
                         uint8_t *out)
{
    const int r = k / 2, half = k * k / 2;
    const uint8_t *rows[99]; /* degrade.c bounds k by 99 */
    for (int y = 0; y < h; y++) {
        for (int a = 0; a < k; a++)
            rows[a] = pad + (size_t)clampi(y - r + a, 0, h - 1) * pstride;
        uint8_t *o = out + (size_t)y * 3 * w;
        int hist[3][256] = {{0}}, coarse[3][16] = {{0}}, m[3] = {0, 0, 0}, lt[3] = {0, 0, 0};
        for (int a = 0; a < k; a++)
            for (int j = 0; j < 3 * k; j++) {
                int v = rows[a][j];
                hist[j % 3][v]++;
                coarse[j % 3][v >> 4]++;
            }
        for (int x = 0; x < w; x++) {
            if (x > 0)
                for (int a = 0; a < k; a++) {
                    const uint8_t *gone = rows[a] + 3 * (x - 1), *come = rows[a] + 3 * (x + 2 * r);
                    for (int c = 0; c < 3; c++) {
                        int u = gone[c], v = come[c];
                        hist[c][u]--, coarse[c][u >> 4]--;
                        hist[c][v]++, coarse[c][v >> 4]++;
                        lt[c] += (v < m[c]) - (u < m[c]);
                    }
                }
            /* m is the median while lt <= half < lt + hist[m], lt = #values < m. */
            for (int c = 0; c < 3; c++) {
                int mm = m[c], l = lt[c];
                const int *hc = hist[c], *cc = coarse[c];
                if (l > half) {
                    /* Down: whole 16-value blocks while they keep l > half. */
                    while (mm & 15 && l > half)
                        l -= hc[--mm];
                    while (l > half && l - cc[(mm >> 4) - 1] > half)
                        l -= cc[(mm >> 4) - 1], mm -= 16;
                    while (l > half)
                        l -= hc[--mm];
                } else {
                    while (mm & 15 && l + hc[mm] <= half)
                        l += hc[mm++];
                    while (!(mm & 15) && l + cc[mm >> 4] <= half)
                        l += cc[mm >> 4], mm += 16;
                    while (l + hc[mm] <= half)
                        l += hc[mm++];
                }
                m[c] = mm, lt[c] = l;
                o[3 * x + c] = (uint8_t)mm;
            }
        }
    }
}

int biqa_op_median(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                   uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream;
    const int w = in->w, h = in->h, k = (int)p[0], r = k / 2;
    if (k == 1) {
        memcpy(out, in->px, (size_t)3 * w * h);
        return 0;
    }
    /* The image with r replicated columns either side, so window column j
     * of output x is byte 3 (x + j) + c of a padded row; for k = 3, three
     * more rows after it for the sorted columns. */
    const size_t pstride = (size_t)3 * (w + 2 * r);
    uint8_t *pad = malloc(pstride * (h + (k == 3 ? 3 : 0)));
    if (!pad)
        return biqa_fail(err, "out of memory");
    for (int y = 0; y < h; y++) {
        uint8_t *d = pad + y * pstride;
        const uint8_t *s = in->px + (size_t)y * 3 * w;
        memcpy(d + 3 * r, s, (size_t)3 * w);
        for (int x = 0; x < r; x++) {
            memcpy(d + 3 * x, s, 3);
            memcpy(d + 3 * (w + r + x), s + 3 * (w - 1), 3);
        }
    }
    int rc = 0;
    if (k == 3) {
        median3(w, h, pad, pstride, pad + pstride * h, out);
    } else if (k <= 9) {
        for (int y = 0; y < h; y++) {
            const uint8_t *rows[9];
            for (int a = 0; a < k; a++)
                rows[a] = pad + (size_t)clampi(y - r + a, 0, h - 1) * pstride;
            uint8_t *o = out + (size_t)y * 3 * w;
            if (k == 5)
                median_bits5(rows, 3 * w, o);
            else if (k == 7)
                median_bits7(rows, 3 * w, o);
            else
                median_bits9(rows, 3 * w, o);
        }
    } else if (k <= 11)
        rc = median_ph(w, h, k, pad, pstride, out, err);
    else
        median_huang(w, h, k, pad, pstride, out);
    free(pad);
    return rc;
}
