/* Writes and reads of the `datasets` table (results/datasets_table.h). */
#include "results/datasets_table.h"

#include <stdlib.h>
#include <string.h>

static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

int biqa_datasets_table_put(biqa_store *s, const biqa_dataset_row *r, biqa_error *err)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO datasets (name, dir, manifest_sha256, source, state, n_images,"
        " index_sha256, digests_sha256, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
    char now[32];
    biqa_now_iso(now);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return biqa_store_fail(s, err, "recording a dataset");
    sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->dir, -1, SQLITE_STATIC);
    bind_opt(st, 3, r->manifest_sha256);
    bind_opt(st, 4, r->source);
    sqlite3_bind_text(st, 5, r->state, -1, SQLITE_STATIC);
    if (r->n_images >= 0)
        sqlite3_bind_int64(st, 6, r->n_images);
    else
        sqlite3_bind_null(st, 6);
    bind_opt(st, 7, r->index_sha256);
    bind_opt(st, 8, r->digests_sha256);
    sqlite3_bind_text(st, 9, now, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : biqa_store_fail(s, err, "recording a dataset");
}

static char *column_dup(sqlite3_stmt *st, int i, int *oom)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    if (!v)
        return NULL;
    char *d = strdup((const char *)v);
    *oom |= !d;
    return d;
}

int biqa_datasets_table_get(biqa_store *s, const char *name, const char *dir,
                            biqa_dataset_record *out, int *found, biqa_error *err)
{
    static const char sql[] =
        "SELECT name, dir, manifest_sha256, source, state, index_sha256, digests_sha256,"
        " updated_at, n_images FROM datasets WHERE name = ? AND dir = ?";
    memset(out, 0, sizeof *out);
    *found = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return biqa_store_fail(s, err, "reading the datasets table");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dir, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), oom = 0;
    if (rc == SQLITE_ROW) {
        char **cols[] = {&out->name, &out->dir, &out->manifest_sha256, &out->source,
                         &out->state, &out->index_sha256, &out->digests_sha256,
                         &out->updated_at};
        for (int i = 0; i < 8; i++)
            *cols[i] = column_dup(st, i, &oom);
        out->n_images = sqlite3_column_type(st, 8) == SQLITE_NULL ? -1
                                                                  : sqlite3_column_int64(st, 8);
        *found = 1;
    }
    sqlite3_finalize(st);
    if (oom) {
        biqa_dataset_record_free(out);
        return biqa_fail(err, "%s: out of memory", s->path);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return biqa_store_fail(s, err, "reading the datasets table");
    return 0;
}

void biqa_dataset_record_free(biqa_dataset_record *r)
{
    free(r->name), free(r->dir), free(r->manifest_sha256), free(r->source), free(r->state);
    free(r->index_sha256), free(r->digests_sha256), free(r->updated_at);
    memset(r, 0, sizeof *r);
}
