/* The one-process communicator, launch detection and the choice of
 * communicator (kernels/comm.h). */
#include "kernels/comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- single ---- */

static int single_allreduce(biqa_comm *c, biqa_backend *be, void *buf, size_t count, int mean,
                            biqa_error *err)
{
    (void)c, (void)be, (void)buf, (void)count, (void)mean, (void)err;
    return 0;
}

static int single_allgather(biqa_comm *c, biqa_backend *be, const void *send, void *recv,
                            size_t count, biqa_error *err)
{
    (void)c, (void)err;
    if (send != recv) {
        biqa_tensor src = biqa_view((void *)send, (int)count, 1, 1, 1);
        biqa_tensor dst = biqa_view(recv, (int)count, 1, 1, 1);
        be->copy(be, &dst, &src);
    }
    return 0;
}

static int single_broadcast(biqa_comm *c, biqa_backend *be, void *buf, size_t count, int root,
                            biqa_error *err)
{
    (void)c, (void)be, (void)buf, (void)count, (void)root, (void)err;
    return 0;
}

static int single_allgather_host(biqa_comm *c, const void *send, void *recv, size_t bytes,
                                 biqa_error *err)
{
    (void)c, (void)err;
    if (send != recv)
        memmove(recv, send, bytes);
    return 0;
}

static int single_broadcast_host(biqa_comm *c, void *buf, size_t bytes, int root,
                                 biqa_error *err)
{
    (void)c, (void)buf, (void)bytes, (void)root, (void)err;
    return 0;
}

static void single_abort(biqa_comm *c, int code)
{
    (void)c;
    exit(code);
}

static void single_destroy(biqa_comm *c) { free(c); }

biqa_comm *biqa_comm_single(biqa_error *err)
{
    biqa_comm *c = calloc(1, sizeof *c);
    if (!c) {
        biqa_fail(err, "communicator: out of memory");
        return NULL;
    }
    c->name = "single", c->rank = 0, c->size = 1, c->local_rank = 0;
    c->allreduce = single_allreduce, c->allgather = single_allgather;
    c->broadcast = single_broadcast, c->allgather_host = single_allgather_host;
    c->broadcast_host = single_broadcast_host, c->abort = single_abort;
    c->destroy = single_destroy;
    return c;
}

void biqa_comm_destroy(biqa_comm *c)
{
    if (c)
        c->destroy(c);
}

int biqa_comm_sum_host(biqa_comm *c, double *v, size_t count, biqa_error *err)
{
    if (c->size == 1)
        return 0;
    double *all = malloc((size_t)c->size * count * sizeof *all);
    if (!all)
        return biqa_fail(err, "communicator: out of memory for %zu sums", count);
    int rc = c->allgather_host(c, v, all, count * sizeof *v, err);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        double s = 0;
        for (int r = 0; r < c->size; r++)
            s += all[(size_t)r * count + i];
        v[i] = s;
    }
    free(all);
    return rc;
}

/* ---- launch ---- */

/* An integer environment variable: 0 and *v when set and well formed,
 * 1 when unset, -1 (naming it) when malformed. */
static int env_int(const char *name, int lo, int *v, biqa_error *err)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return 1;
    char *end;
    long x = strtol(s, &end, 10);
    if (*end || x < lo || x > 1 << 24)
        return biqa_fail(err, "environment variable %s=%s: not an integer >= %d", name, s, lo);
    *v = (int)x;
    return 0;
}

int biqa_launch_detect(biqa_launch *l, biqa_error *err)
{
    memset(l, 0, sizeof *l);
    /* mpirun (Open MPI), srun with PMI-2, srun itself. */
    static const char *const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
                                        "SLURM_STEP_NUM_TASKS"};
    for (int i = 0; i < 3 && !l->mpi_size; i++) {
        int n = 0, rc = env_int(sizes[i], 1, &n, err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            l->mpi_size = n;
    }
    l->mpi = l->mpi_size > 1;
    int has_rank = env_int("RANK", 0, &l->rank, err);
    int has_size = env_int("WORLD_SIZE", 1, &l->size, err);
    if (has_rank < 0 || has_size < 0)
        return -1;
    l->torchrun = has_rank == 0 && has_size == 0;
    if (!l->torchrun) {
        l->rank = 0, l->size = 1;
        return 0;
    }
    if (l->rank >= l->size)
        return biqa_fail(err, "environment: RANK=%d is not below WORLD_SIZE=%d", l->rank, l->size);
    if (env_int("LOCAL_RANK", 0, &l->local_rank, err) < 0)
        return -1;
    l->master_port = 29500; /* torchrun's default */
    if (env_int("MASTER_PORT", 1, &l->master_port, err) < 0)
        return -1;
    if (l->master_port > 65535)
        return biqa_fail(err, "environment variable MASTER_PORT=%d: not a TCP port",
                         l->master_port);
    const char *addr = getenv("MASTER_ADDR");
    snprintf(l->master_addr, sizeof l->master_addr, "%s", addr && *addr ? addr : "127.0.0.1");
    return 0;
}

