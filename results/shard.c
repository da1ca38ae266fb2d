#include "results/shard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "results/provenance.h"

int biqa_shard_copy(const char *src, const char *dst, biqa_error *err)
{
    if (access(src, F_OK) != 0)
        return biqa_fail(err, "%s: no such results database", src);
    /* A plain read-only connection, not biqa_store_open: the array tasks of
     * one method copy the same pretraining shard at once, from several
     * nodes, and none of them may write to it (no sweep, no migration; the
     * copy is migrated when its task opens it). */
    sqlite3 *from = NULL, *d = NULL;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.copy-%ld", dst, (long)getpid());
    unlink(tmp);
    int rc = 0;
    if (sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        rc = biqa_fail(err, "%s: cannot open: %s", src,
                       from ? sqlite3_errmsg(from) : "out of memory");
    else if (sqlite3_open_v2(tmp, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
             SQLITE_OK)
        rc = biqa_fail(err, "%s: cannot create: %s", tmp, d ? sqlite3_errmsg(d) : "out of memory");
    if (rc == 0) {
        sqlite3_busy_timeout(from, 60000);
        sqlite3_backup *b = sqlite3_backup_init(d, "main", from, "main");
        int step = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
        if (b)
            sqlite3_backup_finish(b);
        if (step != SQLITE_DONE)
            rc = biqa_fail(err, "copying %s to %s: %s", src, tmp, sqlite3_errmsg(d));
    }
    sqlite3_close(from);
    sqlite3_close(d);
    if (rc == 0 && rename(tmp, dst) != 0)
        rc = biqa_fail(err, "%s: cannot rename %s into place: %s", dst, tmp, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    return rc;
}

struct take_over {
    char host[256], now[32];
    int count;
};

static int take_over_tx(biqa_store *s, void *ctx, biqa_error *err)
{
    struct take_over *t = ctx;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE runs SET status = 'interrupted', ended_at = ?2, error = "
                           "printf('process %d on %s ended without finishing the run (taken "
                           "over by the next attempt of its task, on %s at %s)', pid, host, "
                           "?1, ?2) WHERE status = 'running' AND host != ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return biqa_store_fail(s, err, "taking over the runs of an earlier attempt");
    sqlite3_bind_text(st, 1, t->host, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->now, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return biqa_store_fail(s, err, "taking over the runs of an earlier attempt");
    t->count = sqlite3_changes(s->db);
    return 0;
}

int biqa_shard_take_over(biqa_store *s, biqa_error *err)
{
    struct take_over t = {.count = 0};
    biqa_hostname(t.host);
    biqa_now_iso(t.now);
    if (biqa_store_transaction(s, take_over_tx, &t, err) < 0)
        return -1;
    return t.count;
}

const char *biqa_cell_status_name(biqa_cell_status s)
{
    static const char *const names[] = {"missing", "incomplete", "running",
                                        "interrupted", "failed", "finished"};
    return names[s];
}

/* What the runs of one split say: whether one finished (and its uid), and
 * the newest run. */
#define MAX_SPLITS 128
typedef struct split_runs {
    char split[64], finished_uid[64], status[16], detail[512];
    int64_t newest;
} split_runs;

static split_runs *split_of(split_runs *s, int *n, const char *split)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(s[i].split, split) == 0)
            return &s[i];
    if (*n == MAX_SPLITS)
        return NULL;
    memset(&s[*n], 0, sizeof s[*n]);
    snprintf(s[*n].split, sizeof s[*n].split, "%s", split);
    return &s[(*n)++];
}

static const char *text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static int read_splits(biqa_store *s, const char *kind, const char *method, split_runs *splits,
                       int *n, biqa_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, ifnull(split_id, ''), status, error, host, uid FROM runs "
                           "WHERE kind = ?1 AND method = ?2 ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return biqa_store_fail(s, err, "reading a cell's runs");
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, method, -1, SQLITE_STATIC);
    int rc = 0;
    *n = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        split_runs *sp = split_of(splits, n, text(st, 1));
        if (!sp) {
            rc = biqa_fail(err, "%s: more than %d splits of %s %s", s->path, MAX_SPLITS, kind,
                           method);
            break;
        }
        const char *status = text(st, 2);
        sp->newest = sqlite3_column_int64(st, 0);
        snprintf(sp->status, sizeof sp->status, "%s", status);
        if (!strcmp(status, "running"))
            snprintf(sp->detail, sizeof sp->detail, "on %s", text(st, 4));
        else
            snprintf(sp->detail, sizeof sp->detail, "%s", text(st, 3));
        if (!strcmp(status, "finished"))
            snprintf(sp->finished_uid, sizeof sp->finished_uid, "%s", text(st, 5));
    }
    sqlite3_finalize(st);
    return rc;
}

/* How many of the splits' finished runs store holds, finished, by uid. */
static int count_merged(biqa_store *store, const split_runs *splits, int n, int *merged,
                        biqa_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT 1 FROM runs WHERE uid = ?1 AND status = 'finished'", -1, &st,
                           NULL) != SQLITE_OK)
        return biqa_store_fail(store, err, "looking for merged runs");
    *merged = 0;
    for (int i = 0; i < n; i++) {
        if (!splits[i].finished_uid[0])
            continue;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, splits[i].finished_uid, -1, SQLITE_STATIC);
        *merged += sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return 0;
}

int biqa_shard_cell(const char *shard, const char *kind, const char *method, int expected,
                    biqa_store *store, biqa_cell_state *out, biqa_error *err)
{
    memset(out, 0, sizeof *out);
    if (access(shard, F_OK) != 0) {
        out->status = BIQA_CELL_MISSING;
        return 0;
    }
    split_runs *splits = malloc(MAX_SPLITS * sizeof *splits);
    if (!splits)
        return biqa_fail(err, "%s: out of memory", shard);
    biqa_store s;
    int n = 0, rc = biqa_store_open(&s, shard, BIQA_STORE_READONLY, err);
    if (rc == 0) {
        rc = read_splits(&s, kind, method, splits, &n, err);
        biqa_store_close(&s);
    }
    if (rc == 0 && store)
        rc = count_merged(store, splits, n, &out->merged, err);
    /* Which state a split that has not finished shows, strongest first. */
    static const char *const order[3] = {"failed", "running", "interrupted"};
    static const biqa_cell_status states[3] = {BIQA_CELL_FAILED, BIQA_CELL_RUNNING,
                                               BIQA_CELL_INTERRUPTED};
    for (int i = 0; rc == 0 && i < n; i++)
        out->finished += splits[i].finished_uid[0] != '\0';
    out->status = out->finished >= expected ? BIQA_CELL_FINISHED : BIQA_CELL_INCOMPLETE;
    for (int k = 0; rc == 0 && k < 3 && out->status == BIQA_CELL_INCOMPLETE; k++)
        for (int i = 0; i < n; i++) {
            if (splits[i].finished_uid[0] || strcmp(splits[i].status, order[k]) != 0)
                continue;
            out->status = states[k];
            out->run = splits[i].newest;
            snprintf(out->detail, sizeof out->detail, "%s", splits[i].detail);
            break;
        }
    free(splits);
    return rc;
}
