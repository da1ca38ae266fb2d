/* biqa query: one read-only SQL statement over the results store. */
#include <string.h>

#include "core/log.h"
#include "harness/commands.h"
#include "harness/output.h"
#include "results/store.h"

int biqa_cmd_query(biqa_cli *cli)
{
    if (biqa_expect_args(cli, 1, 1, "the SQL statement") != 0)
        return BIQA_EXIT_USAGE;
    const char *sql = cli->args->positional[0];
    biqa_error err = {{0}};
    biqa_store store;
    if (biqa_store_open(&store, cli->db, BIQA_STORE_READONLY, &err) < 0) {
        biqa_error_line("%s", err.msg);
        return BIQA_EXIT_FAIL;
    }
    int rc = BIQA_EXIT_FAIL;
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    if (sqlite3_prepare_v2(store.db, sql, -1, &st, &tail) != SQLITE_OK) {
        biqa_error_line("query: %s", sqlite3_errmsg(store.db));
        goto out;
    }
    if (!st) {
        biqa_error_line("query: no SQL statement given");
        goto out;
    }
    tail += strspn(tail, " \t\r\n;");
    if (*tail) {
        biqa_error_line("query: one statement at a time (extra text: '%.40s')", tail);
        goto out;
    }
    /* query_only already refuses writes; this names the reason up front. */
    if (!sqlite3_stmt_readonly(st)) {
        biqa_error_line("query: the results store is read-only here; this statement would "
                        "change it");
        goto out;
    }
    if (biqa_print_statement(st, cli->json, stdout, "query", &err) < 0) {
        biqa_error_line("%s", err.msg);
        goto out;
    }
    rc = BIQA_EXIT_OK;
out:
    sqlite3_finalize(st);
    biqa_store_close(&store);
    return rc;
}
