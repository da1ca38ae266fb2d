/* Internal to the label parsers (datasets/labels*.c): the row collector
 * every parser feeds, and the parsers themselves. Not for other layers:
 * they call biqa_labels_read (datasets/labels.h). */
#ifndef BIQA_DATASETS_LABELS_PARSE_H
#define BIQA_DATASETS_LABELS_PARSE_H

#include <stddef.h>

#include "datasets/labels.h"

typedef struct label_rows {
    const biqa_label_spec *spec;
    const char *file; /* dataset_dir/spec->file: named in every message */
    biqa_index *idx;  /* rows as the labels give them; paths resolved later */
    char **where;     /* per row: its location ("FILE:LINE", "FILE: cell B7") */
    size_t cap;
} label_rows;

/* Adds a row located at where: checks the name is not empty, the MOS is a
 * finite number inside the declared range and std is NaN or finite >= 0,
 * applies spec->ref_mode to ref (auto_ref: the parser's own rule, may be
 * NULL). Errors start with where. */
int label_row(label_rows *r, const char *where, const char *name, double mos, double std,
              const char *auto_ref, const char *distortion, biqa_error *err);

/* A cell as a finite number (strtod, the whole cell); errors name where and
 * what (a column or cell). */
int label_number(const char *where, const char *what, const char *cell, double *out,
                 biqa_error *err);

/* The file part of name up to its first '_' (or its extension), lower-cased
 * when lower is set; malloc'd. */
char *label_name_prefix(const char *name, int lower);

/* The reference id of a reference image name: its file part without the
 * extension ("refimgs/bikes.bmp" -> "bikes"); malloc'd. */
char *label_stem(const char *name);

/* "TT:L" from a name "<ref>_TT_L..." (KADID I01_03_05.png -> "03:5", TID
 * i01_03_5.bmp -> "03:5") into out; 0 when the name has no such fields. */
int label_type_level(const char *name, char *out, size_t cap);

/* The parsers, one per format family. */
int labels_pyiqa_csv(label_rows *r, biqa_error *err);
int labels_koniq_csv(label_rows *r, biqa_error *err);
int labels_kadid_csv(label_rows *r, biqa_error *err);
int labels_flive_csv(label_rows *r, biqa_error *err);
int labels_pipal(label_rows *r, biqa_error *err);
int labels_biqa_csv(label_rows *r, biqa_error *err);
int labels_tid_txt(label_rows *r, biqa_error *err);
int labels_livec_mat(label_rows *r, biqa_error *err);
int labels_live_mat(label_rows *r, biqa_error *err);
int labels_csiq_xlsx(label_rows *r, biqa_error *err);
int labels_spaq_xlsx(label_rows *r, biqa_error *err);
int labels_bid_xlsx(label_rows *r, biqa_error *err);

#endif
