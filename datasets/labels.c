/* Label parsers: dispatch by name, the row collector, image paths and the
 * missing-image report (datasets/labels.h). */
#include "datasets/labels.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "datasets/labels_parse.h"

typedef int (*label_parser)(label_rows *r, biqa_error *err);

static const char *const parser_names[] = {
    "pyiqa-csv", "koniq-csv", "kadid-csv", "flive-csv", "pipal-csv", "biqa-csv", "tid-txt",
    "livec-mat", "live-mat",  "csiq-xlsx", "spaq-xlsx", "bid-xlsx",  NULL};
static const label_parser parser_fns[] = {
    labels_pyiqa_csv, labels_koniq_csv, labels_kadid_csv, labels_flive_csv,
    labels_pipal,     labels_biqa_csv,  labels_tid_txt,   labels_livec_mat,
    labels_live_mat,  labels_csiq_xlsx, labels_spaq_xlsx, labels_bid_xlsx};
_Static_assert(sizeof parser_names / sizeof *parser_names ==
                   sizeof parser_fns / sizeof *parser_fns + 1,
               "one function per parser name");

const char *const *biqa_label_parsers(void) { return parser_names; }

/* ---- helpers shared by the parsers (labels_parse.h) ---------------------- */

int label_number(const char *where, const char *what, const char *cell, double *out,
                 biqa_error *err)
{
    char *end;
    while (isspace((unsigned char)*cell))
        cell++;
    double v = strtod(cell, &end);
    while (end != cell && isspace((unsigned char)*end))
        end++;
    if (!*cell || *end || !isfinite(v))
        return biqa_fail(err, "%s: %s: '%s' is not a finite number", where, what, cell);
    *out = v;
    return 0;
}

static const char *base_name(const char *name)
{
    const char *slash = strrchr(name, '/');
    return slash ? slash + 1 : name;
}

char *label_name_prefix(const char *name, int lower)
{
    const char *b = base_name(name);
    size_t n = strcspn(b, "_.");
    char *p = strndup(b, n);
    for (size_t i = 0; p && lower && i < n; i++)
        p[i] = (char)tolower((unsigned char)p[i]);
    return p;
}

char *label_stem(const char *name)
{
    const char *b = base_name(name), *dot = strrchr(b, '.');
    return strndup(b, dot && dot != b ? (size_t)(dot - b) : strlen(b));
}

int label_type_level(const char *name, char *out, size_t cap)
{
    const char *b = base_name(name);
    const char *u1 = strchr(b, '_');
    const char *u2 = u1 ? strchr(u1 + 1, '_') : NULL;
    if (!u2)
        return 0;
    size_t tl = (size_t)(u2 - u1 - 1), ll = strcspn(u2 + 1, "_.");
    const char *lev = u2 + 1;
    while (ll > 1 && *lev == '0') /* "05" -> "5" */
        lev++, ll--;
    if (!tl || !ll)
        return 0;
    snprintf(out, cap, "%.*s:%.*s", (int)tl, u1 + 1, (int)ll, lev);
    return 1;
}

int label_row(label_rows *r, const char *where, const char *name, double mos, double std,
              const char *auto_ref, const char *distortion, biqa_error *err)
{
    const biqa_label_spec *s = r->spec;
    if (!name || !*name)
        return biqa_fail(err, "%s: the image name is empty", where);
    if (!isfinite(mos) || mos < s->mos_lo || mos > s->mos_hi)
        return biqa_fail(err, "%s: image '%s': MOS %g outside the declared range [%g, %g]", where,
                         name, mos, s->mos_lo, s->mos_hi);
    if (!isnan(std) && !(isfinite(std) && std >= 0))
        return biqa_fail(err, "%s: image '%s': std %g is not a finite value >= 0", where, name,
                         std);
    if (r->idx->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 256;
        char **w = realloc(r->where, cap * sizeof *w);
        if (!w)
            return biqa_fail(err, "%s: out of memory", r->file);
        r->where = w, r->cap = cap;
    }
    char *prefix = NULL;
    const char *ref = auto_ref;
    if (s->ref_mode == BIQA_REF_NONE)
        ref = NULL;
    else if (s->ref_mode == BIQA_REF_PREFIX && !(ref = prefix = label_name_prefix(name, 1)))
        return biqa_fail(err, "%s: out of memory", r->file);
    char *w = strdup(where);
    int rc = w ? biqa_index_add(r->idx, name, name, mos, std, ref, distortion, err)
               : biqa_fail(err, "%s: out of memory", r->file);
    free(prefix);
    if (rc < 0) {
        free(w);
        return -1;
    }
    r->where[r->idx->n - 1] = w;
    return 0;
}

