/* The NCCL communicator (kernels/comm.h): one GPU per rank. Collectives
 * run on the communicator's own stream after the backend's queued work is
 * done (be->sync), and are waited for before they return, so the backend's
 * next op sees their result. Host buffers travel through a small device
 * staging buffer. Data-parallel gradients are float32 (master weights even
 * under bf16), so every device collective is ncclFloat. */
#include <cuda_runtime.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "kernels/comm.h"
}

typedef struct nccl_ctx {
    ncclComm_t comm;
    cudaStream_t stream;
    void *stage;     /* device staging of host collectives */
    size_t stage_cap;
    biqa_comm *boot; /* the MPI communicator that carried the id, or NULL */
} nccl_ctx;

static int nccl_fail(ncclResult_t rc, const char *what, biqa_error *err)
{
    return biqa_fail(err, "NCCL %s: %s", what, ncclGetErrorString(rc));
}

static int cuda_fail(cudaError_t rc, const char *what, biqa_error *err)
{
    return biqa_fail(err, "CUDA %s: %s", what, cudaGetErrorString(rc));
}

/* The backend's queued ops first (they write what the collective reads). */
static int before(biqa_backend *be, biqa_error *err)
{
    return be && be->sync ? be->sync(be, err) : 0;
}

static int finish(nccl_ctx *n, ncclResult_t rc, const char *what, biqa_error *err)
{
    if (rc != ncclSuccess)
        return nccl_fail(rc, what, err);
    cudaError_t c = cudaStreamSynchronize(n->stream);
    return c == cudaSuccess ? 0 : cuda_fail(c, what, err);
}

static int n_allreduce(biqa_comm *c, biqa_backend *be, void *buf, size_t count, int mean,
                       biqa_error *err)
{
    nccl_ctx *n = (nccl_ctx *)c->ctx;
    if (before(be, err) < 0)
        return -1;
    return finish(n, ncclAllReduce(buf, buf, count, ncclFloat, mean ? ncclAvg : ncclSum, n->comm,
                                   n->stream), "allreduce", err);
}

static int n_allgather(biqa_comm *c, biqa_backend *be, const void *send, void *recv, size_t count,
                       biqa_error *err)
{
    nccl_ctx *n = (nccl_ctx *)c->ctx;
    if (before(be, err) < 0)
        return -1;
    return finish(n, ncclAllGather(send, recv, count, ncclFloat, n->comm, n->stream), "allgather",
                  err);
}

static int n_broadcast(biqa_comm *c, biqa_backend *be, void *buf, size_t count, int root,
                       biqa_error *err)
{
    nccl_ctx *n = (nccl_ctx *)c->ctx;
    if (before(be, err) < 0)
        return -1;
    return finish(n, ncclBroadcast(buf, buf, count, ncclFloat, root, n->comm, n->stream),
                  "broadcast", err);
}

static void *stage(nccl_ctx *n, size_t bytes, biqa_error *err)
{
    if (bytes > n->stage_cap) {
        if (n->stage)
            cudaFree(n->stage);
        n->stage = NULL, n->stage_cap = 0;
        cudaError_t rc = cudaMalloc(&n->stage, bytes);
        if (rc != cudaSuccess) {
            (void)cudaGetLastError();
            cuda_fail(rc, "staging buffer", err);
            return NULL;
        }
        n->stage_cap = bytes;
    }
    return n->stage;
}

static int copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, biqa_error *err)
{
    cudaError_t rc = cudaMemcpy(dst, src, bytes, kind);
    return rc == cudaSuccess ? 0 : cuda_fail(rc, "staging copy", err);
}

static int n_allgather_host(biqa_comm *c, const void *send, void *recv, size_t bytes,
                            biqa_error *err)
{
    nccl_ctx *n = (nccl_ctx *)c->ctx;
    const size_t all = bytes * (size_t)c->size;
    unsigned char *d = (unsigned char *)stage(n, all + bytes, err);
    if (!d || copy(d + all, send, bytes, cudaMemcpyHostToDevice, err) < 0 ||
        finish(n, ncclAllGather(d + all, d, bytes, ncclUint8, n->comm, n->stream), "allgather",
               err) < 0)
        return -1;
    return copy(recv, d, all, cudaMemcpyDeviceToHost, err);
}

static int n_broadcast_host(biqa_comm *c, void *buf, size_t bytes, int root, biqa_error *err)
{
    nccl_ctx *n = (nccl_ctx *)c->ctx;
    void *d = stage(n, bytes, err);
    if (!d || (c->rank == root && copy(d, buf, bytes, cudaMemcpyHostToDevice, err) < 0) ||
        finish(n, ncclBroadcast(d, d, bytes, ncclUint8, root, n->comm, n->stream), "broadcast",
               err) < 0)
        return -1;
    return c->rank == root ? 0 : copy(buf, d, bytes, cudaMemcpyDeviceToHost, err);
}

