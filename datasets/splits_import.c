/* Imported splits: pyiqa columns, official parts, test lists
 * (datasets/splits_import.h). */
#include "datasets/splits_import.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/csv.h"
#include "core/file.h"
#include "core/rng.h"

#define UNSET 0xff

/* ---- joining by name ------------------------------------------------------ */

typedef struct named {
    const char *name;
    size_t item;
} named;

static int cmp_exact(const void *a, const void *b)
{
    return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

static int cmp_case(const void *a, const void *b)
{
    return strcasecmp(((const named *)a)->name, ((const named *)b)->name);
}

typedef struct name_map {
    named *exact, *folded;
    size_t n;
} name_map;

static int map_init(name_map *m, const biqa_index *idx, biqa_error *err)
{
    m->n = idx->n;
    m->exact = malloc((m->n ? m->n : 1) * sizeof *m->exact);
    m->folded = malloc((m->n ? m->n : 1) * sizeof *m->folded);
    if (!m->exact || !m->folded) {
        free(m->exact), free(m->folded);
        return biqa_fail(err, "%s: out of memory", idx->source);
    }
    for (size_t i = 0; i < m->n; i++)
        m->exact[i] = m->folded[i] = (named){idx->items[i].name, i};
    qsort(m->exact, m->n, sizeof *m->exact, cmp_exact);
    qsort(m->folded, m->n, sizeof *m->folded, cmp_case);
    return 0;
}

static void map_free(name_map *m) { free(m->exact), free(m->folded); }

/* The item named name: exactly, else the one name equal ignoring case; (size_t)-1 if none. */
static size_t map_find(const name_map *m, const char *name)
{
    named key = {name, 0};
    const named *hit = m->n ? bsearch(&key, m->exact, m->n, sizeof key, cmp_exact) : NULL;
    if (hit)
        return hit->item;
    hit = m->n ? bsearch(&key, m->folded, m->n, sizeof key, cmp_case) : NULL;
    if (!hit)
        return (size_t)-1;
    size_t i = (size_t)(hit - m->folded);
    if ((i > 0 && !strcasecmp(m->folded[i - 1].name, name)) ||
        (i + 1 < m->n && !strcasecmp(m->folded[i + 1].name, name)))
        return (size_t)-1; /* ambiguous */
    return hit->item;
}

/* Sets the part of the item named name: 1, or 0 when no item has that name
 * (the row is ignored), -1 on error. */
static int assign(const name_map *m, unsigned char *parts, const char *name, unsigned char part,
                  const char *where, biqa_error *err)
{
    size_t item = map_find(m, name);
    if (item == (size_t)-1)
        return 0;
    if (parts[item] != UNSET)
        return biqa_fail(err, "%s: image '%s' is listed twice", where, name);
    parts[item] = part;
    return 1;
}

static int all_assigned(const biqa_index *idx, const unsigned char *parts, const char *path,
                        biqa_error *err)
{
    size_t n = 0, first = 0;
    for (size_t i = 0; i < idx->n; i++)
        if (parts[i] == UNSET && !n++)
            first = i;
    if (n)
        return biqa_fail(err, "%s: %zu images of the index have no row (first: '%s')", path, n,
                         idx->items[first].name);
    return 0;
}

/* ---- carving the validation part out of train ----------------------------- */

static const char *group_key(const biqa_index_item *it) { return it->ref ? it->ref : it->name; }

static int cmp_key(const void *a, const void *b)
{
    const named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->item > y->item) - (x->item < y->item);
}

