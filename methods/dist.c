/* Data-parallel training: lifetime, agreement, gradient buckets, snapshot
 * and failure sharing (methods/dist.h). */
#include "methods/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct biqa_dist {
    biqa_comm *comm;
    biqa_backend *be;      /* the plain backend (attach) */
    biqa_backend *sync_be; /* SyncBN over it, with more than one rank */
    int agreed;            /* the last failure was agreed by every rank */
    void *bucket;          /* gradient bucket, backend memory */
    size_t bucket_cap;     /* floats */
    int *seen;             /* items whose failure rank 0 has reported */
    int nseen, seen_cap;
};

biqa_dist *biqa_dist_wrap(biqa_comm *comm, biqa_error *err)
{
    biqa_dist *d = calloc(1, sizeof *d);
    if (!d) {
        biqa_comm_destroy(comm);
        biqa_fail(err, "out of memory");
        return NULL;
    }
    d->comm = comm;
    return d;
}

int biqa_dist_open(const char *comm_kind, const char *backend, biqa_dist **out, biqa_error *err)
{
    biqa_comm *c = NULL;
    *out = NULL;
    if (biqa_comm_open(comm_kind, backend, &c, err) < 0)
        return -1;
    if (!c)
        return 0;
    if (!(*out = biqa_dist_wrap(c, err)))
        return -1;
    /* One progress line per job, not one per rank. */
    if (c->rank != 0 && biqa_log_get_level() == BIQA_LOG_INFO)
        biqa_log_set_level(BIQA_LOG_QUIET);
    biqa_debug("rank %d of %d (local rank %d) over %s", c->rank, c->size, c->local_rank, c->name);
    return 0;
}

int biqa_dist_attach(biqa_dist *d, biqa_backend *be, biqa_error *err)
{
    if (!d)
        return 0;
    d->be = be;
    if (d->comm->size > 1 && !(d->sync_be = biqa_syncbn_create(be, d->comm, err)))
        return -1;
    return 0;
}

void biqa_dist_report(const biqa_dist *d, const biqa_error *err)
{
    if (!d || d->comm->size == 1)
        biqa_error_line("%s", err->msg);
    else if (!d->agreed)
        biqa_error_line("rank %d of %d: %s", d->comm->rank, d->comm->size, err->msg);
    else if (d->comm->rank == 0)
        biqa_error_line("%s", err->msg);
}

void biqa_dist_close(biqa_dist *d, int failed)
{
    if (!d)
        return;
    if (failed && !d->agreed && d->comm->size > 1)
        d->comm->abort(d->comm, 1);
    if (d->bucket)
        d->be->free(d->be, d->bucket);
    biqa_backend_destroy(d->sync_be);
    biqa_comm_destroy(d->comm);
    free(d->seen);
    free(d);
}

int biqa_dist_rank(const biqa_dist *d) { return d ? d->comm->rank : 0; }
int biqa_dist_size(const biqa_dist *d) { return d ? d->comm->size : 1; }
biqa_comm *biqa_dist_comm(biqa_dist *d) { return d ? d->comm : NULL; }

biqa_backend *biqa_dist_train_backend(biqa_dist *d, biqa_backend *be)
{
    return d && d->sync_be ? d->sync_be : be;
}

biqa_backend *biqa_dist_local_backend(biqa_dist *d, biqa_backend *be)
{
    return d && d->be ? d->be : be;
}

/* ---- agreement ---- */

int biqa_dist_agree(biqa_dist *d, int rc, biqa_error *err)
{
    if (!d)
        return rc;
    biqa_comm *c = d->comm;
    d->agreed = 0;
    int mine = rc < 0, *all = calloc((size_t)c->size, sizeof *all);
    biqa_error local = *err, shared;
    if (!all)
        return biqa_fail(err, "out of memory");
    int grc = c->allgather_host(c, &mine, all, sizeof mine, err), first = -1;
    for (int r = 0; grc == 0 && r < c->size && first < 0; r++)
        if (all[r])
            first = r;
    free(all);
    if (grc < 0)
        return -1;
    if (first < 0)
        return 0;
    /* The first failing rank's message, to everyone. */
    memcpy(shared.msg, local.msg, sizeof shared.msg);
    shared.msg[sizeof shared.msg - 1] = 0;
    if (c->broadcast_host(c, shared.msg, sizeof shared.msg, first, err) < 0)
        return -1;
    d->agreed = 1;
    if (c->size == 1)
        return biqa_fail(err, "%s", shared.msg);
    return biqa_fail(err, "rank %d of %d: %s", first, c->size, shared.msg);
}

int biqa_dist_share(biqa_dist *d, void *buf, size_t bytes, biqa_error *err)
{
    return d ? d->comm->broadcast_host(d->comm, buf, bytes, 0, err) : 0;
}

/* ---- gradients ---- */

static int reduce_bucket(biqa_dist *d, biqa_param *params, size_t from, size_t to, size_t floats,
                         biqa_error *err)
{
    biqa_backend *be = d->be;
    size_t at = 0;
    for (size_t i = from; i < to; i++) { /* pack */
        size_t k = biqa_numel(&params[i].grad);
        biqa_tensor src = biqa_view(params[i].grad.data, (int)k, 1, 1, 1);
        biqa_tensor dst = biqa_view((float *)d->bucket + at, (int)k, 1, 1, 1);
        be->copy(be, &dst, &src);
        at += k;
    }
    if (d->comm->allreduce(d->comm, be, d->bucket, floats, 1, err) < 0)
        return -1;
    at = 0;
    for (size_t i = from; i < to; i++) { /* unpack */
        size_t k = biqa_numel(&params[i].grad);
        biqa_tensor src = biqa_view((float *)d->bucket + at, (int)k, 1, 1, 1);
        biqa_tensor dst = biqa_view(params[i].grad.data, (int)k, 1, 1, 1);
        be->copy(be, &dst, &src);
        at += k;
    }
    return 0;
}

