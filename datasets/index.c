/* The normalised dataset index (datasets/index.h). */
#include "datasets/index.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/csv.h"

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
