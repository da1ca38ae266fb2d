#include "methods/contrastive.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

void biqa_infonce_init(biqa_infonce *c, biqa_backend *be)
{
    memset(c, 0, sizeof *c);
    c->be = be;
}

void biqa_infonce_free(biqa_infonce *c)
{
    if (c->logits)
        c->be->free(c->be, c->logits);
    if (c->dlogits)
        c->be->free(c->be, c->dlogits);
    free(c->labels);
    memset(c, 0, sizeof *c);
}

static int reserve(biqa_infonce *c, size_t floats, int n, biqa_error *err)
{
    if (floats > c->cap) {
        if (c->logits)
            c->be->free(c->be, c->logits);
        if (c->dlogits)
            c->be->free(c->be, c->dlogits);
        c->logits = c->be->alloc(c->be, floats * sizeof(float));
        c->dlogits = c->be->alloc(c->be, floats * sizeof(float));
        c->cap = c->logits && c->dlogits ? floats : 0;
        if (!c->cap)
            return biqa_fail(err, "out of memory for %zu contrastive logits", floats);
    }
    if (n > c->labels_cap) {
        int32_t *l = calloc((size_t)n, sizeof *l); /* all zeros: column 0 */
        if (!l)
            return biqa_fail(err, "out of memory for contrastive labels");
        free(c->labels);
        c->labels = l;
        c->labels_cap = n;
    }
    return 0;
}

int biqa_infonce_loss(biqa_infonce *c, const biqa_tensor *q, const biqa_tensor *k,
                      const biqa_tensor *neg, const int32_t *rows, const int32_t *cols, int count,
                      float tau, float *loss, biqa_tensor *dq, biqa_tensor *dk, biqa_tensor *dneg,
                      biqa_error *err)
{
    int n = q->n, m = neg->n;
    if (m < 1)
        return biqa_fail(err, "contrastive loss: no negatives");
    if (k->n != n || biqa_numel(q) != biqa_numel(k) || biqa_numel(neg) / (size_t)m !=
                                                           biqa_numel(q) / (size_t)n)
        return biqa_fail(err, "contrastive loss: q, k and negatives disagree in shape");
    if (reserve(c, (size_t)n * (1 + (size_t)m), n, err) < 0)
        return -1;
    biqa_backend *be = c->be;
    biqa_tensor logits = biqa_view(c->logits, n, 1 + m, 1, 1);
    biqa_tensor dlogits = biqa_view(c->dlogits, n, 1 + m, 1, 1);
    be->infonce_fwd(be, q, k, neg, tau, &logits);
    if (count > 0) {
        /* Negatives are columns 1.. of the logits. */
        int32_t *shifted = malloc((size_t)count * sizeof *shifted);
        if (!shifted)
            return biqa_fail(err, "out of memory for the contrastive mask");
        for (int i = 0; i < count; i++)
            shifted[i] = cols[i] + 1;
        be->mask(be, &logits, rows, shifted, count, -INFINITY);
        free(shifted);
    }
    be->xent(be, &logits, c->labels, 1.0f, loss, dq || dk || dneg ? &dlogits : NULL);
    if (dq || dk || dneg)
        be->infonce_bwd(be, q, k, neg, tau, &dlogits, dq, dk, dneg);
    return 0;
}

int biqa_key_bank_init(biqa_key_bank *b, biqa_backend *be, int batch, int capacity, int dim,
                       uint64_t seed, biqa_error *err)
{
    memset(b, 0, sizeof *b);
    size_t rows = (size_t)batch + (size_t)capacity, n = rows * (size_t)dim;
    float *host = malloc(n * sizeof *host);
    b->mem = be->alloc(be, n * sizeof(float));
    if (!host || !b->mem) {
        free(host);
        if (b->mem)
            be->free(be, b->mem);
        b->mem = NULL;
        return biqa_fail(err, "out of memory for a key bank of %zu x %d", rows, dim);
    }
    b->be = be, b->batch = batch, b->capacity = capacity, b->dim = dim;
    memset(host, 0, (size_t)batch * dim * sizeof *host);
    /* MoCo: the queue starts as normalised Gaussian noise. */
    uint64_t stream = biqa_rng_stream("key-bank");
    for (int r = 0; r < capacity; r++) {
        float *row = host + ((size_t)batch + r) * dim;
        double norm = 0;
        for (int j = 0; j < dim; j++) {
            uint64_t i = (uint64_t)r * dim + j;
            double u1 = biqa_rng_uniform(seed, stream, 2 * i), u2 = biqa_rng_uniform(seed, stream, 2 * i + 1);
            row[j] = (float)(sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2));
            norm += (double)row[j] * row[j];
        }
        for (int j = 0; j < dim; j++)
            row[j] = (float)(row[j] / sqrt(norm > 0 ? norm : 1));
    }
    be->upload(be, b->mem, host, n);
    free(host);
    return 0;
}

void biqa_key_bank_free(biqa_key_bank *b)
{
    if (b->mem)
        b->be->free(b->be, b->mem);
    memset(b, 0, sizeof *b);
}

biqa_tensor biqa_key_bank_batch(const biqa_key_bank *b)
{
    return biqa_view(b->mem, b->batch, b->dim, 1, 1);
}

biqa_tensor biqa_key_bank_ring(const biqa_key_bank *b)
{
    return biqa_view(b->mem + (size_t)b->batch * b->dim, b->capacity, b->dim, 1, 1);
}

biqa_tensor biqa_key_bank_all(const biqa_key_bank *b)
{
    return biqa_view(b->mem, b->batch + b->capacity, b->dim, 1, 1);
}

void biqa_key_bank_enqueue(biqa_key_bank *b)
{
    float *ring = b->mem + (size_t)b->batch * b->dim;
    int done = 0;
    while (done < b->batch) {
        int rows = b->capacity - b->ptr < b->batch - done ? b->capacity - b->ptr : b->batch - done;
        biqa_tensor src = biqa_view(b->mem + (size_t)done * b->dim, rows, b->dim, 1, 1);
        biqa_tensor dst = biqa_view(ring + (size_t)b->ptr * b->dim, rows, b->dim, 1, 1);
        b->be->copy(b->be, &dst, &src);
        done += rows;
        b->ptr = (b->ptr + rows) % b->capacity;
    }
}

void biqa_momentum_update(biqa_backend *be, biqa_param *key, const biqa_param *query, size_t n,
                          float m)
{
    for (size_t i = 0; i < n; i++)
        be->ema(be, &key[i].value, &query[i].value, m);
}
