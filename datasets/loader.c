/* The batch loader (datasets/loader.h). Workers claim batch indices in
 * order; batch i is built into buffer i mod (prefetch + 1), which is free
 * once the caller has released batch i - (prefetch + 1). The caller takes
 * batches in index order, so delivery order never depends on which worker
 * finished first. */
#include "datasets/loader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"

enum slot_state { SLOT_FREE, SLOT_BUILDING, SLOT_READY, SLOT_ERROR };

typedef struct slot {
    enum slot_state state;
    int index;
    biqa_batch b;
    int fail_cap;
    biqa_view_info *info; /* V entries, scratch */
    biqa_error err;
} slot;

struct biqa_loader {
    biqa_loader_config cfg;
    int n, views, nbatches, nslots, nthreads;
    int shard, items; /* this shard and its items per batch */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    slot *slots;
    int *perm;
    uint64_t epoch, aug_seed;
    int active, stop, busy;
    int next_build, delivered, released, held;
    biqa_loader_failure *distinct;
    int ndistinct, distinct_cap;
    long failed_reads;
};

static int add_fail(slot *s, int item, const char *path, const char *msg)
{
    biqa_batch *b = &s->b;
    if (b->nfail == s->fail_cap) {
        int cap = s->fail_cap ? 2 * s->fail_cap : 8;
        biqa_loader_failure *v = realloc(b->fail, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        b->fail = v, s->fail_cap = cap;
    }
    biqa_loader_failure *f = &b->fail[b->nfail++];
    f->item = item, f->path = path;
    snprintf(f->error, sizeof f->error, "%s", msg);
    return 0;
}

/* Reads and augments the first working item from position k on. */
static int fill_item(biqa_loader *L, slot *s, int p, int k)
{
    const biqa_loader_config *c = &L->cfg;
    const size_t view_floats = 3 * (size_t)c->recipe.size * c->recipe.size;
    biqa_batch *b = &s->b;
    for (int j = 0; j < L->n; j++) {
        const int it = L->perm[(k + j) % L->n];
        const char *path = c->folder->items[it].path;
        biqa_image im = {0};
        biqa_error e = {{0}};
        int rc = biqa_image_read(path, &im, &e);
        if (rc == 0)
            rc = biqa_augment(&c->recipe, path, &im, L->aug_seed, (uint64_t)k,
                              b->x + (size_t)p * L->views * view_floats, s->info, &e);
        biqa_image_free(&im);
        if (rc == 0) {
            b->item[p] = it;
            b->label[p] = c->folder->items[it].cls;
            for (int v = 0; v < L->views; v++) {
                const int view = p * L->views + v;
                b->source[view] = p;
                b->group[view] = c->recipe.kind == BIQA_RECIPE_QPT
                                     ? p * c->recipe.variants + s->info[v].group : p;
                memcpy(b->chain[view], s->info[v].chain, BIQA_CHAIN_TEXT);
                b->chain_seed[view] = s->info[v].chain_seed;
            }
            return 0;
        }
        if (add_fail(s, it, path, e.msg) < 0)
            return biqa_fail(&s->err, "loader: out of memory");
    }
    return biqa_fail(&s->err, "loader: epoch %llu batch %d: no image of the folder could be "
                              "used (%d items; first error: %s)", (unsigned long long)L->epoch,
                     b->index, L->n, b->nfail ? b->fail[0].error : "none");
}

static int build(biqa_loader *L, slot *s, int index)
{
    s->b.epoch = L->epoch, s->b.index = index, s->b.nfail = 0;
    const int first = index * L->cfg.batch + L->shard * L->items;
    for (int p = 0; p < L->items; p++)
        if (fill_item(L, s, p, first + p) < 0)
            return -1;
    return 0;
}

static int can_claim(const biqa_loader *L)
{
    return L->active && L->next_build < L->nbatches && L->next_build < L->released + L->nslots;
}

static void *worker(void *arg)
{
    biqa_loader *L = arg;
    pthread_mutex_lock(&L->mu);
    for (;;) {
        while (!L->stop && !can_claim(L))
            pthread_cond_wait(&L->work, &L->mu);
        if (L->stop)
            break;
        const int i = L->next_build++;
        slot *s = &L->slots[i % L->nslots];
        s->state = SLOT_BUILDING, s->index = i;
        L->busy++;
        pthread_mutex_unlock(&L->mu);
        int rc = build(L, s, i);
        pthread_mutex_lock(&L->mu);
        L->busy--;
        s->state = rc == 0 ? SLOT_READY : SLOT_ERROR;
        pthread_cond_broadcast(&L->done);
    }
    pthread_mutex_unlock(&L->mu);
    return NULL;
}

static int alloc_slot(slot *s, int items, int views_per_item, int size)
{
    const int views = items * views_per_item;
    biqa_batch *b = &s->b;
    b->items = items, b->views = views, b->size = size;
    b->x = malloc((size_t)views * 3 * size * size * sizeof *b->x);
    b->item = malloc((size_t)items * sizeof *b->item);
    b->label = malloc((size_t)items * sizeof *b->label);
    b->source = malloc((size_t)views * sizeof *b->source);
    b->group = malloc((size_t)views * sizeof *b->group);
    b->chain = malloc((size_t)views * sizeof *b->chain);
    b->chain_seed = malloc((size_t)views * sizeof *b->chain_seed);
    s->info = malloc((size_t)views_per_item * sizeof *s->info);
    return b->x && b->item && b->label && b->source && b->group && b->chain && b->chain_seed &&
                   s->info ? 0 : -1;
}

static void free_slot(slot *s)
{
    biqa_batch *b = &s->b;
    free(b->x), free(b->item), free(b->label), free(b->source), free(b->group);
    free(b->chain), free(b->chain_seed), free(b->fail), free(s->info);
}

static int check(const biqa_loader_config *c, biqa_error *err)
{
    if (!c->folder || c->folder->nitems < 1)
        return biqa_fail(err, "loader: empty image folder");
    if (biqa_recipe_check(&c->recipe, err) < 0)
        return biqa_fail_wrap(err, "loader");
    if (c->batch < 1 || c->batch > c->folder->nitems)
        return biqa_fail(err, "loader: batch %d outside 1..%d (the folder's images)", c->batch,
                         c->folder->nitems);
    if (c->threads < 0 || c->threads > 1024)
        return biqa_fail(err, "loader: threads %d outside 0..1024", c->threads);
    if (c->prefetch < 1 || c->prefetch > 1024)
        return biqa_fail(err, "loader: prefetch %d outside 1..1024", c->prefetch);
    if (c->shards < 0 || c->shard < 0 || (c->shards > 1 && c->shard >= c->shards) ||
        (c->shards <= 1 && c->shard != 0) || (c->shards > 1 && c->batch % c->shards))
        return biqa_fail(err, "loader: shard %d of %d of a batch of %d (needs a batch that "
                              "splits evenly)", c->shard, c->shards, c->batch);
    return 0;
}

int biqa_loader_create(const biqa_loader_config *cfg, biqa_loader **out, biqa_error *err)
{
    *out = NULL;
    if (check(cfg, err) < 0)
        return -1;
    biqa_loader *L = calloc(1, sizeof *L);
    if (!L)
        return biqa_fail(err, "loader: out of memory");
    L->cfg = *cfg;
    L->n = cfg->folder->nitems;
    L->views = biqa_recipe_views(&cfg->recipe);
    L->nbatches = L->n / cfg->batch;
    L->shard = cfg->shards > 1 ? cfg->shard : 0;
    L->items = cfg->shards > 1 ? cfg->batch / cfg->shards : cfg->batch;
    L->nslots = cfg->prefetch + 1;
    L->nthreads = cfg->threads ? cfg->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (L->nthreads < 1)
        L->nthreads = 1;
    L->held = -1;
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->work, NULL);
    pthread_cond_init(&L->done, NULL);
    L->slots = calloc((size_t)L->nslots, sizeof *L->slots);
    L->perm = malloc((size_t)L->n * sizeof *L->perm);
    L->threads = calloc((size_t)L->nthreads, sizeof *L->threads);
    int ok = L->slots && L->perm && L->threads;
    for (int i = 0; ok && i < L->nslots; i++)
        ok = alloc_slot(&L->slots[i], L->items, L->views, cfg->recipe.size) == 0;
    if (!ok) {
        L->nthreads = 0;
        biqa_loader_destroy(L);
        return biqa_fail(err, "loader: out of memory for %d batches of %d views at %d px",
                         cfg->prefetch + 1, L->items * biqa_recipe_views(&cfg->recipe),
                         cfg->recipe.size);
    }
    for (int t = 0; t < L->nthreads; t++)
        if (pthread_create(&L->threads[t], NULL, worker, L) != 0) {
            L->nthreads = t;
            biqa_loader_destroy(L);
            return biqa_fail(err, "loader: cannot start worker thread %d", t);
        }
    *out = L;
    return 0;
}

