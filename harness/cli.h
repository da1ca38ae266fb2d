/* The command line: a tree of commands, each with its options, help and
 * handler. Global options (DESIGN.md) are accepted before or after the
 * command words. Exit codes: 0 success, 1 failed operation, 2 bad usage. */
#ifndef BIQA_HARNESS_CLI_H
#define BIQA_HARNESS_CLI_H

#include <stddef.h>
#include <stdint.h>

enum { BIQA_EXIT_OK = 0, BIQA_EXIT_FAIL = 1, BIQA_EXIT_USAGE = 2 };

typedef struct biqa_opt {
    const char *name;    /* long name without dashes */
    char short_name;     /* 0 for none */
    const char *metavar; /* NULL: a flag without an argument */
    const char *help;
} biqa_opt;

#define BIQA_MAX_OPTS 32
#define BIQA_MAX_ARGS 64

/* Parsed options and positional arguments of one invocation. */
typedef struct biqa_args {
    const biqa_opt *opts[BIQA_MAX_OPTS];
    const char *values[BIQA_MAX_OPTS][BIQA_MAX_ARGS]; /* every occurrence, in order */
    int counts[BIQA_MAX_OPTS];
    int nopts;
    const char *positional[BIQA_MAX_ARGS];
    int npositional;
    char path[128];      /* the command words so far: "biqa runs show" */
} biqa_args;

/* Settings every command sees, from the global options and environment. */
typedef struct biqa_cli {
    const char *db;      /* --db, $BIQA_DB, or ./biqa.db */
    const char *root;    /* --root, $BIQA_ROOT, or ./data */
    const char *backend; /* --backend, NULL: the profile's */
    int threads;         /* --threads, 0: the profile's */
    int64_t seed;        /* --seed, valid when has_seed */
    int has_seed;
    int json;            /* --json */
    const biqa_args *args;
} biqa_cli;

typedef struct biqa_cmd biqa_cmd;
struct biqa_cmd {
    const char *name;
    const char *summary;  /* one line for the parent's command list */
    const char *usage;    /* "biqa runs show ID" */
    const char *details;  /* help paragraph(s), may be NULL */
    const char *examples; /* lines of examples, may be NULL */
    const biqa_opt *opts; /* terminated by {0}, may be NULL */
    const biqa_cmd *const *subs; /* terminated by NULL, may be NULL */
    int (*run)(biqa_cli *cli);   /* NULL: a group that needs a sub-command */
};

/* The source tree (peer scripts, table specs): $BIQA_SRC, else two levels
 * above this executable (build/biqa -> the checkout it was built in). */
void biqa_source_dir(char *out, size_t len);

/* Last value of option name, or NULL. */
const char *biqa_arg(const biqa_args *a, const char *name);
/* Whether flag name was given. */
int biqa_flag(const biqa_args *a, const char *name);
/* All values of a repeatable option. */
int biqa_arg_all(const biqa_args *a, const char *name, const char *const **values);
/* Parses an integer option; prints the usage error and returns -1 when bad. */
int biqa_arg_int64(const biqa_args *a, const char *name, int64_t *out);

/* Prints "biqa: error: <msg> (see '<command> --help')" and returns BIQA_EXIT_USAGE. */
int biqa_usage_error(const biqa_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int biqa_main(int argc, char **argv);

/* The command tree (harness/commands.c). */
extern const biqa_cmd biqa_root_cmd;

#endif
