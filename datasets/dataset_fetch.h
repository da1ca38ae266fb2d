/* The dataset operations behind `biqa datasets fetch | import | verify`
 * (layout and states: datasets/dataset_state.h).
 *
 * fetch: lock; for each source in manifest order (or only opt->source),
 * download every file (datasets/fetch.h: mirrors, resume, size and SHA-256
 * checked; an "unknown" digest is pinned on its first download and enforced
 * afterwards; a published MD5 is checked before pinning); the first source
 * whose files all arrive is used. Then the shared staging path:
 *   1. extract every archive (datasets/extract.h; a "file" is linked or
 *      copied) into ROOT/.biqa/NAME/staging-XXXXXX,
 *   2. parse the labels (datasets/labels.h) into the normalised index; a
 *      labelled image missing from the files is an error naming it and the
 *      count; the index must hold the manifest's image count; declared
 *      split files must exist,
 *   3. write index.csv, dataset.json (provenance) and digests.sha256
 *      (every file), record the verdict, and rename staging to ROOT/NAME
 *      (an older ROOT/NAME is moved aside first and removed after).
 * Nothing incomplete ever carries the final name.
 *
 * import: the same staging path from files already on disk: each --from is
 * an archive (extracted) or a folder (its files hard-linked into staging,
 * or copied when linking is impossible or opt->copy is set). The source
 * whose label file the result holds is used (or opt->source). A "local"
 * dataset (ImageNet) is linked, not copied: ROOT/NAME/train -> the folder.
 *
 * verify: rehash every file of digests.sha256 and check the index against
 * it; the verdict (verified or corrupt, naming the first bad file) is
 * recorded. */
#ifndef BIQA_DATASETS_DATASET_FETCH_H
#define BIQA_DATASETS_DATASET_FETCH_H

#include <stdint.h>

#include "core/error.h"
#include "datasets/dataset_state.h"
#include "datasets/manifest.h"

typedef struct biqa_ds_options {
    int offline;          /* fetch: no network, only files already downloaded */
    int progress;         /* progress on stderr */
    int delete_archives;  /* fetch: remove the downloads once the dataset is in place */
    int copy;             /* import: copy files instead of hard-linking them */
    const char *source;   /* only this source (NULL: every source in order) */
} biqa_ds_options;

typedef struct biqa_ds_result {
    char source[72];
    int already;          /* fetch: the dataset was present and verified: nothing done */
    int64_t n_images, n_files, bytes;
    int64_t n_linked, n_copied; /* import */
    char index_sha256[BIQA_SHA256_HEX_LEN], digests_sha256[BIQA_SHA256_HEX_LEN];
    char pinned[1024];    /* files whose digest was pinned by this call, "" none */
} biqa_ds_result;

int biqa_dataset_fetch(const char *root, const biqa_manifest *m, const biqa_ds_options *o,
                       biqa_ds_result *r, biqa_error *err);
int biqa_dataset_import(const char *root, const biqa_manifest *m, const char *const *from,
                        int n_from, const biqa_ds_options *o, biqa_ds_result *r, biqa_error *err);

typedef struct biqa_ds_verify_result {
    int ok;
    int64_t n_files, n_bad, n_missing, n_extra, bytes;
    char first_bad[1024]; /* "<path>: <what>", "" when ok */
} biqa_ds_verify_result;

/* Returns 0 when the check ran (r->ok says how it ended), -1 when it could
 * not run (no dataset, lock held, unreadable digest list). */
int biqa_dataset_verify(const char *root, const biqa_manifest *m, const biqa_ds_options *o,
                        biqa_ds_verify_result *r, biqa_error *err);

/* Internal to dataset_fetch.c / dataset_import.c / dataset_verify.c. */
typedef struct biqa_ds_file {
    char *path; /* relative to the staging / dataset directory */
    int64_t bytes;
    char sha256[BIQA_SHA256_HEX_LEN];
} biqa_ds_file;

typedef struct biqa_ds_files {
    biqa_ds_file *v;
    size_t n, cap;
} biqa_ds_files;

int biqa_ds_files_add(biqa_ds_files *l, const char *path, int64_t bytes, const char *sha256,
                      biqa_error *err);
void biqa_ds_files_free(biqa_ds_files *l);

/* Copies src (not a link) to dst (created, never overwritten) while hashing it. */
int biqa_ds_copy_file(const char *src, const char *dst, char hex[BIQA_SHA256_HEX_LEN],
                      int64_t *bytes, biqa_error *err);

/* chmod path to mode less the process umask (for entries made by
 * mkdtemp/mkstemp, which are private). */
void biqa_ds_default_mode(const char *path, unsigned mode);

/* Fails when ROOT/NAME exists but is not a dataset biqa made (no
 * dataset.json): such a folder is never replaced. */
int biqa_ds_check_replaceable(const biqa_ds_paths *p, biqa_error *err);

/* A fresh ROOT/.biqa/NAME/staging-XXXXXX (stale ones of killed runs are
 * removed first; the caller holds the lock). */
int biqa_ds_staging_new(const biqa_ds_paths *p, char out[BIQA_DS_PATH], biqa_error *err);

/* Steps 2 and 3 above for a staging folder whose files are listed in files;
 * src is the source whose labels apply, how says "fetched" or "imported",
 * origins describes where the files came from (a JSON array recorded in
 * dataset.json, owned by the caller, may be NULL). */
struct cJSON;
int biqa_ds_finish(const biqa_ds_paths *p, const biqa_manifest *m,
                   const biqa_manifest_source *src, const char *how, const char *staging,
                   biqa_ds_files *files, const struct cJSON *origins, biqa_ds_result *r,
                   biqa_error *err);
/* Step 3 for a local dataset (no labels, no index): record is dataset.json's
 * object with the local facts (the caller's; common fields are added). */
int biqa_ds_commit_local(const biqa_ds_paths *p, const biqa_manifest *m, const char *staging,
                         biqa_ds_files *files, struct cJSON *record, int64_t n_images,
                         biqa_ds_result *r, biqa_error *err);

/* A progress line on stderr every few seconds (plain lines; the byte-level
 * bar of downloads is datasets/fetch.h's). */
typedef struct biqa_ds_progress {
    const char *what;
    int64_t total;
    double t0, last;
    int on;
} biqa_ds_progress;

void biqa_ds_progress_start(biqa_ds_progress *pr, const char *what, int64_t total, int on);
void biqa_ds_progress_step(biqa_ds_progress *pr, int64_t done, int64_t bytes, int final);

#endif
