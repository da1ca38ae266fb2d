/* MoCo's shuffled batch norm and the row gathers of the contrastive
 * methods (methods/dist.h). */
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "methods/dist.h"

int biqa_shuffle_init(biqa_shuffle *s, biqa_dist *d, biqa_backend *be, int splits, int rows,
                      size_t row_floats, int dim, uint64_t seed, biqa_error *err)
{
    memset(s, 0, sizeof *s);
    const int R = biqa_dist_size(d);
    if (splits == 0)
        splits = R;
    if (splits < 1 || splits % R || rows % splits || rows / splits < 2)
        return biqa_fail(err, "moco.bn_splits %d: the key batch of %d views must split into "
                              "equal parts of at least 2 views, a multiple of the %d rank(s)",
                         splits, rows, R);
    s->dist = d, s->be = be, s->splits = splits, s->rows = rows, s->dim = dim;
    s->row_floats = row_floats, s->seed = seed;
    if (splits == 1)
        return 0; /* one part on one rank: the keys of x, nothing to shuffle */
    const size_t n = (size_t)rows / (size_t)R, part = (size_t)rows / (size_t)splits;
    s->perm = malloc((size_t)rows * sizeof *s->perm);
    s->x_all = R > 1 ? be->alloc(be, (size_t)rows * row_floats * sizeof(float)) : NULL;
    s->chunk = be->alloc(be, part * row_floats * sizeof(float));
    s->mine = R > 1 ? be->alloc(be, n * (size_t)dim * sizeof(float)) : NULL;
    s->keys_shuf = be->alloc(be, (size_t)rows * (size_t)dim * sizeof(float));
    if (!s->perm || (R > 1 && (!s->x_all || !s->mine)) || !s->chunk || !s->keys_shuf) {
        biqa_shuffle_free(s);
        return biqa_fail(err, "out of memory for shuffled batch norm over %d views", rows);
    }
    return 0;
}

void biqa_shuffle_free(biqa_shuffle *s)
{
    void *bufs[4] = {s->x_all, s->chunk, s->mine, s->keys_shuf};
    for (int i = 0; i < 4; i++)
        if (bufs[i])
            s->be->free(s->be, bufs[i]);
    free(s->perm);
    memset(s, 0, sizeof *s);
}

static void copy_row(biqa_backend *be, void *dst, size_t dst_row, const void *src, size_t src_row,
                     size_t width)
{
    biqa_tensor a = biqa_view((float *)dst + dst_row * width, 1, (int)width, 1, 1);
    biqa_tensor b = biqa_view((float *)src + src_row * width, 1, (int)width, 1, 1);
    be->copy(be, &a, &b);
}

int biqa_shuffle_keys(biqa_shuffle *s, uint64_t epoch, int index, const biqa_tensor *x,
                      biqa_encode_fn encode, void *ctx, biqa_tensor *keys, biqa_error *err)
{
    if (s->splits == 1)
        return encode(ctx, x, keys, err);
    biqa_backend *be = s->be;
    biqa_comm *c = biqa_dist_comm(s->dist);
    const int R = biqa_dist_size(s->dist), rank = biqa_dist_rank(s->dist);
    const size_t rows = (size_t)s->rows, n = rows / (size_t)R, part = rows / (size_t)s->splits;
    const int per_rank = s->splits / R;
    /* The permutation: Fisher-Yates keyed by (seed, epoch, batch), so every
     * rank (and a one-process run) draws the same. */
    const uint64_t key = biqa_rng_u64(s->seed, biqa_rng_stream("moco/shuffle"),
                                      (epoch << 32) + (uint64_t)index);
    const uint64_t stream = biqa_rng_stream("moco/shuffle-perm");
    for (size_t i = 0; i < rows; i++)
        s->perm[i] = (int)i;
    for (size_t i = rows - 1; i > 0; i--) {
        size_t j = (size_t)biqa_rng_below(key, stream, i, i + 1);
        int t = s->perm[i];
        s->perm[i] = s->perm[j], s->perm[j] = t;
    }
    const void *x_all = x->data;
    if (R > 1) {
        if (c->allgather(c, be, x->data, s->x_all, n * s->row_floats, err) < 0)
            return -1;
        x_all = s->x_all;
    }
    /* This rank's parts, each encoded alone, into its block of keys. */
    void *out = R > 1 ? s->mine : s->keys_shuf;
    for (int k = 0; k < per_rank; k++) {
        const size_t p = (size_t)(rank * per_rank + k);
        for (size_t t = 0; t < part; t++)
            copy_row(be, s->chunk, t, x_all, (size_t)s->perm[p * part + t], s->row_floats);
        biqa_tensor xc = *x;
        xc.data = s->chunk, xc.n = (int)part;
        biqa_tensor kc =
            biqa_view((float *)out + (size_t)k * part * s->dim, (int)part, s->dim, 1, 1);
        if (encode(ctx, &xc, &kc, err) < 0)
            return -1;
    }
    if (R > 1 && c->allgather(c, be, s->mine, s->keys_shuf, n * (size_t)s->dim, err) < 0)
        return -1;
    /* Back in batch order. */
    for (size_t j = 0; j < rows; j++)
        copy_row(be, keys->data, (size_t)s->perm[j], s->keys_shuf, j, (size_t)s->dim);
    return 0;
}

int biqa_dist_gather_rows(biqa_dist *d, biqa_backend *be, const biqa_tensor *rows,
                          biqa_tensor *all, biqa_error *err)
{
    biqa_comm *c = biqa_dist_comm(d);
    if (!c)
        return biqa_fail(err, "gathering rows: no communicator");
    return c->allgather(c, be, rows->data, all->data, biqa_numel(rows), err);
}

int biqa_dist_sum(biqa_dist *d, biqa_backend *be, biqa_tensor *t, biqa_error *err)
{
    biqa_comm *c = biqa_dist_comm(d);
    return c ? c->allreduce(c, be, t->data, biqa_numel(t), 0, err) : 0;
}
