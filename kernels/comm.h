/* Communicators for data-parallel training (issue #9): one process per
 * device ("rank"), collectives over them. A communicator is a table of
 * function pointers like the backend (kernels/backend.h), three of them:
 *   single  one process (every collective is a copy or nothing);
 *   mpi     CPU ranks over MPI (OpenMPI), launched by mpirun or srun
 *           (kernels/comm_mpi.c);
 *   nccl    GPU ranks over NCCL (kernels/cuda/comm_nccl.cu), launched by
 *           mpirun/srun (the NCCL id travels over MPI) or with torchrun's
 *           variables RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
 *           MASTER_PORT (the id travels over one TCP rendezvous,
 *           kernels/comm_tcp.c). CPU ranks need mpirun or srun: a
 *           torchrun-style launch of MPI ranks would need an MPI of its own
 *           making (singletons joined by a rendezvous), which biqa does not
 *           attempt.
 *
 * Two kinds of buffers:
 *   - float32 buffers in backend memory (gradients, keys, images): the
 *     collective runs where the data lives (NCCL on the device; MPI stages
 *     through host memory with the backend's download/upload);
 *   - host buffers (losses, batch-norm sums, error messages, run ids).
 * Every rank must call every collective in the same order with the same
 * sizes (MPI's and NCCL's rule). Results are bitwise the same on every
 * rank: MPI's allreduce is done as a reduce-scatter then an allgather, so
 * each element is summed on one rank only (MPI_Allreduce does not promise
 * identical results everywhere); NCCL's ring and tree algorithms already
 * give that; host sums are allgathers summed in rank order. */
#ifndef BIQA_KERNELS_COMM_H
#define BIQA_KERNELS_COMM_H

#include <stddef.h>

#include "core/error.h"
#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct biqa_comm biqa_comm;

struct biqa_comm {
    const char *name;         /* "single", "mpi", "nccl" */
    int rank, size;           /* this process and how many there are */
    int local_rank;           /* among the ranks on this machine (picks the GPU) */
    void *ctx;

    /* ---- float32 buffers in backend memory ---- */
    /* buf = sum over ranks (divided by size when mean). */
    int (*allreduce)(biqa_comm *c, biqa_backend *be, void *buf, size_t count, int mean,
                     biqa_error *err);
    /* recv (size x count) = every rank's send (count), in rank order. */
    int (*allgather)(biqa_comm *c, biqa_backend *be, const void *send, void *recv, size_t count,
                     biqa_error *err);
    /* buf = root's buf. */
    int (*broadcast)(biqa_comm *c, biqa_backend *be, void *buf, size_t count, int root,
                     biqa_error *err);

    /* ---- host buffers ---- */
    int (*allgather_host)(biqa_comm *c, const void *send, void *recv, size_t bytes,
                          biqa_error *err);
    int (*broadcast_host)(biqa_comm *c, void *buf, size_t bytes, int root, biqa_error *err);

    /* Ends every rank of the job at once (MPI_Abort; NCCL: abort the
     * communicator and exit): for a failure that leaves the other ranks
     * waiting in a collective that will never complete. Does not return. */
    void (*abort)(biqa_comm *c, int code);
    void (*destroy)(biqa_comm *c);
};

/* How this process was launched, from its environment alone. */
typedef struct biqa_launch {
    int mpi;         /* mpirun (OMPI_COMM_WORLD_SIZE) or srun (PMI_SIZE,
                        SLURM_STEP_NUM_TASKS) with more than one task */
    int mpi_size;    /* the task count that launcher announced */
    int torchrun;    /* RANK and WORLD_SIZE set (torchrun, or by hand) */
    int rank, size, local_rank; /* torchrun: RANK, WORLD_SIZE, LOCAL_RANK */
    char master_addr[256];      /* torchrun: MASTER_ADDR (default 127.0.0.1) */
    int master_port;            /* torchrun: MASTER_PORT (default 29500) */
} biqa_launch;

/* Reads the launch variables; error when one is set but malformed (names it). */
int biqa_launch_detect(biqa_launch *out, biqa_error *err);

/* Opens the communicator of kind (the knob compute.comm) for a run on
 * backend (the compute.backend name):
 *   "none"  single, whatever the launcher;
 *   "auto"  mpi when mpirun/srun started more than one task (nccl when the
 *           backend is cuda), nccl under torchrun variables with more than
 *           one rank (an error with another backend), else *out = NULL:
 *           no communicator, the plain one-process code;
 *   "mpi"   MPI (a one-rank "singleton" without a launcher);
 *   "nccl"  NCCL (one rank without a launcher).
 * Errors are one line starting "compute.comm KIND: ". */
int biqa_comm_open(const char *kind, const char *backend, biqa_comm **out, biqa_error *err);
void biqa_comm_destroy(biqa_comm *c);

/* The one-process communicator. */
biqa_comm *biqa_comm_single(biqa_error *err);

/* MPI (kernels/comm_mpi.c): initialises MPI (thread level FUNNELED: only
 * the thread that trains calls MPI); expect_size > 0 is the size the
 * launcher announced, checked against MPI's (an srun without a PMI plugin
 * OpenMPI understands starts N singletons instead of one job). */
biqa_comm *biqa_comm_mpi(int expect_size, biqa_error *err);

/* NCCL (kernels/cuda/comm_nccl.cu; kernels/comm_absent.c without CUDA):
 * nccl_prepare picks this rank's GPU before any CUDA call of the process
 * (CUDA_VISIBLE_DEVICES narrowed to entry local_rank of its list, or to
 * "local_rank" when unset, so the cuda backend's device 0 is that GPU) and
 * fails when no device is visible; nccl_unique_id makes the id rank 0
 * sends to the others; nccl_create joins the communicator. boot (may be
 * NULL) is the MPI communicator that carried the id: abort goes through it,
 * and destroy destroys it. */
int biqa_nccl_prepare(int local_rank, biqa_error *err);
int biqa_nccl_unique_id(unsigned char id[128], biqa_error *err);
biqa_comm *biqa_nccl_create(int rank, int size, int local_rank, const unsigned char id[128],
                            biqa_comm *boot, biqa_error *err);

/* The TCP rendezvous of a torchrun-style launch (kernels/comm_tcp.c): rank
 * 0 listens on port (all addresses) and sends the len bytes of blob to each
 * of the other size - 1 ranks, which connect to addr:port (retrying until
 * timeout_s) and receive them into blob. */
int biqa_tcp_rendezvous(const char *addr, int port, int rank, int size, void *blob, size_t len,
                        double timeout_s, biqa_error *err);

/* Sum of count doubles over ranks, in rank order on every rank (through
 * allgather_host, so the result is the same bytes everywhere). */
int biqa_comm_sum_host(biqa_comm *c, double *v, size_t count, biqa_error *err);

#ifdef __cplusplus
}
#endif

#endif
