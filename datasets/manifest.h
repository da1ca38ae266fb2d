/* Dataset manifests: what a dataset is and where its bytes come from, one
 * JSON file per dataset (datasets/manifests/<name>.json, compiled into the
 * binary) or a user's own file (--manifest FILE).
 *
 * Top level: format (1), name ([a-z0-9][a-z0-9._-]*), title, kind
 * ("download": fetched from its sources; "local": a folder the user already
 * has, never downloaded, e.g. ImageNet; "generated": made by biqa), licence
 * (the licence / registration note), optional homepage, citation, notes
 * (strings), distortions ("authentic" | "synthetic"), images (the scored
 * images the index must hold; "local": the image files), references (number
 * of reference contents, null when there are none), and for "local" kind
 * layout ("class-folders") and classes.
 *
 * sources (download kind, tried in order): name, optional note, manual
 * (true: no scriptable URL, only `biqa datasets import` can adopt it), files
 * (each: file, a plain name; urls, alternative mirrors of the same bytes;
 * bytes, an integer or "unknown"; sha256, 64 lowercase hex digits or
 * "unknown"; optional md5, 32 hex digits, checked when the SHA-256 is not
 * known; format tgz|tar|zip|rar|7z|file), labels (parser, file, image_dir,
 * mos_range [lo, hi], higher_better, optional sheet, ref_mode
 * auto|none|prefix, std_is_variance, exclude: image names dropped from the
 * index) and optional splits (pyiqa: the meta_info CSV holding pyiqa's
 * split columns; official: {file, name_column, set_column} or {file,
 * test_list: true}).
 *
 * Loading checks every field: an unknown or repeated key, a wrong type or
 * value is an error naming the file and the field's path, e.g.
 * "koniq10k.json: sources[1].files[0].sha256: not 64 lowercase hex digits". */
#ifndef BIQA_DATASETS_MANIFEST_H
#define BIQA_DATASETS_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/digest.h"
#include "core/error.h"

enum biqa_manifest_kind { BIQA_MANIFEST_DOWNLOAD, BIQA_MANIFEST_LOCAL, BIQA_MANIFEST_GENERATED };

typedef struct biqa_manifest_file {
    char *file;       /* plain name, the name it gets under the download folder */
    char **urls;
    int n_urls;
    int64_t bytes;    /* -1: unknown */
    char *sha256;     /* NULL: unknown (pinned on first download) */
    char *md5;        /* NULL: none published */
    char *format;     /* tgz tar zip rar 7z file */
} biqa_manifest_file;

typedef struct biqa_manifest_labels {
    char *parser, *file, *image_dir, *sheet; /* sheet NULL: the parser's default */
    double mos_lo, mos_hi;
    int higher_better;
    int ref_mode;        /* enum biqa_ref_mode (datasets/labels.h) */
    int std_is_variance;
    char **exclude;      /* image names left out of the index */
    int n_exclude;
} biqa_manifest_labels;

typedef struct biqa_manifest_splits {
    char *pyiqa;          /* NULL: none */
    char *official_file;  /* NULL: none */
    char *name_column, *set_column; /* NULL with test_list */
    int test_list;
} biqa_manifest_splits;

typedef struct biqa_manifest_source {
    char *name, *note;
    int manual;
    biqa_manifest_file *files;
    int n_files;
    biqa_manifest_labels labels;
    biqa_manifest_splits splits;
} biqa_manifest_source;

typedef struct biqa_manifest {
    char *origin;    /* for messages: "koniq10k.json" (built in) or the user's path */
    int builtin;
    char *text;      /* the JSON as read */
    char sha256[BIQA_SHA256_HEX_LEN]; /* of text */
    char *name, *title, *homepage, *licence, *citation, *distortions, *layout;
    enum biqa_manifest_kind kind;
    int64_t images;     /* -1: not declared (generated kind) */
    int64_t references; /* -1: none */
    int64_t classes;    /* local kind, else -1 */
    char **notes;
    int n_notes;
    biqa_manifest_source *sources;
    int n_sources;
} biqa_manifest;

/* Parses and validates text (len bytes); origin names it in messages. */
int biqa_manifest_parse(const char *origin, const char *text, size_t len, biqa_manifest *m,
                        biqa_error *err);
/* A manifest file on disk (--manifest FILE). */
int biqa_manifest_load_file(const char *path, biqa_manifest *m, biqa_error *err);
/* A built-in manifest by dataset name; the error lists the known names. */
int biqa_manifest_load_builtin(const char *name, biqa_manifest *m, biqa_error *err);
void biqa_manifest_free(biqa_manifest *m);

/* The built-in manifests, sorted by file name. */
size_t biqa_manifest_builtin_count(void);
const char *biqa_manifest_builtin_name(size_t i); /* "koniq10k" */
/* Their JSON text as compiled in, for the sync check against the files. */
const char *biqa_manifest_builtin_text(size_t i, size_t *len);

const char *biqa_manifest_kind_name(enum biqa_manifest_kind k);

#endif
