/* biqa config: profiles, layering, validation, and the config hash. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "tests/cli/run.h"

Test(config, show_demo_prints_every_knob)
{
    cli_result r, j;
    cli_run(&r, "$BIQA config show --profile demo");
    cli_run(&j, "$BIQA config show --profile demo --json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(j.status, 0, "%s", j.err);
    /* Every knob of the JSON listing appears as a row of the table. */
    int knobs = 0;
    for (const char *p = strstr(j.out, "\"key\":\t\""); p; p = strstr(p + 1, "\"key\":\t\"")) {
        char key[64], needle[80];
        cr_assert_eq(sscanf(p, "\"key\":\t\"%63[^\"]", key), 1);
        snprintf(needle, sizeof needle, "\n%s ", key);
        cr_assert(strstr(r.out, needle), "knob %s missing from the table", key);
        knobs++;
    }
    cr_assert_geq(knobs, 30, "only %d knobs", knobs);
    cr_assert(strstr(r.out, "model.backbone"), "%s", r.out);
    cr_assert(strstr(r.out, "resnet18-w0.25"), "%s", r.out);
    cr_assert(strstr(r.out, "assumed"), "%s", r.out);
    cli_result_free(&r);
    cli_result_free(&j);
}

Test(config, layers_and_hash)
{
    char dir[64], path[128];
    cli_tmpdir(dir);
    snprintf(path, sizeof path, "%s/c.json", dir);
    cli_write(path, "{\"moco\": {\"temperature\": 0.07}, \"model\": {\"backbone\": \"resnet18\"}}");
    cli_result a, b, c;
    cli_run(&a, "$BIQA config show --profile paper --json");
    cli_run(&b, "$BIQA config show --profile paper --config %s --set model.backbone=resnet50 "
                "--seed 9 --json", path);
    cli_run(&c, "$BIQA config show --profile paper --config %s --set model.backbone=resnet50 "
                "--seed 9", path);
    cr_assert_eq(b.status, 0, "%s", b.err);
    cr_assert(strstr(b.out, "\"temperature\":\t0.07"), "%s", b.out);
    cr_assert(strstr(b.out, "\"backbone\":\t\"resnet50\""), "%s", b.out);
    cr_assert(strstr(b.out, "\"seed\":\t9"), "%s", b.out);
    cr_assert(strstr(c.out, "moco.temperature"), "%s", c.out);
    cr_assert(strstr(c.out, "file "), "source of a file value not shown: %s", c.out);
    cr_assert(strstr(c.out, "--set"), "%s", c.out);
    cr_assert(strstr(c.out, "--seed"), "%s", c.out);
    char ha[65], hb[65];
    cr_assert_eq(sscanf(strstr(a.out, "\"config_sha256\":\t\"") + 18, "%64[0-9a-f]", ha), 1);
    cr_assert_eq(sscanf(strstr(b.out, "\"config_sha256\":\t\"") + 18, "%64[0-9a-f]", hb), 1);
    cr_assert_str_neq(ha, hb, "different configs, same hash");
    cli_result_free(&a);
    cli_result_free(&b);
    cli_result_free(&c);
    cli_rmdir(dir);
}

Test(config, bad_values_name_the_knob)
{
    char dir[64], path[128];
    cli_tmpdir(dir);
    snprintf(path, sizeof path, "%s/c.json", dir);
    cli_write(path, "{\"moco\": {\"temprature\": 0.07}}");
    cli_result r;
    cli_run(&r, "$BIQA config show --config %s", path);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "c.json: unknown knob 'moco.temprature'"), "%s", r.err);
    cli_result_free(&r);
    cli_write(path, "{\"moco\": {\"queue_size\": \"big\"}}");
    cli_run(&r, "$BIQA config show --config %s", path);
    cr_assert(strstr(r.err, "moco.queue_size wants integer"), "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "$BIQA config show --set splits.count=ten");
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "splits.count wants an integer, not 'ten'"), "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "$BIQA config show --set finetune.loss=l3");
    cr_assert(strstr(r.err, "finetune.loss must be one of l1|smooth_l1|mse"), "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "$BIQA config show --profile huge");
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "unknown profile 'huge'"), "%s", r.err);
    cli_result_free(&r);
    cli_rmdir(dir);
}
