#include "results/merge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The columns of one table, in declaration order. Both databases are at
 * this binary's schema version (opening migrates), so the lists are read
 * once and checked equal: columns added by later migrations are merged
 * without this file knowing their names. */
#define MAX_COLUMNS 64
typedef struct columns {
    char name[MAX_COLUMNS][64];
    int n;
} columns;

enum action { ADDED, SAME, UPDATED, KEPT };

typedef struct merge {
    biqa_store *dst;
    sqlite3 *src;
    const char *shard;
    columns runs, metrics, failures;
    biqa_merge_result *r;
    unsigned char *action; /* per r->map entry: enum action */
    size_t cap;            /* of r->map and action */
} merge;

static int read_columns(sqlite3 *db, const char *path, const char *table, columns *c,
                        biqa_error *err)
{
    char sql[96];
    snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", table);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return biqa_fail(err, "%s: reading the columns of %s: %s", path, table,
                         sqlite3_errmsg(db));
    c->n = 0;
    int rc = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        if (c->n == MAX_COLUMNS)
            rc = biqa_fail(err, "%s: table %s has more than %d columns", path, table,
                           MAX_COLUMNS);
        else
            snprintf(c->name[c->n++], sizeof c->name[0], "%s", sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    return rc;
}

static int same_columns(const merge *m, const char *table, const columns *dst, columns *src,
                        biqa_error *err)
{
    if (read_columns(m->src, m->shard, table, src, err) < 0)
        return -1;
    int same = src->n == dst->n;
    for (int i = 0; same && i < dst->n; i++)
        same = strcmp(src->name[i], dst->name[i]) == 0;
    if (!same)
        return biqa_fail(err, "%s: its table %s has other columns than %s's", m->shard, table,
                         m->dst->path);
    return 0;
}

/* "a", "b", ... of c without the columns named skip and skip2 (NULL: none). */
static void column_list(const columns *c, const char *skip, const char *skip2, char *out,
                        size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < c->n; i++) {
        if (strcmp(c->name[i], skip) == 0 || (skip2 && strcmp(c->name[i], skip2) == 0))
            continue;
        used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s\"%s\"",
                                 used ? ", " : "", c->name[i]);
    }
}

/* Index of name in c (the caller knows it is there). */
static int column_index(const columns *c, const char *name)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->name[i], name) == 0)
            return i;
    return -1;
}

static int prepare(sqlite3 *db, const char *path, const char *sql, sqlite3_stmt **st,
                   biqa_error *err)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return biqa_fail(err, "%s: %s", path, sqlite3_errmsg(db));
    return 0;
}

static int values_equal(sqlite3_value *a, sqlite3_value *b)
{
    int t = sqlite3_value_type(a);
    if (t != sqlite3_value_type(b))
        return 0;
    if (t == SQLITE_NULL)
        return 1;
    if (t == SQLITE_INTEGER)
        return sqlite3_value_int64(a) == sqlite3_value_int64(b);
    if (t == SQLITE_FLOAT) {
        double x = sqlite3_value_double(a), y = sqlite3_value_double(b);
        return memcmp(&x, &y, sizeof x) == 0;
    }
    const void *pa = t == SQLITE_TEXT ? (const void *)sqlite3_value_text(a) : sqlite3_value_blob(a);
    const void *pb = t == SQLITE_TEXT ? (const void *)sqlite3_value_text(b) : sqlite3_value_blob(b);
    int n = sqlite3_value_bytes(a);
    return n == sqlite3_value_bytes(b) && (n == 0 || memcmp(pa, pb, (size_t)n) == 0);
}

/* A value for an error message, cut at 48 characters. */
static void show(sqlite3_value *v, char out[64])
{
    switch (sqlite3_value_type(v)) {
    case SQLITE_NULL:
        snprintf(out, 64, "NULL");
        break;
    case SQLITE_INTEGER:
    case SQLITE_FLOAT:
        snprintf(out, 64, "%s", sqlite3_value_text(v));
        break;
    default:
        snprintf(out, 64, "'%.48s%s'", sqlite3_value_text(v),
                 sqlite3_value_bytes(v) > 48 ? "..." : "");
    }
}

/* Steps two statements over the same columns in lockstep; fills why with
 * the first difference (row n of what). Returns 1 when equal. */
