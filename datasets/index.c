/* The normalised dataset index (datasets/index.h). */
#include "datasets/index.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/csv.h"
#include "core/file.h"

void biqa_index_init(biqa_index *idx, const char *dataset, const char *source)
{
    memset(idx, 0, sizeof *idx);
    idx->dataset = strdup(dataset ? dataset : "");
    idx->source = strdup(source ? source : "");
}

void biqa_index_free(biqa_index *idx)
{
    for (size_t i = 0; i < idx->n; i++) {
        biqa_index_item *it = &idx->items[i];
        free(it->path), free(it->name), free(it->ref), free(it->distortion);
    }
    free(idx->items);
    free(idx->dataset);
    free(idx->source);
    memset(idx, 0, sizeof *idx);
}

static char *dup_or_null(const char *s, int *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    *oom |= !d;
    return d;
}

int biqa_index_add(biqa_index *idx, const char *path, const char *name, double mos_raw,
                   double std_raw, const char *ref, const char *distortion, biqa_error *err)
{
    if (!idx->dataset || !idx->source)
        return biqa_fail(err, "index: out of memory");
    if (idx->n == idx->cap) {
        size_t cap = idx->cap ? 2 * idx->cap : 64;
        biqa_index_item *items = realloc(idx->items, cap * sizeof *items);
        if (!items)
            return biqa_fail(err, "%s: out of memory", idx->source);
        idx->items = items, idx->cap = cap;
    }
    int oom = 0;
    biqa_index_item it = {dup_or_null(path, &oom), dup_or_null(name, &oom), dup_or_null(ref, &oom),
                          dup_or_null(distortion, &oom), NAN, mos_raw, std_raw};
    if (oom || !it.path || !it.name) {
        free(it.path), free(it.name), free(it.ref), free(it.distortion);
        return biqa_fail(err, "%s: out of memory", idx->source);
    }
    idx->items[idx->n++] = it;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    const biqa_index_item *x = *(const biqa_index_item *const *)a;
    const biqa_index_item *y = *(const biqa_index_item *const *)b;
    return strcmp(x->name, y->name);
}

int biqa_index_normalise(biqa_index *idx, double lo, double hi, int higher_better,
                         biqa_error *err)
{
    if (!(lo < hi) || !isfinite(lo) || !isfinite(hi))
        return biqa_fail(err, "%s: MOS range [%g, %g] is empty", idx->source, lo, hi);
    if (idx->n == 0)
        return biqa_fail(err, "%s: no images", idx->source);
    for (size_t i = 0; i < idx->n; i++) {
        biqa_index_item *it = &idx->items[i];
        if (!isfinite(it->mos_raw) || it->mos_raw < lo || it->mos_raw > hi)
            return biqa_fail(err, "%s: image '%s': MOS %g outside the dataset's range [%g, %g]",
                             idx->source, it->name, it->mos_raw, lo, hi);
        if (!isnan(it->std) && !(it->std >= 0 && isfinite(it->std)))
            return biqa_fail(err, "%s: image '%s': std %g is not a finite value >= 0",
                             idx->source, it->name, it->std);
    }
    const biqa_index_item **sorted = malloc(idx->n * sizeof *sorted);
    if (!sorted)
        return biqa_fail(err, "%s: out of memory", idx->source);
    for (size_t i = 0; i < idx->n; i++)
        sorted[i] = &idx->items[i];
    qsort(sorted, idx->n, sizeof *sorted, by_name);
    for (size_t i = 1; i < idx->n; i++)
        if (!strcmp(sorted[i - 1]->name, sorted[i]->name)) {
            int rc = biqa_fail(err, "%s: image '%s' is listed twice", idx->source, sorted[i]->name);
            free(sorted);
            return rc;
        }
    free(sorted);
    for (size_t i = 0; i < idx->n; i++) {
        biqa_index_item *it = &idx->items[i];
        it->mos = (higher_better ? it->mos_raw - lo : hi - it->mos_raw) / (hi - lo);
        it->std /= hi - lo; /* NaN stays NaN */
    }
    idx->mos_lo = lo, idx->mos_hi = hi, idx->higher_better = higher_better;
    idx->normalised = 1;
    return 0;
}

