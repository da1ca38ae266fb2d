#include "harness/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "harness/commands.h"

/* Options every command accepts, before or after the command words. */
static const biqa_opt global_opts[] = {
    {"db", 0, "PATH", "results database (env BIQA_DB; default ./biqa.db)"},
    {"root", 0, "DIR", "datasets directory (env BIQA_ROOT; default ./data)"},
    {"backend", 0, "NAME", "compute backend: ref, cpu or cuda"},
    {"precision", 0, "P", "arithmetic: fp32, tf32 or bf16 (cuda; bf16 keeps fp32 master weights)"},
    {"threads", 0, "N", "worker threads (default: the profile's)"},
    {"seed", 0, "N", "random seed (default: the profile's)"},
    {"json", 0, NULL, "machine-readable JSON output"},
    {"quiet", 'q', NULL, "only errors and the result"},
    {"verbose", 'v', NULL, "more detail on stderr"},
    {"help", 'h', NULL, "show this help"},
    {0},
};

int biqa_usage_error(const biqa_args *a, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    biqa_error_line("%s (see '%s --help')", msg, a->path);
    return BIQA_EXIT_USAGE;
}

static int find_opt(const biqa_args *a, const char *name)
{
    for (int i = 0; i < a->nopts; i++)
        if (strcmp(a->opts[i]->name, name) == 0)
            return i;
    return -1;
}

const char *biqa_arg(const biqa_args *a, const char *name)
{
    int i = find_opt(a, name);
    return i >= 0 && a->counts[i] > 0 ? a->values[i][a->counts[i] - 1] : NULL;
}

int biqa_flag(const biqa_args *a, const char *name) { return biqa_arg(a, name) != NULL; }

int biqa_arg_all(const biqa_args *a, const char *name, const char *const **values)
{
    int i = find_opt(a, name);
    if (i < 0)
        return 0;
    *values = a->values[i];
    return a->counts[i];
}

int biqa_arg_int64(const biqa_args *a, const char *name, int64_t *out)
{
    const char *v = biqa_arg(a, name);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno) {
        biqa_usage_error(a, "--%s wants an integer, got '%s'", name, v);
        return -1;
    }
    *out = x;
    return 0;
}

static void add_opts(biqa_args *a, const biqa_opt *opts)
{
    for (const biqa_opt *o = opts; o && o->name; o++)
        if (find_opt(a, o->name) < 0 && a->nopts < BIQA_MAX_OPTS)
            a->opts[a->nopts++] = o;
}

