/* TID2008/TID2013 labels (datasets/labels.h): mos_with_names.txt, lines
 * "<mos> <name>", and the raters' std from mos_std.txt beside it. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "datasets/labels_parse.h"

/* The next non-blank line of text (split in place), its number in *line;
 * NULL at the end. */
static char *next_line(char **at, char *end, size_t *line)
{
    while (*at < end) {
        char *p = *at, *nl = memchr(p, '\n', (size_t)(end - p));
        char *stop = nl ? nl : end;
        *at = nl ? nl + 1 : end;
        ++*line;
        while (stop > p && isspace((unsigned char)stop[-1]))
            stop--;
        *stop = '\0';
        while (isspace((unsigned char)*p))
            p++;
        if (*p)
            return p;
    }
    return NULL;
}

/* mos_std.txt beside the labels: one value per line. *n = 0 when absent. */
static int read_std(const char *labels, double **out, size_t *n, char **path, biqa_error *err)
{
    *out = NULL, *n = 0;
    const char *slash = strrchr(labels, '/');
    int dir_len = slash ? (int)(slash - labels) : 1;
    if (asprintf(path, "%.*s/mos_std.txt", dir_len, slash ? labels : ".") < 0)
        return biqa_fail(err, "%s: out of memory", labels);
    FILE *probe = fopen(*path, "rb");
    if (!probe)
        return errno == ENOENT ? 0 : biqa_fail(err, "%s: %s", *path, strerror(errno));
    fclose(probe);
    char *text;
    size_t len, cap = 0, line = 0;
    if (biqa_read_file(*path, &text, &len, err) < 0)
        return -1;
    int rc = 0;
    char *at = text, *p;
    while (rc == 0 && (p = next_line(&at, text + len, &line))) {
        char where[4200];
        snprintf(where, sizeof where, "%s:%zu", *path, line);
        double v;
        rc = label_number(where, "std", p, &v, err);
        if (rc == 0 && *n == cap) {
            cap = cap ? 2 * cap : 1024;
            double *o = realloc(*out, cap * sizeof *o);
            if (!o)
                rc = biqa_fail(err, "%s: out of memory", *path);
            else
                *out = o;
        }
        if (rc == 0)
            (*out)[(*n)++] = v;
    }
    free(text);
    return rc;
}

int labels_tid_txt(label_rows *r, biqa_error *err)
{
    double *std;
    size_t n_std;
    char *std_path = NULL;
    if (read_std(r->file, &std, &n_std, &std_path, err) < 0) {
        free(std), free(std_path);
        return -1;
    }
    char *text;
    size_t len, line = 0, row = 0;
    if (biqa_read_file(r->file, &text, &len, err) < 0) {
        free(std), free(std_path);
        return -1;
    }
    int rc = 0;
    char *at = text, *p;
    while (rc == 0 && (p = next_line(&at, text + len, &line))) {
        char where[4200];
        snprintf(where, sizeof where, "%s:%zu", r->file, line);
        char *name = p + strcspn(p, " \t");
        if (!*name) {
            rc = biqa_fail(err, "%s: expected '<mos> <image name>', found '%s'", where, p);
            break;
        }
        *name++ = '\0';
        name += strspn(name, " \t");
        if (strpbrk(name, " \t")) {
            rc = biqa_fail(err, "%s: expected '<mos> <image name>', found more fields", where);
            break;
        }
        double mos;
        rc = label_number(where, "MOS", p, &mos, err);
        if (rc == 0 && n_std && row >= n_std)
            rc = biqa_fail(err, "%s: %s has %zu values, fewer than the labels' rows", where,
                           std_path, n_std);
        char *ref = rc == 0 ? label_name_prefix(name, 1) : NULL;
        char tl[64];
        if (rc == 0)
            rc = ref ? label_row(r, where, name, mos, n_std ? std[row] : NAN, ref,
                                 label_type_level(name, tl, sizeof tl) ? tl : NULL, err)
                     : biqa_fail(err, "%s: out of memory", where);
        free(ref);
        row++;
    }
    if (rc == 0 && n_std && n_std != row)
        rc = biqa_fail(err, "%s: %zu values for the %zu rows of %s", std_path, n_std, row, r->file);
    if (rc == 0 && row == 0)
        rc = biqa_fail(err, "%s: no labels", r->file);
    free(text), free(std), free(std_path);
    return rc;
}
