/* datasets/synthetic.h and its parts (dead leaves, SSIM, the observer
 * model): pure content, learnable classes, SSIM identities, a monotone
 * observer, and a made dataset that is byte-identical at 1 and 2 threads,
 * complete, content-disjoint and regenerable from its meta.csv through the
 * project's own CSV reader. The MOS formula itself is recomputed in NumPy
 * by tests/ref/synthetic_vs_numpy.py. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/csv.h"
#include "core/file.h"
#include "core/log.h"
#include "datasets/dead_leaves.h"
#include "datasets/observer.h"
#include "datasets/ssim.h"
#include "datasets/synthetic.h"

static biqa_synthetic_spec test_spec(void)
{
    biqa_synthetic_spec s;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_synthetic_spec_named("test", &s, &e), 0, "%s", e.msg);
    return s;
}

static int same_image(const biqa_image *a, const biqa_image *b)
{
    return a->w == b->w && a->h == b->h && memcmp(a->px, b->px, (size_t)3 * a->w * a->h) == 0;
}

Test(synthetic, sizes_and_chain_lengths)
{
    biqa_synthetic_spec s;
    biqa_error e = {{0}};
    static const char *const sizes[] = {"test", "demo", "large"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(biqa_synthetic_spec_named(sizes[i], &s, &e), 0, "%s", e.msg);
        cr_assert_eq(biqa_synthetic_spec_check(&s, &e), 0, "%s: %s", sizes[i], e.msg);
        cr_assert_eq(biqa_synthetic_chain_length(&s, 0), 1, "%s starts with single steps", sizes[i]);
        cr_assert_eq(biqa_synthetic_chain_length(&s, s.distortions - 1), s.distortions >= 5 ? 5 : 4);
    }
    cr_assert_eq(biqa_synthetic_spec_named("huge", &s, &e), -1);
    cr_assert(strstr(e.msg, "'huge'") && strstr(e.msg, "test, demo or large"), "%s", e.msg);
    cr_assert_eq(biqa_synthetic_spec_named("demo", &s, &e), 0);
    static const int demo[8] = {1, 1, 2, 2, 3, 4, 4, 5};
    for (int d = 0; d < 8; d++)
        cr_assert_eq(biqa_synthetic_chain_length(&s, d), demo[d], "slot %d", d);
    biqa_synthetic_spec bad = s;
    bad.image_size = 21;
    cr_assert_eq(biqa_synthetic_spec_check(&bad, &e), -1);
    cr_assert(strstr(e.msg, "image_size 21"), "%s", e.msg);
    bad = s;
    bad.classes = 0;
    cr_assert_eq(biqa_synthetic_spec_check(&bad, &e), -1);
    cr_assert(strstr(e.msg, "classes 0"), "%s", e.msg);
}

Test(synthetic, content_is_a_pure_function_of_its_index)
{
    const biqa_synthetic_spec s = test_spec();
    biqa_image a, b, c;
    int ca, cb, cc;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_synthetic_pretrain_image(&s, 5, 3, &a, &ca, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_synthetic_pretrain_image(&s, 5, 3, &b, &cb, &e), 0, "%s", e.msg);
    cr_assert(same_image(&a, &b) && ca == cb && ca == 3 % s.classes);
    biqa_image_free(&b);
    /* Another seed, and the downstream reference of the same index: other content. */
    cr_assert_eq(biqa_synthetic_pretrain_image(&s, 6, 3, &b, &cb, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_synthetic_reference(&s, 5, 3, &c, &cc, &e), 0, "%s", e.msg);
    cr_assert(!same_image(&a, &b) && !same_image(&a, &c) && cc == ca);
    cr_assert_eq(a.w, s.image_size);
    biqa_image_free(&a);
    biqa_image_free(&b);
    biqa_image_free(&c);
    biqa_leaves_class k;
    biqa_leaves_class_params(1, 0, s.classes, &k);
    cr_assert_eq(biqa_leaves_render(&k, 1, 4, 10, &a, &e), -1);
    cr_assert(strstr(e.msg, "size 4"), "%s", e.msg);
}

/* A classifier can learn the classes: nearest class centroid of the mean
 * colour, fitted on the pretraining images, names the class of most
 * downstream references (chance: 1 / K). */
