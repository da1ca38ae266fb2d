/* A communicator whose ranks are threads of one process (kernels/comm.h),
 * for testing the data-parallel code without MPI (and under ASan): every
 * collective publishes each rank's buffer, waits at a barrier, reads the
 * others' in rank order, and waits again before anyone reuses a buffer.
 * Backend memory must be host memory (the ref and cpu backends). */
#ifndef BIQA_TESTS_UNIT_THREAD_COMM_H
#define BIQA_TESTS_UNIT_THREAD_COMM_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/comm.h"

#define TC_MAX 8

typedef struct tc_shared {
    int size;
    pthread_barrier_t bar;
    const void *slot[TC_MAX];
} tc_shared;

static void tc_shared_init(tc_shared *s, int size)
{
    memset(s, 0, sizeof *s);
    s->size = size;
    pthread_barrier_init(&s->bar, NULL, (unsigned)size);
}

static void tc_shared_free(tc_shared *s) { pthread_barrier_destroy(&s->bar); }

static tc_shared *tc_of(biqa_comm *c) { return (tc_shared *)c->ctx; }

static void tc_publish(biqa_comm *c, const void *p)
{
    tc_of(c)->slot[c->rank] = p;
    pthread_barrier_wait(&tc_of(c)->bar);
}

static void tc_done(biqa_comm *c) { pthread_barrier_wait(&tc_of(c)->bar); }

static int tc_allreduce(biqa_comm *c, biqa_backend *be, void *buf, size_t count, int mean,
                        biqa_error *err)
{
    (void)be, (void)err;
    float *sum = calloc(count ? count : 1, sizeof *sum);
    tc_publish(c, buf);
    for (int r = 0; r < c->size; r++)
        for (size_t i = 0; i < count; i++)
            sum[i] += ((const float *)tc_of(c)->slot[r])[i];
    tc_done(c);
    for (size_t i = 0; i < count; i++)
        ((float *)buf)[i] = mean ? sum[i] / (float)c->size : sum[i];
    free(sum);
    tc_done(c);
    return 0;
}

static int tc_allgather_bytes(biqa_comm *c, const void *send, void *recv, size_t bytes)
{
    tc_publish(c, send);
    for (int r = 0; r < c->size; r++)
        memcpy((char *)recv + (size_t)r * bytes, tc_of(c)->slot[r], bytes);
    tc_done(c);
    return 0;
}

static int tc_allgather(biqa_comm *c, biqa_backend *be, const void *send, void *recv, size_t count,
                        biqa_error *err)
{
    (void)be, (void)err;
    return tc_allgather_bytes(c, send, recv, count * sizeof(float));
}

static int tc_broadcast_bytes(biqa_comm *c, void *buf, size_t bytes, int root)
{
    tc_publish(c, buf);
    if (c->rank != root)
        memcpy(buf, tc_of(c)->slot[root], bytes);
    tc_done(c);
    return 0;
}

static int tc_broadcast(biqa_comm *c, biqa_backend *be, void *buf, size_t count, int root,
                        biqa_error *err)
{
    (void)be, (void)err;
    return tc_broadcast_bytes(c, buf, count * sizeof(float), root);
}

static int tc_allgather_host(biqa_comm *c, const void *send, void *recv, size_t bytes,
                             biqa_error *err)
{
    (void)err;
    return tc_allgather_bytes(c, send, recv, bytes);
}

static int tc_broadcast_host(biqa_comm *c, void *buf, size_t bytes, int root, biqa_error *err)
{
    (void)err;
    return tc_broadcast_bytes(c, buf, bytes, root);
}

static void tc_abort(biqa_comm *c, int code)
{
    (void)c, (void)code;
    abort();
}

static void tc_destroy(biqa_comm *c) { free(c); }

/* Rank `rank` of the threads sharing s. */
static biqa_comm *tc_comm(tc_shared *s, int rank)
{
    biqa_comm *c = calloc(1, sizeof *c);
    c->name = "threads", c->rank = rank, c->size = s->size, c->local_rank = rank;
    c->ctx = s;
    c->allreduce = tc_allreduce, c->allgather = tc_allgather, c->broadcast = tc_broadcast;
    c->allgather_host = tc_allgather_host, c->broadcast_host = tc_broadcast_host;
    c->abort = tc_abort, c->destroy = tc_destroy;
    return c;
}

#endif