static int carve_val(const biqa_index *idx, unsigned char *parts, double val_fraction,
                     uint64_t seed, int nn, biqa_error *err)
{
    if (!(val_fraction >= 0 && val_fraction < 1))
        return biqa_fail(err, "splits.val_fraction: %g is not in [0, 1)", val_fraction);
    if (val_fraction == 0)
        return 0;
    size_t nt = 0;
    named *train = malloc((idx->n ? idx->n : 1) * sizeof *train);
    size_t *group_of = malloc((idx->n ? idx->n : 1) * sizeof *group_of);
    size_t *perm = malloc((idx->n ? idx->n : 1) * sizeof *perm);
    unsigned char *is_val = malloc(idx->n ? idx->n : 1);
    int rc = train && group_of && perm && is_val ? 0
                                                 : biqa_fail(err, "%s: out of memory",
                                                             idx->source);
    for (size_t i = 0; rc == 0 && i < idx->n; i++)
        if (parts[i] == BIQA_PART_TRAIN)
            train[nt++] = (named){group_key(&idx->items[i]), i};
    size_t g = 0;
    if (rc == 0) {
        qsort(train, nt, sizeof *train, cmp_key);
        for (size_t i = 0; i < nt; i++) {
            g += i == 0 || strcmp(train[i].name, train[i - 1].name);
            group_of[i] = g - 1;
        }
        for (size_t i = 0; i < g; i++)
            perm[i] = i;
        uint64_t stream = biqa_rng_stream("splits-val");
        for (size_t i = g; i-- > 1;) {
            size_t j = (size_t)biqa_rng_below(seed, stream, ((uint64_t)nn << 32) + i, i + 1);
            size_t t = perm[i];
            perm[i] = perm[j], perm[j] = t;
        }
        size_t n_val = (size_t)llround((double)g * val_fraction);
        n_val = n_val ? n_val : 1;
        if (n_val >= g)
            rc = biqa_fail(err, "%s: %zu training %s are too few to carve a validation part from",
                           idx->source, g, nt && idx->items[train[0].item].ref ? "references"
                                                                              : "images");
        memset(is_val, 0, g ? g : 1);
        for (size_t pos = 0; rc == 0 && pos < n_val; pos++)
            is_val[perm[pos]] = 1;
        for (size_t i = 0; rc == 0 && i < nt; i++)
            if (is_val[group_of[i]])
                parts[train[i].item] = BIQA_PART_VAL;
    }
    free(train), free(group_of), free(perm), free(is_val);
    return rc;
}

/* ---- the three sources ------------------------------------------------------ */

/* The split from parts, with its id. Frees parts. */
static int finish(const biqa_index *idx, int k, const char *id, unsigned char *parts,
                  biqa_split *out, biqa_error *err)
{
    int rc = biqa_split_from_parts(idx, k, parts, out, err);
    free(parts);
    if (rc == 0)
        snprintf(out->id, sizeof out->id, "%s", id);
    return rc;
}

static int part_of(const char *v, int pyiqa, unsigned char *part)
{
    if (!strcasecmp(v, "train") || !strcasecmp(v, "training"))
        *part = BIQA_PART_TRAIN;
    else if (!strcasecmp(v, "val") || !strcasecmp(v, "validation") || !strcasecmp(v, "valid"))
        *part = pyiqa ? BIQA_PART_TEST : BIQA_PART_VAL; /* pyiqa's val is what it reports */
    else if (!strcasecmp(v, "test") || !strcasecmp(v, "testing"))
        *part = BIQA_PART_TEST;
    else
        return -1;
    return 0;
}

/* Parts from a CSV's name and part columns (name_col NULL: pyiqa's). */
static int parts_from_csv(const biqa_index *idx, const char *path, const char *name_col,
                          const char *set_col, int pyiqa, unsigned char **parts_out,
                          biqa_error *err)
{
    *parts_out = NULL;
    biqa_csv csv;
    if (biqa_csv_read(path, &csv, err) < 0)
        return -1;
    size_t cn = (size_t)-1, cs;
    static const char *const pyiqa_names[] = {"dist_name", "name", "image_name"};
    for (size_t k = 0; !name_col && cn == (size_t)-1 && k < 3; k++)
        for (size_t j = 0; j < csv.ncols; j++)
            if (!strcmp(biqa_csv_header(&csv, j), pyiqa_names[k]))
                cn = j;
    int rc = (name_col || cn != (size_t)-1 ? 0
                                           : biqa_fail(err, "%s: no image column (dist_name, "
                                                            "name or image_name)", path));
    if (rc == 0 && name_col)
        rc = biqa_csv_find_column(&csv, name_col, &cn, err);
    if (rc == 0)
        rc = biqa_csv_find_column(&csv, set_col, &cs, err);
    name_map m = {0};
    if (rc == 0)
        rc = map_init(&m, idx, err);
    unsigned char *parts = rc == 0 ? malloc(idx->n ? idx->n : 1) : NULL;
    if (rc == 0 && !parts)
        rc = biqa_fail(err, "%s: out of memory", path);
    if (parts)
        memset(parts, UNSET, idx->n ? idx->n : 1);
    for (size_t r = 0; rc == 0 && r < csv.nrows; r++) {
        char where[4200];
        snprintf(where, sizeof where, "%s:%zu", path, csv.lines[r + 1]);
        const char *v = biqa_csv_cell(&csv, r, cs);
        unsigned char part;
        if (part_of(v, pyiqa, &part) < 0)
            rc = biqa_fail(err, "%s: column '%s': '%s' is not %s", where, set_col, v,
                           pyiqa ? "train or val" : "train, val or test");
        else
            rc = assign(&m, parts, biqa_csv_cell(&csv, r, cn), part, where, err) < 0 ? -1 : 0;
    }
    if (rc == 0)
        rc = all_assigned(idx, parts, path, err);
    map_free(&m);
    biqa_csv_free(&csv);
    if (rc < 0) {
        free(parts);
        return -1;
    }
    *parts_out = parts;
    return 0;
}