Test(synthetic, classes_are_learnable_and_shared_by_both_sets)
{
    biqa_synthetic_spec s;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_synthetic_spec_named("demo", &s, &e), 0);
    s.image_size = 48; /* the statistics do not need the demo's pixels */
    s.pretrain_per_class = 6;
    double centroid[100][3] = {{0}};
    for (int i = 0; i < s.classes * s.pretrain_per_class; i++) {
        biqa_image im;
        int cls;
        cr_assert_eq(biqa_synthetic_pretrain_image(&s, 1, i, &im, &cls, &e), 0, "%s", e.msg);
        for (size_t p = 0; p < (size_t)im.w * im.h; p++)
            for (int ch = 0; ch < 3; ch++)
                centroid[cls][ch] += im.px[3 * p + ch];
        biqa_image_free(&im);
    }
    int right = 0;
    for (int r = 0; r < s.refs; r++) {
        biqa_image im;
        int cls, best = -1;
        cr_assert_eq(biqa_synthetic_reference(&s, 1, r, &im, &cls, &e), 0, "%s", e.msg);
        double mean[3] = {0}, best_d = INFINITY, n = (double)im.w * im.h;
        for (size_t p = 0; p < (size_t)im.w * im.h; p++)
            for (int ch = 0; ch < 3; ch++)
                mean[ch] += im.px[3 * p + ch] / n;
        for (int c = 0; c < s.classes; c++) {
            double d = 0;
            for (int ch = 0; ch < 3; ch++) {
                double m = centroid[c][ch] / (n * s.pretrain_per_class) - mean[ch];
                d += m * m;
            }
            if (d < best_d)
                best_d = d, best = c;
        }
        right += best == cls;
        biqa_image_free(&im);
    }
    cr_assert_geq(right, s.refs * 8 / 10, "%d of %d references classified", right, s.refs);
}

Test(synthetic, ssim_identities)
{
    enum { W = 30, H = 26 };
    double x[W * H], y[W * H], k[W * H], z[W * H];
    for (int i = 0; i < W * H; i++) {
        x[i] = 100 + 60 * sin(i * 0.37) + (i % 7) * 3;
        y[i] = x[i] + 25 * cos(i * 1.3);
        k[i] = 80;
        z[i] = 120;
    }
    biqa_ssim s, t;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_ssim_plane(x, x, W, H, &s, &e), 0, "%s", e.msg);
    cr_assert_float_eq(s.ssim, 1.0, 1e-12);
    cr_assert_float_eq(s.cs, 1.0, 1e-12);
    cr_assert_eq(biqa_ssim_plane(x, y, W, H, &s, &e), 0);
    cr_assert_eq(biqa_ssim_plane(y, x, W, H, &t, &e), 0);
    cr_assert_float_eq(s.ssim, t.ssim, 1e-12, "symmetric");
    cr_assert(s.ssim < 0.95 && s.ssim > 0);
    /* Flat planes: no structure term left, the luminance term in closed form. */
    cr_assert_eq(biqa_ssim_plane(k, z, W, H, &s, &e), 0);
    const double c1 = (0.01 * 255) * (0.01 * 255);
    cr_assert_float_eq(s.ssim, (2 * 80.0 * 120 + c1) / (80.0 * 80 + 120.0 * 120 + c1), 1e-12);
    cr_assert_float_eq(s.sigma_x, 0, 1e-6);
    cr_assert_eq(biqa_ssim_plane(x, y, 10, 26, &s, &e), -1);
    cr_assert(strstr(e.msg, "10x26"), "%s", e.msg);
    static const int sides[][2] = {{21, 0}, {22, 1}, {48, 2}, {96, 3}, {256, 4}, {512, 5}, {4096, 5}};
    for (size_t i = 0; i < sizeof sides / sizeof *sides; i++)
        cr_assert_eq(biqa_msssim_scales(sides[i][0], 1000), sides[i][1], "%d px", sides[i][0]);
    double ms;
    cr_assert_eq(biqa_msssim_plane(x, x, 21, 21, &ms, NULL, &e), -1);
    cr_assert(strstr(e.msg, "21x21"), "%s", e.msg);
}

