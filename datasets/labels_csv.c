/* CSV label formats (datasets/labels.h): pyiqa meta_info, KonIQ-10k, KADID-10k
 * dmos.csv, FLIVE, biqa's own, and PIPAL's header-less label lines. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/csv.h"
#include "core/file.h"
#include "datasets/labels_parse.h"

#define NO_COL ((size_t)-1)

/* The first of the names (NULL-terminated) that is a column, or NO_COL. */
static size_t column_of(const biqa_csv *c, const char *const *names)
{
    for (; *names; names++)
        for (size_t j = 0; j < c->ncols; j++)
            if (!strcmp(biqa_csv_header(c, j), *names))
                return j;
    return NO_COL;
}

static int need_column(const biqa_csv *c, const char *const *names, size_t *col, biqa_error *err)
{
    if ((*col = column_of(c, names)) != NO_COL)
        return 0;
    return biqa_csv_find_column(c, names[0], col, err); /* fails, listing the columns */
}

/* How a CSV format names its columns; NULL lists are absent columns. */
typedef struct csv_format {
    const char *const *image, *const *mos, *const *std, *const *var, *const *ref,
        *const *distortion;
    int ref_is_file; /* the ref column names a reference image: its stem is the id */
    int type_level;  /* distortion "TT:L" from the image name */
} csv_format;

static int read_csv_rows(label_rows *r, const csv_format *f, biqa_error *err)
{
    biqa_csv csv;
    if (biqa_csv_read(r->file, &csv, err) < 0)
        return -1;
    size_t ci, cm, cs = NO_COL, cv = NO_COL, cr = NO_COL, cd = NO_COL;
    int rc = need_column(&csv, f->image, &ci, err) < 0 || need_column(&csv, f->mos, &cm, err) < 0
                 ? -1
                 : 0;
    if (f->std)
        cs = column_of(&csv, f->std);
    if (f->var)
        cv = column_of(&csv, f->var);
    if (f->ref)
        cr = column_of(&csv, f->ref);
    if (f->distortion)
        cd = column_of(&csv, f->distortion);
    for (size_t row = 0; row < csv.nrows && rc == 0; row++) {
        char where[4200];
        snprintf(where, sizeof where, "%s:%zu", r->file, csv.lines[row + 1]);
        const char *name = biqa_csv_cell(&csv, row, ci);
        double mos, sd = NAN;
        rc = label_number(where, biqa_csv_header(&csv, cm), biqa_csv_cell(&csv, row, cm), &mos,
                          err);
        size_t csd = cs != NO_COL ? cs : cv;
        if (rc == 0 && csd != NO_COL && *biqa_csv_cell(&csv, row, csd)) {
            rc = label_number(where, biqa_csv_header(&csv, csd), biqa_csv_cell(&csv, row, csd),
                              &sd, err);
            if (rc == 0 && sd < 0)
                rc = biqa_fail(err, "%s: column '%s': %g is negative", where,
                               biqa_csv_header(&csv, csd), sd);
            if (rc == 0 && (csd == cv || r->spec->std_is_variance))
                sd = sqrt(sd);
        }
        const char *ref_cell = cr != NO_COL ? biqa_csv_cell(&csv, row, cr) : "";
        char *ref = !*ref_cell ? NULL : f->ref_is_file ? label_stem(ref_cell) : strdup(ref_cell);
        if (rc == 0 && *ref_cell && !ref)
            rc = biqa_fail(err, "%s: out of memory", where);
        char tl[64];
        const char *dist = cd != NO_COL ? biqa_csv_cell(&csv, row, cd) : NULL;
        if (f->type_level && label_type_level(name, tl, sizeof tl))
            dist = tl;
        if (rc == 0)
            rc = label_row(r, where, name, mos, sd, ref, dist && *dist ? dist : NULL, err);
        free(ref);
    }
    biqa_csv_free(&csv);
    return rc;
}

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

