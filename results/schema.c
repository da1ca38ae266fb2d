/* The schema's history: migration i takes a database from user_version i-1
 * to i. Never edit a migration that has shipped; add the next one. */
#include "results/schema.h"

#include <stddef.h>

static const char *const migrations[] = {
    /* 1: runs and their metrics. */
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  method TEXT, backbone TEXT, dataset TEXT,"
    "  split_id TEXT, split_hash TEXT,"
    "  seed INTEGER,"
    "  config_json TEXT NOT NULL, config_hash TEXT NOT NULL,"
    "  git_commit TEXT NOT NULL, git_dirty INTEGER NOT NULL,"
    "  host TEXT NOT NULL, cpu TEXT, gpu TEXT, gpu_driver TEXT, cuda_version TEXT, cudnn_version TEXT,"
    "  started_at TEXT NOT NULL, ended_at TEXT,"
    "  status TEXT NOT NULL CHECK (status IN ('running','finished','failed','interrupted')),"
    "  error TEXT,"
    "  parent_run INTEGER REFERENCES runs(id),"
    "  checkpoint_path TEXT, checkpoint_sha256 TEXT,"
    "  pid INTEGER, boot_id TEXT, proc_start INTEGER"
    ");"
    "CREATE INDEX runs_status ON runs(status);"
    "CREATE TABLE metrics ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  dataset TEXT NOT NULL, split TEXT NOT NULL, metric TEXT NOT NULL,"
    "  step INTEGER,"           /* NULL: the run's final value */
    "  value REAL,"             /* NULL: undefined, see flags */
    "  flags TEXT"
    ");"
    "CREATE UNIQUE INDEX metrics_key ON metrics(run_id, dataset, split, metric, ifnull(step, -1));",

    /* 2: the paper's published numbers, reloaded when the compiled-in CSV changes. */
    "CREATE TABLE published ("
    "  paper TEXT NOT NULL, paper_table TEXT NOT NULL, method TEXT NOT NULL,"
    "  dataset TEXT NOT NULL, metric TEXT NOT NULL, value REAL NOT NULL, source TEXT NOT NULL"
    ");"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",

    /* 3: items a run could not process (an unreadable image, a failed
     * download): counted on the run and listed, never silently dropped. */
    "ALTER TABLE runs ADD COLUMN n_failed INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE run_failures ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  item TEXT NOT NULL, reason TEXT NOT NULL"
    ");"
    "CREATE INDEX run_failures_run ON run_failures(run_id);",

    /* 4: the runs a grouping run (biqa reproduce) is made of: those it
     * started or resumed (reused 0) and the finished ones with the same
     * config hash it reused instead of repeating them (reused 1). */
    "CREATE TABLE run_members ("
    "  group_run INTEGER NOT NULL REFERENCES runs(id),"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  reused INTEGER NOT NULL,"
    "  PRIMARY KEY (group_run, run_id)"
    ");",

    /* 5: datasets fetched, imported or verified (results/datasets_table.h):
     * the last verdict per dataset directory, with the digests that pin
     * its bytes. */
    "CREATE TABLE datasets ("
    "  name TEXT NOT NULL, dir TEXT NOT NULL,"
    "  manifest_sha256 TEXT, source TEXT,"
    "  state TEXT NOT NULL CHECK (state IN ('absent','partial','verified','corrupt')),"
    "  n_images INTEGER, index_sha256 TEXT, digests_sha256 TEXT,"
    "  updated_at TEXT NOT NULL,"
    "  PRIMARY KEY (name, dir)"
    ");",

    /* 6: a run's identity across databases (biqa results merge,
     * results/merge.h): 128 random bits given when the row is inserted and
     * carried along when the row is copied into another store, where the
     * run gets a new id. The trigger fills it for every insert that does not
     * bring one, so no writer has to know about it. */
    "ALTER TABLE runs ADD COLUMN uid TEXT;"
    "UPDATE runs SET uid = lower(hex(randomblob(16)));"
    "CREATE UNIQUE INDEX runs_uid ON runs(uid);"
    "CREATE TRIGGER runs_uid AFTER INSERT ON runs WHEN NEW.uid IS NULL BEGIN"
    "  UPDATE runs SET uid = lower(hex(randomblob(16))) WHERE id = NEW.id;"
    "END;",
};

int biqa_schema_count(void) { return (int)(sizeof migrations / sizeof migrations[0]); }

const char *biqa_schema_migration(int version)
{
    if (version < 1 || version > biqa_schema_count())
        return NULL;
    return migrations[version - 1];
}
