/* Runs the biqa binary (or a helper) under test and captures what it says. */
#ifndef BIQA_TESTS_CLI_RUN_H
#define BIQA_TESTS_CLI_RUN_H

typedef struct cli_result {
    int status;  /* exit status, or 128 + signal */
    char *out;   /* standard output (malloc'd) */
    char *err;   /* standard error (malloc'd) */
} cli_result;

/* Runs `sh -c "<line>"` with $BIQA set; fills r. */
void cli_run(cli_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_result_free(cli_result *r);
/* Lines in s. */
int cli_count_lines(const char *s);
/* A fresh temporary directory (removed by cli_rmdir). */
void cli_tmpdir(char out[64]);
void cli_rmdir(const char *dir);
void cli_write(const char *path, const char *text);
/* The integer the first row of a read-only SQL query gives (asserts there is one). */
long long cli_query_int(const char *db, const char *sql);

#endif