int biqa_split_import_pyiqa(const biqa_index *idx, const char *path, int nn, double val_fraction,
                            uint64_t seed, biqa_split *out, biqa_error *err)
{
    memset(out, 0, sizeof *out);
    if (nn < 1 || nn > 99)
        return biqa_fail(err, "%s: pyiqa split %d is not 1..99", path, nn);
    char col[64], id[16];
    snprintf(col, sizeof col, "ratio802_seed123_split_%02d", nn);
    snprintf(id, sizeof id, "pyiqa%02d", nn);
    unsigned char *parts;
    if (parts_from_csv(idx, path, NULL, col, 1, &parts, err) < 0)
        return -1;
    if (carve_val(idx, parts, val_fraction, seed, nn, err) < 0) {
        free(parts);
        return -1;
    }
    return finish(idx, nn - 1, id, parts, out, err);
}

int biqa_split_import_official(const biqa_index *idx, const char *path, const char *name_col,
                               const char *set_col, double val_fraction, uint64_t seed,
                               biqa_split *out, biqa_error *err)
{
    memset(out, 0, sizeof *out);
    unsigned char *parts;
    if (parts_from_csv(idx, path, name_col, set_col, 0, &parts, err) < 0)
        return -1;
    int has_val = 0;
    for (size_t i = 0; i < idx->n; i++)
        has_val |= parts[i] == BIQA_PART_VAL;
    if (!has_val && carve_val(idx, parts, val_fraction, seed, 0, err) < 0) {
        free(parts);
        return -1;
    }
    return finish(idx, 0, "official", parts, out, err);
}

int biqa_split_import_test_list(const biqa_index *idx, const char *path, double val_fraction,
                                uint64_t seed, biqa_split *out, biqa_error *err)
{
    memset(out, 0, sizeof *out);
    char *text;
    size_t len;
    if (biqa_read_file(path, &text, &len, err) < 0)
        return -1;
    name_map m = {0};
    unsigned char *parts = malloc(idx->n ? idx->n : 1);
    int rc = parts ? map_init(&m, idx, err) : biqa_fail(err, "%s: out of memory", path);
    if (parts)
        memset(parts, UNSET, idx->n ? idx->n : 1);
    size_t line = 0, listed = 0;
    int first = 1;
    for (char *p = text, *next; rc == 0 && p < text + len; p = next) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        next = nl ? nl + 1 : text + len;
        line++;
        char *end = nl ? nl : text + len;
        while (end > p && isspace((unsigned char)end[-1]))
            end--;
        *end = '\0';
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            continue;
        if (first && (!strcmp(p, "name") || !strcmp(p, "image") || !strcmp(p, "image_name"))) {
            first = 0;
            continue; /* a one-column CSV's header */
        }
        first = 0;
        char where[4200];
        snprintf(where, sizeof where, "%s:%zu", path, line);
        int hit = assign(&m, parts, p, BIQA_PART_TEST, where, err);
        rc = hit < 0 ? -1 : 0;
        listed += hit > 0;
    }
    free(text);
    map_free(&m);
    if (rc == 0 && !listed)
        rc = biqa_fail(err, "%s: none of its names is an image of the index", path);
    for (size_t i = 0; rc == 0 && i < idx->n; i++)
        if (parts[i] == UNSET)
            parts[i] = BIQA_PART_TRAIN;
    if (rc == 0)
        rc = carve_val(idx, parts, val_fraction, seed, 0, err);
    if (rc < 0) {
        free(parts);
        return -1;
    }
    return finish(idx, 0, "official", parts, out, err);
}