static int rows_equal(sqlite3_stmt *a, sqlite3_stmt *b, const char *what, char *why, size_t len)
{
    for (int row = 0;; row++) {
        int ra = sqlite3_step(a), rb = sqlite3_step(b);
        if (ra != SQLITE_ROW || rb != SQLITE_ROW) {
            if (ra == rb)
                return 1;
            snprintf(why, len, "the shard's copy has %s %s rows than the store's (%d in common)",
                     ra == SQLITE_ROW ? "more" : "fewer", what, row);
            return 0;
        }
        for (int i = 0; i < sqlite3_column_count(a); i++) {
            if (values_equal(sqlite3_column_value(a, i), sqlite3_column_value(b, i)))
                continue;
            char va[64], vb[64], first[64];
            show(sqlite3_column_value(a, i), va);
            show(sqlite3_column_value(b, i), vb);
            show(sqlite3_column_value(a, 0), first);
            snprintf(why, len, "%s differ at row %d (%s %s): %s is %s in the shard, %s in "
                     "the store", what, row + 1, sqlite3_column_name(a, 0), first,
                     sqlite3_column_name(a, i), va, vb);
            return 0;
        }
    }
}

/* Runs sql (one ?1 = run id) on both sides and compares the rows. */
static int compare_rows(merge *m, const char *sql, int64_t sid, int64_t did, const char *what,
                        char *why, size_t len, int *equal, biqa_error *err)
{
    sqlite3_stmt *a = NULL, *b = NULL;
    int rc = prepare(m->src, m->shard, sql, &a, err);
    if (rc == 0)
        rc = prepare(m->dst->db, m->dst->path, sql, &b, err);
    if (rc == 0) {
        sqlite3_bind_int64(a, 1, sid);
        sqlite3_bind_int64(b, 1, did);
        *equal = rows_equal(a, b, what, why, len);
    }
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    return rc;
}

/* 1 in *equal when run sid of the shard and run did of the store have the
 * same content (see merge.h); else why says where they first differ. */
static int same_content(merge *m, int64_t sid, int64_t did, int *equal, char *why, size_t len,
                        biqa_error *err)
{
    char cols[4096], sql[8400];
    /* parent_run is an id of its own database: the parent's uid stands for it. */
    column_list(&m->runs, "id", "parent_run", cols, sizeof cols);
    snprintf(sql, sizeof sql,
             "SELECT %s, (SELECT p.uid FROM runs p WHERE p.id = r.parent_run) AS parent_uid "
             "FROM runs r WHERE r.id = ?1", cols);
    if (compare_rows(m, sql, sid, did, "the run records", why, len, equal, err) < 0)
        return -1;
    if (!*equal)
        return 0;
    column_list(&m->metrics, "run_id", NULL, cols, sizeof cols);
    snprintf(sql, sizeof sql, "SELECT %s FROM metrics WHERE run_id = ?1 ORDER BY %s", cols, cols);
    if (compare_rows(m, sql, sid, did, "metrics", why, len, equal, err) < 0)
        return -1;
    if (!*equal)
        return 0;
    column_list(&m->failures, "run_id", NULL, cols, sizeof cols);
    snprintf(sql, sizeof sql, "SELECT %s FROM run_failures WHERE run_id = ?1 ORDER BY rowid",
             cols);
    return compare_rows(m, sql, sid, did, "failures", why, len, equal, err);
}

