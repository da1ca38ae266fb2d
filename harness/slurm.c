#include "harness/slurm.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/file.h"
#include "core/log.h"
#include "results/store.h"

static const char *const stage_names[BIQA_STAGES] = {"data", "pretrain", "downstream"};

/* ---- #SBATCH directives ---------------------------------------------- */

static int sbatch_find(const biqa_sbatch *d, const char *key)
{
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->key[i], key) == 0)
            return i;
    return -1;
}

static void sbatch_set(biqa_sbatch *d, const char *key, const char *value)
{
    int i = sbatch_find(d, key);
    if (i < 0 && d->n == BIQA_SBATCH_MAX)
        return; /* biqa_sbatch_apply checks the room first */
    if (i < 0)
        i = d->n++;
    snprintf(d->key[i], sizeof d->key[i], "%s", key);
    snprintf(d->value[i], sizeof d->value[i], "%s", value);
}

void biqa_sbatch_defaults(biqa_sbatch *d, const char *profile, int stage, int gpu, int threads)
{
    /* Wall time per stage: the test profile takes seconds, demo minutes on a
     * CPU, the paper's pretraining days (DESIGN.md, Profiles). An unknown
     * profile gets generous limits; --sbatch time=... overrides any. */
    static const struct {
        const char *profile, *time[BIQA_STAGES], *mem;
    } table[] = {
        {"test", {"00:10:00", "00:15:00", "00:15:00"}, "2G"},
        {"demo", {"00:30:00", "01:00:00", "01:00:00"}, "4G"},
        {"gpu-small", {"00:30:00", "01:00:00", "01:00:00"}, "32G"},
        {"paper", {"04:00:00", "3-00:00:00", "12:00:00"}, "64G"},
        {NULL, {"01:00:00", "1-00:00:00", "04:00:00"}, "16G"},
    };
    size_t k = 0;
    while (table[k].profile && strcmp(table[k].profile, profile) != 0)
        k++;
    char cpus[16];
    snprintf(cpus, sizeof cpus, "%d", threads > 0 ? threads : 4);
    d->n = 0;
    sbatch_set(d, "time", table[k].time[stage]);
    sbatch_set(d, "cpus-per-task", cpus);
    sbatch_set(d, "mem", table[k].mem);
    if (gpu && stage != BIQA_STAGE_DATA)
        sbatch_set(d, "gres", "gpu:1");
    /* A preempted or failed-node task goes back to the queue, and its log
     * keeps what the earlier attempt wrote. */
    sbatch_set(d, "requeue", "");
    sbatch_set(d, "open-mode", "append");
}

int biqa_sbatch_apply(biqa_sbatch *d, int stage, const char *opt, biqa_error *err)
{
    const char *colon = strchr(opt, ':'), *eq = strchr(opt, '=');
    const char *key = opt;
    if (colon && (!eq || colon < eq)) {
        int s = 0;
        while (s < BIQA_STAGES && (strlen(stage_names[s]) != (size_t)(colon - opt) ||
                                   strncmp(opt, stage_names[s], (size_t)(colon - opt)) != 0))
            s++;
        if (s == BIQA_STAGES)
            return biqa_fail(err, "--sbatch %s: '%.*s' is not a stage (data, pretrain, "
                                  "downstream)", opt, (int)(colon - opt), opt);
        if (s != stage)
            return 0;
        key = colon + 1;
    }
    size_t klen = eq ? (size_t)(eq - key) : strlen(key);
    char k[32];
    if (klen == 0 || klen >= sizeof k)
        return biqa_fail(err, "--sbatch %s: no option name before '='", opt);
    for (size_t i = 0; i < klen; i++)
        if (!islower((unsigned char)key[i]) && !isdigit((unsigned char)key[i]) && key[i] != '-')
            return biqa_fail(err, "--sbatch %s: '%.*s' is not an sbatch long option name "
                                  "(like time, mem, partition)", opt, (int)klen, key);
    memcpy(k, key, klen);
    k[klen] = '\0';
    static const char *const reserved[] = {"job-name", "output", "error", "chdir", "array",
                                           "dependency", "parsable"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(k, reserved[i]) == 0)
            return biqa_fail(err, "--sbatch %s: biqa sets --%s itself", opt, k);
    const char *value = eq ? eq + 1 : "";
    if (strlen(value) >= sizeof d->value[0] || strpbrk(value, " \t\n\"'"))
        return biqa_fail(err, "--sbatch %s: the value must be one word shorter than %zu "
                              "characters", opt, sizeof d->value[0]);
    int i = sbatch_find(d, k);
    if (eq && !*value) { /* KEY=: drop the directive */
        if (i >= 0) {
            d->n--;
            memmove(d->key[i], d->key[i + 1], (size_t)(d->n - i) * sizeof d->key[0]);
            memmove(d->value[i], d->value[i + 1], (size_t)(d->n - i) * sizeof d->value[0]);
        }
        return 0;
    }
    if (i < 0 && d->n == BIQA_SBATCH_MAX)
        return biqa_fail(err, "--sbatch %s: more than %d directives", opt, BIQA_SBATCH_MAX);
    sbatch_set(d, k, value);
    return 0;
}

