#include "tests/cli/run.h"

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/file.h"

void cli_run(cli_result *r, const char *fmt, ...)
{
    char line[4096], dir[64], cmd[5000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cr_assert_not_null(getenv("BIQA"), "BIQA must name the biqa binary (make test sets it)");
    cli_tmpdir(dir);
    snprintf(cmd, sizeof cmd, "(%s) >%s/out 2>%s/err", line, dir, dir);
    int st = system(cmd);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    char path[128];
    size_t len;
    snprintf(path, sizeof path, "%s/out", dir);
    cr_assert_eq(biqa_read_file(path, &r->out, &len, NULL), 0);
    snprintf(path, sizeof path, "%s/err", dir);
    cr_assert_eq(biqa_read_file(path, &r->err, &len, NULL), 0);
    cli_rmdir(dir);
}

void cli_result_free(cli_result *r)
{
    free(r->out);
    free(r->err);
}

int cli_count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

void cli_tmpdir(char out[64])
{
    strcpy(out, "/tmp/biqa-cli-XXXXXX");
    cr_assert_not_null(mkdtemp(out));
}

void cli_rmdir(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

void cli_write(const char *path, const char *text)
{
    cr_assert_eq(biqa_write_file_atomic(path, text, strlen(text), NULL), 0, "writing %s", path);
}

long long cli_query_int(const char *db, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}