/* Scores of the test set's references degraded by chain text. */
static double mean_score(const biqa_observer *o, const biqa_image *refs, int n, const char *chain)
{
    biqa_chain c;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_chain_parse(chain, &c, &e), 0, "%s", e.msg);
    double sum = 0;
    for (int r = 0; r < n; r++) {
        biqa_image d;
        biqa_observation ob;
        cr_assert_eq(biqa_chain_apply(&c, &refs[r], 11, &d, &e), 0, "%s", e.msg);
        cr_assert_eq(biqa_observer_score(o, &refs[r], &d, &ob, &e), 0, "%s", e.msg);
        cr_assert(ob.score >= 1 && ob.score <= 100);
        sum += ob.score;
        biqa_image_free(&d);
    }
    return sum / n;
}

/* Heavier degradation of one type lowers the mean score: every type's
 * levels 1..5, and repeats of one step. A pristine image scores 100. */
Test(synthetic, observer_is_monotone_in_level_and_chain_length, .timeout = 120)
{
    const biqa_synthetic_spec s = test_spec();
    const biqa_observer o = biqa_observer_default();
    enum { N = 6 };
    biqa_image refs[N];
    biqa_error e = {{0}};
    for (int r = 0; r < N; r++) {
        int cls;
        cr_assert_eq(biqa_synthetic_reference(&s, 1, r, &refs[r], &cls, &e), 0, "%s", e.msg);
    }
    cr_assert_float_eq(mean_score(&o, refs, N, ""), 100.0, 1e-12);
    for (int t = 0; t < BIQA_DEG_TYPES; t++) {
        double prev = 100;
        for (int level = 1; level <= BIQA_DEG_LEVELS; level++) {
            char chain[64];
            snprintf(chain, sizeof chain, "%s:%d", biqa_degrade_info(t)->name, level);
            const double m = mean_score(&o, refs, N, chain);
            cr_assert_lt(m, prev, "%s: mean score %.3f, not below level %d's %.3f", chain, m,
                         level - 1, prev);
            prev = m;
        }
    }
    static const char *const heavier[][3] = {
        {"gblur:2", "gblur:2,gblur:2", "gblur:2,gblur:2,gblur:2"},
        {"noise:2", "noise:2,noise:2", "noise:2,noise:2,noise:2"},
        {"jpeg:3", "jpeg:3,jpeg:3", "jpeg:3,jpeg:3,resize_bilinear:1"}};
    for (int g = 0; g < 3; g++)
        for (int i = 1; i < 3; i++)
            cr_assert_lt(mean_score(&o, refs, N, heavier[g][i]),
                         mean_score(&o, refs, N, heavier[g][i - 1]), "%s", heavier[g][i]);
    for (int r = 0; r < N; r++)
        biqa_image_free(&refs[r]);
}

Test(synthetic, observer_panel_is_seeded_and_clipped)
{
    biqa_observer o = biqa_observer_default();
    double m1, s1, m2, s2;
    biqa_observer_rate(&o, 1, 7, 50, &m1, &s1);
    biqa_observer_rate(&o, 1, 7, 50, &m2, &s2);
    cr_assert(m1 == m2 && s1 == s2);
    biqa_observer_rate(&o, 1, 8, 50, &m2, &s2);
    cr_assert(m1 != m2);
    cr_assert(fabs(m1 - 50) < 4 * o.sigma_mid / sqrt(o.raters), "%f", m1);
    cr_assert(s1 > o.sigma_mid / 2 && s1 < o.sigma_mid * 2, "%f", s1);
    biqa_observer_rate(&o, 1, 7, 100, &m1, &s1);
    cr_assert(m1 <= 100 && m1 > 97 && s1 > 0, "ratings clipped at the top: %f", m1);
    biqa_observer_rate(&o, 1, 7, 1, &m1, &s1);
    cr_assert(m1 >= 1 && m1 < 4, "ratings clipped at the bottom: %f", m1);
}

/* ---- a made dataset ---- */

static char dir[64];