/* ---- jobs and scripts ------------------------------------------------- */

int biqa_slurm_add_job(biqa_slurm_grid *g, const char *name, int stage, int after,
                       biqa_error *err)
{
    if (g->njobs == (int)(sizeof g->jobs / sizeof g->jobs[0]))
        return biqa_fail(err, "a grid of more than %d jobs", g->njobs);
    biqa_slurm_job *j = &g->jobs[g->njobs];
    memset(j, 0, sizeof *j);
    snprintf(j->name, sizeof j->name, "%s", name);
    j->stage = stage, j->after = after;
    return g->njobs++;
}

int biqa_slurm_add_task(biqa_slurm_grid *g, int job, const char *cmd, const char *what,
                        biqa_error *err)
{
    biqa_slurm_job *j = &g->jobs[job];
    if (j->ntasks == BIQA_SLURM_MAX_TASKS)
        return biqa_fail(err, "job %s: more than %d tasks", j->name, BIQA_SLURM_MAX_TASKS);
    if (!(j->task[j->ntasks] = strdup(cmd)))
        return biqa_fail(err, "out of memory");
    snprintf(j->what[j->ntasks++], sizeof j->what[0], "%s", what);
    return 0;
}

void biqa_slurm_grid_free(biqa_slurm_grid *g)
{
    for (int j = 0; j < g->njobs; j++)
        for (int t = 0; t < g->jobs[j].ntasks; t++)
            free(g->jobs[j].task[t]);
    g->njobs = 0;
}

int biqa_shell_append(char *buf, size_t len, const char *arg)
{
    size_t used = strlen(buf);
    int plain = *arg != '\0';
    for (const char *p = arg; *p && plain; p++)
        plain = isalnum((unsigned char)*p) || strchr("@%+=:,./_-", *p);
    char quoted[8192];
    size_t q = 0;
    if (plain) {
        q = (size_t)snprintf(quoted, sizeof quoted, "%s", arg);
    } else { /* '...' with every ' written as '\'' */
        quoted[q++] = '\'';
        for (const char *p = arg; *p && q + 5 < sizeof quoted; p++) {
            if (*p == '\'') {
                memcpy(quoted + q, "'\\''", 4);
                q += 4;
            } else {
                quoted[q++] = *p;
            }
        }
        quoted[q++] = '\'';
        quoted[q] = '\0';
    }
    if (q >= sizeof quoted - 1 || used + (used > 0) + q >= len)
        return -1;
    snprintf(buf + used, len - used, "%s%s", used ? " " : "", quoted);
    return 0;
}

static void script_path(const biqa_slurm_grid *g, int j, char *out, size_t len)
{
    snprintf(out, len, "%s/%s.sbatch", g->dir, g->jobs[j].name);
}

/* A growing text buffer; appending after a failed allocation is a no-op
 * and the caller sees NULL at the end. */
typedef struct text {
    char *s;
    size_t n, cap;
    int failed;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if (t->s && t->n + (size_t)n < t->cap) {
            t->n += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)n;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->failed = 1;
            return;
        }
        t->s = s, t->cap = cap;
    }
}

static char *finish(text *t)
{
    if (t->failed) {
        free(t->s);
        return NULL;
    }
    return t->s;
}