/* Copies the rows of table (metrics, run_failures) of shard run sid to store run did. */
static int copy_rows(merge *m, const char *table, const columns *c, int64_t sid, int64_t did,
                     long *count, biqa_error *err)
{
    char cols[4096], marks[512], sql[8800];
    column_list(c, "run_id", NULL, cols, sizeof cols);
    size_t used = 0;
    for (int i = 1; i < c->n; i++)
        used += (size_t)snprintf(marks + used, sizeof marks - used, ", ?%d", i + 1);
    sqlite3_stmt *sel = NULL, *ins = NULL;
    snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE run_id = ?1 ORDER BY rowid", cols, table);
    int rc = prepare(m->src, m->shard, sql, &sel, err);
    snprintf(sql, sizeof sql, "INSERT INTO %s (run_id, %s) VALUES (?1%s)", table, cols, marks);
    if (rc == 0)
        rc = prepare(m->dst->db, m->dst->path, sql, &ins, err);
    if (rc == 0)
        sqlite3_bind_int64(sel, 1, sid);
    while (rc == 0 && sqlite3_step(sel) == SQLITE_ROW) {
        sqlite3_bind_int64(ins, 1, did);
        for (int i = 0; i < c->n - 1; i++)
            sqlite3_bind_value(ins, i + 2, sqlite3_column_value(sel, i));
        if (sqlite3_step(ins) != SQLITE_DONE)
            rc = biqa_store_fail(m->dst, err, "copying a run's rows");
        sqlite3_reset(ins);
        (*count)++;
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    return rc;
}

/* Deletes the metrics and failures of store run did (it is being replaced). */
static int delete_rows(merge *m, int64_t did, biqa_error *err)
{
    static const char *const sql[2] = {"DELETE FROM metrics WHERE run_id = ?1",
                                       "DELETE FROM run_failures WHERE run_id = ?1"};
    for (int t = 0; t < 2; t++) {
        sqlite3_stmt *del;
        if (prepare(m->dst->db, m->dst->path, sql[t], &del, err) < 0)
            return -1;
        sqlite3_bind_int64(del, 1, did);
        int rc = sqlite3_step(del);
        sqlite3_finalize(del);
        if (rc != SQLITE_DONE)
            return biqa_store_fail(m->dst, err, "replacing a merged run's rows");
    }
    return 0;
}

/* Writes shard run sid into the store: a new row (*did 0; it gets the new
 * id) or over run *did, whose metrics and failures are replaced. parent_run
 * is left NULL here and set once every run has its store id (link_runs). */
static int write_run(merge *m, int64_t sid, int64_t *did, biqa_error *err)
{
    char cols[4096], sql[8800];
    column_list(&m->runs, "id", NULL, cols, sizeof cols);
    const int n = m->runs.n - 1; /* columns written: all but id */
    size_t used = 0;
    if (*did == 0) {
        used = (size_t)snprintf(sql, sizeof sql, "INSERT INTO runs (%s) VALUES (", cols);
        for (int k = 1; k <= n; k++)
            used += (size_t)snprintf(sql + used, sizeof sql - used, "%s?%d", k > 1 ? ", " : "", k);
        snprintf(sql + used, sizeof sql - used, ")");
    } else {
        used = (size_t)snprintf(sql, sizeof sql, "UPDATE runs SET ");
        int k = 0;
        for (int i = 0; i < m->runs.n; i++) {
            if (strcmp(m->runs.name[i], "id") == 0)
                continue;
            k++;
            used += (size_t)snprintf(sql + used, sizeof sql - used, "%s\"%s\" = ?%d",
                                     k > 1 ? ", " : "", m->runs.name[i], k);
        }
        snprintf(sql + used, sizeof sql - used, " WHERE id = ?%d", n + 1);
    }
    sqlite3_stmt *sel = NULL, *put = NULL;
    int rc = prepare(m->dst->db, m->dst->path, sql, &put, err);
    snprintf(sql, sizeof sql, "SELECT %s FROM runs WHERE id = ?1", cols);
    if (rc == 0)
        rc = prepare(m->src, m->shard, sql, &sel, err);
    if (rc == 0) {
        sqlite3_bind_int64(sel, 1, sid);
        if (sqlite3_step(sel) != SQLITE_ROW)
            rc = biqa_fail(err, "%s: run %lld vanished while merging", m->shard, (long long)sid);
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        if (strcmp(sqlite3_column_name(sel, i), "parent_run") == 0)
            sqlite3_bind_null(put, i + 1);
        else
            sqlite3_bind_value(put, i + 1, sqlite3_column_value(sel, i));
    }
    if (rc == 0 && *did)
        sqlite3_bind_int64(put, n + 1, *did);
    if (rc == 0 && sqlite3_step(put) != SQLITE_DONE)
        rc = biqa_store_fail(m->dst, err, "writing a merged run");
    sqlite3_finalize(sel);
    sqlite3_finalize(put);
    if (rc == 0 && *did == 0)
        *did = sqlite3_last_insert_rowid(m->dst->db);
    else if (rc == 0)
        rc = delete_rows(m, *did, err);
    if (rc == 0)
        rc = copy_rows(m, "metrics", &m->metrics, sid, *did, &m->r->metrics, err);
    if (rc == 0)
        rc = copy_rows(m, "run_failures", &m->failures, sid, *did, &m->r->failures, err);
    return rc;
}

static int is_open(const char *status)
{
    return strcmp(status, "running") == 0 || strcmp(status, "interrupted") == 0;
}

static int remember(merge *m, int64_t sid, int64_t did, enum action a, biqa_error *err)
{
    biqa_merge_result *r = m->r;
    if (r->nmap == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        int64_t(*map)[2] = realloc(r->map, cap * sizeof *r->map);
        if (map)
            r->map = map;
        unsigned char *act = realloc(m->action, cap);
        if (act)
            m->action = act;
        if (!map || !act)
            return biqa_fail(err, "%s: out of memory", m->shard);
        m->cap = cap;
    }
    r->map[r->nmap][0] = sid, r->map[r->nmap][1] = did;
    m->action[r->nmap++] = (unsigned char)a;
    return 0;
}

/* One run of the shard (see merge.h for what happens to it). */
static int merge_run(merge *m, sqlite3_stmt *src_run, sqlite3_stmt *find, biqa_error *err)
{
    int64_t sid = sqlite3_column_int64(src_run, 0);
    const char *uid = (const char *)sqlite3_column_text(src_run, 1);
    const char *status = (const char *)sqlite3_column_text(src_run, 2);
    if (!uid)
        return biqa_fail(err, "%s: run %lld has no uid", m->shard, (long long)sid);
    sqlite3_reset(find);
    sqlite3_bind_text(find, 1, uid, -1, SQLITE_TRANSIENT);
    int64_t did = 0;
    char dst_status[16] = "";
    int step = sqlite3_step(find);
    if (step == SQLITE_ROW) {
        did = sqlite3_column_int64(find, 0);
        snprintf(dst_status, sizeof dst_status, "%s", sqlite3_column_text(find, 1));
    } else if (step != SQLITE_DONE) {
        return biqa_store_fail(m->dst, err, "looking up a run by uid");
    }
    if (!did) {
        if (write_run(m, sid, &did, err) < 0)
            return -1;
        m->r->added++;
        return remember(m, sid, did, ADDED, err);
    }
    int equal = 0;
    char why[512] = "";
    if (same_content(m, sid, did, &equal, why, sizeof why, err) < 0)
        return -1;
    if (equal) {
        m->r->same++;
        return remember(m, sid, did, SAME, err);
    }
    if (is_open(dst_status)) {
        if (write_run(m, sid, &did, err) < 0)
            return -1;
        m->r->updated++;
        return remember(m, sid, did, UPDATED, err);
    }
    if (is_open(status)) {
        m->r->kept++;
        return remember(m, sid, did, KEPT, err);
    }
    return biqa_fail(err,
                     "%s: run %lld (uid %s, %s %s) conflicts with run %lld of %s, which has "
                     "the same uid: %s",
                     m->shard, (long long)sid, uid, sqlite3_column_text(src_run, 3),
                     sqlite3_column_text(src_run, 4) ? (const char *)sqlite3_column_text(src_run, 4)
                                                     : "-",
                     (long long)did, m->dst->path, why);
}

/* The store id of shard run sid (0: not merged). The map is in shard id
 * order: runs are merged in that order. */
static int64_t mapped(const merge *m, int64_t sid)
{
    size_t lo = 0, hi = m->r->nmap;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->r->map[mid][0] < sid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->r->nmap && m->r->map[lo][0] == sid ? m->r->map[lo][1] : 0;
}

/* parent_run of the runs written, and the shard's run_members, in store ids. */
static int link_runs(merge *m, biqa_error *err)
{
    sqlite3_stmt *par = NULL, *set = NULL, *mem = NULL, *ins = NULL;
    int rc = prepare(m->src, m->shard, "SELECT parent_run FROM runs WHERE id = ?1", &par, err);
    if (rc == 0)
        rc = prepare(m->dst->db, m->dst->path, "UPDATE runs SET parent_run = ?2 WHERE id = ?1",
                     &set, err);
    for (size_t i = 0; rc == 0 && i < m->r->nmap; i++) {
        if (m->action[i] != ADDED && m->action[i] != UPDATED)
            continue;
        sqlite3_reset(par);
        sqlite3_bind_int64(par, 1, m->r->map[i][0]);
        if (sqlite3_step(par) != SQLITE_ROW || sqlite3_column_type(par, 0) == SQLITE_NULL)
            continue;
        int64_t parent = mapped(m, sqlite3_column_int64(par, 0));
        sqlite3_reset(set);
        sqlite3_bind_int64(set, 1, m->r->map[i][1]);
        sqlite3_bind_int64(set, 2, parent);
        if (!parent || sqlite3_step(set) != SQLITE_DONE)
            rc = parent ? biqa_store_fail(m->dst, err, "linking a merged run to its parent")
                        : biqa_fail(err, "%s: run %lld names a parent run the shard lacks",
                                    m->shard, (long long)m->r->map[i][0]);
    }
    if (rc == 0)
        rc = prepare(m->src, m->shard, "SELECT group_run, run_id, reused FROM run_members",
                     &mem, err);
    if (rc == 0)
        rc = prepare(m->dst->db, m->dst->path,
                     "INSERT OR IGNORE INTO run_members (group_run, run_id, reused) "
                     "VALUES (?1, ?2, ?3)",
                     &ins, err);
    while (rc == 0 && sqlite3_step(mem) == SQLITE_ROW) {
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, mapped(m, sqlite3_column_int64(mem, 0)));
        sqlite3_bind_int64(ins, 2, mapped(m, sqlite3_column_int64(mem, 1)));
        sqlite3_bind_int64(ins, 3, sqlite3_column_int64(mem, 2));
        if (sqlite3_step(ins) != SQLITE_DONE)
            rc = biqa_store_fail(m->dst, err, "recording a merged group member");
        m->r->members += sqlite3_changes(m->dst->db);
    }
    sqlite3_finalize(par);
    sqlite3_finalize(set);
    sqlite3_finalize(mem);
    sqlite3_finalize(ins);
    return rc;
}

