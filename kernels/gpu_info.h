/* What GPU, driver, CUDA runtime and cuDNN this process sees, for the run
 * record (DESIGN.md, Results store). Probing never fails: where there is no
 * device or no CUDA build, count is 0 and `absent` says why in one line. */
#ifndef BIQA_KERNELS_GPU_INFO_H
#define BIQA_KERNELS_GPU_INFO_H

typedef struct biqa_gpu_info {
    int count;                /* visible CUDA devices */
    char name[256];           /* device 0's name */
    char driver[32];          /* e.g. "13.0", "" when unknown */
    char runtime[32];         /* CUDA runtime biqa was built with, "" without CUDA */
    char cudnn[32];           /* cuDNN library loaded at run time, "" when not found */
    char absent[256];         /* why count is 0 */
} biqa_gpu_info;

void biqa_gpu_probe(biqa_gpu_info *out);

#endif
