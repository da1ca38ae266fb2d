#include "results/resume.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_info.h"
#include "core/digest.h"
#include "results/provenance.h"

int biqa_config_hash(const char *config_json, char hash[BIQA_SHA256_HEX_LEN], biqa_error *err)
{
    char *canon = biqa_json_canonical(config_json, err);
    if (!canon)
        return -1;
    biqa_sha256_hex(canon, strlen(canon), hash);
    free(canon);
    return 0;
}

static void copy_text(char *dst, size_t len, const unsigned char *src)
{
    snprintf(dst, len, "%s", src ? (const char *)src : "");
}

int biqa_run_find_prior(biqa_store *s, const char *kind, const char *hash, biqa_prior_run *out,
                        biqa_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, status, checkpoint_path, checkpoint_sha256, git_commit, "
                           "git_dirty FROM runs WHERE kind = ?1 AND config_hash = ?2 "
                           "ORDER BY id DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return biqa_store_fail(s, err, "looking for an earlier run of the same config");
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(st, 0);
        copy_text(out->status, sizeof out->status, sqlite3_column_text(st, 1));
        copy_text(out->checkpoint_path, sizeof out->checkpoint_path, sqlite3_column_text(st, 2));
        copy_text(out->checkpoint_sha256, sizeof out->checkpoint_sha256,
                  sqlite3_column_text(st, 3));
        const unsigned char *commit = sqlite3_column_text(st, 4);
        /* A modified tree of the same commit cannot be told from another
         * one: the run records dirty = 1 either way. */
        out->same_code = commit && strcmp((const char *)commit, BIQA_GIT_COMMIT) == 0 &&
                         sqlite3_column_int(st, 5) == BIQA_GIT_DIRTY;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return biqa_store_fail(s, err, "looking for an earlier run of the same config");
    return 0;
}

struct reopen {
    int64_t id, keep_steps, keep_failures;
};

static int exec_bound(biqa_store *s, const char *sql, const struct reopen *r, const char *what,
                      biqa_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return biqa_store_fail(s, err, what);
    /* Every statement here names its parameters ?1 (run) ?2 (steps) ?3 (failures). */
    for (int i = 1; i <= sqlite3_bind_parameter_count(st); i++)
        sqlite3_bind_int64(st, i, i == 1 ? r->id : i == 2 ? r->keep_steps : r->keep_failures);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : biqa_store_fail(s, err, what);
}

static int reopen_tx(biqa_store *s, void *ctx, biqa_error *err)
{
    const struct reopen *r = ctx;
    biqa_provenance p;
    biqa_provenance_collect(&p);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE runs SET status = 'running', ended_at = NULL, error = NULL, "
                           "pid = ?2, boot_id = ?3, proc_start = ?4, n_failed = ?5 "
                           "WHERE id = ?1 AND status = 'interrupted'",
                           -1, &st, NULL) != SQLITE_OK)
        return biqa_store_fail(s, err, "reopening an interrupted run");
    sqlite3_bind_int64(st, 1, r->id);
    sqlite3_bind_int64(st, 2, p.pid);
    sqlite3_bind_text(st, 3, p.boot_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, p.proc_start);
    sqlite3_bind_int64(st, 5, r->keep_failures);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return biqa_store_fail(s, err, "reopening an interrupted run");
    if (sqlite3_changes(s->db) != 1)
        return biqa_fail(err, "%s: run %lld is not interrupted: it cannot be resumed", s->path,
                         (long long)r->id);
    if (exec_bound(s, "DELETE FROM metrics WHERE run_id = ?1 AND (step IS NULL OR step >= ?2)", r,
                   "deleting the rows a resumed run rewrites", err) < 0)
        return -1;
    return exec_bound(s,
                      "DELETE FROM run_failures WHERE run_id = ?1 AND rowid NOT IN (SELECT "
                      "rowid FROM run_failures WHERE run_id = ?1 ORDER BY rowid LIMIT ?3)",
                      r, "deleting the failures a resumed run records again", err);
}

int biqa_run_reopen(biqa_store *s, int64_t id, int64_t keep_steps_below, int64_t keep_failures,
                    biqa_error *err)
{
    struct reopen r = {id, keep_steps_below, keep_failures};
    return biqa_store_transaction(s, reopen_tx, &r, err);
}

static int member_tx(biqa_store *s, void *ctx, biqa_error *err)
{
    const int64_t *v = ctx;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR IGNORE INTO run_members (group_run, run_id, reused) "
                           "VALUES (?1, ?2, ?3)",
                           -1, &st, NULL) != SQLITE_OK)
        return biqa_store_fail(s, err, "recording a member run");
    for (int i = 0; i < 3; i++)
        sqlite3_bind_int64(st, i + 1, v[i]);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : biqa_store_fail(s, err, "recording a member run");
}

int biqa_run_add_member(biqa_store *s, int64_t group, int64_t run, int reused, biqa_error *err)
{
    int64_t v[3] = {group, run, reused ? 1 : 0};
    return biqa_store_transaction(s, member_tx, v, err);
}
