/* biqa degrade apply | space | sheet and biqa bench degrade, through the
 * binary: printed chains regenerate the same bytes, failures are one error
 * line and leave no file, the sheet's layout is as documented. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "kernels/image/chain.h"
#include "tests/cli/run.h"

static void write_image(const char *path, int w, int h)
{
    biqa_image im;
    cr_assert_eq(biqa_image_alloc(&im, w, h, "test", NULL), 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = im.px + 3 * ((size_t)y * w + x);
            p[0] = (uint8_t)(20 + 200 * x / w), p[1] = (uint8_t)(40 + 180 * y / h);
            p[2] = (uint8_t)((x * x + 3 * y) % 256);
        }
    biqa_error e = {{0}};
    cr_assert_eq(biqa_image_write(path, &im, 95, &e), 0, "%s", e.msg);
    biqa_image_free(&im);
}

static int same_file(const char *a, const char *b)
{
    char *x, *y;
    size_t nx, ny;
    cr_assert_eq(biqa_read_file(a, &x, &nx, NULL), 0, "%s", a);
    cr_assert_eq(biqa_read_file(b, &y, &ny, NULL), 0, "%s", b);
    int same = nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

static void expect_one_error_line(const cli_result *r, int status, const char *needle)
{
    cr_assert_eq(r->status, status, "exit %d, wanted %d; stderr: %s", r->status, status, r->err);
    cr_assert_eq(cli_count_lines(r->err), 1, "want one error line, got: %s", r->err);
    cr_assert(strncmp(r->err, "biqa: error: ", 13) == 0, "%s", r->err);
    cr_assert(strstr(r->err, needle), "'%s' not in: %s", needle, r->err);
}

Test(degrade_cli, apply_prints_a_chain_that_regenerates_the_bytes)
{
    char dir[64], chain[256];
    cli_tmpdir(dir);
    char in[96];
    snprintf(in, sizeof in, "%s/in.png", dir);
    write_image(in, 48, 40);
    cli_result r;
    cli_run(&r, "$BIQA degrade apply --in %s --out %s/a.png --seed 5 --index 2", in, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(cli_count_lines(r.out), 1, "%s", r.out);
    snprintf(chain, sizeof chain, "%.*s", (int)strcspn(r.out, "\n"), r.out);
    cli_result_free(&r);
    /* The printed chain is the sampler's draw 2 of seed 5 (the demo
     * profile's degrade.* knobs are the default sampler's). */
    biqa_chain_sampler s = biqa_chain_sampler_default();
    biqa_chain c;
    char want[256];
    biqa_chain_sample(&s, 5, 2, &c);
    biqa_chain_format(&c, want, sizeof want);
    cr_assert_str_eq(chain, want);
    cli_run(&r, "$BIQA -q degrade apply --in %s --out %s/b.png --chain '%s' --seed 5", in, dir,
            chain);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.err, "", "-q: nothing on stderr");
    cli_result_free(&r);
    char a[96], b[96];
    snprintf(a, sizeof a, "%s/a.png", dir);
    snprintf(b, sizeof b, "%s/b.png", dir);
    cr_assert(same_file(a, b), "--chain '%s' --seed 5 regenerates the seeded draw", chain);
    /* Another index draws another chain; JSON says what was done; a JPEG
     * input and output work too. */
    cli_run(&r, "$BIQA degrade apply --in %s --out %s/c.jpg --seed 5 --index 3 --json", in, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    biqa_chain_sample(&s, 5, 3, &c);
    biqa_chain_format(&c, want, sizeof want);
    char needle[300];
    snprintf(needle, sizeof needle, "\"chain\":\t\"%s\"", want);
    cr_assert(strstr(r.out, needle), "%s not in %s", needle, r.out);
    cr_assert(strstr(r.out, "\"index\":\t3"), "%s", r.out);
    cli_result_free(&r);
    cli_run(&r, "$BIQA degrade apply --in %s/c.jpg --out %s/d.png --chain 'gblur:1'", dir, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "gblur:1\n");
    cli_result_free(&r);
    /* The same chain under another seed: other noise. */
    cli_run(&r, "$BIQA degrade apply --in %s --out %s/e.png --chain 'noise:3' --seed 1 && "
                "$BIQA degrade apply --in %s --out %s/f.png --chain 'noise:3' --seed 2",
            in, dir, in, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    snprintf(a, sizeof a, "%s/e.png", dir);
    snprintf(b, sizeof b, "%s/f.png", dir);
    cr_assert(!same_file(a, b));
    cli_rmdir(dir);
}

Test(degrade_cli, failures_are_one_line_and_leave_no_file)
{
    char dir[64], in[96], out[96];
    cli_tmpdir(dir);
    snprintf(in, sizeof in, "%s/in.png", dir);
    snprintf(out, sizeof out, "%s/out.png", dir);
    write_image(in, 32, 32);
    cli_result r;
    cli_run(&r, "$BIQA degrade apply --in %s --out %s --chain 'gblur:2,jpeg:9'", in, out);
    expect_one_error_line(&r, 1,
                          "chain \"gblur:2,jpeg:9\": step 2 \"jpeg:9\": level 9 outside 1..5");
    cli_result_free(&r);
    cli_run(&r, "$BIQA degrade apply --in %s --out %s --chain 'blur:2'", in, out);
    expect_one_error_line(&r, 1, "unknown type \"blur\" (types: sharpen, gblur,");
    cli_result_free(&r);
    cli_run(&r, "$BIQA degrade apply --in %s/missing.png --out %s --chain 'gblur:2'", dir, out);
    expect_one_error_line(&r, 1, "missing.png");
    cli_result_free(&r);
    /* A truncated PNG. */
    char *data, bad[96];
    size_t len;
    cr_assert_eq(biqa_read_file(in, &data, &len, NULL), 0);
    snprintf(bad, sizeof bad, "%s/bad.png", dir);
    cr_assert_eq(biqa_write_file_atomic(bad, data, len / 2, NULL), 0);
    free(data);
    cli_run(&r, "$BIQA degrade apply --in %s --out %s --seed 1", bad, out);
    expect_one_error_line(&r, 1, "bad.png: corrupt PNG");
    cli_result_free(&r);
    cli_run(&r, "$BIQA degrade apply --in %s --out %s/out.gif --chain 'gblur:2'", in, dir);
    expect_one_error_line(&r, 1, "out.gif: unknown image extension");
    cli_result_free(&r);
    cli_run(&r, "$BIQA degrade apply --in %s --out %s --seed 1 --set degrade.levels=0-3", in, out);
    expect_one_error_line(&r, 1, "degrade.levels \"0-3\"");
    cli_result_free(&r);
    /* Usage errors exit 2. */
    cli_run(&r, "$BIQA degrade apply --in %s --out %s", in, out);
    expect_one_error_line(&r, 2, "give the chain");
    cli_result_free(&r);
    cli_run(&r, "$BIQA degrade apply --in %s --out %s --chain gblur:1 --index 3", in, out);
    expect_one_error_line(&r, 2, "--index");
    cli_result_free(&r);
    cli_run(&r, "$BIQA degrade apply --out %s --chain gblur:1", out);
    expect_one_error_line(&r, 2, "--in IMG and --out IMG are required");
    cli_result_free(&r);
    cr_assert_neq(access(out, F_OK), 0, "a failed apply left %s", out);
    char gif[96];
    snprintf(gif, sizeof gif, "%s/out.gif", dir);
    cr_assert_neq(access(gif, F_OK), 0);
    cli_run(&r, "ls -A %s", dir);
    cr_assert_str_eq(r.out, "bad.png\nin.png\n", "only the inputs remain: %s", r.out);
    cli_result_free(&r);
    cli_rmdir(dir);
}

Test(degrade_cli, space_prints_size_and_rule)
{
    cli_result r;
    cli_run(&r, "$BIQA degrade space");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "size: 37129300000 chains\n"), "%s", r.out);
    cr_assert(strstr(r.out, "rule: ordered sequences of 5 steps"), "%s", r.out);
    cr_assert(strstr(r.out, "26^5 = 11881376"), "%s", r.out);
    cli_result_free(&r);
    cli_run(&r, "$BIQA degrade space --set degrade.k=2 --set degrade.types=gblur,jpeg "
                "--set degrade.levels=1-3 --json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"size\":\t36"), "(2*3)^2: %s", r.out);
    cr_assert(strstr(r.out, "\"types\":\t[\"gblur\", \"jpeg\"]"), "%s", r.out);
    cli_result_free(&r);
    cli_run(&r, "$BIQA degrade space --set degrade.family=second-order");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "size: 291600000000 chains"), "%s", r.out);
    cr_assert(strstr(r.out, "rule: second-order"), "%s", r.out);
    cli_result_free(&r);
    cli_run(&r, "$BIQA degrade space --set degrade.types=gblur,frob");
    expect_one_error_line(&r, 1, "unknown type \"frob\"");
    cli_result_free(&r);
}

