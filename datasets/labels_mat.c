/* MAT-file label formats (datasets/labels.h): LIVE Challenge and LIVE
 * release 2, through the level-5 reader in datasets/mat5.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "datasets/labels_parse.h"
#include "datasets/mat5.h"

/* The variable called name in the file at path, or the file's only one. */
static int load_var(const char *path, const char *name, biqa_mat *m, const biqa_mat_var **v,
                    biqa_error *err)
{
    if (biqa_mat_read(path, m, err) < 0)
        return -1;
    *v = biqa_mat_find(m, name);
    if (!*v && m->n == 1)
        *v = &m->vars[0];
    if (*v)
        return 0;
    return biqa_fail(err, "%s: no variable '%s' (%zu variables)", path, name, m->n);
}

static size_t vector_len(const biqa_mat_var *v)
{
    return v->rows == 1 || v->cols == 1 ? v->rows * v->cols : 0;
}

/* A numeric vector of n values (n = 0: any length, set in *n). */
static int numbers(const char *path, const biqa_mat_var *v, size_t *n, biqa_error *err)
{
    size_t len = vector_len(v);
    if (v->kind != BIQA_MAT_NUMERIC || (!len && v->rows * v->cols != 0))
        return biqa_fail(err, "%s: variable '%s' is not a numeric vector (a %zux%zu %s)", path,
                         v->name, v->rows, v->cols,
                         v->kind == BIQA_MAT_CHAR ? "char array" : v->kind == BIQA_MAT_CELL
                                                                       ? "cell array"
                                                                       : "array");
    if (*n && len != *n)
        return biqa_fail(err, "%s: variable '%s' holds %zu values, expected %zu", path, v->name,
                         len, *n);
    *n = len;
    return 0;
}

/* Entry i of a cell vector of strings (malloc'd). */
static int cell_string(const char *path, const biqa_mat_var *v, size_t i, char **out,
                       biqa_error *err)
{
    const biqa_mat_var *c = &v->cells[i];
    *out = c->kind == BIQA_MAT_CHAR && c->rows <= 1 ? biqa_mat_string(c, 0) : NULL;
    if (c->kind == BIQA_MAT_CHAR && c->rows == 0 && !*out)
        *out = strdup("");
    if (*out)
        return 0;
    return biqa_fail(err, "%s: variable '%s': entry %zu is not a string (a %zux%zu %s)", path,
                     v->name, i + 1, c->rows, c->cols,
                     c->kind == BIQA_MAT_CHAR ? "char matrix" : "non-char array");
}

static int strings(const char *path, const biqa_mat_var *v, size_t n, biqa_error *err)
{
    if (v->kind != BIQA_MAT_CELL || vector_len(v) != n)
        return biqa_fail(err, "%s: variable '%s' is not a cell vector of %zu names (a %zux%zu "
                              "%s)", path, v->name, n, v->rows, v->cols,
                         v->kind == BIQA_MAT_CELL ? "cell array" : "non-cell array");
    return 0;
}

/* ---- LIVE Challenge ------------------------------------------------------- */

/* t1..t7: the images LIVE Challenge's raters trained on, not evaluated. */
static int is_training_image(const char *name)
{
    char *stem = label_stem(name);
    int t = stem && strlen(stem) == 2 && (stem[0] == 't' || stem[0] == 'T') && stem[1] >= '1' &&
            stem[1] <= '7';
    free(stem);
    return t;
}