/* ---- the choice ---- */

/* Seconds a torchrun-style rank waits for rank 0's rendezvous. */
#define RENDEZVOUS_TIMEOUT_S 300.0

static biqa_comm *open_nccl(const biqa_launch *l, biqa_error *err)
{
    unsigned char id[128] = {0};
    if (l->mpi) {
        biqa_comm *boot = biqa_comm_mpi(l->mpi_size, err);
        if (!boot)
            return NULL;
        /* Every rank learns whether every rank has a GPU before any waits
         * for rank 0's id. */
        biqa_error mine = {{0}};
        int ok = biqa_nccl_prepare(boot->local_rank, &mine) == 0;
        int *all = calloc((size_t)boot->size, sizeof *all);
        int rc = all ? boot->allgather_host(boot, &ok, all, sizeof ok, err)
                     : biqa_fail(err, "out of memory");
        for (int r = 0; rc == 0 && r < boot->size; r++)
            if (!all[r])
                rc = r == boot->rank ? biqa_fail(err, "rank %d: %s", r, mine.msg)
                                     : biqa_fail(err, "rank %d has no usable GPU", r);
        free(all);
        if (rc == 0 && boot->rank == 0)
            rc = biqa_nccl_unique_id(id, err);
        if (rc == 0)
            rc = boot->broadcast_host(boot, id, sizeof id, 0, err);
        biqa_comm *c = rc == 0 ? biqa_nccl_create(boot->rank, boot->size, boot->local_rank, id,
                                                  boot, err)
                               : NULL;
        if (!c)
            biqa_comm_destroy(boot);
        return c;
    }
    const int rank = l->torchrun ? l->rank : 0, size = l->torchrun ? l->size : 1;
    const int local = l->torchrun ? l->local_rank : 0;
    if (biqa_nccl_prepare(local, err) < 0)
        return NULL;
    if (rank == 0 && biqa_nccl_unique_id(id, err) < 0)
        return NULL;
    if (size > 1 && biqa_tcp_rendezvous(l->master_addr, l->master_port, rank, size, id, sizeof id,
                                        RENDEZVOUS_TIMEOUT_S, err) < 0)
        return NULL;
    return biqa_nccl_create(rank, size, local, id, NULL, err);
}

int biqa_comm_open(const char *kind, const char *backend, biqa_comm **out, biqa_error *err)
{
    *out = NULL;
    biqa_launch l;
    if (biqa_launch_detect(&l, err) < 0)
        return biqa_fail_wrap(err, "compute.comm %s", kind);
    const int cuda = !strncmp(backend, "cuda", 4);
    const char *use = kind;
    if (!strcmp(kind, "none"))
        return 0;
    if (!strcmp(kind, "auto")) {
        if (l.mpi)
            use = cuda ? "nccl" : "mpi";
        else if (l.torchrun && l.size > 1 && cuda)
            use = "nccl";
        else if (l.torchrun && l.size > 1)
            return biqa_fail(err, "compute.comm auto: a torchrun-style launch (WORLD_SIZE=%d) "
                                  "needs the cuda backend (NCCL); start CPU ranks with mpirun "
                                  "or srun", l.size);
        else
            return 0;
    }
    if (!strcmp(use, "mpi")) {
        if (!l.mpi && l.torchrun && l.size > 1)
            return biqa_fail(err, "compute.comm mpi: WORLD_SIZE=%d without mpirun or srun: MPI "
                                  "ranks are started by mpirun or srun", l.size);
        *out = biqa_comm_mpi(l.mpi ? l.mpi_size : 0, err);
    } else if (!strcmp(use, "nccl")) {
        if (!cuda)
            return biqa_fail(err, "compute.comm nccl: NCCL needs the cuda backend, not '%s'",
                             backend);
        *out = open_nccl(&l, err);
    } else {
        return biqa_fail(err, "compute.comm %s: unknown (auto, none, mpi or nccl)", kind);
    }
    if (!*out)
        return biqa_fail_wrap(err, "compute.comm %s", use);
    return 0;
}
