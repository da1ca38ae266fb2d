#include "results/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "results/provenance.h"
#include "results/published.h"
#include "results/schema.h"

/* A writer waits this long for another process's transaction to end before
 * giving up; runs write a handful of short transactions, so this only trips
 * on a wedged peer. */
#define BUSY_TIMEOUT_MS 60000

void biqa_now_iso(char out[32])
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

int biqa_store_fail(const biqa_store *s, biqa_error *err, const char *what)
{
    return biqa_fail(err, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

int biqa_store_schema_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    return v;
}

static int exec(sqlite3 *db, const char *sql, const char *path, biqa_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        biqa_fail(err, "%s: %s", path, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int biqa_store_migrate(sqlite3 *db, int target, const char *path, biqa_error *err)
{
    int newest = biqa_schema_count();
    if (target > newest)
        return biqa_fail(err, "%s: no migration to schema version %d (newest is %d)", path,
                         target, newest);
    for (;;) {
        /* Read the version inside the write transaction: a concurrent
         * process may have migrated between our open and now. */
        if (exec(db, "BEGIN IMMEDIATE", path, err) < 0)
            return -1;
        int v = biqa_store_schema_version(db);
        if (v > newest) {
            exec(db, "ROLLBACK", path, NULL);
            return biqa_fail(err,
                             "%s: schema version %d is newer than this biqa understands (%d); "
                             "use a newer biqa",
                             path, v, newest);
        }
        if (v >= target)
            return exec(db, "COMMIT", path, err);
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
        if (exec(db, biqa_schema_migration(v + 1), path, err) < 0 ||
            exec(db, bump, path, err) < 0 || exec(db, "COMMIT", path, err) < 0) {
            exec(db, "ROLLBACK", path, NULL);
            return biqa_fail_wrap(err, "migrating to schema version %d", v + 1);
        }
    }
}

/* WAL: readers never block the writer and vice versa. Switching a new
 * database to WAL takes an exclusive lock for which SQLite does not call the
 * busy handler (seen: two processes creating one store at once got
 * SQLITE_BUSY at once), so wait here as the busy timeout would. */
static int enable_wal(sqlite3 *db, const char *path, biqa_error *err)
{
    for (int waited_ms = 0;; waited_ms += 10) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            int wal = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
            sqlite3_finalize(st);
            if (!wal)
                return biqa_fail(err, "%s: the file system does not support SQLite's WAL mode",
                                 path);
            return 0;
        }
        sqlite3_finalize(st);
        if ((rc & 0xff) != SQLITE_BUSY || waited_ms >= BUSY_TIMEOUT_MS)
            return biqa_fail(err, "%s: cannot enable WAL mode: %s", path, sqlite3_errmsg(db));
        usleep(10000);
    }
}

static int open_connection(biqa_store *s, int flags, biqa_error *err)
{
    if (sqlite3_open_v2(s->path, &s->db, flags, NULL) != SQLITE_OK) {
        biqa_fail(err, "%s: cannot open results database: %s", s->path,
                  s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sqlite3_close(s->db);
        s->db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(s->db, 1);
    return 0;
}

int biqa_store_open(biqa_store *s, const char *path, enum biqa_store_mode mode, biqa_error *err)
{
    memset(s, 0, sizeof *s);
    s->path = strdup(path);
    if (!s->path)
        return biqa_fail(err, "%s: out of memory", path);
    /* A missing database is created even for reading: a new user's first
     * `biqa query` over the published numbers should just work. */
    int writable = mode == BIQA_STORE_WRITE || access(path, W_OK) == 0 || access(path, F_OK) != 0;
    if (writable) {
        if (open_connection(s, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err) < 0)
            goto fail;
        /* NORMAL sync in WAL mode is durable across process crashes (only
         * power loss may drop the last commits), which is what a kill -9 needs. */
        if (enable_wal(s->db, path, err) < 0 ||
            exec(s->db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", path, err) < 0 ||
            biqa_store_migrate(s->db, biqa_schema_count(), path, err) < 0 ||
            biqa_published_sync(s, err) < 0 || biqa_store_sweep_interrupted(s, err) < 0)
            goto fail;
        if (mode == BIQA_STORE_WRITE)
            return 0;
        sqlite3_close(s->db);
        s->db = NULL;
    }
    if (open_connection(s, SQLITE_OPEN_READONLY, err) < 0)
        goto fail;
    int v = biqa_store_schema_version(s->db);
    if (v != biqa_schema_count()) {
        biqa_fail(err, "%s: schema version %d, this biqa needs %d (open it writable to migrate)",
                  path, v, biqa_schema_count());
        goto fail;
    }
    if (exec(s->db, "PRAGMA query_only = ON", path, err) < 0)
        goto fail;
    return 0;
fail:
    biqa_store_close(s);
    return -1;
}

void biqa_store_close(biqa_store *s)
{
    if (s->db)
        sqlite3_close(s->db);
    free(s->path);
    memset(s, 0, sizeof *s);
}

int biqa_store_transaction(biqa_store *s, int (*fn)(biqa_store *, void *, biqa_error *),
                           void *ctx, biqa_error *err)
{
    if (exec(s->db, "BEGIN IMMEDIATE", s->path, err) < 0)
        return -1;
    if (fn(s, ctx, err) < 0) {
        exec(s->db, "ROLLBACK", s->path, NULL);
        return -1;
    }
    if (exec(s->db, "COMMIT", s->path, err) < 0) {
        exec(s->db, "ROLLBACK", s->path, NULL);
        return -1;
    }
    return 0;
}

/* A run is alive when its recorded process still exists with the same start
 * time on the same boot: pids are reused, (boot, pid, start) is not. */
static int run_alive(const char *boot_id, int64_t pid, int64_t start, const char *my_boot)
{
    if (!boot_id || strcmp(boot_id, my_boot) != 0)
        return 0;
    return biqa_process_start(pid) == start;
}

static int sweep(biqa_store *s, void *ctx, biqa_error *err)
{
    int *marked = ctx;
    char host[256], boot[64], now[32];
    biqa_hostname(host);
    biqa_boot_id(boot);
    biqa_now_iso(now);
    sqlite3_stmt *sel = NULL, *upd = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, pid, boot_id, proc_start FROM runs "
                           "WHERE status = 'running' AND host = ?1",
                           -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "UPDATE runs SET status = 'interrupted', ended_at = ?2, "
                           "error = printf('process %d on %s ended without finishing the run "
                           "(found at %s)', pid, host, ?2) WHERE id = ?1",
                           -1, &upd, NULL) != SQLITE_OK) {
        biqa_store_fail(s, err, "checking for interrupted runs");
        goto out;
    }
    sqlite3_bind_text(sel, 1, host, -1, SQLITE_STATIC);
    int step;
    while ((step = sqlite3_step(sel)) == SQLITE_ROW) {
        if (run_alive((const char *)sqlite3_column_text(sel, 2), sqlite3_column_int64(sel, 1),
                      sqlite3_column_int64(sel, 3), boot))
            continue;
        sqlite3_bind_int64(upd, 1, sqlite3_column_int64(sel, 0));
        sqlite3_bind_text(upd, 2, now, -1, SQLITE_STATIC);
        if (sqlite3_step(upd) != SQLITE_DONE) {
            biqa_store_fail(s, err, "marking a run interrupted");
            goto out;
        }
        sqlite3_reset(upd);
        (*marked)++;
    }
    if (step != SQLITE_DONE) {
        biqa_store_fail(s, err, "checking for interrupted runs");
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    return rc;
}

int biqa_store_sweep_interrupted(biqa_store *s, biqa_error *err)
{
    int marked = 0;
    if (biqa_store_transaction(s, sweep, &marked, err) < 0)
        return -1;
    return marked;
}
