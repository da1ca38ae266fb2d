/* Splits that come with a dataset instead of being drawn by biqa_split_make:
 * pyiqa's random split columns and the official splits (KonIQ-10k's `set`
 * column, pyiqa's `official_split`, FLIVE's test list).
 *
 * Rows are always joined to the index by IMAGE NAME, never by position
 * (pyiqa's own LIVE Challenge loader drops its 7 training rows and then
 * reads splits by row position, off by 7). A name is matched exactly, else
 * to the one index name equal to it ignoring letter case. Rows naming an
 * image the index does not hold are ignored (the labels dropped it: LIVEC's
 * t1..t7, or an image missing on disk); an index image with no row, a name
 * listed twice or an unknown part value is an error naming FILE:LINE.
 *
 * pyiqa's ratio802_seed123_split_NN columns hold "train" and "val", and its
 * "val" is the part it reports: it becomes biqa's TEST part. biqa then
 * carves its own validation part out of pyiqa's train part, so model
 * selection never looks at the test part:
 *   groups = the sorted (byte order) distinct reference ids of the train
 *   images (an image without one is its own group, keyed by its name);
 *   Fisher-Yates over them: for i = G-1 down to 1 swap positions i and
 *   j = biqa_rng_below(seed, biqa_rng_stream("splits-val"), nn * 2^32 + i,
 *   i + 1); the first round(G * val_fraction) groups (at least 1 when
 *   val_fraction > 0, and at least one group left to train) become val.
 * Official splits with a validation part keep it; those without one (a test
 * list) get val carved the same way, with nn = 0.
 *
 * The result is a biqa_split from biqa_split_from_parts, so its hash is the
 * usual one (datasets/splits.h); its id says where it came from
 * ("pyiqa01".."pyiqa10", "official"). */
#ifndef BIQA_DATASETS_SPLITS_IMPORT_H
#define BIQA_DATASETS_SPLITS_IMPORT_H

#include <stdint.h>

#include "datasets/splits.h"

/* pyiqa split column ratio802_seed123_split_<nn> (nn = 1..99) of the
 * meta_info CSV at path; split number k = nn - 1. */
int biqa_split_import_pyiqa(const biqa_index *idx, const char *path, int nn, double val_fraction,
                            uint64_t seed, biqa_split *out, biqa_error *err);

/* An official split column: name_col names the image, set_col its part,
 * with values train|training, val|validation|valid, test|testing (any
 * case). KonIQ-10k: koniq10k_distributions_sets.csv, image_name, set.
 * pyiqa: official_split. val_fraction applies only when no row is val. */
int biqa_split_import_official(const biqa_index *idx, const char *path, const char *name_col,
                               const char *set_col, double val_fraction, uint64_t seed,
                               biqa_split *out, biqa_error *err);

/* A list of test images, one name per line (blank lines and lines starting
 * with '#' skipped; a CSV's header "name" line too): listed images are the
 * test part, the rest train, with val carved as above (FLIVE's official
 * test set). */
int biqa_split_import_test_list(const biqa_index *idx, const char *path, double val_fraction,
                                uint64_t seed, biqa_split *out, biqa_error *err);

#endif
