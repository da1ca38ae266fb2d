/* biqa finetune | probe | eval end to end on the synthetic test benchmark:
 * finished runs with split ids and hashes, test metrics per split,
 * per-epoch curves, predictions files; a fine-tuned scratch model fits its
 * training data better than the constant predictor. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/csv.h"
#include "tests/cli/run.h"

static void make_data(const char *dir)
{
    cli_result r;
    cli_run(&r, "$BIQA -q datasets make synthetic --size test --out %s/syn", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
}

/* Runs of kind K: all finished, distinct split ids with 64-hex hashes, and
 * the five test metrics for each split. */
static void check_runs(const char *db, const char *kind, int splits)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE kind = '%s' AND status = "
                              "'finished' AND length(split_hash) = 64", kind);
    cr_assert_eq(cli_query_int(db, sql), splits, "%s: finished runs with split hashes", kind);
    snprintf(sql, sizeof sql, "SELECT count(DISTINCT split_id) FROM runs WHERE kind = '%s'", kind);
    cr_assert_eq(cli_query_int(db, sql), splits);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM metrics m JOIN runs r ON m.run_id = r.id WHERE r.kind = '%s' AND "
             "m.split = r.split_id AND m.step IS NULL AND m.metric IN "
             "('srcc', 'plcc', 'plcc_logistic', 'krcc', 'rmse')", kind);
    cr_assert_eq(cli_query_int(db, sql), 5 * splits, "%s: five test metrics per split", kind);
}

Test(downstream, finetune_probe_and_eval_leave_finished_runs, .timeout = 300)
{
    char dir[64], db[128];
    cli_tmpdir(dir);
    make_data(dir);
    snprintf(db, sizeof db, "%s/r.db", dir);
    cli_result r;
    cli_run(&r, "$BIQA -q --db %s finetune --data %s/syn --profile test --splits 2 "
                "--set finetune.patch_size=32", db, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "split1: run 2"), "%s", r.out);
    cli_result_free(&r);
    check_runs(db, "finetune", 2);
    /* per-epoch curves (test profile: 1 epoch) and a checkpoint with its digest */
    cr_assert_eq(cli_query_int(db, "SELECT count(*) FROM metrics WHERE metric = 'train_loss' AND "
                               "step = 0"), 2);
    cr_assert_eq(cli_query_int(db, "SELECT count(*) FROM runs WHERE kind = 'finetune' AND "
                               "length(checkpoint_sha256) = 64"), 2);
    /* the same splits (hashes) in the probe, which names its own method */
    cli_run(&r, "$BIQA -q --db %s probe --data %s/syn --profile test --splits 2 --method rnd",
            db, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    check_runs(db, "probe", 2);
    cr_assert_eq(cli_query_int(db, "SELECT count(*) FROM runs p JOIN runs f ON p.split_id = "
                               "f.split_id AND p.split_hash = f.split_hash WHERE p.kind = "
                               "'probe' AND f.kind = 'finetune' AND p.method = 'rnd'"), 2);
    /* eval of the first fine-tuned model: parent = that run */
    cli_run(&r, "$BIQA -q --db %s eval --checkpoint %s/r.artifacts/run-1/model.safetensors "
                "--data %s/syn --profile test", db, dir, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    cr_assert_eq(cli_query_int(db, "SELECT count(*) FROM runs WHERE kind = 'eval' AND status = "
                               "'finished' AND parent_run = 1 AND split_id = 'all'"), 1);
    /* bad input: one error line, exit 1 */
    cli_run(&r, "$BIQA -q --db %s finetune --data %s/nothing --profile test", db, dir);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "nothing: no index.csv") && strstr(r.err, "no meta.csv"), "%s", r.err);
    cli_result_free(&r);
    cli_rmdir(dir);
}

Test(downstream, finetuned_scratch_model_beats_a_constant_on_training_data, .timeout = 300)
{
    char dir[64], path[160];
    cli_tmpdir(dir);
    make_data(dir);
    cli_result r;
    cli_run(&r, "$BIQA -q --db %s/r.db finetune --data %s/syn --profile test --splits 1 "
                "--set finetune.epochs=8 --set finetune.lr=1e-3 --set finetune.loss=mse",
            dir, dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    snprintf(path, sizeof path, "%s/r.artifacts/run-1/predictions.csv", dir);
    biqa_csv csv;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_csv_read(path, &csv, &e), 0, "%s", e.msg);
    double sum = 0, sq = 0, err2 = 0;
    int n = 0;
    for (size_t i = 0; i < csv.nrows; i++) {
        if (strcmp(biqa_csv_cell(&csv, i, 3), "train"))
            continue;
        double m = atof(biqa_csv_cell(&csv, i, 1)), p = atof(biqa_csv_cell(&csv, i, 2));
        sum += m, sq += m * m, err2 += (p - m) * (p - m), n++;
    }
    biqa_csv_free(&csv);
    cr_assert_gt(n, 10);
    double var = sq / n - (sum / n) * (sum / n); /* the constant predictor's MSE */
    cr_assert_lt(err2 / n, var, "train MSE %g not below the constant predictor's %g",
                 err2 / n, var);
    cli_rmdir(dir);
}
