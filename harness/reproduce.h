/* biqa reproduce: the stages of a profile's pipeline, shared by its three
 * ways of running (harness/cmd_reproduce.c):
 *   local            every stage in this process, into --db, then the table
 *   --task K:M       one cell of the grid into --db (a shard): what a Slurm
 *                    array task runs
 *   --scheduler slurm  the grid as sbatch jobs of such tasks
 *                    (harness/reproduce_grid.c, harness/slurm.h) */
#ifndef BIQA_HARNESS_REPRODUCE_H
#define BIQA_HARNESS_REPRODUCE_H

#include "harness/cli.h"
#include "harness/config.h"

/* The downstream protocols every pretrained backbone goes through. */
#define BIQA_DOWNSTREAM_KINDS 2
extern const char *const biqa_downstream_kinds[BIQA_DOWNSTREAM_KINDS];

/* Submits (or with --dry-run prints) the grid of cfg as Slurm jobs;
 * canon is cfg's canonical JSON. Returns an exit code. */
int biqa_reproduce_slurm(biqa_cli *cli, const biqa_config *cfg, const char *canon);

#endif
