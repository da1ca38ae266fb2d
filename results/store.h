/* The results store: one SQLite database in WAL mode holding every run, its
 * metrics and its provenance (DESIGN.md, Results store).
 *
 * Opening a store read-write creates it when missing, applies the forward
 * migrations of results/schema.c, loads the compiled-in published
 * numbers, and marks runs of this host whose process has died `interrupted`.
 * Every write is one IMMEDIATE transaction and waits (busy timeout) for a
 * concurrent writer instead of failing, so two biqa processes sharing one
 * database lose no row. */
#ifndef BIQA_RESULTS_STORE_H
#define BIQA_RESULTS_STORE_H

#include <sqlite3.h>

#include "core/error.h"

typedef struct biqa_store {
    sqlite3 *db;
    char *path;
} biqa_store;

enum biqa_store_mode {
    BIQA_STORE_WRITE,    /* create/migrate, sweep dead runs, allow writes */
    BIQA_STORE_READONLY, /* sweep first when the file is writable, then refuse writes */
};

int biqa_store_open(biqa_store *s, const char *path, enum biqa_store_mode mode, biqa_error *err);
void biqa_store_close(biqa_store *s);

/* Applies migrations 1..target to a raw connection (each in its own
 * transaction with its user_version bump). Exposed so that tests can build
 * a database of an older schema. */
int biqa_store_migrate(sqlite3 *db, int target, const char *path, biqa_error *err);
int biqa_store_schema_version(sqlite3 *db);

/* Runs fn inside BEGIN IMMEDIATE ... COMMIT, rolling back on failure. */
int biqa_store_transaction(biqa_store *s, int (*fn)(biqa_store *, void *, biqa_error *),
                           void *ctx, biqa_error *err);

/* Marks `running` runs of this host whose process is gone as `interrupted`;
 * returns how many it marked, or -1. */
int biqa_store_sweep_interrupted(biqa_store *s, biqa_error *err);

/* Error helper: "<path>: <sqlite message>". */
int biqa_store_fail(const biqa_store *s, biqa_error *err, const char *what);

/* Current UTC time as ISO 8601 with milliseconds ("2026-11-26T09:41:00.123Z"). */
void biqa_now_iso(char out[32]);

#endif
