#include "harness/reuse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/log.h"
#include "methods/snapshot.h"
#include "results/resume.h"

void biqa_artifact_path(const char *db, int64_t id, const char *file, char *out, size_t len)
{
    size_t n = strlen(db);
    if (n > 3 && !strcmp(db + n - 3, ".db"))
        n -= 3;
    snprintf(out, len, "%.*s.artifacts/run-%lld%s%s", (int)n, db, (long long)id,
             file ? "/" : "", file ? file : "");
}

/* 1 when path exists and hashes to sha256. */
static int checkpoint_intact(const char *path, const char *sha256)
{
    char got[BIQA_SHA256_HEX_LEN];
    biqa_error ignored;
    return biqa_sha256_file(path, got, NULL, &ignored) == 0 && strcmp(got, sha256) == 0;
}

int biqa_reuse_decide(biqa_store *s, const biqa_cli *cli, const char *kind,
                      const char *config_json, const char *snapshot_file, biqa_reuse *out,
                      biqa_error *err)
{
    memset(out, 0, sizeof *out);
    if (!biqa_flag(cli->args, "resume"))
        return 0;
    char hash[BIQA_SHA256_HEX_LEN];
    biqa_prior_run prior;
    if (biqa_config_hash(config_json, hash, err) < 0 ||
        biqa_run_find_prior(s, kind, hash, &prior, err) < 0)
        return -1;
    if (!prior.id)
        return 0;
    if (!strcmp(prior.status, "finished")) {
        if (prior.checkpoint_path[0] &&
            !checkpoint_intact(prior.checkpoint_path, prior.checkpoint_sha256)) {
            biqa_warn("%s run %lld has the same config but its checkpoint %s is gone or "
                      "changed: running again", kind, (long long)prior.id,
                      prior.checkpoint_path);
            return 0;
        }
        out->kind = BIQA_REUSE_FINISHED, out->run = prior.id;
        snprintf(out->checkpoint, sizeof out->checkpoint, "%s", prior.checkpoint_path);
        biqa_info("%s: run %lld finished earlier with the same config (hash %.12s): reused",
                  kind, (long long)prior.id, hash);
        return 0;
    }
    if (strcmp(prior.status, "interrupted") != 0)
        return 0; /* failed: a new run; running: another process has it */
    if (!prior.same_code) {
        biqa_warn("%s run %lld was interrupted but was built from other code than this "
                  "binary (or a modified tree): a new run starts", kind, (long long)prior.id);
        return 0;
    }
    biqa_snapshot_pos pos = {0};
    char snap[4400];
    if (snapshot_file) {
        biqa_artifact_path(cli->db, prior.id, snapshot_file, snap, sizeof snap);
        out->from_snapshot = access(snap, F_OK) == 0;
        if (out->from_snapshot && biqa_snapshot_position(snap, &pos, err) < 0)
            return -1;
    }
    if (biqa_run_reopen(s, prior.id, pos.epoch, pos.failures, err) < 0)
        return -1;
    out->kind = BIQA_REUSE_RESUME, out->run = prior.id;
    if (out->from_snapshot)
        biqa_info("%s: resuming interrupted run %lld from %s", kind, (long long)prior.id, snap);
    else
        biqa_info("%s: restarting interrupted run %lld (it left no snapshot)", kind,
                  (long long)prior.id);
    return 0;
}

int biqa_reuse_member(biqa_store *s, const biqa_cli *cli, int64_t run, int reused,
                      biqa_error *err)
{
    const char *group = biqa_arg(cli->args, "group");
    if (!group)
        return 0;
    char *end;
    long long g = strtoll(group, &end, 10);
    if (end == group || *end || g < 1)
        return biqa_fail(err, "--group %s: not a run id", group);
    return biqa_run_add_member(s, g, run, reused, err);
}