/* Optional column: *col = (size_t)-1 when name is NULL. */
static int find_optional(const biqa_csv *csv, const char *name, size_t *col, biqa_error *err)
{
    *col = (size_t)-1;
    return name ? biqa_csv_find_column(csv, name, col, err) : 0;
}

int biqa_index_read_csv(const char *dir, const char *csv_name, const char *dataset,
                        const biqa_index_columns *cols, double lo, double hi,
                        int higher_better, biqa_index *out, biqa_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, csv_name);
    biqa_index_init(out, dataset, path);
    biqa_csv csv;
    if (biqa_csv_read(path, &csv, err) < 0) {
        biqa_index_free(out);
        return -1;
    }
    size_t ci, cm, cs, cr, cd;
    int rc = biqa_csv_find_column(&csv, cols->image, &ci, err) < 0 ||
                     biqa_csv_find_column(&csv, cols->mos, &cm, err) < 0 ||
                     find_optional(&csv, cols->std, &cs, err) < 0 ||
                     find_optional(&csv, cols->ref, &cr, err) < 0 ||
                     find_optional(&csv, cols->distortion, &cd, err) < 0
                 ? -1
                 : 0;
    for (size_t r = 0; r < csv.nrows && rc == 0; r++) {
        const size_t line = csv.lines[r + 1];
        const char *name = biqa_csv_cell(&csv, r, ci);
        double v[2] = {NAN, NAN};
        size_t vc[2] = {cm, cs};
        for (int k = 0; k < 2 && rc == 0; k++) {
            if (vc[k] == (size_t)-1)
                continue;
            const char *cell = biqa_csv_cell(&csv, r, vc[k]);
            char *end;
            v[k] = strtod(cell, &end);
            if (!*cell || *end || !isfinite(v[k]))
                rc = biqa_fail(err, "%s:%zu: column '%s': '%s' is not a finite number", path,
                               line, biqa_csv_header(&csv, vc[k]), cell);
        }
        if (rc == 0 && !*name)
            rc = biqa_fail(err, "%s:%zu: column '%s' is empty", path, line, cols->image);
        if (rc == 0 && (v[0] < lo || v[0] > hi))
            rc = biqa_fail(err, "%s:%zu: column '%s': MOS %g outside the dataset's range [%g, %g]",
                           path, line, cols->mos, v[0], lo, hi);
        if (rc == 0 && v[1] < 0)
            rc = biqa_fail(err, "%s:%zu: column '%s': std %g is negative", path, line,
                           cols->std, v[1]);
        const char *ref = cr == (size_t)-1 ? NULL : biqa_csv_cell(&csv, r, cr);
        const char *dist = cd == (size_t)-1 ? NULL : biqa_csv_cell(&csv, r, cd);
        if (rc == 0 && ref && !*ref)
            rc = biqa_fail(err, "%s:%zu: column '%s' is empty", path, line, cols->ref);
        char img[4096];
        snprintf(img, sizeof img, "%s/%s", dir, name);
        if (rc == 0)
            rc = biqa_index_add(out, img, name, v[0], v[1], ref, dist && *dist ? dist : NULL, err);
    }
    biqa_csv_free(&csv);
    if (rc == 0)
        rc = biqa_index_normalise(out, lo, hi, higher_better, err);
    if (rc < 0)
        biqa_index_free(out);
    return rc;
}

int biqa_index_read_synthetic(const char *dir, biqa_index *out, biqa_error *err)
{
    const biqa_index_columns cols = {"image", "mos", "std", "ref", "chain"};
    /* datasets/synthetic.h: MOS of the observer model, 1..100, higher = better. */
    return biqa_index_read_csv(dir, "meta.csv", "synthetic", &cols, 1.0, 100.0, 1, out, err);
}

/* ---- a fetched dataset's index.csv ------------------------------------------ */

