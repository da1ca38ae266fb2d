/* The `datasets` table of the results store (schema migration 5): one row
 * per dataset directory with its last verdict, so runs on a dataset can be
 * traced to the exact bytes (index and digest-list SHA-256) they read.
 * `biqa datasets fetch | import | verify` write it. */
#ifndef BIQA_RESULTS_DATASETS_TABLE_H
#define BIQA_RESULTS_DATASETS_TABLE_H

#include <stdint.h>

#include "results/store.h"

typedef struct biqa_dataset_row {
    const char *name;            /* dataset name */
    const char *dir;             /* absolute path of the dataset directory */
    const char *manifest_sha256; /* of the manifest it was made from */
    const char *source;          /* manifest source ("pyiqa", "official", "local") */
    const char *state;           /* absent | partial | verified | corrupt */
    int64_t n_images;            /* < 0: unknown (NULL) */
    const char *index_sha256, *digests_sha256; /* "" or NULL: unknown */
} biqa_dataset_row;

/* Inserts or replaces the row of (name, dir), stamping updated_at. */
int biqa_datasets_table_put(biqa_store *s, const biqa_dataset_row *r, biqa_error *err);

/* The row of (name, dir) as text columns (malloc'd strings, free with
 * biqa_dataset_record_free); *found = 0 when there is none. */
typedef struct biqa_dataset_record {
    char *name, *dir, *manifest_sha256, *source, *state, *index_sha256, *digests_sha256,
        *updated_at;
    int64_t n_images;
} biqa_dataset_record;

int biqa_datasets_table_get(biqa_store *s, const char *name, const char *dir,
                            biqa_dataset_record *out, int *found, biqa_error *err);
void biqa_dataset_record_free(biqa_dataset_record *r);

#endif
