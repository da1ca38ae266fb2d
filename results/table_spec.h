/* Table specs: what each table of the paper shows and which runs fill each
 * cell (paper/tables/NAME.json; `biqa tables` renders them, results/table_fill.h
 * evaluates them). A spec is a JSON object:
 *
 *   name        the table's name (defaults to the file's stem)
 *   title       one line (required); caption: a longer text under it; stub:
 *               the header of the row labels' column (both optional)
 *   where       selection terms every cell starts from (below)
 *   aggregate   "median" (default): the median over the matching runs' splits,
 *               with the bootstrap CI of results/aggregate.h; "latest": the
 *               value of the newest matching run (benchmarks)
 *   ci          show the CI beside the median (default true)
 *   decimals    digits after the point (default 3); bold: "max" (default),
 *               "min" or "none": which value of a column and section is bold
 *   fill        template of the `biqa` command that fills an empty cell (a
 *               section's or a row's "fill" replaces it for its rows):
 *               {method} {dataset} {kind} {split} are the cell's selection
 *               values, {set} is " --set KEY=VALUE" for each config term
 *               whose value the profile does not already have,
 *               {profile} the profile named to `biqa tables` (default demo)
 *   published_table  published.paper_table the published rows come from
 *   columns     [{id, label, group?, where?, published?: {dataset, metric},
 *                 decimals?, digits?, suffix?, bold?}]
 *               group: a header over adjacent columns of that group;
 *               digits: significant digits instead of decimals; suffix:
 *               text after each value ("x")
 *   rows        [{id, label, where?, fill?}]: one section of runs, or
 *   sections    [{title, source?: "runs" | "published", where?, fill?, rows}]:
 *               rows of a published section have "published": METHOD (a
 *               published.method) instead of "where"; titled sections are
 *               how published values and biqa's own are told apart.
 *
 * A selection ("where") maps keys to a string, number or boolean:
 *   kind, method, backbone, seed, git_commit   columns of runs
 *   group                                      a grouping run (biqa reproduce)
 *                                              the run is a member of (run_members)
 *   dataset, split, metric                     columns of metrics
 *   SECTION.NAME[.NAME...]                     a value in runs.config_json
 *                                              (json_extract), e.g. degrade.k
 * A cell's selection is the table's, then the section's, the row's and the
 * column's terms, a later one replacing an earlier one of the same key
 * (`biqa tables --where` replaces them all); a row and a column may not
 * both name a key. Every runs cell must end with a kind and a metric, and a
 * fill command whose placeholders it can resolve. Errors name the file and
 * the JSON field. */
#ifndef BIQA_RESULTS_TABLE_SPEC_H
#define BIQA_RESULTS_TABLE_SPEC_H

#include <cjson/cJSON.h>

#include "core/error.h"

typedef struct biqa_tspec_term {
    char *key;
    cJSON *value; /* a string, number or bool; owned */
} biqa_tspec_term;

typedef struct biqa_tspec_where {
    biqa_tspec_term *terms;
    int n;
} biqa_tspec_where;

enum biqa_tspec_best { BIQA_BEST_MAX, BIQA_BEST_MIN, BIQA_BEST_NONE };
enum biqa_tspec_agg { BIQA_AGG_MEDIAN, BIQA_AGG_LATEST };

typedef struct biqa_tspec_column {
    char *id, *label, *group; /* group may be NULL */
    biqa_tspec_where where;
    char *pub_dataset, *pub_metric; /* NULL: no published counterpart */
    int decimals, digits;           /* digits > 0: significant digits */
    char *suffix;                   /* "" when none */
    enum biqa_tspec_best best;
} biqa_tspec_column;

typedef struct biqa_tspec_row {
    char *id, *label;
    int section;
    biqa_tspec_where where;
    char *pub_method; /* rows of a published section */
    char *fill;       /* NULL: the section's, else the table's */
} biqa_tspec_row;

typedef struct biqa_tspec_section {
    char *title;   /* NULL: untitled */
    int published; /* rows show published values */
    biqa_tspec_where where;
    char *fill;    /* NULL: the table's */
} biqa_tspec_section;

typedef struct biqa_tspec {
    char *path, *name, *title, *caption, *stub, *fill, *published_table;
    enum biqa_tspec_agg aggregate;
    int ci;
    biqa_tspec_where where;
    biqa_tspec_column *cols;
    int ncols;
    biqa_tspec_row *rows;
    int nrows;
    biqa_tspec_section *sections;
    int nsections;
} biqa_tspec;

/* Parses and validates text; name (a path) goes in messages and gives the
 * default name. */
int biqa_tspec_parse(const char *name, const char *text, biqa_tspec *t, biqa_error *err);
int biqa_tspec_load(const char *path, biqa_tspec *t, biqa_error *err);
void biqa_tspec_free(biqa_tspec *t);

/* Every *.json of dir, sorted by file name (the tables' order). */
int biqa_tspec_load_dir(const char *dir, biqa_tspec **specs, int *n, biqa_error *err);
void biqa_tspec_free_all(biqa_tspec *specs, int n);

/* Row/column index by id (or, failing that, label); -1 when absent. */
int biqa_tspec_row_index(const biqa_tspec *t, const char *id);
int biqa_tspec_col_index(const biqa_tspec *t, const char *id);

/* Whether key is a runs column, a metrics column, the group or a config
 * path, and which: 'r', 'm', 'g', 'c'; 0 when it is none. */
char biqa_tspec_key_class(const char *key);

/* Sets key to value in w (replacing an existing term); value is copied. */
int biqa_tspec_where_set(biqa_tspec_where *w, const char *key, const cJSON *value,
                         biqa_error *err);
/* "KEY=VALUE": VALUE is JSON when it parses as a number or boolean, else text. */
int biqa_tspec_where_set_text(biqa_tspec_where *w, const char *key_value, biqa_error *err);
const cJSON *biqa_tspec_where_get(const biqa_tspec_where *w, const char *key);
void biqa_tspec_where_free(biqa_tspec_where *w);

/* The merged selection of cell (row, col) with extra (may be NULL) over it. */
int biqa_tspec_cell_where(const biqa_tspec *t, int row, int col, const biqa_tspec_where *extra,
                          biqa_tspec_where *out, biqa_error *err);

/* A selection value as text: strings as they are, numbers shortest. */
void biqa_tspec_value_text(const cJSON *v, char *out, size_t len);

/* Whether a config term already has its value in the profile the command
 * names, so that {set} may leave it out (NULL: keep every term). */
typedef int (*biqa_tspec_is_default)(void *ctx, const char *key, const cJSON *value);

/* The fill command of a cell: its template with the placeholders replaced
 * (malloc'd), or NULL with err set. */
char *biqa_tspec_fill_command(const biqa_tspec *t, int row, const biqa_tspec_where *cell,
                              const char *profile, biqa_tspec_is_default is_default, void *ctx,
                              biqa_error *err);

#endif
