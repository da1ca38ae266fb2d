/* The normalised index of a BIQA dataset: one row per scored image, the same
 * shape whatever the label format, so that splits, fine-tuning and probing
 * never see a dataset's own conventions.
 *
 *   path        the image file (dataset directory + the label file's name)
 *   name        the image as the label file names it (split hashes use it)
 *   mos         scaled to 0..1, higher = better:
 *                 (raw - lo) / (hi - lo)      when higher raw scores are better
 *                 (hi - raw) / (hi - lo)      when lower ones are (DMOS)
 *               with [lo, hi] the dataset's declared MOS range, recorded in
 *               the index (mos_lo, mos_hi, higher_better) so the original
 *               scale can be recovered
 *   std         the raters' std on the same 0..1 scale (NaN: unknown)
 *   ref         reference id (content) for content-disjoint splits, NULL
 *               when the dataset has none (authentic distortions)
 *   distortion  distortion type/chain where known, else NULL
 *
 * A label parser (issue 6) fills raw rows with biqa_index_add and calls
 * biqa_index_normalise; biqa_index_read_csv does both for a CSV with named
 * columns, as the synthetic benchmark's meta.csv is. */
#ifndef BIQA_DATASETS_INDEX_H
#define BIQA_DATASETS_INDEX_H

#include <stddef.h>

#include "core/error.h"

typedef struct biqa_index_item {
    char *path, *name, *ref, *distortion;
    double mos, mos_raw, std;
} biqa_index_item;

typedef struct biqa_index {
    char *dataset;  /* label of the dataset ("synthetic", "koniq10k", ...) */
    char *source;   /* the label file, for messages */
    biqa_index_item *items;
    size_t n, cap;
    double mos_lo, mos_hi; /* the declared raw range */
    int higher_better;     /* 1: raw MOS, 0: DMOS (lower raw = better) */
    int normalised;
} biqa_index;

/* Column names of a label CSV; std, ref and distortion may be NULL (absent). */
typedef struct biqa_index_columns {
    const char *image, *mos, *std, *ref, *distortion;
} biqa_index_columns;

void biqa_index_init(biqa_index *idx, const char *dataset, const char *source);
void biqa_index_free(biqa_index *idx);
/* Appends a raw row (strings copied; ref, distortion may be NULL; std NaN
 * when unknown). */
int biqa_index_add(biqa_index *idx, const char *path, const char *name, double mos_raw,
                   double std_raw, const char *ref, const char *distortion, biqa_error *err);
/* Scales every row to 0..1 (above). A raw MOS outside [lo, hi], a
 * non-finite one, lo >= hi or two rows naming the same image are errors
 * naming the label file and the row's image. */
int biqa_index_normalise(biqa_index *idx, double lo, double hi, int higher_better,
                         biqa_error *err);

/* Reads a label CSV (core/csv.h) whose image column holds paths relative to
 * dir, then normalises. Errors name file, line and column. */
int biqa_index_read_csv(const char *dir, const char *csv_name, const char *dataset,
                        const biqa_index_columns *cols, double lo, double hi,
                        int higher_better, biqa_index *out, biqa_error *err);

/* The synthetic benchmark (datasets/synthetic.h): <dir>/meta.csv, MOS
 * 1..100 higher = better, std, ref, distortion = chain. */
int biqa_index_read_synthetic(const char *dir, biqa_index *out, biqa_error *err);

/* A fetched or imported dataset's own index, <dir>/index.csv (written by
 * biqa_index_write_dataset): columns image (the file, relative to dir),
 * name (as the labels name it), mos and std on the 0..1 scale (std empty:
 * unknown), ref and distortion (empty: none), mos_raw (the labels' value).
 * The raw range and direction come from <dir>/dataset.json (mos_range,
 * higher_better) when it is there. */
int biqa_index_write_dataset(const biqa_index *idx, const char *dir, const char *path,
                             biqa_error *err);
int biqa_index_read_dataset(const char *dir, biqa_index *out, biqa_error *err);

/* Either kind of dataset directory: index.csv (fetched or imported with
 * `biqa datasets`) or meta.csv (the synthetic benchmark). */
int biqa_index_read_dir(const char *dir, biqa_index *out, biqa_error *err);

#endif