char *biqa_slurm_script(const biqa_slurm_grid *g, int j)
{
    const biqa_slurm_job *job = &g->jobs[j];
    const int array = job->ntasks > 1;
    text t = {0};
    add(&t, "#!/bin/bash\n# %s\n", g->title);
    for (int i = 0; i < job->ntasks; i++) {
        if (array)
            add(&t, "# array task %d: %s\n", i, job->what[i]);
        else
            add(&t, "# %s\n", job->what[i]);
    }
    add(&t, "# A task resumes (--resume) what an earlier attempt left in its shard, so a\n"
            "# requeued job continues from its last snapshot.\n");
    add(&t, "#SBATCH --job-name=%s-%s\n", g->prefix, job->name);
    add(&t, "#SBATCH --output=%s/logs/%s-%s.out\n", g->dir, job->name, array ? "%A_%a" : "%j");
    add(&t, "#SBATCH --chdir=%s\n", g->cwd);
    if (array)
        add(&t, "#SBATCH --array=0-%d\n", job->ntasks - 1);
    const biqa_sbatch *d = &g->sbatch[job->stage];
    for (int i = 0; i < d->n; i++)
        add(&t, "#SBATCH --%s%s%s\n", d->key[i], d->value[i][0] ? "=" : "", d->value[i]);
    add(&t, "set -eu\n");
    if (!array) {
        add(&t, "exec %s\n", job->task[0]);
        return finish(&t);
    }
    add(&t, "case \"$SLURM_ARRAY_TASK_ID\" in\n");
    for (int i = 0; i < job->ntasks; i++)
        add(&t, "%d) exec %s ;;\n", i, job->task[i]);
    add(&t, "*) echo \"biqa: error: $0 has no array task $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\n"
            "esac\n");
    return finish(&t);
}

void biqa_slurm_print(const biqa_slurm_grid *g, FILE *out)
{
    char path[4200];
    int tasks = 0, submitted = 0;
    for (int j = 0; j < g->njobs; j++)
        if (!g->jobs[j].skip)
            submitted++, tasks += g->jobs[j].ntasks;
    fprintf(out, "# %s\n# dry run: nothing is written or submitted. %d jobs (%d tasks) would "
                 "be submitted in this order, <NAME> standing for the id sbatch gives job NAME:\n",
            g->title, submitted, tasks);
    for (int j = 0; j < g->njobs; j++) {
        const biqa_slurm_job *job = &g->jobs[j];
        script_path(g, j, path, sizeof path);
        if (job->skip) {
            fprintf(out, "# %s: skipped, every cell it runs has finished\n", job->name);
            continue;
        }
        fprintf(out, "sbatch --parsable");
        if (job->after >= 0 && !g->jobs[job->after].skip)
            fprintf(out, " --dependency=afterok:<%s>", g->jobs[job->after].name);
        fprintf(out, " %s\n", path);
    }
    for (int j = 0; j < g->njobs; j++) {
        if (g->jobs[j].skip)
            continue;
        char *s = biqa_slurm_script(g, j);
        script_path(g, j, path, sizeof path);
        fprintf(out, "\n# ==> %s <==\n%s", path, s ? s : "(out of memory)\n");
        free(s);
    }
}

/* ---- running sbatch and squeue ---------------------------------------- */

/* Runs argv (found on PATH) with stdout captured into out; stderr passes
 * through to the user. Returns the exit status (127: not found), -1 when
 * it could not be started. */