/* ---- after parsing: duplicates, paths, missing images -------------------- */

typedef struct named_row {
    const char *name;
    size_t row;
} named_row;

static int cmp_named_row(const void *a, const void *b)
{
    const named_row *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->row > y->row) - (x->row < y->row);
}

/* Names the later row of the first duplicate pair, and where the first one is. */
static int check_duplicates(const label_rows *r, biqa_error *err)
{
    const biqa_index *idx = r->idx;
    named_row *order = malloc((idx->n ? idx->n : 1) * sizeof *order);
    if (!order)
        return biqa_fail(err, "%s: out of memory", r->file);
    for (size_t i = 0; i < idx->n; i++)
        order[i] = (named_row){idx->items[i].name, i};
    qsort(order, idx->n, sizeof *order, cmp_named_row);
    size_t first = (size_t)-1, second = 0;
    for (size_t i = 1; i < idx->n; i++)
        if (!strcmp(order[i - 1].name, order[i].name) &&
            (first == (size_t)-1 || order[i].row < second))
            first = order[i - 1].row, second = order[i].row;
    free(order);
    if (first == (size_t)-1)
        return 0;
    return biqa_fail(err, "%s: image '%s' is listed twice (first at %s)", r->where[second],
                     idx->items[second].name, r->where[first]);
}

/* One folder's file names, sorted ignoring case, for the case-insensitive
 * fallback; loaded on first use. */
typedef struct folder_names {
    char *dir;
    char **names;
    size_t n;
} folder_names;

static int cmp_case(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

static void folder_free(folder_names *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->names[i]);
    free(f->names);
    free(f->dir);
    memset(f, 0, sizeof *f);
}

static int folder_load(folder_names *f, const char *dir, biqa_error *err)
{
    folder_free(f);
    f->dir = strdup(dir);
    DIR *d = opendir(dir);
    if (!f->dir)
        return biqa_fail(err, "%s: out of memory", dir);
    if (!d)
        return 0; /* no folder: every image in it is missing */
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (f->n == cap) {
            cap = cap ? 2 * cap : 256;
            char **n = realloc(f->names, cap * sizeof *n);
            if (!n) {
                rc = biqa_fail(err, "%s: out of memory", dir);
                break;
            }
            f->names = n;
        }
        if (!(f->names[f->n] = strdup(e->d_name)))
            rc = biqa_fail(err, "%s: out of memory", dir);
        else
            f->n++;
    }
    closedir(d);
    if (rc == 0 && f->n)
        qsort(f->names, f->n, sizeof *f->names, cmp_case);
    return rc;
}

