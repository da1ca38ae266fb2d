/* Deterministic train/val/test splits of a dataset index for the repeated
 * 80/20 protocol (paper/QPT.md, "Downstream protocol").
 *
 * Algorithm for split k (0-based) of an index, seed s:
 *   1. Groups: the sorted (byte order) distinct reference ids; an image
 *      without a reference is a group of its own, keyed by its name. With
 *      references, splitting groups keeps the parts content-disjoint.
 *   2. Shuffle the G sorted groups by Fisher-Yates: for i = G-1 down to 1,
 *      swap positions i and j = biqa_rng_below(s, biqa_rng_stream("splits"),
 *      k * 2^32 + i, i + 1) (core/rng.h).
 *   3. The first round(G (1 - train_fraction)) shuffled groups are the test
 *      part (at least 1); of the remaining T groups, the first
 *      round(T val_fraction) are the validation part (at least 1 when
 *      val_fraction > 0), the rest train (at least 1). Fewer groups than
 *      that is an error.
 * The parts hold the groups' images. The validation part is carved from
 * the training share: it is used for model selection only, never trained
 * on, and the test part is never looked at before the final evaluation.
 *
 * Hash: SHA-256 (hex) of the lines "<image name>\t<part>\n" (part: train,
 * val, test), sorted by image name in byte order. Equal membership gives an
 * equal hash whatever the seed or algorithm that produced it; it is stored
 * with every run that uses the split (runs.split_id, runs.split_hash).
 *
 * Official splits and pyiqa split columns (issue 6) come in as the same
 * struct through biqa_split_from_parts. */
#ifndef BIQA_DATASETS_SPLITS_H
#define BIQA_DATASETS_SPLITS_H

#include <stdint.h>

#include "core/digest.h"
#include "datasets/index.h"

enum biqa_part { BIQA_PART_TRAIN = 0, BIQA_PART_VAL = 1, BIQA_PART_TEST = 2 };

typedef struct biqa_split {
    int k;             /* split number */
    char id[24];       /* "split<k>" */
    unsigned char *part; /* per index item: enum biqa_part */
    size_t count[3];   /* images per part */
    size_t groups[3];  /* groups (references) per part */
    char hash[BIQA_SHA256_HEX_LEN];
} biqa_split;

/* Split k as above. 0 < train_fraction < 1, 0 <= val_fraction < 1. */
int biqa_split_make(const biqa_index *idx, uint64_t seed, int k, double train_fraction,
                    double val_fraction, biqa_split *out, biqa_error *err);
/* A split from given parts (one per item, copied); groups are not counted. */
int biqa_split_from_parts(const biqa_index *idx, int k, const unsigned char *parts,
                          biqa_split *out, biqa_error *err);
void biqa_split_free(biqa_split *s);

/* Indices of the items in part p (malloc'd; *n may be 0). */
size_t *biqa_split_rows(const biqa_split *s, size_t n_items, enum biqa_part p, size_t *n);

const char *biqa_part_name(enum biqa_part p);

#endif
