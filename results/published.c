#include "results/published.h"

#include <stdlib.h>
#include <string.h>

#include "core/csv.h"
#include "core/digest.h"

extern const unsigned char biqa_published_csv[];
extern const size_t biqa_published_csv_len;

static const char *const columns[] = {"paper", "table", "method", "dataset",
                                      "metric", "value", "source"};
#define NCOLUMNS (sizeof columns / sizeof columns[0])

struct load {
    const char *digest;
    biqa_csv csv;
};

static int stored_digest_is(biqa_store *s, const char *digest)
{
    sqlite3_stmt *st;
    int same = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'published_sha256'", -1,
                           &st, NULL) != SQLITE_OK)
        return 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        same = strcmp((const char *)sqlite3_column_text(st, 0), digest) == 0;
    sqlite3_finalize(st);
    return same;
}

static int reload(biqa_store *s, void *ctx, biqa_error *err)
{
    struct load *l = ctx;
    if (stored_digest_is(s, l->digest)) /* a concurrent process got here first */
        return 0;
    size_t col[NCOLUMNS];
    for (size_t i = 0; i < NCOLUMNS; i++)
        if (biqa_csv_find_column(&l->csv, columns[i], &col[i], err) < 0)
            return -1;
    sqlite3_stmt *ins = NULL;
    if (sqlite3_exec(s->db, "DELETE FROM published", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO published VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1,
                           &ins, NULL) != SQLITE_OK)
        return biqa_store_fail(s, err, "loading published numbers");
    for (size_t r = 0; r < l->csv.nrows; r++) {
        for (size_t i = 0; i < NCOLUMNS; i++) {
            const char *cell = biqa_csv_cell(&l->csv, r, col[i]);
            if (strcmp(columns[i], "value") == 0) {
                char *end;
                double v = strtod(cell, &end);
                if (end == cell || *end) {
                    sqlite3_finalize(ins);
                    return biqa_fail(err, "%s:%zu: column 'value': '%s' is not a number",
                                     l->csv.path, l->csv.lines[r + 1], cell);
                }
                sqlite3_bind_double(ins, (int)i + 1, v);
            } else {
                sqlite3_bind_text(ins, (int)i + 1, cell, -1, SQLITE_STATIC);
            }
        }
        if (sqlite3_step(ins) != SQLITE_DONE) {
            sqlite3_finalize(ins);
            return biqa_store_fail(s, err, "loading published numbers");
        }
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    sqlite3_stmt *meta;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO meta VALUES ('published_sha256', ?1)", -1,
                           &meta, NULL) != SQLITE_OK)
        return biqa_store_fail(s, err, "loading published numbers");
    sqlite3_bind_text(meta, 1, l->digest, -1, SQLITE_STATIC);
    int rc = sqlite3_step(meta) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(meta);
    return rc == 0 ? 0 : biqa_store_fail(s, err, "loading published numbers");
}

int biqa_published_sync(biqa_store *s, biqa_error *err)
{
    char digest[BIQA_SHA256_HEX_LEN];
    biqa_sha256_hex(biqa_published_csv, biqa_published_csv_len, digest);
    if (stored_digest_is(s, digest))
        return 0;
    char *text = malloc(biqa_published_csv_len + 1);
    if (!text)
        return biqa_fail(err, "out of memory loading published numbers");
    memcpy(text, biqa_published_csv, biqa_published_csv_len);
    struct load l = {.digest = digest};
    if (biqa_csv_parse("paper/published.csv (compiled in)", text, biqa_published_csv_len, &l.csv,
                       err) < 0)
        return -1;
    int rc = biqa_store_transaction(s, reload, &l, err);
    biqa_csv_free(&l.csv);
    return rc;
}