Test(degrade_cli, sheet_has_the_documented_layout, .timeout = 60)
{
    char dir[64], in[96], out[96];
    cli_tmpdir(dir);
    snprintf(in, sizeof in, "%s/in.png", dir);
    snprintf(out, sizeof out, "%s/sheet.png", dir);
    write_image(in, 40, 30);
    cli_result r;
    cli_run(&r, "$BIQA degrade sheet --in %s --out %s --seed 3", in, out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, " 26 resize_bicubic "), "legend: %s", r.out);
    cr_assert_eq(cli_count_lines(r.out), 1 + BIQA_DEG_TYPES, "%s", r.out);
    cli_result_free(&r);
    biqa_image sheet, src, d;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_image_read(out, &sheet, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_image_read(in, &src, &e), 0, "%s", e.msg);
    cr_assert_eq(sheet.w, 32 + 6 * (40 + 4));
    cr_assert_eq(sheet.h, 24 + 26 * (30 + 4));
    /* Cell (row t, column l) at (32 + l (w + 4), 24 + t (h + 4)): the input
     * in column 0, type t at level l (seed 3) elsewhere. */
    for (int t = 0; t < BIQA_DEG_TYPES; t += 5)
        for (int l = 0; l <= BIQA_DEG_LEVELS; l++) {
            if (l)
                cr_assert_eq(biqa_degrade_apply_one(&src, t, l, 3, &d, &e), 0);
            const biqa_image *want = l ? &d : &src;
            for (int y = 0; y < 30; y++)
                cr_assert(memcmp(sheet.px + 3 * ((size_t)(24 + t * 34 + y) * sheet.w + 32 + l * 44),
                                 want->px + (size_t)3 * y * 40, 3 * 40) == 0,
                          "row %d column %d", t + 1, l);
            if (l)
                biqa_image_free(&d);
        }
    biqa_image_free(&sheet);
    /* A larger input is centre-cropped to --cell. */
    write_image(in, 70, 50);
    cli_run(&r, "$BIQA degrade sheet --in %s --out %s --cell 32 --json", in, out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"width\":\t248") && strstr(r.out, "\"height\":\t960"), "%s", r.out);
    cli_result_free(&r);
    cr_assert_eq(biqa_image_read(out, &sheet, &e), 0, "%s", e.msg);
    biqa_image_free(&src);
    cr_assert_eq(biqa_image_read(in, &src, &e), 0, "%s", e.msg);
    for (int y = 0; y < 32; y++)
        cr_assert(memcmp(sheet.px + 3 * ((size_t)(24 + y) * sheet.w + 32),
                         src.px + 3 * ((size_t)(9 + y) * 70 + 19), 3 * 32) == 0);
    biqa_image_free(&sheet);
    biqa_image_free(&src);
    /* Too small an input is refused. */
    write_image(in, 12, 40);
    cli_run(&r, "$BIQA degrade sheet --in %s --out %s/small.png", in, dir);
    expect_one_error_line(&r, 1, "12x40 is too small for a contact sheet");
    cli_result_free(&r);
    cli_rmdir(dir);
}

