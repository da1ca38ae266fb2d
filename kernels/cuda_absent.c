/* What a build without nvcc (make GPU=0) links in place of kernels/cuda/:
 * the CUDA entry points, each failing with one line that says so. */
#include "kernels/cuda/biqa_cuda.h"

#define ABSENT "biqa was built without CUDA (make GPU=0, or no nvcc at build time)"

biqa_backend *biqa_cuda_backend_create(enum biqa_precision precision, biqa_error *err)
{
    (void)precision;
    biqa_fail(err, "backend 'cuda': " ABSENT);
    return NULL;
}

void biqa_cuda_memory(const biqa_backend *be, size_t *now, size_t *peak)
{
    (void)be;
    *now = *peak = 0;
}

int biqa_cuda_bf16_peak(int n, int reps, double *tflops, biqa_error *err)
{
    (void)n, (void)reps;
    *tflops = 0;
    return biqa_fail(err, "bf16 peak: " ABSENT);
}
