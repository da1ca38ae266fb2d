/* Deterministic, content-disjoint splits (datasets/splits.h). */
#include "datasets/splits.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

const char *biqa_part_name(enum biqa_part p)
{
    static const char *const names[] = {"train", "val", "test"};
    return names[p];
}

static const char *group_key(const biqa_index_item *it) { return it->ref ? it->ref : it->name; }

typedef struct keyed {
    const char *key;
    size_t item;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->item > y->item) - (x->item < y->item);
}

/* SHA-256 of the sorted "<name>\t<part>\n" lines. */
static int split_hash(const biqa_index *idx, biqa_split *s, biqa_error *err)
{
    keyed *order = malloc((idx->n ? idx->n : 1) * sizeof *order);
    size_t len = 0;
    for (size_t i = 0; order && i < idx->n; i++) {
        order[i] = (keyed){idx->items[i].name, i};
        len += strlen(idx->items[i].name) + 7;
    }
    char *text = order ? malloc(len + 1) : NULL;
    if (!text) {
        free(order);
        return biqa_fail(err, "%s: out of memory hashing a split", idx->source);
    }
    qsort(order, idx->n, sizeof *order, cmp_keyed);
    size_t at = 0;
    for (size_t i = 0; i < idx->n; i++)
        at += (size_t)sprintf(text + at, "%s\t%s\n", order[i].key,
                              biqa_part_name((enum biqa_part)s->part[order[i].item]));
    biqa_sha256_hex(text, at, s->hash);
    free(text);
    free(order);
    return 0;
}

static int finish(const biqa_index *idx, biqa_split *s, biqa_error *err)
{
    memset(s->count, 0, sizeof s->count);
    for (size_t i = 0; i < idx->n; i++)
        s->count[s->part[i]]++;
    if (split_hash(idx, s, err) < 0) {
        biqa_split_free(s);
        return -1;
    }
    return 0;
}

int biqa_split_make(const biqa_index *idx, uint64_t seed, int k, double train_fraction,
                    double val_fraction, biqa_split *out, biqa_error *err)
{
    memset(out, 0, sizeof *out);
    if (!(train_fraction > 0 && train_fraction < 1))
        return biqa_fail(err, "splits.train_fraction: %g is not in (0, 1)", train_fraction);
    if (!(val_fraction >= 0 && val_fraction < 1))
        return biqa_fail(err, "splits.val_fraction: %g is not in [0, 1)", val_fraction);
    if (k < 0)
        return biqa_fail(err, "split number %d is negative", k);
    out->k = k;
    snprintf(out->id, sizeof out->id, "split%d", k);
    size_t n = idx->n;
    keyed *items = malloc((n ? n : 1) * sizeof *items);
    size_t *perm = malloc((n ? n : 1) * sizeof *perm);
    size_t *group_of = malloc((n ? n : 1) * sizeof *group_of);
    unsigned char *group_part = malloc(n ? n : 1);
    out->part = malloc(n ? n : 1);
    int rc = items && perm && group_of && group_part && out->part
                 ? 0
                 : biqa_fail(err, "%s: out of memory making splits", idx->source);
    size_t g = 0;
    if (rc == 0) {
        /* 1. sorted distinct groups, and each item's group */
        for (size_t i = 0; i < n; i++)
            items[i] = (keyed){group_key(&idx->items[i]), i};
        qsort(items, n, sizeof *items, cmp_keyed);
        for (size_t i = 0; i < n; i++) {
            g += i == 0 || strcmp(items[i].key, items[i - 1].key);
            group_of[items[i].item] = g - 1;
        }
        /* 2. Fisher-Yates over group positions; perm[pos] = group */
        for (size_t i = 0; i < g; i++)
            perm[i] = i;
        uint64_t stream = biqa_rng_stream("splits");
        for (size_t i = g; i-- > 1;) {
            size_t j = (size_t)biqa_rng_below(seed, stream, ((uint64_t)k << 32) + i, i + 1);
            size_t t = perm[i];
            perm[i] = perm[j], perm[j] = t;
        }
        /* 3. parts by position in the shuffled order */
        size_t n_test = (size_t)llround((double)g * (1 - train_fraction));
        n_test = n_test ? n_test : 1;
        size_t rest = g > n_test ? g - n_test : 0;
        size_t n_val = (size_t)llround((double)rest * val_fraction);
        if (val_fraction > 0 && n_val == 0)
            n_val = 1;
        if (n_test + n_val >= g)
            rc = biqa_fail(err, "%s: %zu %s are too few for a split with test, %strain parts",
                           idx->source, g, idx->n && idx->items[0].ref ? "references" : "images",
                           val_fraction > 0 ? "validation and " : "");
        for (size_t pos = 0; rc == 0 && pos < g; pos++)
            group_part[perm[pos]] = pos < n_test ? BIQA_PART_TEST
                                    : pos < n_test + n_val ? BIQA_PART_VAL
                                                           : BIQA_PART_TRAIN;
        out->groups[BIQA_PART_TEST] = n_test, out->groups[BIQA_PART_VAL] = n_val;
        out->groups[BIQA_PART_TRAIN] = g - n_test - n_val;
        for (size_t i = 0; rc == 0 && i < n; i++)
            out->part[i] = group_part[group_of[i]];
    }
    free(items), free(perm), free(group_of), free(group_part);
    if (rc < 0) {
        biqa_split_free(out);
        return -1;
    }
    return finish(idx, out, err);
}

int biqa_split_from_parts(const biqa_index *idx, int k, const unsigned char *parts,
                          biqa_split *out, biqa_error *err)
{
    memset(out, 0, sizeof *out);
    out->k = k;
    snprintf(out->id, sizeof out->id, "split%d", k);
    out->part = malloc(idx->n ? idx->n : 1);
    if (!out->part)
        return biqa_fail(err, "%s: out of memory", idx->source);
    for (size_t i = 0; i < idx->n; i++) {
        if (parts[i] > BIQA_PART_TEST) {
            biqa_split_free(out);
            return biqa_fail(err, "%s: image '%s': part %d is not train, val or test", idx->source,
                             idx->items[i].name, parts[i]);
        }
        out->part[i] = parts[i];
    }
    return finish(idx, out, err);
}

void biqa_split_free(biqa_split *s)
{
    free(s->part);
    s->part = NULL;
}

size_t *biqa_split_rows(const biqa_split *s, size_t n_items, enum biqa_part p, size_t *n)
{
    size_t *rows = malloc((n_items ? n_items : 1) * sizeof *rows);
    *n = 0;
    for (size_t i = 0; rows && i < n_items; i++)
        if (s->part[i] == p)
            rows[(*n)++] = i;
    return rows;
}