Test(bench, degrade_runs_against_opencv_and_is_recorded, .timeout = 120)
{
    char dir[64];
    cli_tmpdir(dir);
    cli_result r;
    cli_run(&r, "mkdir %s/tmp && TMPDIR=%s/tmp $BIQA --db %s/b.db bench degrade --size 40x32 "
                "--chains 2 --repeat 1 --json", dir, dir, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"name\":\t\"chains at 40x32\""), "%s", r.out);
    cr_assert(strstr(r.out, "\"unit\":\t\"chain/s\""), "%s", r.out);
    cr_assert(strstr(r.out, "\"speedup\":"), "%s", r.out);
    cr_assert(strstr(r.err, "40x32: peer vs biqa, median PSNR"), "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s/b.db query \"SELECT r.method, r.status, count(*) AS rows "
                "FROM runs r JOIN metrics m ON m.run_id = r.id GROUP BY r.id\" --json", dir);
    cr_assert(strstr(r.out, "\"method\":\t\"degrade\""), "%s", r.out);
    cr_assert(strstr(r.out, "\"status\":\t\"finished\""), "%s", r.out);
    cr_assert(strstr(r.out, "\"rows\":\t3"), "%s", r.out);
    cli_result_free(&r);
    cli_run(&r, "$BIQA --db %s/b.db bench degrade --size 40", dir);
    expect_one_error_line(&r, 2, "--size wants WxH");
    cli_result_free(&r);
    cli_run(&r, "ls -A %s/tmp", dir);
    cr_assert_str_eq(r.out, "", "temporary files left: %s", r.out);
    cli_result_free(&r);
    cli_rmdir(dir);
}