/* One RFC 4180 field: quoted when it holds a comma, quote or line break. */
static int put_field(biqa_atomic_file *f, const char *s, biqa_error *err)
{
    if (!strpbrk(s, ",\"\r\n"))
        return biqa_atomic_write(f, s, strlen(s), err);
    if (biqa_atomic_write(f, "\"", 1, err) < 0)
        return -1;
    for (const char *q; (q = strchr(s, '"')); s = q + 1)
        if (biqa_atomic_write(f, s, (size_t)(q - s) + 1, err) < 0 ||
            biqa_atomic_write(f, "\"", 1, err) < 0)
            return -1;
    return biqa_atomic_write(f, s, strlen(s), err) < 0 ? -1 : biqa_atomic_write(f, "\"", 1, err);
}

int biqa_index_write_dataset(const biqa_index *idx, const char *dir, const char *path,
                             biqa_error *err)
{
    if (!idx->normalised)
        return biqa_fail(err, "%s: the index is not normalised", path);
    const size_t dl = strlen(dir);
    for (size_t i = 0; i < idx->n; i++)
        if (strncmp(idx->items[i].path, dir, dl) != 0 || idx->items[i].path[dl] != '/')
            return biqa_fail(err, "%s: image '%s' is not under %s", path, idx->items[i].path, dir);
    biqa_atomic_file f;
    if (biqa_atomic_open(&f, path, err) < 0)
        return -1;
    static const char header[] = "image,name,mos,std,ref,distortion,mos_raw\n";
    int rc = biqa_atomic_write(&f, header, sizeof header - 1, err);
    for (size_t i = 0; i < idx->n && rc == 0; i++) {
        const biqa_index_item *it = &idx->items[i];
        char mos[40], std[40], raw[40];
        snprintf(mos, sizeof mos, ",%.17g,", it->mos);
        snprintf(std, sizeof std, isnan(it->std) ? "," : "%.17g,", it->std);
        snprintf(raw, sizeof raw, ",%.17g\n", it->mos_raw);
        rc = put_field(&f, it->path + dl + 1, err) < 0 || biqa_atomic_write(&f, ",", 1, err) < 0 ||
                     put_field(&f, it->name, err) < 0 ||
                     biqa_atomic_write(&f, mos, strlen(mos), err) < 0 ||
                     biqa_atomic_write(&f, std, strlen(std), err) < 0 ||
                     put_field(&f, it->ref ? it->ref : "", err) < 0 ||
                     biqa_atomic_write(&f, ",", 1, err) < 0 ||
                     put_field(&f, it->distortion ? it->distortion : "", err) < 0 ||
                     biqa_atomic_write(&f, raw, strlen(raw), err) < 0
                 ? -1
                 : 0;
    }
    if (rc < 0)
        return -1; /* a failed write has aborted the file */
    return biqa_atomic_commit(&f, err);
}

/* dataset.json's name, mos_range and higher_better, when the file is there. */
static int read_dataset_json(const char *dir, char **name, double *lo, double *hi, int *hb,
                             biqa_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/dataset.json", dir);
    *name = NULL;
    char *text;
    size_t len;
    if (access(path, F_OK) != 0)
        return 0;
    if (biqa_read_file(path, &text, &len, err) < 0)
        return -1;
    cJSON *o = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "name");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "mos_range");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "higher_better");
    int rc = 0;
    if (!cJSON_IsString(n) || !cJSON_IsArray(r) || cJSON_GetArraySize(r) != 2 ||
        !cJSON_IsNumber(r->child) || !cJSON_IsNumber(r->child->next) || !cJSON_IsBool(h))
        rc = biqa_fail(err, "%s: not a dataset record (name, mos_range, higher_better)", path);
    else if (!(*name = strdup(n->valuestring)))
        rc = biqa_fail(err, "%s: out of memory", path);
    else
        *lo = r->child->valuedouble, *hi = r->child->next->valuedouble, *hb = cJSON_IsTrue(h);
    cJSON_Delete(o);
    return rc;
}

