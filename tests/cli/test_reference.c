/* The reference scripts: biqa against independent oracles, each a Python
 * program under tests/ref (run with Debian's python3) that says in its
 * docstring what it compares and to what tolerance, prints a line per check
 * and exits non-zero on any mismatch. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/cli/run.h"

static void run_reference(const char *script)
{
    const char *src = getenv("BIQA_SRC"), *python = getenv("BIQA_PYTHON");
    cr_assert_not_null(src, "BIQA_SRC must name the source tree (make test sets it)");
    cr_assert_not_null(python, "BIQA_PYTHON must name Debian's python3 (make test sets it)");
    cli_result r;
    cli_run(&r, "%s %s/tests/ref/%s $BIQA $BIQA_HELPERS", python, src, script);
    cr_log_info("%s:\n%s", script, r.out);
    cr_assert_eq(r.status, 0, "%s failed:\n%s\n%s", script, r.out, r.err);
    cli_result_free(&r);
}

/* SRCC, PLCC (raw, logistic), KRCC, RMSE, bootstrap: SciPy and NumPy. */
Test(reference, metrics_agree_with_scipy, .timeout = 600)
{
    run_reference("metrics_vs_scipy.py");
}

/* Every backend op, forward and backward, on ref and cpu: PyTorch float64. */
Test(reference, ops_agree_with_torch, .timeout = 300)
{
    run_reference("ops_vs_torch.py");
}

/* SGD, AdamW and the schedules: torch.optim and its lr schedulers. */
Test(reference, optim_agrees_with_torch, .timeout = 300)
{
    run_reference("optim_vs_torch.py");
}

/* safetensors files both ways: tests/ref/st.py and NumPy's conversions. */
Test(reference, safetensors_interop_with_python, .timeout = 300)
{
    run_reference("safetensors_interop.py");
}

/* Whole ResNets, forward, backward, 20 SGD steps, checkpoints: torchvision. */
Test(reference, resnets_agree_with_torchvision, .timeout = 900)
{
    run_reference("resnet_vs_torch.py");
}

/* Image codecs and the 26 degradation ops: OpenCV, Pillow, SciPy, NumPy. */
Test(reference, degrade_agrees_with_opencv_pillow_numpy, .timeout = 600)
{
    run_reference("degrade_vs_opencv.py");
}

/* The synthetic benchmark: every MOS from its observer formula (NumPy/SciPy). */
Test(reference, synthetic_agrees_with_numpy, .timeout = 300)
{
    run_reference("synthetic_vs_numpy.py");
}

/* MoCo, SimCLR and QPT InfoNCE losses and their gradients: PyTorch float64. */
Test(reference, contrastive_losses_agree_with_torch, .timeout = 300)
{
    run_reference("contrastive_vs_torch.py");
}

/* The loader's crop and colour ops: torchvision's functional ops. */
Test(reference, augment_agrees_with_torchvision, .timeout = 300)
{
    run_reference("augment_vs_torchvision.py");
}