static int run_capture(const char *const *argv, char *out, size_t len, biqa_error *err)
{
    int fd[2];
    if (pipe(fd) < 0)
        return biqa_fail(err, "%s: pipe: %s", argv[0], strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]), close(fd[1]);
        return biqa_fail(err, "%s: fork: %s", argv[0], strerror(errno));
    }
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]), close(fd[1]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t got;
    char sink[512];
    while ((got = read(fd[0], n + 1 < len ? out + n : sink,
                       n + 1 < len ? len - 1 - n : sizeof sink)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        if (n + 1 < len)
            n += (size_t)got;
    }
    out[n] = '\0';
    close(fd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return biqa_fail(err, "%s: waitpid: %s", argv[0], strerror(errno));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int biqa_slurm_check_queue(const biqa_slurm_grid *g, biqa_error *err)
{
    static const char *const argv[] = {"squeue", "--noheader", "--me",
                                       "--format=%i|%j|%T|%r", NULL};
    char out[65536];
    int st = run_capture(argv, out, sizeof out, err);
    if (st < 0)
        return -1;
    if (st != 0)
        return biqa_fail(err, "squeue exited with status %d%s: cannot tell whether jobs of "
                              "grid %s are still queued", st,
                         st == 127 ? " (not found: is Slurm's client installed?)" : "", g->dir);
    char found[900] = "", ids[300] = "";
    size_t plen = strlen(g->prefix);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char *f[4] = {line, NULL, NULL, NULL};
        for (int i = 1; i < 4 && f[i - 1]; i++)
            if ((f[i] = strchr(f[i - 1], '|')))
                *f[i]++ = '\0';
        if (!f[3] || strncmp(f[1], g->prefix, plen) != 0 || f[1][plen] != '-')
            continue;
        size_t n = strlen(found);
        snprintf(found + n, sizeof found - n, "%s%s %s (%s, %s)", n ? ", " : "", f[0],
                 f[1] + plen + 1, f[2], f[3]);
        n = strlen(ids);
        snprintf(ids + n, sizeof ids - n, " %s", f[0]);
    }
    if (found[0])
        return biqa_fail(err, "grid %s has jobs in the queue: %s; wait for them, or cancel "
                              "them (scancel%s), before submitting it again",
                         g->dir, found, ids);
    return 0;
}

/* The job id in sbatch --parsable output: "ID" or "ID;CLUSTER". */
static int parse_job_id(const char *out, char *id, size_t len)
{
    size_t n = strspn(out, "0123456789");
    if (n == 0 || n >= len || (out[n] && out[n] != ';' && out[n] != '\n'))
        return -1;
    memcpy(id, out, n);
    id[n] = '\0';
    return 0;
}

static int check_sbatch_path(const char *what, const char *path, biqa_error *err)
{
    if (strpbrk(path, " \t\n\"'\\%"))
        return biqa_fail(err, "%s %s: #SBATCH lines cannot carry spaces, quotes, '\\' or '%%': "
                              "use a path without them", what, path);
    return 0;
}

int biqa_slurm_submit(biqa_slurm_grid *g, biqa_error *err)
{
    char path[4200];
    if (check_sbatch_path("grid directory", g->dir, err) < 0 ||
        check_sbatch_path("working directory", g->cwd, err) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/logs", g->dir);
    if (biqa_mkdir_p(path, err) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/shards", g->dir);
    if (biqa_mkdir_p(path, err) < 0)
        return -1;
    for (int j = 0; j < g->njobs; j++) {
        char *s = biqa_slurm_script(g, j);
        script_path(g, j, path, sizeof path);
        int rc = s ? biqa_write_file_atomic(path, s, strlen(s), err)
                   : biqa_fail(err, "%s: out of memory", path);
        free(s);
        if (rc < 0)
            return -1;
    }
    for (int j = 0; j < g->njobs; j++) {
        biqa_slurm_job *job = &g->jobs[j];
        if (job->skip)
            continue;
        char dep[128] = "";
        if (job->after >= 0 && !g->jobs[job->after].skip)
            snprintf(dep, sizeof dep, "--dependency=afterok:%s", g->jobs[job->after].id);
        script_path(g, j, path, sizeof path);
        const char *argv[5] = {"sbatch", "--parsable"};
        int argc = 2;
        if (dep[0])
            argv[argc++] = dep;
        argv[argc++] = path;
        argv[argc] = NULL;
        char out[4096];
        int st = run_capture(argv, out, sizeof out, err);
        if (st < 0)
            return -1;
        if (st != 0 || parse_job_id(out, job->id, sizeof job->id) < 0)
            return biqa_fail(err, "sbatch %s%s%s: %s", dep, dep[0] ? " " : "", path,
                             st == 127 ? "sbatch not found (is Slurm's client installed?)"
                             : st ? "it failed (its message is above)"
                                  : "no job id in its output");
        biqa_info("submitted %s: job %s%s%s", job->name, job->id, dep[0] ? ", after " : "",
                  dep[0] ? g->jobs[job->after].id : "");
    }
    return 0;
}

/* ---- grid.json -------------------------------------------------------- */

int biqa_grid_save(const biqa_grid_manifest *m, biqa_error *err)
{
    cJSON *root = cJSON_CreateObject(), *cells = cJSON_AddArrayToObject(root, "cells");
    cJSON_AddStringToObject(root, "profile", m->profile);
    cJSON_AddStringToObject(root, "config_hash", m->config_hash);
    cJSON_AddStringToObject(root, "submitted", m->submitted);
    for (int i = 0; i < m->ncells; i++) {
        const biqa_grid_cell *c = &m->cells[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "task", c->task);
        cJSON_AddStringToObject(o, "kind", c->kind);
        cJSON_AddStringToObject(o, "method", c->method);
        cJSON_AddStringToObject(o, "shard", c->shard);
        cJSON_AddNumberToObject(o, "runs", c->runs);
        cJSON_AddStringToObject(o, "job", c->job);
        cJSON_AddNumberToObject(o, "index", c->index);
        cJSON_AddStringToObject(o, "job_id", c->job_id);
        cJSON_AddItemToArray(cells, o);
    }
    char *json = cJSON_Print(root);
    cJSON_Delete(root);
    char path[4200];
    snprintf(path, sizeof path, "%s/grid.json", m->dir);
    int rc = json ? biqa_write_file_atomic(path, json, strlen(json), err)
                  : biqa_fail(err, "%s: out of memory", path);
    cJSON_free(json);
    return rc;
}

static int get_string(const cJSON *o, const char *key, char *out, size_t len, const char *path,
                      biqa_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= len)
        return biqa_fail(err, "%s: field %s is missing or not a short string", path, key);
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
}

static int get_int(const cJSON *o, const char *key, int *out, const char *path, biqa_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        return biqa_fail(err, "%s: field %s is missing or not a number", path, key);
    *out = v->valueint;
    return 0;
}

int biqa_grid_load(biqa_grid_manifest *m, const char *dir, biqa_error *err)
{
    memset(m, 0, sizeof *m);
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    char path[4200], *data;
    size_t len;
    snprintf(path, sizeof path, "%s/grid.json", dir);
    if (biqa_read_file(path, &data, &len, err) < 0)
        return -1;
    cJSON *root = cJSON_Parse(data);
    free(data);
    const cJSON *cells = cJSON_GetObjectItemCaseSensitive(root, "cells");
    int rc = root && cJSON_IsArray(cells) ? 0 : biqa_fail(err, "%s: not a grid manifest", path);
    if (rc == 0)
        rc = get_string(root, "profile", m->profile, sizeof m->profile, path, err);
    if (rc == 0)
        rc = get_string(root, "config_hash", m->config_hash, sizeof m->config_hash, path, err);
    if (rc == 0)
        rc = get_string(root, "submitted", m->submitted, sizeof m->submitted, path, err);
    if (rc == 0 && !(m->cells = calloc((size_t)cJSON_GetArraySize(cells) + 1, sizeof *m->cells)))
        rc = biqa_fail(err, "%s: out of memory", path);
    const cJSON *o, *list = rc == 0 ? cells : NULL;
    cJSON_ArrayForEach(o, list)
    {
        biqa_grid_cell *c = &m->cells[m->ncells];
        if ((rc = get_string(o, "task", c->task, sizeof c->task, path, err)) < 0 ||
            (rc = get_string(o, "kind", c->kind, sizeof c->kind, path, err)) < 0 ||
            (rc = get_string(o, "method", c->method, sizeof c->method, path, err)) < 0 ||
            (rc = get_string(o, "shard", c->shard, sizeof c->shard, path, err)) < 0 ||
            (rc = get_int(o, "runs", &c->runs, path, err)) < 0 ||
            (rc = get_string(o, "job", c->job, sizeof c->job, path, err)) < 0 ||
            (rc = get_int(o, "index", &c->index, path, err)) < 0 ||
            (rc = get_string(o, "job_id", c->job_id, sizeof c->job_id, path, err)) < 0)
            break;
        m->ncells++;
    }
    cJSON_Delete(root);
    if (rc < 0)
        biqa_grid_manifest_free(m);
    return rc;
}

void biqa_grid_manifest_free(biqa_grid_manifest *m)
{
    free(m->cells);
    m->cells = NULL;
    m->ncells = 0;
}