static const biqa_opt *lookup(const biqa_args *a, const char *name, size_t len, char short_name)
{
    for (int i = 0; i < a->nopts; i++) {
        const biqa_opt *o = a->opts[i];
        if (short_name ? o->short_name == short_name
                       : strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    }
    return NULL;
}

static void print_opts(FILE *out, const char *title, const biqa_opt *opts)
{
    if (!opts || !opts->name)
        return;
    fprintf(out, "\n%s:\n", title);
    for (const biqa_opt *o = opts; o->name; o++) {
        char left[64];
        if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name,
                     o->metavar ? " " : "", o->metavar ? o->metavar : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
        fprintf(out, "  %-26s %s\n", left, o->help);
    }
}

static void print_help(const biqa_cmd *cmd)
{
    printf("usage: %s\n", cmd->usage);
    if (cmd->summary)
        printf("\n%s\n", cmd->summary);
    if (cmd->details)
        printf("\n%s\n", cmd->details);
    if (cmd->subs) {
        printf("\nCommands:\n");
        for (const biqa_cmd *const *s = cmd->subs; *s; s++)
            printf("  %-12s %s\n", (*s)->name, (*s)->summary);
    }
    print_opts(stdout, "Options", cmd->opts);
    print_opts(stdout, "Global options (before or after the command)", global_opts);
    if (cmd->examples)
        printf("\nExamples:\n%s", cmd->examples);
}

static const biqa_cmd *find_sub(const biqa_cmd *cmd, const char *name)
{
    for (const biqa_cmd *const *s = cmd->subs; s && *s; s++)
        if (strcmp((*s)->name, name) == 0)
            return *s;
    return NULL;
}

static int store_value(biqa_args *a, const biqa_opt *o, const char *value)
{
    int i = find_opt(a, o->name);
    if (a->counts[i] >= BIQA_MAX_ARGS)
        return biqa_usage_error(a, "--%s given too many times", o->name);
    a->values[i][a->counts[i]++] = value;
    return 0;
}

/* Applies the global options to cli; returns an exit code or -1 to go on. */
static int apply_globals(biqa_cli *cli, const biqa_args *a)
{
    if (biqa_flag(a, "quiet"))
        biqa_log_set_level(BIQA_LOG_QUIET);
    if (biqa_flag(a, "verbose"))
        biqa_log_set_level(BIQA_LOG_DEBUG);
    cli->json = biqa_flag(a, "json");
    const char *env;
    cli->db = biqa_arg(a, "db");
    if (!cli->db)
        cli->db = (env = getenv("BIQA_DB")) && *env ? env : "biqa.db";
    cli->root = biqa_arg(a, "root");
    if (!cli->root)
        cli->root = (env = getenv("BIQA_ROOT")) && *env ? env : "data";
    cli->backend = biqa_arg(a, "backend");
    if (cli->backend && strcmp(cli->backend, "ref") && strcmp(cli->backend, "cpu") &&
        strcmp(cli->backend, "cuda"))
        return biqa_usage_error(a, "--backend must be ref, cpu or cuda, not '%s'", cli->backend);
    const char *precision = biqa_arg(a, "precision");
    if (precision && strcmp(precision, "fp32") && strcmp(precision, "tf32") &&
        strcmp(precision, "bf16"))
        return biqa_usage_error(a, "--precision must be fp32, tf32 or bf16, not '%s'", precision);
    int64_t v;
    if (biqa_arg_int64(a, "threads", &v) < 0)
        return BIQA_EXIT_USAGE;
    if (biqa_arg(a, "threads")) {
        if (v < 1 || v > 4096)
            return biqa_usage_error(a, "--threads must be between 1 and 4096, not %lld",
                                    (long long)v);
        cli->threads = (int)v;
    }
    if (biqa_arg_int64(a, "seed", &cli->seed) < 0)
        return BIQA_EXIT_USAGE;
    cli->has_seed = biqa_arg(a, "seed") != NULL;
    return -1;
}

static void enter(biqa_args *a, const biqa_cmd *cmd)
{
    size_t used = strlen(a->path);
    snprintf(a->path + used, sizeof a->path - used, "%s%s", used ? " " : "", cmd->name);
    add_opts(a, cmd->opts);
}

static int parse_and_run(biqa_args *args, int argc, char **argv);

int biqa_main(int argc, char **argv)
{
    biqa_args *args = calloc(1, sizeof *args); /* large: keep it off the stack */
    if (!args) {
        biqa_error_line("out of memory");
        return BIQA_EXIT_FAIL;
    }
    int rc = parse_and_run(args, argc, argv);
    free(args);
    return rc;
}

static int parse_and_run(biqa_args *a, int argc, char **argv)
{
    const biqa_cmd *cmd = &biqa_root_cmd;
    add_opts(a, global_opts);
    enter(a, cmd);
    int only_positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *tok = argv[i];
        if (only_positional || tok[0] != '-' || tok[1] == '\0') {
            const biqa_cmd *sub = a->npositional == 0 ? find_sub(cmd, tok) : NULL;
            if (sub) {
                cmd = sub;
                enter(a, cmd);
                continue;
            }
            if (cmd->subs && !cmd->run && a->npositional == 0 && !biqa_flag(a, "help"))
                return biqa_usage_error(a, "unknown command '%s'", tok);
            if (a->npositional >= BIQA_MAX_ARGS)
                return biqa_usage_error(a, "too many arguments");
            a->positional[a->npositional++] = tok;
            continue;
        }
        if (strcmp(tok, "--") == 0) {
            only_positional = 1;
            continue;
        }
        const biqa_opt *o;
        const char *inline_value = NULL;
        if (tok[1] == '-') {
            const char *name = tok + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            inline_value = eq ? eq + 1 : NULL;
            o = lookup(a, name, len, 0);
        } else {
            o = tok[2] == '\0' ? lookup(a, NULL, 0, tok[1]) : NULL;
        }
        if (!o)
            return biqa_usage_error(a, "unknown option '%s'", tok);
        const char *value = "1";
        if (o->metavar) {
            if (inline_value)
                value = inline_value;
            else if (i + 1 < argc)
                value = argv[++i];
            else
                return biqa_usage_error(a, "option --%s needs a value (%s)", o->name, o->metavar);
        } else if (inline_value) {
            return biqa_usage_error(a, "option --%s takes no value", o->name);
        }
        if (store_value(a, o, value))
            return BIQA_EXIT_USAGE;
    }
    if (biqa_flag(a, "help")) {
        print_help(cmd);
        return BIQA_EXIT_OK;
    }
    biqa_cli cli = {.args = a};
    int rc = apply_globals(&cli, a);
    if (rc >= 0)
        return rc;
    if (!cmd->run) {
        if (cmd == &biqa_root_cmd) {
            print_help(cmd);
            return BIQA_EXIT_USAGE;
        }
        return biqa_usage_error(a, "'%s' needs a command", a->path);
    }
    return cmd->run(&cli);
}

int biqa_expect_args(const biqa_cli *cli, int min, int max, const char *what)
{
    int n = cli->args->npositional;
    if (n < min)
        return biqa_usage_error(cli->args, "missing %s", what);
    if (n > max)
        return biqa_usage_error(cli->args, "unexpected argument '%s'",
                                cli->args->positional[max]);
    return 0;
}

void biqa_source_dir(char *out, size_t len)
{
    const char *env = getenv("BIQA_SRC");
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
    }
    snprintf(out, len, "%s", exe[0] ? exe : ".");
}
