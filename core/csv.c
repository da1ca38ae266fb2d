#include "core/csv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"

/* Splits text in place into records of fields. Pass 1 (cells == NULL) only
 * counts, so the cell array is allocated once; pass 2 stores pointers. Quoted
 * fields are unescaped in place (the result is never longer than the input). */
static int split(biqa_csv *c, char *text, size_t len, char **cells, size_t *lines,
                 size_t *nrecords, size_t *ncells, biqa_error *err)
{
    size_t rec = 0, cell = 0, fields_in_rec = 0, line = 1, rec_line = 1;
    size_t want = c->ncols;
    char *p = text, *end = text + len;
    while (p < end) {
        char *start = p, *out = p;
        if (fields_in_rec == 0)
            rec_line = line;
        if (*p == '"') {
            size_t quote_line = line;
            p++;
            for (;;) {
                if (p >= end)
                    return biqa_fail(err, "%s:%zu: unterminated quoted field", c->path, quote_line);
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        if (cells) /* unescape only in the filling pass */
                            *out = '"';
                        out++;
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (*p == '\n')
                    line++;
                if (cells)
                    *out = *p;
                out++;
                p++;
            }
            if (p < end && *p != ',' && *p != '\n' && *p != '\r')
                return biqa_fail(err, "%s:%zu: text after a closing quote", c->path, line);
        } else {
            while (p < end && *p != ',' && *p != '\n' && *p != '\r') {
                if (*p == '"')
                    return biqa_fail(err, "%s:%zu: quote inside an unquoted field", c->path, line);
                p++;
            }
            out = p;
        }
        char sep = p < end ? *p : '\n';
        if (sep == '\r') {
            if (p + 1 < end && p[1] == '\n')
                p++;
            sep = '\n';
        }
        /* Terminate the field: out <= p, and *p is a separator. */
        if (cells) {
            cells[cell] = start;
            *out = '\0';
        }
        cell++;
        fields_in_rec++;
        p++;
        if (sep == '\n') {
            if (want == 0)
                want = fields_in_rec;
            else if (fields_in_rec != want)
                return biqa_fail(err, "%s:%zu: expected %zu fields, found %zu", c->path, rec_line,
                                 want, fields_in_rec);
            if (lines)
                lines[rec] = rec_line;
            rec++;
            fields_in_rec = 0;
            line++;
        }
    }
    *nrecords = rec;
    *ncells = cell;
    c->ncols = want;
    return 0;
}

int biqa_csv_read(const char *path, biqa_csv *out, biqa_error *err)
{
    size_t len = 0;
    char *text = NULL;
    memset(out, 0, sizeof *out);
    if (biqa_read_file(path, &text, &len, err) < 0)
        return -1;
    return biqa_csv_parse(path, text, len, out, err);
}

int biqa_csv_parse(const char *name, char *text, size_t len, biqa_csv *out, biqa_error *err)
{
    memset(out, 0, sizeof *out);
    out->path = strdup(name);
    out->text = text;
    char *body = text;
    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0) {
        body += 3;
        len -= 3;
    }
    /* Ignore trailing blank lines so a file ending in "\n\n" is not ragged. */
    while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r'))
        len--;
    if (len == 0) {
        biqa_fail(err, "%s: empty file (a header line and data rows are needed)", name);
        goto fail;
    }
    body[len] = '\n'; /* the buffer has a spare byte past the end */
    len++;
    size_t nrec = 0, ncell = 0;
    if (split(out, body, len, NULL, NULL, &nrec, &ncell, err) < 0)
        goto fail;
    if (nrec < 2) {
        biqa_fail(err, "%s: no data rows after the header", name);
        goto fail;
    }
    out->cells = malloc(ncell * sizeof *out->cells);
    out->lines = malloc(nrec * sizeof *out->lines);
    if (!out->cells || !out->lines) {
        biqa_fail(err, "%s: out of memory for %zu cells", name, ncell);
        goto fail;
    }
    out->ncols = 0;
    if (split(out, body, len, out->cells, out->lines, &nrec, &ncell, err) < 0)
        goto fail;
    out->nrows = nrec - 1;
    return 0;
fail:
    biqa_csv_free(out);
    return -1;
}

void biqa_csv_free(biqa_csv *csv)
{
    free(csv->path);
    free(csv->text);
    free(csv->cells);
    free(csv->lines);
    memset(csv, 0, sizeof *csv);
}

const char *biqa_csv_header(const biqa_csv *csv, size_t col) { return csv->cells[col]; }

const char *biqa_csv_cell(const biqa_csv *csv, size_t row, size_t col)
{
    return csv->cells[(row + 1) * csv->ncols + col];
}

int biqa_csv_find_column(const biqa_csv *csv, const char *name, size_t *col, biqa_error *err)
{
    for (size_t i = 0; i < csv->ncols; i++) {
        if (strcmp(csv->cells[i], name) == 0) {
            *col = i;
            return 0;
        }
    }
    char have[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < csv->ncols && used < sizeof have - 1; i++)
        used += (size_t)snprintf(have + used, sizeof have - used, "%s'%s'", i ? ", " : "",
                                 csv->cells[i]);
    return biqa_fail(err, "%s: no column '%s' (columns: %s)", csv->path, name, have);
}

int biqa_csv_column_doubles(const biqa_csv *csv, size_t col, double *out, biqa_error *err)
{
    for (size_t r = 0; r < csv->nrows; r++) {
        const char *s = biqa_csv_cell(csv, r, col);
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        while (*end == ' ' || *end == '\t')
            end++;
        if (*s == '\0')
            return biqa_fail(err, "%s:%zu: column '%s': empty cell", csv->path,
                             csv->lines[r + 1], biqa_csv_header(csv, col));
        if (end == s || *end != '\0')
            return biqa_fail(err, "%s:%zu: column '%s': '%s' is not a number", csv->path,
                             csv->lines[r + 1], biqa_csv_header(csv, col), s);
        /* ERANGE on underflow gives a usable denormal or 0; overflow gives
         * +-inf, which the metrics flag as non-finite. */
        out[r] = v;
    }
    return 0;
}
