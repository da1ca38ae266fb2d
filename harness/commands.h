/* Handlers of the commands that have landed (one file each). */
#ifndef BIQA_HARNESS_COMMANDS_H
#define BIQA_HARNESS_COMMANDS_H

#include "harness/cli.h"

int biqa_cmd_score(biqa_cli *cli);
int biqa_cmd_datasets_make(biqa_cli *cli);
int biqa_cmd_datasets_list(biqa_cli *cli);
int biqa_cmd_datasets_info(biqa_cli *cli);
int biqa_cmd_datasets_fetch(biqa_cli *cli);
int biqa_cmd_datasets_verify(biqa_cli *cli);
int biqa_cmd_datasets_import(biqa_cli *cli);
int biqa_cmd_tables(biqa_cli *cli);
int biqa_cmd_figures(biqa_cli *cli);
int biqa_cmd_runs_list(biqa_cli *cli);
int biqa_cmd_runs_show(biqa_cli *cli);
int biqa_cmd_query(biqa_cli *cli);
int biqa_cmd_config_show(biqa_cli *cli);
int biqa_cmd_model_forward(biqa_cli *cli);
int biqa_cmd_bench_score(biqa_cli *cli);
int biqa_cmd_bench_train_step(biqa_cli *cli);
int biqa_cmd_degrade_apply(biqa_cli *cli);
int biqa_cmd_degrade_space(biqa_cli *cli);
int biqa_cmd_degrade_sheet(biqa_cli *cli);
int biqa_cmd_bench_degrade(biqa_cli *cli);
int biqa_cmd_bench_loader(biqa_cli *cli);
int biqa_cmd_finetune(biqa_cli *cli);
int biqa_cmd_probe(biqa_cli *cli);
int biqa_cmd_eval(biqa_cli *cli);
int biqa_cmd_reproduce(biqa_cli *cli);
int biqa_cmd_pretrain(biqa_cli *cli);

/* Usage error unless the command got between min and max positional args. */
int biqa_expect_args(const biqa_cli *cli, int min, int max, const char *what);

#endif