int biqa_dist_average(biqa_dist *d, biqa_param *params, size_t n, double *loss,
                      double loss_weight, biqa_error *err)
{
    if (!d)
        return 0;
    double l = *loss * loss_weight;
    if (biqa_comm_sum_host(d->comm, &l, 1, err) < 0)
        return -1;
    *loss = l;
    if (d->comm->size == 1)
        return 0;
    const size_t cap = (size_t)BIQA_DIST_BUCKET_MB * 1024 * 1024 / sizeof(float);
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += biqa_numel(&params[i].grad);
    const size_t want = total < cap ? total : cap;
    if (want > d->bucket_cap) {
        if (d->bucket)
            d->be->free(d->be, d->bucket);
        d->bucket = d->be->alloc(d->be, want * sizeof(float));
        d->bucket_cap = d->bucket ? want : 0;
        if (!d->bucket)
            return biqa_fail(err, "out of memory for a %zu-float gradient bucket", want);
    }
    /* From the last parameter back (the order backward finishes them). */
    size_t end = n;
    while (end > 0) {
        size_t begin = end, floats = 0;
        while (begin > 0 && floats + biqa_numel(&params[begin - 1].grad) <= d->bucket_cap)
            floats += biqa_numel(&params[--begin].grad);
        if (begin == end) { /* one parameter larger than a bucket: in place */
            biqa_param *p = &params[--end];
            if (d->comm->allreduce(d->comm, d->be, p->grad.data, biqa_numel(&p->grad), 1, err) < 0)
                return -1;
            continue;
        }
        if (reduce_bucket(d, params, begin, end, floats, err) < 0)
            return -1;
        end = begin;
    }
    return 0;
}

/* ---- snapshots ---- */

int biqa_dist_share_snapshot(biqa_dist *d, biqa_snapshot *s, biqa_snapshot_pos *pos, int rc,
                             biqa_error *err)
{
    if (!d)
        return rc;
    if (biqa_dist_agree(d, rc, err) < 0)
        return -1;
    biqa_comm *c = d->comm;
    for (size_t i = 0; i < s->sd.count; i++) {
        biqa_state_entry *e = &s->sd.entries[i];
        int r = e->tensor ? c->broadcast(c, d->be, e->tensor->data, biqa_numel(e->tensor), 0, err)
                          : c->broadcast_host(c, e->counter, sizeof *e->counter, 0, err);
        if (r < 0)
            return -1;
    }
    for (int i = 0; i < s->nints; i++)
        if (c->broadcast_host(c, s->ints[i], sizeof *s->ints[i], 0, err) < 0)
            return -1;
    return c->broadcast_host(c, pos, sizeof *pos, 0, err);
}

/* ---- unreadable images ---- */

typedef struct failure_rec {
    int item;
    char error[1024];
} failure_rec;

static int seen_add(biqa_dist *d, int item)
{
    for (int i = 0; i < d->nseen; i++)
        if (d->seen[i] == item)
            return 0;
    if (d->nseen == d->seen_cap) {
        int cap = d->seen_cap ? 2 * d->seen_cap : 16;
        int *v = realloc(d->seen, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        d->seen = v, d->seen_cap = cap;
    }
    d->seen[d->nseen++] = item;
    return 1;
}

int biqa_dist_failures(biqa_dist *d, const biqa_folder *folder, const biqa_loader_failure *f,
                       int n, int (*report)(void *ctx, const char *item, const char *reason,
                                            biqa_error *err),
                       void *ctx, biqa_error *err)
{
    biqa_comm *c = d->comm;
    int *counts = calloc((size_t)c->size, sizeof *counts), most = 0, rc = 0;
    if (!counts)
        return biqa_fail(err, "out of memory");
    rc = c->allgather_host(c, &n, counts, sizeof n, err);
    for (int r = 0; rc == 0 && r < c->size; r++)
        most = counts[r] > most ? counts[r] : most;
    failure_rec *mine = NULL, *all = NULL;
    if (rc == 0 && most > 0) {
        mine = calloc((size_t)most, sizeof *mine);
        all = calloc((size_t)most * (size_t)c->size, sizeof *all);
        rc = mine && all ? 0 : biqa_fail(err, "out of memory for %d failure records", most);
        for (int i = 0; rc == 0 && i < n; i++) {
            mine[i].item = f[i].item;
            snprintf(mine[i].error, sizeof mine[i].error, "%s", f[i].error);
        }
        if (rc == 0)
            rc = c->allgather_host(c, mine, all, (size_t)most * sizeof *mine, err);
    }
    if (rc == 0 && most > 0) {
        int lrc = 0;
        for (int r = 0; c->rank == 0 && lrc == 0 && r < c->size; r++)
            for (int i = 0; lrc == 0 && i < counts[r]; i++) {
                const failure_rec *x = &all[(size_t)r * most + i];
                int fresh = seen_add(d, x->item);
                if (fresh < 0)
                    lrc = biqa_fail(err, "out of memory");
                else if (fresh && report && x->item >= 0 && x->item < folder->nitems)
                    lrc = report(ctx, folder->items[x->item].path, x->error, err);
            }
        rc = biqa_dist_agree(d, lrc, err);
    }
    free(counts), free(mine), free(all);
    return rc;
}
