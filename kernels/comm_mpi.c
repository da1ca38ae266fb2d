/* The MPI communicator (kernels/comm.h): CPU ranks started by mpirun or
 * srun, or one "singleton" rank without a launcher. Backend buffers are
 * staged through host memory with the backend's download/upload (for the
 * ref and cpu backends those are plain copies). */
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/comm.h"

typedef struct mpi_ctx {
    int owns_mpi;   /* this communicator called MPI_Init (and calls MPI_Finalize) */
    float *host;    /* staging, grown on demand */
    size_t cap;     /* floats */
} mpi_ctx;

static int check(int rc, const char *what, biqa_error *err)
{
    if (rc == MPI_SUCCESS)
        return 0;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    return biqa_fail(err, "MPI %s: %.*s", what, len, text);
}

static float *staging(biqa_comm *c, size_t floats, biqa_error *err)
{
    mpi_ctx *m = c->ctx;
    if (floats > m->cap) {
        float *p = realloc(m->host, floats * sizeof *p);
        if (!p) {
            biqa_fail(err, "MPI: out of memory for %zu floats of staging", floats);
            return NULL;
        }
        m->host = p, m->cap = floats;
    }
    return m->host;
}

static int too_big(size_t count, biqa_error *err)
{
    return count > INT_MAX ? biqa_fail(err, "MPI: %zu elements in one collective", count) : 0;
}

/* A reduce-scatter then an allgather: each element is summed on one rank
 * and sent to all, so every rank ends with the same bits. */
static int mpi_allreduce(biqa_comm *c, biqa_backend *be, void *buf, size_t count, int mean,
                         biqa_error *err)
{
    if (count == 0)
        return 0;
    const size_t block = (count + (size_t)c->size - 1) / (size_t)c->size;
    const size_t padded = block * (size_t)c->size;
    float *h = staging(c, padded + block, err);
    if (!h || too_big(padded, err) < 0)
        return -1;
    float *part = h + padded;
    be->download(be, h, buf, count);
    memset(h + count, 0, (padded - count) * sizeof *h);
    if (check(MPI_Reduce_scatter_block(h, part, (int)block, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
              "reduce-scatter", err) < 0)
        return -1;
    if (mean)
        for (size_t i = 0; i < block; i++)
            part[i] /= (float)c->size;
    if (check(MPI_Allgather(part, (int)block, MPI_FLOAT, h, (int)block, MPI_FLOAT, MPI_COMM_WORLD),
              "allgather", err) < 0)
        return -1;
    be->upload(be, buf, h, count);
    return 0;
}

static int mpi_allgather(biqa_comm *c, biqa_backend *be, const void *send, void *recv,
                         size_t count, biqa_error *err)
{
    const size_t all = count * (size_t)c->size;
    float *h = staging(c, all + count, err);
    if (!h || too_big(all, err) < 0)
        return -1;
    be->download(be, h + all, send, count);
    if (check(MPI_Allgather(h + all, (int)count, MPI_FLOAT, h, (int)count, MPI_FLOAT,
                            MPI_COMM_WORLD), "allgather", err) < 0)
        return -1;
    be->upload(be, recv, h, all);
    return 0;
}

static int mpi_broadcast(biqa_comm *c, biqa_backend *be, void *buf, size_t count, int root,
                         biqa_error *err)
{
    float *h = staging(c, count, err);
    if (!h || too_big(count, err) < 0)
        return -1;
    if (c->rank == root)
        be->download(be, h, buf, count);
    if (check(MPI_Bcast(h, (int)count, MPI_FLOAT, root, MPI_COMM_WORLD), "broadcast", err) < 0)
        return -1;
    if (c->rank != root)
        be->upload(be, buf, h, count);
    return 0;
}

static int mpi_allgather_host(biqa_comm *c, const void *send, void *recv, size_t bytes,
                              biqa_error *err)
{
    (void)c;
    if (too_big(bytes, err) < 0)
        return -1;
    return check(MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE,
                               MPI_COMM_WORLD), "allgather", err);
}

static int mpi_broadcast_host(biqa_comm *c, void *buf, size_t bytes, int root, biqa_error *err)
{
    (void)c;
    if (too_big(bytes, err) < 0)
        return -1;
    return check(MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD), "broadcast", err);
}

static void mpi_abort(biqa_comm *c, int code)
{
    (void)c;
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code); /* MPI_Abort does not return; this keeps the promise if it did */
}

static void mpi_destroy(biqa_comm *c)
{
    mpi_ctx *m = c->ctx;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (m->owns_mpi && !finalized)
        MPI_Finalize();
    free(m->host);
    free(m);
    free(c);
}

biqa_comm *biqa_comm_mpi(int expect_size, biqa_error *err)
{
    biqa_comm *c = calloc(1, sizeof *c);
    mpi_ctx *m = calloc(1, sizeof *m);
    if (!c || !m) {
        free(c), free(m);
        biqa_fail(err, "MPI: out of memory");
        return NULL;
    }
    c->ctx = m;
    int initialized = 0, provided = 0, rc = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
        /* FUNNELED: only the training thread calls MPI (the loader's
         * workers and OpenMP threads never do). */
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            rc = biqa_fail(err, "MPI_Init_thread failed");
        m->owns_mpi = rc == 0;
    }
    if (rc == 0)
        rc = check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "errhandler", err);
    MPI_Comm node = MPI_COMM_NULL;
    if (rc == 0)
        rc = check(MPI_Comm_rank(MPI_COMM_WORLD, &c->rank), "rank", err);
    if (rc == 0)
        rc = check(MPI_Comm_size(MPI_COMM_WORLD, &c->size), "size", err);
    /* The ranks sharing this machine's memory: the local rank picks the GPU. */
    if (rc == 0)
        rc = check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank,
                                       MPI_INFO_NULL, &node), "node split", err);
    if (rc == 0)
        rc = check(MPI_Comm_rank(node, &c->local_rank), "local rank", err);
    if (node != MPI_COMM_NULL)
        MPI_Comm_free(&node);
    if (rc == 0 && expect_size > 0 && c->size != expect_size)
        rc = biqa_fail(err, "the launcher started %d tasks but MPI sees a job of %d (with srun, "
                            "use --mpi=pmix, the PMI Open MPI understands)", expect_size, c->size);
    c->name = "mpi";
    c->allreduce = mpi_allreduce, c->allgather = mpi_allgather, c->broadcast = mpi_broadcast;
    c->allgather_host = mpi_allgather_host, c->broadcast_host = mpi_broadcast_host;
    c->abort = mpi_abort, c->destroy = mpi_destroy;
    if (rc < 0) {
        mpi_destroy(c);
        return NULL;
    }
    return c;
}
