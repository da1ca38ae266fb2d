/* What a build without nvcc (make GPU=0) links in place of
 * kernels/cuda/comm_nccl.cu: the NCCL entry points, each failing with one
 * line that says so. */
#include "kernels/comm.h"

#define ABSENT "biqa was built without CUDA (make GPU=0, or no nvcc at build time): no NCCL"

int biqa_nccl_prepare(int local_rank, biqa_error *err)
{
    (void)local_rank;
    return biqa_fail(err, ABSENT);
}

int biqa_nccl_unique_id(unsigned char id[128], biqa_error *err)
{
    (void)id;
    return biqa_fail(err, ABSENT);
}

biqa_comm *biqa_nccl_create(int rank, int size, int local_rank, const unsigned char id[128],
                            biqa_comm *boot, biqa_error *err)
{
    (void)rank, (void)size, (void)local_rank, (void)id, (void)boot;
    biqa_fail(err, ABSENT);
    return NULL;
}
