/* Data-parallel training through the biqa binary (methods/dist.h, issue 9):
 *
 * - `mpirun -np 2` on the cpu backend: two ranks with batch B each (the
 *   global pretrain.batch_size 2B) end with the loss curve and the
 *   checkpoint (every weight and batch-norm buffer) of one process with
 *   batch 2B, for supervised, qpt and moco (one process with
 *   moco.bn_splits = 2: the key encoder's shuffled BN over the same two
 *   parts). Batch norm elsewhere is synchronised, so no other accounting is
 *   needed. The bound TOL on the normalised error max|a - b| / max(1,
 *   max|b|) per tensor (and on the epoch losses) is float noise with a
 *   margin: for these configurations a change of summation order alone
 *   (the ref backend against the cpu backend, 1 against 2 threads) moves
 *   the one-process checkpoint by at most 7e-7, and the ranks measured
 *   2e-7 .. 4e-7 from it. (Smaller views, 32 px for supervised and moco,
 *   make this tiny network chaotic: 1 and 2 threads already differ by
 *   2e-2 there, so those sizes would test nothing.) The negative control:
 *   moco ranks against one process that normalises its keys over the
 * *   whole batch (moco.bn_splits = 1) differ by 3e-2.
 * - Fine-tuning on two ranks ends with the one process's checkpoint and
 *   test metrics within TOL (AdamW divides by the root of the squared
 *   gradients, which magnifies float noise: one process at 1 and at 2
 *   threads differs by 4e-6, ref against cpu by 9e-6, the ranks by 1.3e-5).
 * - MPI with one rank and no launcher (a singleton) gives the same bytes
 *   as no communicator; a failing rank fails the run with its rank named,
 *   recorded by rank 0; NCCL without a GPU and a torchrun-style launch of
 *   CPU ranks are one clear error each.
 * mpirun runs as root in CI (--allow-run-as-root), oversubscribes the two
 * cores (--oversubscribe) and starts its ranks without ssh
 * (OMPI_MCA_plm=isolated, shared memory only). */
#include <criterion/criterion.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/safetensors.h"
#include "tests/cli/run.h"

#define TOL 1e-4
#define MPIRUN                                                                    \
    "OMPI_MCA_plm=isolated OMPI_MCA_btl=self,vader,tcp mpirun --allow-run-as-root " \
    "--oversubscribe -np 2 "
#define TRAIN "pretrain --profile test --set pretrain.epochs=2"

static void need_mpirun(void)
{
    if (system("command -v mpirun >/dev/null 2>&1") != 0)
        cr_skip_test("mpirun is not installed (Debian openmpi-bin, in the Makefile's DEBS)");
}