/* The one name in f equal to base ignoring case, or NULL (none, or two). */
static const char *folder_find(const folder_names *f, const char *base)
{
    char *const *hit = f->n ? bsearch(&base, f->names, f->n, sizeof *f->names, cmp_case) : NULL;
    if (!hit)
        return NULL;
    size_t i = (size_t)(hit - f->names);
    if ((i > 0 && !strcasecmp(f->names[i - 1], base)) ||
        (i + 1 < f->n && !strcasecmp(f->names[i + 1], base)))
        return NULL;
    return *hit;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The file of item it: 0 and *path (malloc'd) when it exists, also under a
 * name differing in case only; 1 when it is missing; -1 on error. */
static int find_image(const char *dataset_dir, const char *sub, const biqa_index_item *it,
                      folder_names *folder, char **path, biqa_error *err)
{
    if (asprintf(path, "%s/%s%s%s", dataset_dir, sub ? sub : "", sub ? "/" : "", it->name) < 0)
        return biqa_fail(err, "%s: out of memory", it->name);
    if (is_file(*path))
        return 0;
    char *slash = strrchr(*path, '/');
    *slash = '\0';
    int rc = !folder->dir || strcmp(folder->dir, *path) ? folder_load(folder, *path, err) : 0;
    *slash = '/';
    const char *real = rc == 0 ? folder_find(folder, slash + 1) : NULL;
    if (real)
        strcpy(slash + 1, real); /* same length: it differs in case only */
    if (rc == 0 && real && is_file(*path))
        return 0;
    free(*path);
    *path = NULL;
    return rc < 0 ? -1 : 1;
}

/* Sets every item's path; items whose file is missing leave the index, their
 * names going to *missing in label order. */
static int resolve_paths(label_rows *r, const char *dataset_dir, char ***missing,
                         size_t *n_missing, biqa_error *err)
{
    biqa_index *idx = r->idx;
    const char *sub = r->spec->image_dir && *r->spec->image_dir ? r->spec->image_dir : NULL;
    folder_names folder = {0};
    char **miss = NULL;
    size_t nm = 0, kept = 0, i = 0;
    int rc = 0;
    for (; i < idx->n; i++) {
        biqa_index_item *it = &idx->items[i];
        char *path;
        int st = find_image(dataset_dir, sub, it, &folder, &path, err);
        char **m = st == 1 ? realloc(miss, (nm + 1) * sizeof *m) : NULL;
        if (st < 0 || (st == 1 && !m)) {
            rc = st < 0 ? -1 : biqa_fail(err, "%s: out of memory", r->file);
            break;
        }
        if (st == 1) {
            miss = m;
            miss[nm++] = it->name;
            free(it->path), free(it->ref), free(it->distortion);
            free(r->where[i]);
            continue;
        }
        free(it->path);
        it->path = path;
        idx->items[kept] = *it;
        r->where[kept++] = r->where[i];
    }
    for (; i < idx->n; i++) /* after an error: keep the rest for the caller to free */
        idx->items[kept] = idx->items[i], r->where[kept++] = r->where[i];
    idx->n = kept;
    folder_free(&folder);
    *missing = miss, *n_missing = nm;
    return rc;
}

void biqa_labels_free_names(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

static void clear_items(biqa_index *idx)
{
    for (size_t i = 0; i < idx->n; i++) {
        biqa_index_item *it = &idx->items[i];
        free(it->path), free(it->name), free(it->ref), free(it->distortion);
    }
    free(idx->items);
    idx->items = NULL, idx->n = idx->cap = 0;
}

int biqa_labels_read(const char *dataset_dir, const biqa_label_spec *spec, biqa_index *idx,
                     size_t *missing_out, char ***missing_names, biqa_error *err)
{
    *missing_out = 0;
    if (missing_names)
        *missing_names = NULL;
    size_t p = 0;
    while (parser_names[p] && (!spec->parser || strcmp(parser_names[p], spec->parser)))
        p++;
    if (!parser_names[p]) {
        char list[256] = "";
        for (size_t i = 0, at = 0; parser_names[i] && at < sizeof list; i++)
            at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "",
                                   parser_names[i]);
        return biqa_fail(err, "label parser '%s' is unknown (parsers: %s)",
                         spec->parser ? spec->parser : "(none)", list);
    }
    if (!spec->file || !*spec->file)
        return biqa_fail(err, "label parser '%s': no label file given", spec->parser);
    if (!(spec->mos_lo < spec->mos_hi) || !isfinite(spec->mos_lo) || !isfinite(spec->mos_hi))
        return biqa_fail(err, "%s: declared MOS range [%g, %g] is empty", spec->file,
                         spec->mos_lo, spec->mos_hi);
    char *file = NULL;
    if (asprintf(&file, "%s/%s", dataset_dir, spec->file) < 0)
        return biqa_fail(err, "%s: out of memory", spec->file);
    char *source = strdup(file);
    if (!source) {
        free(file);
        return biqa_fail(err, "%s: out of memory", spec->file);
    }
    free(idx->source);
    idx->source = source;
    clear_items(idx);

    label_rows r = {spec, file, idx, NULL, 0};
    char **missing = NULL;
    size_t n_missing = 0;
    int rc = parser_fns[p](&r, err);
    if (rc == 0)
        rc = check_duplicates(&r, err);
    if (rc == 0)
        rc = resolve_paths(&r, dataset_dir, &missing, &n_missing, err);
    if (rc == 0 && idx->n == 0 && n_missing)
        rc = biqa_fail(err, "%s: none of the %zu images it lists exists (first: %s/%s%s%s)", file,
                       n_missing, dataset_dir, spec->image_dir ? spec->image_dir : "",
                       spec->image_dir && *spec->image_dir ? "/" : "", missing[0]);
    if (rc == 0)
        rc = biqa_index_normalise(idx, spec->mos_lo, spec->mos_hi, spec->higher_better, err);
    for (size_t i = 0; i < idx->n; i++)
        free(r.where[i]);
    free(r.where);
    free(file);
    if (rc < 0) {
        clear_items(idx);
        biqa_labels_free_names(missing, n_missing);
        return -1;
    }
    *missing_out = n_missing;
    if (missing_names)
        *missing_names = missing;
    else
        biqa_labels_free_names(missing, n_missing);
    return 0;
}