int biqa_loader_batches(const biqa_loader *L) { return L->nbatches; }

void biqa_loader_epoch(biqa_loader *L, uint64_t epoch) { biqa_loader_seek(L, epoch, 0); }

void biqa_loader_seek(biqa_loader *L, uint64_t epoch, int first)
{
    pthread_mutex_lock(&L->mu);
    L->active = 0;
    while (L->busy > 0)
        pthread_cond_wait(&L->done, &L->mu);
    /* No worker reads perm now, and none claims until active is set. */
    const uint64_t ps = biqa_rng_u64(L->cfg.seed, biqa_rng_stream("loader/epoch"), epoch);
    const uint64_t stream = biqa_rng_stream("loader/perm");
    for (int i = 0; i < L->n; i++)
        L->perm[i] = i;
    for (int i = L->n - 1; i > 0; i--) {
        int j = (int)biqa_rng_below(ps, stream, (uint64_t)i, (uint64_t)i + 1), t = L->perm[i];
        L->perm[i] = L->perm[j], L->perm[j] = t;
    }
    L->epoch = epoch;
    L->aug_seed = biqa_rng_u64(L->cfg.seed, biqa_rng_stream("loader/augment"), epoch);
    for (int i = 0; i < L->nslots; i++)
        L->slots[i].state = SLOT_FREE;
    if (first < 0 || first > L->nbatches)
        first = first < 0 ? 0 : L->nbatches;
    L->next_build = L->delivered = L->released = first;
    L->held = -1;
    L->active = 1;
    pthread_cond_broadcast(&L->work);
    pthread_mutex_unlock(&L->mu);
}