static void n_abort(biqa_comm *c, int code)
{
    nccl_ctx *n = (nccl_ctx *)c->ctx;
    if (n->boot)
        n->boot->abort(n->boot, code);
    ncclCommAbort(n->comm);
    exit(code);
}

static void n_destroy(biqa_comm *c)
{
    nccl_ctx *n = (nccl_ctx *)c->ctx;
    if (n->comm) {
        ncclCommFinalize(n->comm);
        ncclCommDestroy(n->comm);
    }
    if (n->stream)
        cudaStreamDestroy(n->stream);
    if (n->stage)
        cudaFree(n->stage);
    biqa_comm_destroy(n->boot);
    free(n);
    free(c);
}

extern "C" int biqa_nccl_prepare(int local_rank, biqa_error *err)
{
    const char *vis = getenv("CUDA_VISIBLE_DEVICES");
    char pick[64];
    if (vis && *vis) {
        /* Entry local_rank of the list; a list of one is a choice already made. */
        int count = 1;
        for (const char *p = vis; *p; p++)
            count += *p == ',';
        if (count > 1) {
            if (local_rank >= count)
                return biqa_fail(err, "local rank %d, but CUDA_VISIBLE_DEVICES=%s lists %d "
                                      "devices", local_rank, vis, count);
            const char *p = vis;
            for (int i = 0; i < local_rank; i++)
                p = strchr(p, ',') + 1;
            size_t len = strcspn(p, ",");
            snprintf(pick, sizeof pick, "%.*s", (int)(len < 63 ? len : 63), p);
            setenv("CUDA_VISIBLE_DEVICES", pick, 1);
        }
    } else {
        snprintf(pick, sizeof pick, "%d", local_rank);
        setenv("CUDA_VISIBLE_DEVICES", pick, 1);
    }
    int n = 0;
    cudaError_t rc = cudaGetDeviceCount(&n);
    if (rc != cudaSuccess || n == 0) {
        (void)cudaGetLastError();
        return biqa_fail(err, "no CUDA device for local rank %d (%s)", local_rank,
                         rc != cudaSuccess ? cudaGetErrorString(rc) : "none visible");
    }
    return 0;
}

extern "C" int biqa_nccl_unique_id(unsigned char id[128], biqa_error *err)
{
    static_assert(sizeof(ncclUniqueId) == 128, "NCCL_UNIQUE_ID_BYTES is 128");
    ncclUniqueId u;
    ncclResult_t rc = ncclGetUniqueId(&u);
    if (rc != ncclSuccess)
        return nccl_fail(rc, "unique id", err);
    memcpy(id, &u, sizeof u);
    return 0;
}

extern "C" biqa_comm *biqa_nccl_create(int rank, int size, int local_rank,
                                       const unsigned char id[128], biqa_comm *boot,
                                       biqa_error *err)
{
    biqa_comm *c = (biqa_comm *)calloc(1, sizeof *c);
    nccl_ctx *n = (nccl_ctx *)calloc(1, sizeof *n);
    if (!c || !n) {
        free(c), free(n);
        biqa_fail(err, "NCCL: out of memory");
        return NULL;
    }
    c->ctx = n;
    c->name = "nccl", c->rank = rank, c->size = size, c->local_rank = local_rank;
    c->allreduce = n_allreduce, c->allgather = n_allgather, c->broadcast = n_broadcast;
    c->allgather_host = n_allgather_host, c->broadcast_host = n_broadcast_host;
    c->abort = n_abort, c->destroy = n_destroy;
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    int rc = 0;
    cudaError_t ce = cudaSetDevice(0); /* prepare made this rank's GPU device 0 */
    if (ce == cudaSuccess)
        ce = cudaStreamCreateWithFlags(&n->stream, cudaStreamNonBlocking);
    if (ce != cudaSuccess)
        rc = cuda_fail(ce, "device setup", err);
    ncclResult_t nr = rc == 0 ? ncclCommInitRank(&n->comm, size, u, rank) : ncclSuccess;
    if (rc == 0 && nr != ncclSuccess) {
        n->comm = NULL;
        rc = nccl_fail(nr, "joining the communicator", err);
    }
    if (rc < 0) {
        n_destroy(c); /* boot stays the caller's on failure */
        return NULL;
    }
    n->boot = boot;
    return c;
}
