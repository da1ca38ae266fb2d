/* The path every machine takes: backend names with a precision, and,
 * without a CUDA device (or in a build without CUDA), the cuda backend and
 * `biqa --backend cuda ...` failing with one clear error line and status 1
 * instead of crashing or running on the CPU behind the user's back.
 *
 * Also the suite's report of skipped tests: Criterion counts a skipped
 * test neither as passed nor as tested, and prints it only with
 * --verbose, so the hooks below print every skip with its reason and the
 * number of skips after the synthesis line. A GPU test on a machine
 * without a device is therefore visible as skipped, never as passing. */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <criterion/options.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/safetensors.h"
#include "kernels/backend.h"
#include "kernels/gpu_info.h"

/* ---- the report of skips (runs in the runner process) ---- */

static size_t skipped; /* tests skipped in this run (filtered-out tests are not run) */

ReportHook(POST_TEST)(struct criterion_test_stats *stats)
{
    if (stats->test_status != CR_STATUS_SKIPPED)
        return;
    skipped++;
    /* --verbose prints Criterion's own [SKIP] line already. */
    if (criterion_options.logging_threshold > CRITERION_INFO &&
        criterion_options.logging_threshold < CRITERION_LOG_LEVEL_QUIET)
        fprintf(stderr, "[SKIP] %s::%s: %s\n", stats->test->category, stats->test->name,
                stats->message ? stats->message : "(no reason given)");
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    if (skipped)
        fprintf(stderr, "[====] Skipped: %zu (not counted as tested or passing; reasons above)\n",
                skipped);
}

/* ---- backend names ---- */

Test(cuda_skip, backend_names_carry_a_precision)
{
    biqa_error err;
    biqa_backend *be = biqa_backend_create("ref:fp32", 1, &err);
    cr_assert_not_null(be, "%s", err.msg);
    cr_expect_str_eq(be->name, "ref");
    cr_expect_eq(be->precision, BIQA_PREC_FP32);
    cr_expect_null(be->sync, "ref runs every op to completion: no sync hook");
    cr_expect_null(be->graph_begin);
    biqa_backend_destroy(be);

    cr_expect_null(biqa_backend_create("cpu:bf16", 1, &err));
    cr_expect_str_eq(err.msg, "backend 'cpu' computes in fp32 only; precision bf16 needs the "
                              "cuda backend");
    cr_expect_null(biqa_backend_create_with("ref", 1, BIQA_PREC_TF32, &err));
    cr_expect_str_eq(err.msg, "backend 'ref' computes in fp32 only; precision tf32 needs the "
                              "cuda backend");
    cr_expect_null(biqa_backend_create("cuda:fp8", 1, &err));
    cr_expect_str_eq(err.msg, "backend 'cuda:fp8': unknown precision 'fp8' (fp32, tf32 or bf16)");
    cr_expect_null(biqa_backend_create("gpu", 1, &err));
    cr_expect_str_eq(err.msg, "unknown backend 'gpu' (ref, cpu or cuda)");
    cr_expect_null(biqa_backend_create("gpu:bf16", 1, &err));
    cr_expect_str_eq(err.msg, "unknown backend 'gpu' (ref, cpu or cuda)");

    const char *names[] = {"fp32", "tf32", "bf16"};
    for (int i = 0; i < 3; i++) {
        enum biqa_precision p;
        cr_expect_eq(biqa_precision_parse(names[i], &p, &err), 0);
        cr_expect_str_eq(biqa_precision_name(p), names[i]);
    }
    enum biqa_precision p;
    cr_expect_eq(biqa_precision_parse("FP32", &p, &err), -1);
    cr_expect_str_eq(err.msg, "unknown precision 'FP32' (fp32, tf32 or bf16)");
}

/* ---- no device ---- */

static void no_device_or_skip(void)
{
    biqa_gpu_info info;
    biqa_gpu_probe(&info);
    if (info.count > 0)
        cr_skip_test("a CUDA device is present (%s): the no-device path cannot be seen here",
                     info.name);
}

Test(cuda_skip, without_a_device_the_backend_is_one_clear_error)
{
    no_device_or_skip();
    for (int p = BIQA_PREC_FP32; p <= BIQA_PREC_BF16; p++) {
        biqa_error err = {{0}};
        cr_assert_null(biqa_backend_create_with("cuda", 0, (enum biqa_precision)p, &err));
        cr_expect_eq(strncmp(err.msg, "backend 'cuda': ", 16), 0, "%s", err.msg);
        cr_expect(strstr(err.msg, "no CUDA device") || strstr(err.msg, "built without CUDA"),
                  "%s", err.msg);
        cr_expect_null(strchr(err.msg, '\n'), "one line: %s", err.msg);
    }
}

/* Runs `$BIQA args` with stdout and stderr captured; returns the exit
 * status. */
static int run_biqa(const char *args, char *out, size_t out_len, char *err, size_t err_len)
{
    const char *biqa = getenv("BIQA");
    char errpath[] = "/tmp/biqa-cuda-skip-XXXXXX", cmd[2048];
    int fd = mkstemp(errpath);
    cr_assert_geq(fd, 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "%s %s 2>%s", biqa, args, errpath);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, out_len - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    FILE *e = fopen(errpath, "r");
    cr_assert_not_null(e);
    n = fread(err, 1, err_len - 1, e);
    err[n] = '\0';
    fclose(e);
    unlink(errpath);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void expect_one_cuda_error(const char *args)
{
    char out[4096], err[4096];
    int status = run_biqa(args, out, sizeof out, err, sizeof err);
    cr_expect_eq(status, 1, "biqa %s: status %d, stderr:\n%s", args, status, err);
    cr_expect_str_empty(out, "biqa %s printed: %s", args, out);
    cr_expect_eq(strncmp(err, "biqa: error: backend 'cuda': ", 29), 0, "biqa %s: %s", args, err);
    const char *nl = strchr(err, '\n');
    cr_expect(nl && nl[1] == '\0', "biqa %s: not exactly one line:\n%s", args, err);
}

Test(cuda_skip, without_a_device_biqa_fails_with_one_line_and_status_1)
{
    if (!getenv("BIQA"))
        cr_skip_test("needs $BIQA, the biqa binary (the plain test runner has it from make)");
    no_device_or_skip();
    /* A valid input, so that only the backend can be what fails. */
    char dir[] = "/tmp/biqa-cuda-skip-dir-XXXXXX", input[96], args[512];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(input, sizeof input, "%s/x.safetensors", dir);
    float x[2 * 3 * 32 * 32] = {0};
    biqa_st_entry e = {"input", 4, {2, 3, 32, 32}, x, "F32"};
    biqa_error error;
    cr_assert_eq(biqa_st_write(input, &e, 1, NULL, &error), 0, "%s", error.msg);
    snprintf(args, sizeof args,
             "--backend cuda model forward --backbone resnet18 --input %s --output %s/y.st",
             input, dir);
    expect_one_cuda_error(args);
    snprintf(args, sizeof args,
             "--backend cuda --precision bf16 model forward --backbone resnet18 --input %s "
             "--output %s/y.st",
             input, dir);
    expect_one_cuda_error(args);
    snprintf(args, sizeof args, "--db %s/b.db --backend cuda bench train-step", dir);
    expect_one_cuda_error(args);
    snprintf(input, sizeof input, "%s/y.st", dir);
    cr_expect_neq(access(input, F_OK), 0, "no output file was written");
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}
