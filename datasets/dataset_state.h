/* Where a dataset lives under --root and what state it is in.
 *
 *   ROOT/NAME/                 the dataset: extracted files, index.csv (the
 *                              normalised index), dataset.json (provenance:
 *                              manifest, source, downloaded files) and
 *                              digests.sha256 (every other file's SHA-256).
 *                              It appears only by a rename once complete.
 *   ROOT/.biqa/NAME/downloads  downloaded files (NAME.part while arriving)
 *   ROOT/.biqa/NAME/staging-*  extraction in progress
 *   ROOT/.biqa/NAME/lock       held by a fetch, import or verify
 *   ROOT/.biqa/NAME/pins.json  SHA-256 recorded on the first download of a
 *                              file whose manifest says "unknown"; enforced
 *                              afterwards
 *   ROOT/.biqa/NAME/state.json the last fetch/import/verify verdict
 *
 * States: absent (nothing), partial (downloads or a staging folder but no
 * dataset, or a dataset this biqa has not verified), verified (the last
 * fetch/import/verify found every file as recorded), corrupt (the last verify
 * found a file changed or missing, or digests.sha256 changed since). */
#ifndef BIQA_DATASETS_DATASET_STATE_H
#define BIQA_DATASETS_DATASET_STATE_H

#include <stdint.h>

#include "core/digest.h"
#include "core/error.h"

enum biqa_ds_state { BIQA_DS_ABSENT, BIQA_DS_PARTIAL, BIQA_DS_VERIFIED, BIQA_DS_CORRUPT };

#define BIQA_DS_PATH 4096

typedef struct biqa_ds_paths {
    char name[72];
    char dir[BIQA_DS_PATH];       /* ROOT/NAME */
    char work[BIQA_DS_PATH];      /* ROOT/.biqa/NAME */
    char downloads[BIQA_DS_PATH]; /* work/downloads */
    char lock[BIQA_DS_PATH];      /* work/lock */
    char pins[BIQA_DS_PATH];      /* work/pins.json */
    char state[BIQA_DS_PATH];     /* work/state.json */
} biqa_ds_paths;

/* Fills the paths; an over-long root is an error. */
int biqa_ds_paths_init(const char *root, const char *name, biqa_ds_paths *p, biqa_error *err);

typedef struct biqa_ds_status {
    enum biqa_ds_state state;
    char detail[1024];     /* one line saying why */
    char source[72];       /* the manifest source it came from, "" unknown */
    char manifest_sha256[BIQA_SHA256_HEX_LEN], index_sha256[BIQA_SHA256_HEX_LEN],
        digests_sha256[BIQA_SHA256_HEX_LEN]; /* "" unknown */
    int64_t n_images, n_files; /* -1 unknown */
    char updated_at[32];   /* of the verdict, "" none */
    int64_t download_bytes; /* under downloads, .part files included */
    int n_downloads, n_part, n_staging;
} biqa_ds_status;

/* The state as the disk shows it (cheap: no file is rehashed; only
 * digests.sha256 is compared with the recorded verdict). */
int biqa_ds_status_read(const biqa_ds_paths *p, biqa_ds_status *st, biqa_error *err);
/* Records a verdict (state, detail, source, digests, counts) atomically;
 * updated_at is set to now. */
int biqa_ds_status_write(const biqa_ds_paths *p, biqa_ds_status *st, biqa_error *err);

const char *biqa_ds_state_name(enum biqa_ds_state s);
/* Current UTC time, ISO 8601 with milliseconds (as results/store.h's). */
void biqa_ds_now(char out[32]);

/* Pinned digests, keyed by source and file name. *found = 0 when none. */
int biqa_ds_pin_get(const biqa_ds_paths *p, const char *source, const char *file,
                    char sha256[BIQA_SHA256_HEX_LEN], int64_t *bytes, int *found,
                    biqa_error *err);
int biqa_ds_pin_put(const biqa_ds_paths *p, const char *source, const char *file,
                    const char *sha256, int64_t bytes, const char *url, biqa_error *err);

/* Takes the dataset's lock without waiting (creating work/ first); a lock
 * held by another process is an error naming the dataset and its pid. */
int biqa_ds_lock(const biqa_ds_paths *p, int *fd, biqa_error *err);
void biqa_ds_unlock(int fd);

/* Removes path and everything below it without following links (rm -rf);
 * a missing path is not an error. */
int biqa_ds_remove_tree(const char *path, biqa_error *err);


#endif