int labels_pyiqa_csv(label_rows *r, biqa_error *err)
{
    const csv_format f = {.image = NAMES("dist_name", "name"),
                          .mos = NAMES("mos", "dmos"),
                          .std = NAMES("std"),
                          .ref = NAMES("ref_name"),
                          .ref_is_file = 1};
    return read_csv_rows(r, &f, err);
}

int labels_koniq_csv(label_rows *r, biqa_error *err)
{
    const csv_format f = {.image = NAMES("image_name"), .mos = NAMES("MOS"), .std = NAMES("SD")};
    return read_csv_rows(r, &f, err);
}

int labels_kadid_csv(label_rows *r, biqa_error *err)
{
    const csv_format f = {.image = NAMES("dist_img"),
                          .mos = NAMES("dmos"),
                          .var = NAMES("var"),
                          .ref = NAMES("ref_img"),
                          .ref_is_file = 1,
                          .type_level = 1};
    return read_csv_rows(r, &f, err);
}

int labels_flive_csv(label_rows *r, biqa_error *err)
{
    const csv_format f = {.image = NAMES("name"), .mos = NAMES("mos")};
    return read_csv_rows(r, &f, err);
}

int labels_biqa_csv(label_rows *r, biqa_error *err)
{
    const csv_format f = {.image = NAMES("image"),
                          .mos = NAMES("mos"),
                          .std = NAMES("std"),
                          .ref = NAMES("ref"),
                          .distortion = NAMES("distortion", "chain")};
    return read_csv_rows(r, &f, err);
}

/* ---- PIPAL: "<name>,<elo>" lines, one file or a folder of them ------------ */

static int pipal_file(label_rows *r, const char *path, biqa_error *err)
{
    char *text;
    size_t len;
    if (biqa_read_file(path, &text, &len, err) < 0)
        return -1;
    int rc = 0;
    size_t line = 0;
    for (char *p = text, *next; rc == 0 && p < text + len; p = next) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        next = nl ? nl + 1 : text + len;
        line++;
        char *end = nl ? nl : text + len;
        while (end > p && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
            end--;
        *end = '\0';
        if (!*p)
            continue;
        char where[4200];
        snprintf(where, sizeof where, "%s:%zu", path, line);
        char *comma = strchr(p, ',');
        if (!comma || strchr(comma + 1, ',')) {
            rc = biqa_fail(err, "%s: expected '<image>,<score>', found '%s'", where, p);
            break;
        }
        *comma = '\0';
        double elo;
        rc = label_number(where, "score", comma + 1, &elo, err);
        char *ref = rc == 0 ? label_name_prefix(p, 0) : NULL;
        char tl[64];
        if (rc == 0)
            rc = ref ? label_row(r, where, p, elo, NAN, ref,
                                 label_type_level(p, tl, sizeof tl) ? tl : NULL, err)
                     : biqa_fail(err, "%s: out of memory", where);
        free(ref);
    }
    free(text);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int labels_pipal(label_rows *r, biqa_error *err)
{
    struct stat st;
    if (stat(r->file, &st) < 0)
        return biqa_fail(err, "%s: no such label file or folder", r->file);
    if (!S_ISDIR(st.st_mode))
        return pipal_file(r, r->file, err);
    DIR *d = opendir(r->file);
    if (!d)
        return biqa_fail(err, "%s: cannot open the label folder", r->file);
    char **files = NULL;
    size_t n = 0;
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".txt"))
            continue;
        char **f = realloc(files, (n + 1) * sizeof *f);
        if (!f || asprintf(&f[n], "%s/%s", r->file, e->d_name) < 0)
            rc = biqa_fail(err, "%s: out of memory", r->file);
        if (f)
            files = f;
        n += rc == 0;
    }
    closedir(d);
    if (rc == 0 && n == 0)
        rc = biqa_fail(err, "%s: no .txt label files in the folder", r->file);
    if (rc == 0)
        qsort(files, n, sizeof *files, cmp_str); /* rows in a fixed order */
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = pipal_file(r, files[i], err);
        free(files[i]);
    }
    free(files);
    return rc;
}