static int cell_number(const biqa_csv *csv, size_t r, size_t c, int empty_ok, double *out,
                       biqa_error *err)
{
    const char *cell = biqa_csv_cell(csv, r, c);
    char *end;
    *out = NAN;
    if (!*cell && empty_ok)
        return 0;
    *out = strtod(cell, &end);
    if (!*cell || *end || !isfinite(*out))
        return biqa_fail(err, "%s:%zu: column '%s': '%s' is not a finite number", csv->path,
                         csv->lines[r + 1], biqa_csv_header(csv, c), cell);
    return 0;
}

int biqa_index_read_dataset(const char *dir, biqa_index *out, biqa_error *err)
{
    char path[4096], *name = NULL;
    double lo = 0, hi = 1;
    int hb = 1;
    snprintf(path, sizeof path, "%s/index.csv", dir);
    memset(out, 0, sizeof *out);
    if (read_dataset_json(dir, &name, &lo, &hi, &hb, err) < 0)
        return -1;
    if (!name) {
        const char *slash = strrchr(dir, '/');
        name = strdup(slash && slash[1] ? slash + 1 : dir);
    }
    biqa_index_init(out, name, path);
    free(name);
    biqa_csv csv;
    if (biqa_csv_read(path, &csv, err) < 0) {
        biqa_index_free(out);
        return -1;
    }
    static const char *const cols[7] = {"image", "name", "mos", "std", "ref", "distortion",
                                        "mos_raw"};
    size_t c[7];
    int rc = 0;
    for (int k = 0; k < 7 && rc == 0; k++)
        rc = biqa_csv_find_column(&csv, cols[k], &c[k], err);
    double *raw = rc == 0 ? malloc(csv.nrows * sizeof *raw) : NULL;
    if (rc == 0 && !raw)
        rc = biqa_fail(err, "%s: out of memory", path);
    for (size_t r = 0; r < csv.nrows && rc == 0; r++) {
        const char *img = biqa_csv_cell(&csv, r, c[0]), *nm = biqa_csv_cell(&csv, r, c[1]);
        const char *ref = biqa_csv_cell(&csv, r, c[4]), *dist = biqa_csv_cell(&csv, r, c[5]);
        double mos, std;
        if (!*img || !*nm || img[0] == '/' || strstr(img, ".."))
            rc = biqa_fail(err, "%s:%zu: image '%s' / name '%s': empty, absolute or with '..'",
                           path, csv.lines[r + 1], img, nm);
        else if (cell_number(&csv, r, c[2], 0, &mos, err) < 0 ||
                 cell_number(&csv, r, c[3], 1, &std, err) < 0 ||
                 cell_number(&csv, r, c[6], 0, &raw[r], err) < 0)
            rc = -1;
        char full[4096];
        if (rc == 0 && snprintf(full, sizeof full, "%s/%s", dir, img) >= (int)sizeof full)
            rc = biqa_fail(err, "%s:%zu: path too long", path, csv.lines[r + 1]);
        /* Added on the stored 0..1 scale: normalising over [0, 1] is the
         * identity and checks the range, the stds and duplicate names. */
        if (rc == 0)
            rc = biqa_index_add(out, full, nm, mos, std, *ref ? ref : NULL, *dist ? dist : NULL,
                                err);
    }
    biqa_csv_free(&csv);
    if (rc == 0)
        rc = biqa_index_normalise(out, 0.0, 1.0, 1, err);
    if (rc == 0) {
        for (size_t i = 0; i < out->n; i++)
            out->items[i].mos_raw = raw[i];
        out->mos_lo = lo, out->mos_hi = hi, out->higher_better = hb;
    }
    free(raw);
    if (rc < 0)
        biqa_index_free(out);
    return rc;
}

int biqa_index_read_dir(const char *dir, biqa_index *out, biqa_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/index.csv", dir);
    if (access(path, F_OK) == 0)
        return biqa_index_read_dataset(dir, out, err);
    snprintf(path, sizeof path, "%s/meta.csv", dir);
    if (access(path, F_OK) == 0)
        return biqa_index_read_synthetic(dir, out, err);
    memset(out, 0, sizeof *out);
    return biqa_fail(err, "%s: no index.csv (a dataset from 'biqa datasets fetch' or 'import') "
                          "and no meta.csv (the synthetic benchmark)", dir);
}