static int merge_tx(biqa_store *s, void *ctx, biqa_error *err)
{
    merge *m = ctx;
    (void)s;
    sqlite3_stmt *runs = NULL, *find = NULL;
    int rc = prepare(m->src, m->shard,
                     "SELECT id, uid, status, kind, method FROM runs ORDER BY id", &runs, err);
    if (rc == 0)
        rc = prepare(m->dst->db, m->dst->path, "SELECT id, status FROM runs WHERE uid = ?1",
                     &find, err);
    int step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(runs)) == SQLITE_ROW)
        rc = merge_run(m, runs, find, err);
    if (rc == 0 && step != SQLITE_DONE)
        rc = biqa_fail(err, "%s: reading its runs: %s", m->shard, sqlite3_errmsg(m->src));
    sqlite3_finalize(runs);
    sqlite3_finalize(find);
    return rc == 0 ? link_runs(m, err) : -1;
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int biqa_merge_shard(biqa_store *s, const char *shard, biqa_merge_result *r, biqa_error *err)
{
    memset(r, 0, sizeof *r);
    /* biqa_store_open creates a missing database even for reading. */
    if (access(shard, F_OK) != 0)
        return biqa_fail(err, "%s: no such results database", shard);
    if (same_file(shard, s->path))
        return biqa_fail(err, "%s: is the store itself (%s)", shard, s->path);
    biqa_store src;
    if (biqa_store_open(&src, shard, BIQA_STORE_READONLY, err) < 0)
        return -1;
    merge m = {.dst = s, .src = src.db, .shard = shard, .r = r};
    columns other;
    int rc = read_columns(s->db, s->path, "runs", &m.runs, err);
    if (rc == 0)
        rc = read_columns(s->db, s->path, "metrics", &m.metrics, err);
    if (rc == 0)
        rc = read_columns(s->db, s->path, "run_failures", &m.failures, err);
    if (rc == 0)
        rc = same_columns(&m, "runs", &m.runs, &other, err);
    if (rc == 0)
        rc = same_columns(&m, "metrics", &m.metrics, &other, err);
    if (rc == 0)
        rc = same_columns(&m, "run_failures", &m.failures, &other, err);
    if (rc == 0 && column_index(&m.runs, "uid") < 0)
        rc = biqa_fail(err, "%s: runs have no uid column", s->path);
    if (rc == 0)
        rc = biqa_store_transaction(s, merge_tx, &m, err);
    free(m.action);
    biqa_store_close(&src);
    if (rc < 0)
        biqa_merge_result_free(r);
    return rc;
}

void biqa_merge_result_free(biqa_merge_result *r)
{
    free(r->map);
    r->map = NULL;
    r->nmap = 0;
}
