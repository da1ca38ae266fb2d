/* biqa pretrain end to end on the synthetic test benchmark: every method
 * leaves a finished run of kind pretrain with a loss row per epoch (none for
 * scratch, which does not train), a checkpoint whose recorded SHA-256 is the
 * file's, with metadata method and run_id, which biqa finetune accepts and
 * links as the parent run. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/file.h"
#include "core/safetensors.h"
#include "tests/cli/run.h"

static void query_text(const char *db, const char *sql, char *out, size_t len)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
}

Test(pretrain, every_method_leaves_a_finished_run_and_a_usable_checkpoint, .timeout = 300)
{
    char dir[64], db[128], sql[512];
    cli_tmpdir(dir);
    snprintf(db, sizeof db, "%s/r.db", dir);
    cli_result r;
    cli_run(&r, "$BIQA -q datasets make synthetic --size test --out %s/syn", dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cli_result_free(&r);
    const char *methods[] = {"scratch", "supervised", "moco", "simclr", "qpt"};
    for (int i = 0; i < 5; i++) {
        cli_run(&r, "$BIQA -q --db %s pretrain --method %s --data %s/syn/pretrain --profile test "
                    "--set pretrain.epochs=2", db, methods[i], dir);
        cr_assert_eq(r.status, 0, "%s: %s", methods[i], r.err);
        cr_assert(strstr(r.out, "checkpoint"), "%s", r.out);
        cli_result_free(&r);
        snprintf(sql, sizeof sql, "SELECT max(id) FROM runs WHERE method = '%s'", methods[i]);
        const int id = (int)cli_query_int(db, sql);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE id = %d AND kind = 'pretrain' "
                                  "AND status = 'finished' AND method = '%s' AND "
                                  "backbone = 'resnet18-w0.125'", id, methods[i]);
        cr_assert_eq(cli_query_int(db, sql), 1, "%s", methods[i]);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM metrics WHERE run_id = %d AND metric = "
                                  "'loss' AND step IN (0, 1) AND value > 0", id);
        cr_assert_eq(cli_query_int(db, sql), i == 0 ? 0 : 2, "%s: loss rows", methods[i]);
        /* the recorded digest is the file's */
        char path[4096], sha[80], want[BIQA_SHA256_HEX_LEN];
        snprintf(sql, sizeof sql, "SELECT checkpoint_path FROM runs WHERE id = %d", id);
        query_text(db, sql, path, sizeof path);
        snprintf(sql, sizeof sql, "SELECT checkpoint_sha256 FROM runs WHERE id = %d", id);
        query_text(db, sql, sha, sizeof sha);
        char *data;
        size_t len;
        biqa_error err = {{0}};
        cr_assert_eq(biqa_read_file(path, &data, &len, &err), 0, "%s", err.msg);
        biqa_sha256_hex(data, len, want);
        free(data);
        cr_assert_str_eq(sha, want, "%s", methods[i]);
        biqa_safetensors st;
        cr_assert_eq(biqa_st_open(path, &st, &err), 0, "%s", err.msg);
        cr_assert_str_eq(biqa_st_meta(&st, "method"), methods[i]);
        char idtext[16];
        snprintf(idtext, sizeof idtext, "%d", id);
        cr_assert_str_eq(biqa_st_meta(&st, "run_id"), idtext);
        biqa_st_close(&st);
        /* fine-tuning takes it, names the method and links the parent */
        cli_run(&r, "$BIQA -q --db %s finetune --data %s/syn --profile test --splits 1 "
                    "--checkpoint %s", db, dir, path);
        cr_assert_eq(r.status, 0, "%s: %s", methods[i], r.err);
        cli_result_free(&r);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE kind = 'finetune' AND "
                                  "status = 'finished' AND parent_run = %d AND method = '%s'",
                 id, methods[i]);
        cr_assert_eq(cli_query_int(db, sql), 1, "%s: finetune run", methods[i]);
    }
    cli_rmdir(dir);
}

Test(pretrain, bad_input_is_one_error_line, .timeout = 60)
{
    char dir[64];
    cli_tmpdir(dir);
    cli_result r;
    cli_run(&r, "$BIQA -q --db %s/r.db pretrain --method byol --data %s", dir, dir);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "byol"), "%s", r.err);
    cli_result_free(&r);
    cli_run(&r, "$BIQA -q --db %s/r.db pretrain --method qpt --data %s/none --profile test", dir,
            dir);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "none"), "%s", r.err);
    cr_assert_eq(cli_count_lines(r.err), 1, "%s", r.err);
    cli_result_free(&r);
    cli_rmdir(dir);
}
