/* Output for people (aligned tables) and for programs (--json). */
#ifndef BIQA_HARNESS_OUTPUT_H
#define BIQA_HARNESS_OUTPUT_H

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>

#include "core/error.h"

typedef struct biqa_table {
    int ncols, nrows, cap;
    char **cells; /* (nrows + 1) * ncols, row 0 the header; owned */
} biqa_table;

void biqa_table_init(biqa_table *t, int ncols, const char *const *header);
void biqa_table_add(biqa_table *t, const char *const *row);
/* Columns padded to their widest cell; numbers right-aligned. */
void biqa_table_print(const biqa_table *t, FILE *out);
void biqa_table_free(biqa_table *t);

/* Shortest text that reads back as exactly v; "NaN"/"inf" for non-finite. */
void biqa_format_double(char out[32], double v);

/* Steps st to the end, printing its rows as a table or a JSON array of
 * objects (SQL types kept: NULL -> null, numbers -> numbers). */
int biqa_print_statement(sqlite3_stmt *st, int json, FILE *out, const char *what,
                         biqa_error *err);

/* Prints a JSON value followed by a newline and frees it. */
void biqa_print_json(cJSON *value, FILE *out);

#endif
