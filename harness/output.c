#include "harness/output.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void biqa_table_init(biqa_table *t, int ncols, const char *const *header)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->nrows = -1; /* the header row is row 0 */
    biqa_table_add(t, header);
}

void biqa_table_add(biqa_table *t, const char *const *row)
{
    if (t->nrows + 2 > t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        char **grown = realloc(t->cells, (size_t)cap * (size_t)t->ncols * sizeof *grown);
        if (!grown)
            return;
        t->cells = grown;
        t->cap = cap;
    }
    t->nrows++;
    for (int c = 0; c < t->ncols; c++)
        t->cells[t->nrows * t->ncols + c] = strdup(row[c] ? row[c] : "");
}

static int looks_numeric(const char *s)
{
    if (!*s)
        return 1;
    char *end;
    strtod(s, &end);
    return *end == '\0';
}

void biqa_table_print(const biqa_table *t, FILE *out)
{
    int *width = calloc((size_t)t->ncols, sizeof *width);
    int *right = calloc((size_t)t->ncols, sizeof *right);
    if (!width || !right)
        goto out;
    for (int c = 0; c < t->ncols; c++) {
        right[c] = t->nrows > 0;
        for (int r = 0; r <= t->nrows; r++) {
            const char *s = t->cells[r * t->ncols + c];
            int w = (int)strlen(s);
            if (w > width[c])
                width[c] = w;
            if (r > 0 && !looks_numeric(s))
                right[c] = 0;
        }
    }
    for (int r = 0; r <= t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            int last = c == t->ncols - 1;
            if (right[c])
                fprintf(out, "%*s%s", width[c], s, last ? "" : "  ");
            else
                fprintf(out, "%-*s%s", last ? 0 : width[c], s, last ? "" : "  ");
        }
        fputc('\n', out);
    }
out:
    free(width);
    free(right);
}

void biqa_table_free(biqa_table *t)
{
    for (int i = 0; i < (t->nrows + 1) * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

void biqa_format_double(char out[32], double v)
{
    if (isnan(v)) {
        strcpy(out, "NaN");
        return;
    }
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(out, 32, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static cJSON *column_json(sqlite3_stmt *st, int c)
{
    switch (sqlite3_column_type(st, c)) {
    case SQLITE_INTEGER:
        return cJSON_CreateNumber((double)sqlite3_column_int64(st, c));
    case SQLITE_FLOAT:
        return cJSON_CreateNumber(sqlite3_column_double(st, c));
    case SQLITE_NULL:
        return cJSON_CreateNull();
    default:
        return cJSON_CreateString((const char *)sqlite3_column_text(st, c));
    }
}

static void column_text(sqlite3_stmt *st, int c, char buf[32], const char **text)
{
    switch (sqlite3_column_type(st, c)) {
    case SQLITE_FLOAT:
        biqa_format_double(buf, sqlite3_column_double(st, c));
        *text = buf;
        break;
    case SQLITE_NULL:
        *text = "";
        break;
    default:
        *text = (const char *)sqlite3_column_text(st, c);
    }
}

int biqa_print_statement(sqlite3_stmt *st, int json, FILE *out, const char *what,
                         biqa_error *err)
{
    int ncols = sqlite3_column_count(st);
    cJSON *array = json ? cJSON_CreateArray() : NULL;
    biqa_table t;
    const char **row = calloc((size_t)ncols + 1, sizeof *row);
    char (*bufs)[32] = calloc((size_t)ncols + 1, sizeof *bufs);
    for (int c = 0; c < ncols; c++)
        row[c] = sqlite3_column_name(st, c);
    if (!json)
        biqa_table_init(&t, ncols, row);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (json) {
            cJSON *obj = cJSON_CreateObject();
            for (int c = 0; c < ncols; c++)
                cJSON_AddItemToObject(obj, sqlite3_column_name(st, c), column_json(st, c));
            cJSON_AddItemToArray(array, obj);
        } else {
            for (int c = 0; c < ncols; c++)
                column_text(st, c, bufs[c], &row[c]);
            biqa_table_add(&t, row);
        }
    }
    int ok = rc == SQLITE_DONE;
    if (!ok)
        biqa_fail(err, "%s: %s", what, sqlite3_errmsg(sqlite3_db_handle(st)));
    else if (json)
        biqa_print_json(array, out), array = NULL;
    else if (ncols > 0)
        biqa_table_print(&t, out);
    if (!json)
        biqa_table_free(&t);
    cJSON_Delete(array);
    free(row);
    free(bufs);
    return ok ? 0 : -1;
}

void biqa_print_json(cJSON *value, FILE *out)
{
    char *text = cJSON_Print(value);
    if (text)
        fprintf(out, "%s\n", text);
    cJSON_free(text);
    cJSON_Delete(value);
}
