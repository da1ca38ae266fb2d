/* The CUDA backend against PyTorch (issue #7): reference scripts under
 * tests/ref run with the python3 in $BIQA_PYTHON, which on the GPU machine
 * is the image's PyTorch with CUDA (tools/gpu/run.sh sets it). Skipped,
 * with the reason, without a CUDA device, and where the runner was not
 * given the scripts' inputs ($BIQA, $BIQA_HELPERS, $BIQA_SRC,
 * $BIQA_PYTHON: make test sets them for biqa-tests). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "tests/unit/test_cuda_common.h"

static void run_script(const char *script, const char *extra)
{
    cuda_device_or_skip();
    const char *src = getenv("BIQA_SRC"), *python = getenv("BIQA_PYTHON");
    const char *biqa = getenv("BIQA"), *helpers = getenv("BIQA_HELPERS");
    if (!src || !python || !biqa || !helpers)
        cr_skip_test("needs $BIQA, $BIQA_HELPERS, $BIQA_SRC and $BIQA_PYTHON (make test sets "
                     "them for biqa-tests)");
    char cmd[4096], line[1024];
    snprintf(cmd, sizeof cmd, "%s %s/tests/ref/%s %s %s %s 2>&1", python, src, script, biqa,
             helpers, extra);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    while (fgets(line, sizeof line, p))
        cr_log_info("%s: %s", script, line);
    int status = pclose(p);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "%s failed (status %d); its lines are above (run with --verbose)", script, status);
}

/* fp32, tf32 and bf16 against float64 PyTorch on the GPU, each within
 * twice PyTorch's own error in that precision. */
Test(cuda_reference, resnets_agree_with_torch_on_the_gpu, .timeout = 1200)
{
    run_script("resnet_cuda_vs_torch.py", "");
}

/* The CPU backends' ResNet checks (float64 PyTorch on the CPU, 1e-4) with
 * the cuda backend at fp32. */
Test(cuda_reference, resnets_agree_with_torchvision_at_fp32, .timeout = 1200)
{
    run_script("resnet_vs_torch.py", "--backend cuda");
}
