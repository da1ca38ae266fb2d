/* The GPU probe of a build made without nvcc (make GPU=0). */
#include "kernels/gpu_info.h"

#include <string.h>

void biqa_gpu_probe(biqa_gpu_info *out)
{
    memset(out, 0, sizeof *out);
    strcpy(out->absent, "biqa was built without CUDA (GPU=0)");
}