/* A temporary root holding the synthetic test benchmark. */
static void make_root(char dir[64])
{
    cli_tmpdir(dir);
    cli_result r;
    cli_run(&r, "$BIQA -q --root %s datasets make synthetic --size test", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
}

static void run_ok(const char *what, const char *fmt, const char *a, const char *b,
                   const char *c, const char *d)
{
    cli_result r;
    cli_run(&r, fmt, a, b, c, d);
    cr_assert_eq(r.status, 0, "%s: exit %d\n%s", what, r.status, r.err);
    cli_result_free(&r);
}

/* max over tensors of max|a - b| / max(1, max|b|); the two files must hold
 * the same names and shapes (and num_batches_tracked the same count). */
static double checkpoint_error(const char *pa, const char *pb)
{
    biqa_safetensors a, b;
    biqa_error err = {{0}};
    cr_assert_eq(biqa_st_open(pa, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(biqa_st_open(pb, &b, &err), 0, "%s", err.msg);
    cr_assert_eq(a.count, b.count, "%s and %s hold different tensors", pa, pb);
    double worst = 0;
    for (size_t i = 0; i < a.count; i++) {
        const biqa_st_tensor *ta = &a.tensors[i], *tb = biqa_st_find(&b, ta->name);
        cr_assert_not_null(tb, "%s lacks %s", pb, ta->name);
        if (strcmp(ta->dtype, "F32")) { /* num_batches_tracked */
            cr_assert_eq(ta->nbytes, tb->nbytes);
            cr_assert_eq(memcmp(a.map + a.data_start + ta->offset,
                                b.map + b.data_start + tb->offset, ta->nbytes), 0,
                         "%s differs", ta->name);
            continue;
        }
        size_t n = biqa_st_numel(ta);
        cr_assert_eq(biqa_st_numel(tb), n, "%s: shapes differ", ta->name);
        float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        cr_assert_eq(biqa_st_read_f32(&a, ta, x, &err), 0, "%s", err.msg);
        cr_assert_eq(biqa_st_read_f32(&b, tb, y, &err), 0, "%s", err.msg);
        double diff = 0, scale = 1;
        for (size_t k = 0; k < n; k++) {
            diff = fmax(diff, fabs((double)x[k] - y[k]));
            scale = fmax(scale, fabs((double)y[k]));
        }
        worst = fmax(worst, diff / scale);
        free(x), free(y);
    }
    biqa_st_close(&a);
    biqa_st_close(&b);
    return worst;
}

/* The epoch losses of run 1 of db, epoch order. */
static int epoch_losses(const char *db, double *out, int max)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(h, "SELECT value FROM metrics WHERE run_id = 1 AND metric = "
                                       "'loss' ORDER BY step", -1, &st, NULL), SQLITE_OK);
    int n = 0;
    while (n < max && sqlite3_step(st) == SQLITE_ROW)
        out[n++] = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

/* The first value of a metric in db (a split's final value before curves). */
static double metric(const char *db, const char *name)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(h, "SELECT value FROM metrics WHERE metric = ?1 ORDER BY "
                                       "ifnull(step, -1) LIMIT 1", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: no %s", db, name);
    double v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static double loss_error(const char *one, const char *two)
{
    double a[8], b[8], worst = 0;
    int n = epoch_losses(one, a, 8);
    cr_assert_eq(epoch_losses(two, b, 8), n, "loss curves of different lengths");
    cr_assert_eq(n, 2, "two epochs, two losses");
    for (int i = 0; i < n; i++)
        worst = fmax(worst, fabs(a[i] - b[i]) / fmax(1, fabs(a[i])));
    return worst;
}

/* Two ranks against one process: the checkpoint error and the loss error. */
static void ranks_against_one(const char *method, const char *set, const char *one_set,
                              double *e, double *l)
{
    char dir[64], one[128], two[128], ca[192], cb[192], args[256];
    make_root(dir);
    snprintf(one, sizeof one, "%s/one.db", dir);
    snprintf(two, sizeof two, "%s/two.db", dir);
    snprintf(args, sizeof args, "--method %s %s", method, set);
    run_ok("one process", "$BIQA -q --threads 2 --root %s --db %s " TRAIN " %s %s", dir, one,
           args, one_set);
    run_ok("two ranks", MPIRUN "$BIQA -q --threads 1 --root %s --db %s " TRAIN " %s%s", dir, two,
           args, "");
    snprintf(ca, sizeof ca, "%s/one.artifacts/run-1/pretrain.safetensors", dir);
    snprintf(cb, sizeof cb, "%s/two.artifacts/run-1/pretrain.safetensors", dir);
    /* rank 0 alone recorded: one run, finished, its config naming the ranks */
    cr_assert_eq(cli_query_int(two, "SELECT count(*) FROM runs"), 1);
    cr_assert_eq(cli_query_int(two, "SELECT count(*) FROM runs WHERE status = 'finished' AND "
                                    "json_extract(config_json, '$.pretrain_run.world_size') = 2"),
                 1);
    cr_assert_eq(cli_query_int(one, "SELECT count(*) FROM runs WHERE json_extract(config_json, "
                                    "'$.pretrain_run.world_size') IS NULL"), 1);
    *e = checkpoint_error(ca, cb), *l = loss_error(one, two);
    cr_log_info("%s (%s): two ranks against one process: checkpoint %g, losses %g", method,
                one_set, *e, *l);
    cli_rmdir(dir);
}

static void expect_match(const char *method, const char *set, const char *one_set)
{
    double e, l;
    ranks_against_one(method, set, one_set, &e, &l);
    cr_expect_leq(e, TOL, "%s: checkpoints differ by %g", method, e);
    cr_expect_leq(l, TOL, "%s: loss curves differ by %g", method, l);
}

Test(mpi, two_ranks_supervised_match_one_process_with_the_global_batch, .timeout = 300)
{
    need_mpirun();
    expect_match("supervised", "--set qpt.patch_size=48", "");
}

Test(mpi, two_ranks_moco_match_one_process_with_the_global_batch, .timeout = 300)
{
    need_mpirun();
    expect_match("moco", "--set qpt.patch_size=48", "--set moco.bn_splits=2");
}

Test(mpi, two_ranks_qpt_match_one_process_with_the_global_batch, .timeout = 300)
{
    need_mpirun();
    expect_match("qpt", "", "--set moco.bn_splits=2");
}

Test(mpi, moco_keys_over_the_whole_batch_are_not_what_two_ranks_compute, .timeout = 300)
{
    need_mpirun();
    double e, l;
    ranks_against_one("moco", "--set qpt.patch_size=48", "--set moco.bn_splits=1", &e, &l);
    cr_expect_gt(e, 100 * TOL, "shuffled BN over 2 parts against 1 part: only %g apart", e);
}

Test(mpi, a_singleton_mpi_rank_gives_the_bytes_of_no_communicator, .timeout = 300)
{
    char dir[64], db[128];
    make_root(dir);
    snprintf(db, sizeof db, "%s/s.db", dir);
    run_ok("no communicator", "$BIQA -q --threads 1 --root %s --db %s " TRAIN
                              " --method moco --set compute.comm=%s%s", dir, db, "none", "");
    run_ok("MPI singleton", "OMPI_MCA_plm=isolated $BIQA -q --threads 1 --root %s --db %s " TRAIN
                            " --method moco --set compute.comm=%s%s", dir, db, "mpi", "");
    char a[192], b[192];
    snprintf(a, sizeof a, "%s/s.artifacts/run-1/pretrain.safetensors", dir);
    snprintf(b, sizeof b, "%s/s.artifacts/run-2/pretrain.safetensors", dir);
    double e = checkpoint_error(a, b); /* the metadata differ: their run ids */
    cr_expect_eq(e, 0, "one MPI rank changed the checkpoint by %g", e);
    cli_rmdir(dir);
}

Test(mpi, a_failing_rank_fails_the_run_naming_the_rank, .timeout = 300)
{
    need_mpirun();
    char dir[64], db[128];
    make_root(dir);
    snprintf(db, sizeof db, "%s/f.db", dir);
    /* Rank 1 reads a copy of the folder whose images are all unreadable. */
    cli_result r;
    cli_run(&r, "cd %s && cp -r synthetic-test/pretrain bad && for f in bad/*/*; do echo x > $f; "
                "done", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, MPIRUN "sh -c 'd=%s/synthetic-test/pretrain; [ \"$OMPI_COMM_WORLD_RANK\" = 1 ] && "
                "d=%s/bad; exec $BIQA --threads 1 --root %s --db %s " TRAIN " --method supervised "
                "--data $d'", dir, dir, dir, db);
    cr_expect_neq(r.status, 0);
    const char *line = strstr(r.err, "biqa: error: rank 1 of 2: loader:");
    cr_expect_not_null(line, "%s", r.err);
    if (line)
        cr_expect_null(strstr(line + 1, "biqa: error:"), "one error line: %s", r.err);
    cr_expect_eq(cli_query_int(db, "SELECT count(*) FROM runs WHERE status = 'failed' AND "
                                   "error LIKE 'rank 1 of 2: loader:%'"), 1);
    cli_result_free(&r);
    cli_rmdir(dir);
}

Test(mpi, nccl_without_a_gpu_is_one_clear_error)
{
    char dir[64];
    make_root(dir);
    cli_result r;
    cli_run(&r, "$BIQA --root %s --db %s/n.db --backend cuda " TRAIN
                " --method supervised --set compute.comm=nccl", dir, dir);
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect_eq(cli_count_lines(r.err), 1, "%s", r.err);
    cr_expect(strstr(r.err, "biqa: error: compute.comm nccl: "), "%s", r.err);
    cli_result_free(&r);
    /* nothing was recorded */
    char db[128];
    snprintf(db, sizeof db, "%s/n.db", dir);
    cr_expect(access(db, F_OK) != 0 || cli_query_int(db, "SELECT count(*) FROM runs") == 0);
    cli_rmdir(dir);
}

Test(mpi, cpu_ranks_need_mpirun_not_torchrun_variables)
{
    char dir[64];
    make_root(dir);
    cli_result r;
    cli_run(&r, "RANK=0 WORLD_SIZE=2 $BIQA --root %s --db %s/t.db " TRAIN " --method supervised",
            dir, dir);
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect_eq(cli_count_lines(r.err), 1, "%s", r.err);
    cr_expect(strstr(r.err, "torchrun-style launch (WORLD_SIZE=2) needs the cuda backend"), "%s",
              r.err);
    cli_result_free(&r);
    cli_rmdir(dir);
}

Test(mpi, two_ranks_finetune_like_one_process, .timeout = 300)
{
    need_mpirun();
    char dir[64], one[128], two[128], ca[192], cb[192];
    make_root(dir);
    snprintf(one, sizeof one, "%s/one.db", dir);
    snprintf(two, sizeof two, "%s/two.db", dir);
    run_ok("one process", "$BIQA -q --threads 2 --root %s --db %s finetune --profile test "
                          "--splits 1 --data %s/synthetic-test%s", dir, one, dir, "");
    run_ok("two ranks", MPIRUN "$BIQA -q --threads 1 --root %s --db %s finetune --profile test "
                               "--splits 1 --data %s/synthetic-test%s", dir, two, dir, "");
    snprintf(ca, sizeof ca, "%s/one.artifacts/run-1/model.safetensors", dir);
    snprintf(cb, sizeof cb, "%s/two.artifacts/run-1/model.safetensors", dir);
    double e = checkpoint_error(ca, cb);
    cr_log_info("finetune: two ranks against one process: checkpoint %g", e);
    cr_expect_leq(e, TOL, "fine-tuned checkpoints differ by %g", e);
    /* rank 0 alone recorded the split's run; its metrics are the one process's */
    cr_assert_eq(cli_query_int(two, "SELECT count(*) FROM runs WHERE kind = 'finetune' AND "
                                    "json_extract(config_json, '$.downstream.world_size') = 2"),
                 1);
    static const char *const metrics[] = {"srcc", "plcc", "train_loss"};
    for (int i = 0; i < 3; i++) {
        double a = metric(one, metrics[i]), b = metric(two, metrics[i]);
        cr_expect_leq(fabs(a - b), TOL * fmax(1, fabs(a)), "%s: %g against %g", metrics[i], b, a);
    }
    cli_rmdir(dir);
}
