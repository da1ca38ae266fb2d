/* Evaluates a table spec (results/table_spec.h) against the results store.
 *
 * A runs cell takes the final metrics rows (step NULL) of finished runs that
 * match its selection. A split that was run more than once in one
 * configuration counts once: of the rows with the same split hash (a run
 * without one: itself), metrics dataset and split, and configuration (as
 * compared below), the newest run's is kept, so re-running a split
 * replaces it. "median" cells aggregate the kept values in run-id order with
 * results/aggregate.h (bootstrap seed 0, BIQA_BOOTSTRAP_RESAMPLES,
 * BIQA_BOOTSTRAP_LEVEL: what `biqa reproduce` and `biqa runs show` print);
 * an undefined value (NULL in the store) is NaN and makes the cell NaN, never
 * dropped. "latest" cells keep only the newest matching run. A cell whose
 * runs differ in configuration beyond the sections that do not change
 * results (downstream, run, compute, eval, pretrain.methods,
 * data.downstream) records how, so that the table can say so: runs of
 * another configuration are never silently mixed in, nor silently replace.
 *
 * Published cells take every published row of (published_table, method,
 * dataset, metric); the paper's numbers quoted differently by two sources
 * are both kept. */
#ifndef BIQA_RESULTS_TABLE_FILL_H
#define BIQA_RESULTS_TABLE_FILL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "results/aggregate.h"
#include "results/table_spec.h"

typedef struct biqa_cell_run {
    int64_t run_id;
    char *kind, *method, *dataset, *split, *split_hash, *config_hash, *git_commit, *flags;
    int git_dirty;
    double value; /* NaN: undefined in the store (flags say why) */
} biqa_cell_run;

typedef struct biqa_cell_pub {
    double value;
    char *source;
} biqa_cell_pub;

enum biqa_cell_state {
    BIQA_CELL_EMPTY,      /* runs cell, no run matches: fill says how to make one */
    BIQA_CELL_RUNS,       /* runs cell with values */
    BIQA_CELL_PUBLISHED,  /* published cell with values */
    BIQA_CELL_UNREPORTED, /* published cell, nothing published for it */
};

typedef struct biqa_cell {
    enum biqa_cell_state state;
    biqa_cell_run *runs; /* RUNS: the rows behind the value, in run-id order */
    size_t nruns;
    biqa_aggregate agg;  /* RUNS */
    biqa_cell_pub *pub;  /* PUBLISHED: ascending by value */
    int npub;
    double value;        /* shown and compared: the median, or the largest published value */
    int nconfigs;        /* RUNS: distinct configurations among the runs */
    char *mixed;         /* nconfigs > 1: "KEY: A, B" for a key that differs */
    char *fill;          /* EMPTY: the command that would fill the cell */
    int best;            /* bold: the best of its column within its section */
} biqa_cell;

typedef struct biqa_table_data {
    const biqa_tspec *spec;
    biqa_cell *cells; /* spec->nrows x spec->ncols */
} biqa_table_data;

typedef struct biqa_fill_options {
    const biqa_tspec_where *where; /* over every cell's selection; may be NULL */
    const char *profile;           /* named in fill commands (default "demo") */
    biqa_tspec_is_default is_default; /* leaves the profile's own values out of them */
    void *ctx;
} biqa_fill_options;

int biqa_table_fill(sqlite3 *db, const biqa_tspec *spec, const biqa_fill_options *opt,
                    biqa_table_data *out, biqa_error *err);
void biqa_table_data_free(biqa_table_data *d);

/* One cell alone (no "best" marking): what --explain needs. */
int biqa_table_fill_one(sqlite3 *db, const biqa_tspec *spec, const biqa_fill_options *opt,
                        int row, int col, biqa_cell *out, biqa_error *err);
void biqa_cell_free(biqa_cell *c);

static inline biqa_cell *biqa_table_cell(const biqa_table_data *d, int row, int col)
{
    return &d->cells[row * d->spec->ncols + col];
}

/* A selection as SQL over `runs r JOIN metrics m`: " AND ..." conditions
 * appended to sql (len bytes in all), their parameters numbered from first
 * on (two per term), then bound by biqa_where_bind. -1 when sql is too small. */
int biqa_where_sql(const biqa_tspec_where *w, int first, char *sql, size_t len);
void biqa_where_bind(sqlite3_stmt *st, const biqa_tspec_where *w, int first);

/* v rounded as column col of spec shows it (decimals or significant digits). */
double biqa_table_round(const biqa_tspec_column *col, double v);

#endif