static void setup(void)
{
    biqa_log_set_level(BIQA_LOG_QUIET); /* no progress lines in the test output */
    strcpy(dir, "/tmp/biqa-synthetic-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static void make(const char *name, int threads, int force, int expect, biqa_error *e)
{
    const biqa_synthetic_spec s = test_spec();
    char out[128];
    snprintf(out, sizeof out, "%s/%s", dir, name);
    biqa_synthetic_summary sum;
    int rc = biqa_synthetic_make(&s, 1, out, threads, force, &sum, e);
    cr_assert_eq(rc, expect, "make %s: %s", name, e->msg);
    if (rc == 0)
        cr_assert(sum.images == 48 && sum.pretrain == 32 && sum.mos_min >= 1 && sum.mos_max <= 100);
}

static char *slurp(const char *a, const char *b, size_t *len)
{
    char path[256], *data;
    snprintf(path, sizeof path, "%s/%s", a, b);
    biqa_error e = {{0}};
    cr_assert_eq(biqa_read_file(path, &data, len, &e), 0, "%s", e.msg);
    return data;
}

/* Every file listed in a's digests.sha256 has the same bytes in b, and the
 * two lists are equal. */
static void assert_same_dataset(const char *a, const char *b)
{
    size_t la, lb;
    char *da = slurp(a, "digests.sha256", &la), *db = slurp(b, "digests.sha256", &lb);
    cr_assert(la == lb && memcmp(da, db, la) == 0, "digest lists differ");
    int files = 0;
    for (char *line = strtok(da, "\n"); line; line = strtok(NULL, "\n"), files++) {
        const char *rel = line + 66;
        size_t n1, n2;
        char *f1 = slurp(a, rel, &n1), *f2 = slurp(b, rel, &n2);
        cr_assert(n1 == n2 && memcmp(f1, f2, n1) == 0, "%s differs", rel);
        char sha[BIQA_SHA256_HEX_LEN];
        biqa_sha256_hex(f1, n1, sha);
        cr_assert(strncmp(sha, line, 64) == 0, "%s: listed digest is not the file's", rel);
        free(f1);
        free(f2);
    }
    cr_assert_eq(files, 32 + 12 + 48 + 1);
    free(da);
    free(db);
    char *ma = slurp(a, "manifest.json", &la), *mb = slurp(b, "manifest.json", &lb);
    cr_assert(la == lb && memcmp(ma, mb, la) == 0, "manifests differ");
    free(ma);
    free(mb);
}

Test(synthetic, same_bytes_at_one_and_two_threads, .init = setup, .fini = teardown, .timeout = 120)
{
    biqa_error e = {{0}};
    make("one", 1, 0, 0, &e);
    make("two", 2, 0, 0, &e);
    char a[128], b[128];
    snprintf(a, sizeof a, "%s/one", dir);
    snprintf(b, sizeof b, "%s/two", dir);
    assert_same_dataset(a, b);
}

/* meta.csv through core/csv.h (the reader the real-dataset loader uses):
 * complete, in range, content-disjoint, and each row's chain and seed
 * remake its image from its reference. */
Test(synthetic, meta_csv_rows_remake_their_images, .init = setup, .fini = teardown, .timeout = 120)
{
    const biqa_synthetic_spec s = test_spec();
    biqa_error e = {{0}};
    make("d", 0, 0, 0, &e);
    char path[256];
    snprintf(path, sizeof path, "%s/d/meta.csv", dir);
    biqa_csv csv;
    cr_assert_eq(biqa_csv_read(path, &csv, &e), 0, "%s", e.msg);
    static const char *const cols[] = {"image", "mos", "std", "ref", "chain", "seed",
                                       "content_class", "split_hint"};
    cr_assert_eq(csv.ncols, 8);
    for (size_t c = 0; c < 8; c++)
        cr_assert_str_eq(biqa_csv_header(&csv, c), cols[c]);
    cr_assert_eq(csv.nrows, (size_t)s.refs * s.distortions);
    double mos[48], sd[48];
    cr_assert_eq(biqa_csv_column_doubles(&csv, 1, mos, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_csv_column_doubles(&csv, 2, sd, &e), 0, "%s", e.msg);
    for (size_t i = 0; i < csv.nrows; i++) {
        const int r = (int)i / s.distortions, d = (int)i % s.distortions;
        char want[64];
        snprintf(want, sizeof want, "images/r%05d_d%02d.png", r, d);
        cr_assert_str_eq(biqa_csv_cell(&csv, i, 0), want, "every reference has every slot");
        snprintf(want, sizeof want, "refs/r%05d.png", r);
        cr_assert_str_eq(biqa_csv_cell(&csv, i, 3), want);
        cr_assert(mos[i] >= 1 && mos[i] <= 100 && sd[i] > 0, "row %zu: %f %f", i, mos[i], sd[i]);
        cr_assert_eq(atoi(biqa_csv_cell(&csv, i, 6)), r % s.classes);
        cr_assert_str_eq(biqa_csv_cell(&csv, i, 7),
                         biqa_synthetic_is_test(&s, 1, r) ? "test" : "train");
        biqa_chain c;
        cr_assert_eq(biqa_chain_parse(biqa_csv_cell(&csv, i, 4), &c, &e), 0, "%s", e.msg);
        cr_assert_eq(c.n, biqa_synthetic_chain_length(&s, d));
        biqa_image ref, img, again;
        snprintf(path, sizeof path, "%s/d/%s", dir, biqa_csv_cell(&csv, i, 3));
        cr_assert_eq(biqa_image_read(path, &ref, &e), 0, "%s", e.msg);
        snprintf(path, sizeof path, "%s/d/%s", dir, biqa_csv_cell(&csv, i, 0));
        cr_assert_eq(biqa_image_read(path, &img, &e), 0, "%s", e.msg);
        cr_assert_eq(biqa_chain_apply(&c, &ref, strtoull(biqa_csv_cell(&csv, i, 5), NULL, 10),
                                      &again, &e), 0, "%s", e.msg);
        cr_assert(same_image(&img, &again), "%s is not its chain applied to its reference",
                  biqa_csv_cell(&csv, i, 0));
        /* Content-disjoint: the reference is none of the pretraining images. */
        for (int p = 0; p < s.classes * s.pretrain_per_class && d == 0; p++) {
            biqa_image pre;
            int cls;
            cr_assert_eq(biqa_synthetic_pretrain_image(&s, 1, p, &pre, &cls, &e), 0);
            cr_assert(!same_image(&pre, &ref), "reference %d is pretraining image %d", r, p);
            biqa_image_free(&pre);
        }
        biqa_image_free(&ref);
        biqa_image_free(&img);
        biqa_image_free(&again);
    }
    int tests = 0;
    for (int r = 0; r < s.refs; r++)
        tests += biqa_synthetic_is_test(&s, 1, r);
    cr_assert_eq(tests, (s.refs * s.test_percent + 50) / 100);
    biqa_csv_free(&csv);
}

Test(synthetic, never_overwrites_without_force, .init = setup, .fini = teardown, .timeout = 120)
{
    biqa_error e = {{0}};
    char path[256];
    make("d", 0, 0, 0, &e);
    make("d", 0, 0, -1, &e);
    cr_assert(strstr(e.msg, "already holds a complete synthetic dataset") &&
              strstr(e.msg, "--force"), "%s", e.msg);
    make("d", 0, 1, 0, &e);
    /* A directory with other files, or another dataset's manifest, is never replaced. */
    snprintf(path, sizeof path, "%s/mine", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/mine/notes.txt", dir);
    cr_assert_eq(biqa_write_file_atomic(path, "x", 1, &e), 0);
    make("mine", 0, 1, -1, &e);
    cr_assert(strstr(e.msg, "no manifest.json"), "%s", e.msg);
    snprintf(path, sizeof path, "%s/mine/manifest.json", dir);
    cr_assert_eq(biqa_write_file_atomic(path, "{\"name\": \"koniq10k\"}", 20, &e), 0);
    make("mine", 0, 1, -1, &e);
    cr_assert(strstr(e.msg, "not a synthetic one"), "%s", e.msg);
    /* An empty directory is fine; a path under a file fails cleanly. */
    snprintf(path, sizeof path, "%s/empty", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    make("empty", 0, 0, 0, &e);
    make("mine/notes.txt/sub", 0, 0, -1, &e);
    cr_assert(strstr(e.msg, "notes.txt"), "%s", e.msg);
    /* Nothing temporary is left. */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -d %s/*.partial-* %s/*.old-* 2>/dev/null)\"", dir,
             dir);
    cr_assert_eq(system(cmd), 0, "a temporary directory was left in %s", dir);
}
