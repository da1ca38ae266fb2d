/* The CUDA backend's entry points for C code (issue #7). A build without
 * nvcc (make GPU=0) links kernels/cuda_absent.c instead, whose versions
 * fail with "built without CUDA". */
#ifndef BIQA_KERNELS_CUDA_BIQA_CUDA_H
#define BIQA_KERNELS_CUDA_BIQA_CUDA_H

#include <stddef.h>

#include "core/error.h"
#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The backend on device 0 (CUDA_VISIBLE_DEVICES picks it), computing in
 * precision. Error (one line) when there is no device or a library fails. */
biqa_backend *biqa_cuda_backend_create(enum biqa_precision precision, biqa_error *err);

/* Device memory the backend holds now and the most it has held (its
 * allocations, its scratch and convolution workspace, cuBLAS's workspace);
 * zeros for a backend that is not cuda. */
void biqa_cuda_memory(const biqa_backend *be, size_t *now, size_t *peak);

/* The measured bf16 matrix peak: an n x n x n product through cuBLASLt
 * (bf16 operands and result, float32 accumulation) on random data, warmed
 * up, then reps products timed one by one with events; *tflops is
 * 2 n^3 / median time. */
int biqa_cuda_bf16_peak(int n, int reps, double *tflops, biqa_error *err);

#ifdef __cplusplus
}
#endif

#endif
