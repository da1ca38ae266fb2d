/* A filled table (results/table_fill.h) as Markdown (GitHub), LaTeX
 * (booktabs) or CSV.
 *
 * md, latex: the spec's columns, column groups and sections; values with the
 * column's decimals (or significant digits) and suffix; a median with its
 * bootstrap CI "[lo, hi]" where the spec asks; the best value of a column
 * within a section in bold. Published values sit only in titled published
 * sections, so they are never mixed with biqa's own without a marker. Notes
 * (numbered, one per distinct text) follow the table: an empty cell shows a
 * dash and the `biqa` command that would fill it; a cell whose runs mix
 * configurations, an undefined (NaN) value, and a published value quoted
 * differently by two sources say so. The LaTeX fragment needs
 * \usepackage{booktabs} and nothing else.
 *
 * csv: one line per cell (per published value where a cell has several),
 * unrounded: table,section,row,row_label,column,column_label,source,value,
 * ci_lo,ci_hi,n,runs,note (source biqa|published; runs: space-separated
 * run ids; note: the fill command, mix or NaN text). */
#ifndef BIQA_HARNESS_TABLE_FORMAT_H
#define BIQA_HARNESS_TABLE_FORMAT_H

#include "core/error.h"
#include "results/table_fill.h"

enum biqa_tformat { BIQA_TFORMAT_MD, BIQA_TFORMAT_LATEX, BIQA_TFORMAT_CSV };

/* "md", "latex" or "csv"; -1 for anything else. */
int biqa_tformat_parse(const char *name, enum biqa_tformat *out);
/* File extension: md, tex, csv. */
const char *biqa_tformat_ext(enum biqa_tformat f);

/* The table as text (malloc'd); db names the store in a leading comment. */
char *biqa_table_render(const biqa_table_data *d, enum biqa_tformat f, const char *db,
                        biqa_error *err);

/* A value as column col shows it: rounded, minus sign, suffix (no markup). */
void biqa_table_format_value(const biqa_tspec_column *col, double v, char *out, size_t len);

#endif
