/* Benchmarks: biqa measured in-process, side by side with a peer (a Python
 * script under harness/bench/ running the PyTorch / SciPy / OpenCV
 * equivalent on the same input in the same session), printed as a ratio and
 * recorded in the results store as a run of kind "bench". Speed is never a
 * timed assertion in a test (DESIGN.md, Conventions). */
#ifndef BIQA_HARNESS_BENCH_H
#define BIQA_HARNESS_BENCH_H

#include <cjson/cJSON.h>

#include "core/error.h"
#include "harness/cli.h"

double biqa_now_seconds(void);

/* Runs harness/bench/<script> with args through Debian's python3 (env
 * BIQA_PYTHON) and parses the one JSON object it prints. The script is
 * found under $BIQA_SRC or the source tree the binary was built in. */
cJSON *biqa_bench_peer(const char *script, const char *args, biqa_error *err);

/* One measured quantity of a bench, in the results store as metrics rows
 * (dataset "bench", split = case, metrics biqa/peer/speedup). */
typedef struct biqa_bench_row {
    const char *name;  /* e.g. "read + metrics" */
    const char *unit;  /* "s" (lower is better) or "img/s" (higher is better) */
    double ours, peer;
} biqa_bench_row;

/* Prints the table (with speedup = peer/ours for times, ours/peer for
 * rates) and records it as a finished bench run; returns the exit code. */
int biqa_bench_report(const biqa_cli *cli, const char *bench, const char *peer_name,
                      const char *config_json, const biqa_bench_row *rows, int nrows);

/* Items a bench could not process (an unreadable image), recorded with its
 * run as run failures: never dropped silently. */
typedef struct biqa_bench_failures {
    char **items, **reasons;
    int n;
} biqa_bench_failures;

/* The same, recording failures (may be NULL) on the bench's run. */
int biqa_bench_report_failures(const biqa_cli *cli, const char *bench, const char *peer_name,
                               const char *config_json, const biqa_bench_row *rows, int nrows,
                               const biqa_bench_failures *failures);

#endif
