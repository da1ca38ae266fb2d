/* Label parsers: every BIQA dataset's own label format read into the one
 * normalised index (datasets/index.h).
 *
 * Parsers (spec->parser), what spec->file names, and how each derives the
 * index name, reference id and distortion of a row:
 *
 *   pyiqa-csv  pyiqa's meta_info_<Name>Dataset.csv (RFC 4180). Image column
 *              "dist_name" (full-reference rows) or "name"; MOS column "mos"
 *              or "dmos"; optional "std" (with spec->std_is_variance, as in
 *              pyiqa's KADID file, its square root); ref = "ref_name" when
 *              the file has it. Split columns are read by splits_import.h.
 *   koniq-csv  koniq10k_scores_and_distributions.csv: image_name, MOS (1-5),
 *              SD. No references.
 *   kadid-csv  dmos.csv: dist_img, ref_img, dmos (1-5, higher better despite
 *              the name), var (a variance: std = sqrt(var)). ref = ref_img
 *              without its extension; distortion "TT:L" from I01_TT_0L.png.
 *   flive-csv  FLIVE labels: a "name" (or "name_image") column and "mos".
 *   pipal-csv  PIPAL labels: lines "<dist name>,<elo>" without a header; the
 *              file is either one such file or a folder of them (PIPAL's
 *              Train_Label/A0001.txt ...). ref = the name up to its first '_'.
 *   tid-txt    TID2008/2013 mos_with_names.txt: lines "<mos> <name>"; the
 *              raters' std comes from mos_std.txt beside it when that file
 *              exists (one value per line, same order). Names are matched to
 *              the files case-insensitively; ref = the name up to its first
 *              '_', lower-cased ("I25_01_1.bmp" -> "i25"); distortion "TT:L".
 *   livec-mat  LIVE Challenge: file = the folder holding AllImages_release.mat
 *              (cell of names), AllMOS_release.mat and AllStdDev_release.mat
 *              (doubles, same order). The 7 training images t1..t7 are
 *              dropped by name, as the protocol does. No references.
 *   live-mat   LIVE release 2: file = dmos_realigned.mat (dmos_new, dmos_std,
 *              orgs) or dmos.mat (dmos, orgs), with refnames_all.mat (cell of
 *              reference names) beside it. The 982 entries are, in order,
 *              jp2k/img1..227, jpeg/img1..233, wn/img1..174, gblur/img1..174,
 *              fastfading/img1..174 (.bmp); entries with orgs = 1 are copies
 *              of the references and are dropped. ref = refnames_all without
 *              extension; distortion = the folder.
 *   csiq-xlsx  csiq.DMOS.xlsx, sheet "all_by_image" (spec->sheet overrides):
 *              the header row holding image, dst_type, dst_lev, dmos_std,
 *              dmos. Image <dir>/<image>.<TAG>.<lev>.png with dst_type
 *              noise -> awgn/AWGN, jpeg -> jpeg/JPEG, "jpeg 2000" ->
 *              jpeg2000/jpeg2000, fnoise, blur -> blur/BLUR, contrast.
 *              ref = image; distortion "<dir>:<lev>".
 *   spaq-xlsx  "MOS and Image attribute scores.xlsx", first sheet: header
 *              "Image name", "MOS" (0-100). No references.
 *   bid-xlsx   DatabaseGrades.xlsx, first sheet: column A the image number n
 *              (file DatabaseImage%04d.JPG), column B the MOS (0-5); row 1
 *              is the header. No references.
 *   biqa-csv   a user's own labels: a CSV with columns image, mos and
 *              optionally std (empty: unknown), ref and distortion (or chain;
 *              empty: none), ref taken verbatim. The synthetic benchmark's
 *              meta.csv is one.
 *
 * spec->ref_mode: BIQA_REF_AUTO uses the rule above; BIQA_REF_NONE drops
 * reference ids (every image its own content); BIQA_REF_PREFIX takes the
 * name's file part up to its first '_', lower-cased, for any parser.
 *
 * Every image path is dataset_dir/image_dir/<name>. When that file does not
 * exist, a file in the same folder whose name differs only in letter case is
 * used (TID's names differ in case from its files; BID's extensions). */
#ifndef BIQA_DATASETS_LABELS_H
#define BIQA_DATASETS_LABELS_H

#include <stddef.h>

#include "core/error.h"
#include "datasets/index.h"

enum biqa_ref_mode { BIQA_REF_AUTO = 0, BIQA_REF_NONE = 1, BIQA_REF_PREFIX = 2 };

/* One label source of a dataset, as its manifest (datasets/manifests/<name>.json) declares it. */
typedef struct biqa_label_spec {
    const char *parser;    /* one of biqa_label_parsers() */
    const char *file;      /* label file (livec-mat, pipal-csv: or its folder), relative to the dataset directory */
    const char *image_dir; /* folder of the images relative to the dataset directory ("" or NULL = same) */
    double mos_lo, mos_hi; /* the declared raw range */
    int higher_better;     /* 0 for DMOS */
    const char *sheet;     /* xlsx sheet name, NULL = the parser's default */
    int ref_mode;          /* enum biqa_ref_mode */
    int std_is_variance;   /* pyiqa-csv: the std column holds a variance (pyiqa's KADID) */
} biqa_label_spec;

/* NULL-terminated list of parser names, for manifest validation and --help. */
const char *const *biqa_label_parsers(void);

/* Parses the labels into idx (biqa_index_init'ed by the caller with the
 * dataset name; its source is replaced by the label file's path) and
 * normalises it. Images the labels list but the disk lacks are left out of
 * the index and counted in *missing_out; when missing_names is not NULL it
 * receives their names (malloc'd, free with biqa_labels_free_names), in
 * label order. The caller decides whether missing images fail the import.
 * A malformed label file is an error naming FILE:LINE (xlsx: the cell, as
 * "FILE: sheet S: cell C12"; MAT: the variable or element). On error idx is
 * left empty but initialised. */
int biqa_labels_read(const char *dataset_dir, const biqa_label_spec *spec, biqa_index *idx,
                     size_t *missing_out, char ***missing_names, biqa_error *err);
void biqa_labels_free_names(char **names, size_t n);

#endif
