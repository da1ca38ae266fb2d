/* Experiment grids on Slurm: the sbatch scripts of `biqa reproduce
 * --scheduler slurm`, their submission, and the grid manifest.
 *
 * A grid lives in one directory:
 *   NAME.sbatch    one script per job (data, pretrain-METHOD, downstream-METHOD)
 *   logs/          NAME-JOBID.out, NAME-ARRAYJOB_TASK.out (appended across requeues)
 *   shards/        one SQLite results database per task (results/shard.h)
 *   grid.json      the cells, their shards and the job ids (biqa results status)
 * Each task runs `biqa --db SHARD ... reproduce --task KIND:METHOD`, which
 * resumes its interrupted run from the last snapshot, so the scripts ask
 * for --requeue: a preempted task continues where it stopped. A job waits
 * for the one before it with --dependency=afterok:ID, given to sbatch at
 * submission, so the scripts themselves name no job ids. */
#ifndef BIQA_HARNESS_SLURM_H
#define BIQA_HARNESS_SLURM_H

#include <stdio.h>

#include "core/error.h"

/* Stages: each has its own #SBATCH defaults and takes its own overrides. */
enum { BIQA_STAGE_DATA, BIQA_STAGE_PRETRAIN, BIQA_STAGE_DOWNSTREAM, BIQA_STAGES };

#define BIQA_SBATCH_MAX 32
/* #SBATCH --KEY=VALUE lines (VALUE "" for a flag such as requeue). */
typedef struct biqa_sbatch {
    char key[BIQA_SBATCH_MAX][32], value[BIQA_SBATCH_MAX][256];
    int n;
} biqa_sbatch;

/* The defaults of stage: time by profile and stage, cpus-per-task =
 * threads (4 when 0: all cores), mem by profile, gres=gpu:1 when gpu. */
void biqa_sbatch_defaults(biqa_sbatch *d, const char *profile, int stage, int gpu, int threads);
/* Applies one --sbatch option to the directives of stage: "KEY=VALUE" (all
 * stages) or "STAGE:KEY=VALUE" (data, pretrain, downstream); "KEY" alone is
 * a flag, "KEY=" removes the directive. */
int biqa_sbatch_apply(biqa_sbatch *d, int stage, const char *opt, biqa_error *err);

#define BIQA_SLURM_MAX_TASKS 16
typedef struct biqa_slurm_job {
    char name[64];  /* script NAME.sbatch, logs logs/NAME-*.out, job name PREFIX-NAME */
    int stage;
    char *task[BIQA_SLURM_MAX_TASKS]; /* shell command of each task (owned) */
    char what[BIQA_SLURM_MAX_TASKS][96]; /* one line on what it does */
    int ntasks;     /* > 1: a job array, task i is array index i */
    int after;      /* index of the job it waits for (afterok), -1: none */
    int skip;       /* its cells are finished: not submitted */
    char id[64];    /* the job id sbatch gave ("" before) */
} biqa_slurm_job;

typedef struct biqa_slurm_grid {
    char dir[4096];    /* as the user's paths are: relative to cwd or absolute */
    char cwd[4096];    /* jobs run here (#SBATCH --chdir) */
    char prefix[64];   /* "biqa-PROFILE-HASH8": job names, and how squeue finds them */
    char title[4400];  /* first comment line of every script */
    biqa_sbatch sbatch[BIQA_STAGES];
    biqa_slurm_job jobs[64];
    int njobs;
} biqa_slurm_grid;

/* Adds a job (tasks added with biqa_slurm_add_task); returns its index or -1. */
int biqa_slurm_add_job(biqa_slurm_grid *g, const char *name, int stage, int after,
                       biqa_error *err);
int biqa_slurm_add_task(biqa_slurm_grid *g, int job, const char *cmd, const char *what,
                        biqa_error *err);
void biqa_slurm_grid_free(biqa_slurm_grid *g);

/* Appends arg to the shell command line buf, single-quoted where needed. */
int biqa_shell_append(char *buf, size_t len, const char *arg);

/* The script of job j (malloc'd). */
char *biqa_slurm_script(const biqa_slurm_grid *g, int j);
/* --dry-run: the sbatch commands in submission order and every script. */
void biqa_slurm_print(const biqa_slurm_grid *g, FILE *out);
/* Refuses (-1, naming them) while jobs of the grid (job names PREFIX-*)
 * are in the queue: two attempts of one task must never write one shard. */
int biqa_slurm_check_queue(const biqa_slurm_grid *g, biqa_error *err);
/* Writes the scripts, makes logs/ and shards/, and submits every job not
 * skipped in order, with sbatch --parsable [--dependency=afterok:ID];
 * fills the jobs' ids. A failing sbatch stops it, naming the job. */
int biqa_slurm_submit(biqa_slurm_grid *g, biqa_error *err);

/* ---- grid.json: the cells of a grid and where their results go ---- */
typedef struct biqa_grid_cell {
    char task[96];     /* KIND:METHOD */
    char kind[16], method[32];
    char shard[4200];
    int runs;          /* runs when complete: the splits, 1 for pretraining */
    char job[64];      /* the job's name (biqa_slurm_job.name) */
    int index;         /* array index, -1: not an array task */
    char job_id[80];   /* "12", "13_1" ("" before submission) */
} biqa_grid_cell;

typedef struct biqa_grid_manifest {
    char dir[4096], profile[16], config_hash[65], submitted[32];
    biqa_grid_cell *cells;
    int ncells;
} biqa_grid_manifest;

int biqa_grid_save(const biqa_grid_manifest *m, biqa_error *err);
/* Reads DIR/grid.json into m (m->dir = dir). */
int biqa_grid_load(biqa_grid_manifest *m, const char *dir, biqa_error *err);
void biqa_grid_manifest_free(biqa_grid_manifest *m);

#endif
