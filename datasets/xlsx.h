/* Reads one sheet of an Office Open XML workbook (.xlsx; ECMA-376 part 1,
 * SpreadsheetML): the zip (libarchive), xl/workbook.xml for the sheet's
 * relationship id, xl/_rels/workbook.xml.rels for its part, the shared
 * strings (xl/sharedStrings.xml: rich-text runs concatenated, phonetic runs
 * left out), then the sheet's cells: shared strings (t="s"), inline strings
 * (t="inlineStr"), formula strings (t="str"), booleans (t="b"), errors
 * (t="e") and numbers (no t, or t="n"). Cells are addressed by their "r"
 * reference ("C12"); a cell or row without one follows the previous one, as
 * the standard allows. Formulas are not evaluated: their cached value is
 * read. Styles (dates) are not applied: a date reads as its serial number. */
#ifndef BIQA_DATASETS_XLSX_H
#define BIQA_DATASETS_XLSX_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

enum biqa_xlsx_type { BIQA_XLSX_NUMBER, BIQA_XLSX_STRING, BIQA_XLSX_BOOL, BIQA_XLSX_ERROR };

typedef struct biqa_xlsx_cell {
    uint32_t row, col;        /* 1-based: A1 is row 1, col 1 */
    enum biqa_xlsx_type type;
    char *text;               /* a string's text, a number as the file writes it ("1600", "0.25") */
} biqa_xlsx_cell;

typedef struct biqa_xlsx_sheet {
    char *path, *name;        /* the file and the sheet, for messages */
    biqa_xlsx_cell *cells;    /* non-empty cells, by row then column */
    size_t n;
    uint32_t rows, cols;      /* the largest row and column holding a cell */
} biqa_xlsx_sheet;

/* Reads the sheet called sheet (compared ignoring case, as Excel does; NULL:
 * the workbook's first sheet). Errors name the file, and the sheet, XML part
 * and line, or cell at fault. */
int biqa_xlsx_read(const char *path, const char *sheet, biqa_xlsx_sheet *out, biqa_error *err);
void biqa_xlsx_free(biqa_xlsx_sheet *s);

/* The cell at row, col, or NULL when it is empty. */
const biqa_xlsx_cell *biqa_xlsx_get(const biqa_xlsx_sheet *s, uint32_t row, uint32_t col);
/* Its text, "" when empty. */
const char *biqa_xlsx_text(const biqa_xlsx_sheet *s, uint32_t row, uint32_t col);
/* Its value as a finite number (a number cell, or a string holding one);
 * an empty or non-numeric cell is an error "FILE: sheet S: cell C12: ...". */
int biqa_xlsx_number(const biqa_xlsx_sheet *s, uint32_t row, uint32_t col, double *out,
                     biqa_error *err);

/* "C12" for row 12, col 3. */
void biqa_xlsx_ref(uint32_t row, uint32_t col, char out[16]);
/* Parses "C12" (also "$C$12"; columns A..XFD, rows 1..1048576); -1 when it
 * is not a cell reference. */
int biqa_xlsx_parse_ref(const char *ref, uint32_t *row, uint32_t *col);

#endif
