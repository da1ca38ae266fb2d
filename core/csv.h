/* A strict RFC 4180 CSV reader: comma separated, fields optionally quoted
 * with '"' (a doubled quote inside is one quote; quoted fields may hold commas
 * and line breaks), LF or CRLF line ends, optional UTF-8 BOM, optional final
 * line break. The first record is the header. Every record must have the
 * header's field count; anything else is an error naming file and line.
 * The whole file is read and parsed in place: one allocation for the text,
 * one for the cell pointers. */
#ifndef BIQA_CORE_CSV_H
#define BIQA_CORE_CSV_H

#include <stddef.h>

#include "core/error.h"

typedef struct biqa_csv {
    char *path;          /* as given, for messages */
    char *text;          /* file contents, cells point into it */
    size_t ncols, nrows; /* nrows excludes the header */
    char **cells;        /* (nrows + 1) * ncols: row 0 is the header */
    size_t *lines;       /* line number (1-based) where each record starts, header included */
} biqa_csv;

/* Reads path ("-" reads standard input). An empty file, a file with a header
 * but no data rows, a ragged record or an unterminated quote is an error. */
int biqa_csv_read(const char *path, biqa_csv *out, biqa_error *err);
/* Parses text (malloc'd, len bytes plus one spare byte after them) and takes
 * ownership of it, also on failure; name is used in messages. */
int biqa_csv_parse(const char *name, char *text, size_t len, biqa_csv *out, biqa_error *err);
void biqa_csv_free(biqa_csv *csv);

const char *biqa_csv_header(const biqa_csv *csv, size_t col);
const char *biqa_csv_cell(const biqa_csv *csv, size_t row, size_t col);

/* Index of the column called name; an error lists the columns there are. */
int biqa_csv_find_column(const biqa_csv *csv, const char *name, size_t *col, biqa_error *err);

/* Parses every cell of a column as a double (strtod: "nan" and "inf" are
 * numbers and reach the caller, who must flag them). An empty or
 * non-numeric cell is an error naming file, line, column and cell. */
int biqa_csv_column_doubles(const biqa_csv *csv, size_t col, double *out, biqa_error *err);

#endif