/* Adds the batch's failed items not yet listed (under mu, caller thread). */
static int note_failures(biqa_loader *L, const biqa_batch *b)
{
    L->failed_reads += b->nfail;
    for (int f = 0; f < b->nfail; f++) {
        int seen = 0;
        for (int d = 0; d < L->ndistinct && !seen; d++)
            seen = L->distinct[d].item == b->fail[f].item;
        if (seen)
            continue;
        if (L->ndistinct == L->distinct_cap) {
            int cap = L->distinct_cap ? 2 * L->distinct_cap : 8;
            biqa_loader_failure *v = realloc(L->distinct, (size_t)cap * sizeof *v);
            if (!v)
                return -1;
            L->distinct = v, L->distinct_cap = cap;
        }
        L->distinct[L->ndistinct++] = b->fail[f];
    }
    return 0;
}

int biqa_loader_next(biqa_loader *L, const biqa_batch **out, biqa_error *err)
{
    *out = NULL;
    pthread_mutex_lock(&L->mu);
    if (L->held >= 0) {
        L->slots[L->held % L->nslots].state = SLOT_FREE;
        L->released = L->held + 1;
        L->held = -1;
        pthread_cond_broadcast(&L->work);
    }
    int rc = 0;
    if (!L->active) {
        rc = biqa_fail(err, "loader: no epoch started (biqa_loader_epoch)");
    } else if (L->delivered < L->nbatches) {
        slot *s = &L->slots[L->delivered % L->nslots];
        while (!((s->state == SLOT_READY || s->state == SLOT_ERROR) &&
                 s->index == L->delivered))
            pthread_cond_wait(&L->done, &L->mu);
        if (s->state == SLOT_ERROR)
            rc = biqa_fail(err, "%s", s->err.msg); /* stays: every later call fails too */
        else if (note_failures(L, &s->b) < 0)
            rc = biqa_fail(err, "loader: out of memory");
        else {
            L->held = L->delivered++;
            *out = &s->b;
            rc = 1;
        }
    }
    pthread_mutex_unlock(&L->mu);
    return rc;
}

const biqa_loader_failure *biqa_loader_failures(const biqa_loader *L, int *n)
{
    *n = L->ndistinct;
    return L->distinct;
}

long biqa_loader_failed_reads(const biqa_loader *L) { return L->failed_reads; }

void biqa_loader_destroy(biqa_loader *L)
{
    if (!L)
        return;
    pthread_mutex_lock(&L->mu);
    L->stop = 1;
    pthread_cond_broadcast(&L->work);
    pthread_mutex_unlock(&L->mu);
    for (int t = 0; t < L->nthreads; t++)
        pthread_join(L->threads[t], NULL);
    for (int i = 0; L->slots && i < L->nslots; i++)
        free_slot(&L->slots[i]);
    pthread_cond_destroy(&L->work);
    pthread_cond_destroy(&L->done);
    pthread_mutex_destroy(&L->mu);
    free(L->slots), free(L->perm), free(L->threads), free(L->distinct);
    free(L);
}