int labels_livec_mat(label_rows *r, biqa_error *err)
{
    static const char *const files[3] = {"AllImages_release", "AllMOS_release",
                                         "AllStdDev_release"};
    biqa_mat m[3] = {{0}};
    const biqa_mat_var *v[3];
    char *path[3] = {0};
    int rc = 0;
    for (int k = 0; k < 3 && rc == 0; k++) {
        if (asprintf(&path[k], "%s/%s.mat", r->file, files[k]) < 0) {
            path[k] = NULL;
            rc = biqa_fail(err, "%s: out of memory", r->file);
        } else {
            rc = load_var(path[k], files[k], &m[k], &v[k], err);
        }
    }
    size_t n = 0;
    if (rc == 0)
        rc = numbers(path[1], v[1], &n, err) < 0 || numbers(path[2], v[2], &n, err) < 0 ||
                     strings(path[0], v[0], n, err) < 0
                 ? -1
                 : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *name, where[4200];
        if (cell_string(path[0], v[0], i, &name, err) < 0) {
            rc = -1;
            break;
        }
        snprintf(where, sizeof where, "%s: entry %zu", path[0], i + 1);
        if (!is_training_image(name))
            rc = label_row(r, where, name, v[1]->num[i], v[2]->num[i], NULL, NULL, err);
        free(name);
    }
    for (int k = 0; k < 3; k++)
        biqa_mat_free(&m[k]), free(path[k]);
    return rc;
}

/* ---- LIVE release 2 ------------------------------------------------------- */

static const struct {
    const char *folder;
    size_t count;
} live_folders[] = {{"jp2k", 227}, {"jpeg", 233}, {"wn", 174}, {"gblur", 174}, {"fastfading", 174}};
enum { LIVE_ENTRIES = 982 };

int labels_live_mat(label_rows *r, biqa_error *err)
{
    biqa_mat dm, rm;
    memset(&rm, 0, sizeof rm);
    if (biqa_mat_read(r->file, &dm, err) < 0)
        return -1;
    const biqa_mat_var *mos = biqa_mat_find(&dm, "dmos_new"), *sd = NULL;
    if (mos)
        sd = biqa_mat_find(&dm, "dmos_std");
    else
        mos = biqa_mat_find(&dm, "dmos");
    const biqa_mat_var *orgs = biqa_mat_find(&dm, "orgs"), *refs = NULL;
    char *ref_path = NULL;
    const char *slash = strrchr(r->file, '/');
    int rc = 0;
    if (!mos || !orgs)
        rc = biqa_fail(err, "%s: no variables dmos_new or dmos, and orgs (LIVE release 2 "
                            "labels)", r->file);
    size_t n = LIVE_ENTRIES;
    if (rc == 0)
        rc = numbers(r->file, mos, &n, err) < 0 || numbers(r->file, orgs, &n, err) < 0 ||
                     (sd && numbers(r->file, sd, &n, err) < 0)
                 ? -1
                 : 0;
    if (rc == 0 && asprintf(&ref_path, "%.*s/refnames_all.mat", slash ? (int)(slash - r->file) : 1,
                            slash ? r->file : ".") < 0) {
        ref_path = NULL;
        rc = biqa_fail(err, "%s: out of memory", r->file);
    }
    if (rc == 0)
        rc = load_var(ref_path, "refnames_all", &rm, &refs, err) < 0 ||
                     strings(ref_path, refs, n, err) < 0
                 ? -1
                 : 0;
    size_t i = 0;
    for (size_t f = 0; f < sizeof live_folders / sizeof *live_folders && rc == 0; f++)
        for (size_t k = 1; k <= live_folders[f].count && rc == 0; k++, i++) {
            if (orgs->num[i] != 0)
                continue; /* a copy of its reference image */
            char name[64], where[4200], *ref_name, *ref;
            snprintf(name, sizeof name, "%s/img%zu.bmp", live_folders[f].folder, k);
            snprintf(where, sizeof where, "%s: entry %zu", r->file, i + 1);
            if (cell_string(ref_path, refs, i, &ref_name, err) < 0) {
                rc = -1;
                break;
            }
            ref = label_stem(ref_name);
            rc = ref ? label_row(r, where, name, mos->num[i], sd ? sd->num[i] : NAN, ref,
                                 live_folders[f].folder, err)
                     : biqa_fail(err, "%s: out of memory", where);
            free(ref), free(ref_name);
        }
    biqa_mat_free(&dm), biqa_mat_free(&rm);
    free(ref_path);
    return rc;
}
