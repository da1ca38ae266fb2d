/* What the CUDA tests share: the device check every one of them starts
 * with. Without a usable device a test is skipped with the reason in one
 * line (Criterion counts it as skipped, never as passed; test_cuda_skip.c
 * prints the skips and their count in the summary). */
#ifndef BIQA_TESTS_UNIT_TEST_CUDA_COMMON_H
#define BIQA_TESTS_UNIT_TEST_CUDA_COMMON_H

#include <criterion/criterion.h>

#include "kernels/gpu_info.h"

/* Skips the calling test unless a CUDA device is usable in this process. */
static inline void cuda_device_or_skip(void)
{
#if defined(__SANITIZE_ADDRESS__)
    /* ASan reserves the address range the CUDA driver maps its memory
     * into; the plain runner (biqa-tests) runs these tests instead. */
    cr_skip_test("CUDA does not run under AddressSanitizer; biqa-tests runs this test");
#endif
    biqa_gpu_info info;
    biqa_gpu_probe(&info);
    if (info.count == 0)
        cr_skip_test("%s", info.absent);
}

#endif
