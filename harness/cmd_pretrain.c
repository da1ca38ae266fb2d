/* biqa pretrain: one pretraining method (methods/method.h) on an image
 * folder in the ImageNet train layout, recorded as a run of kind pretrain:
 * method, backbone, dataset (the data.pretrain knob), seed, the resolved
 * config plus a "pretrain" section naming the folder; a "loss" metrics row
 * per epoch (step = epoch, split "all"); every unreadable image as a run
 * failure; the checkpoint <db dir>/artifacts/run-ID/pretrain.safetensors
 * (the backbone, metadata {"method", "run_id"}) with its SHA-256. */
#include <cjson/cJSON.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/file.h"
#include "core/log.h"
#include "datasets/folder.h"
#include "harness/commands.h"
#include "harness/config.h"
#include "methods/method.h"
#include "results/runs.h"

typedef struct job {
    biqa_config cfg;
    int has_cfg;
    biqa_store store;
    int has_store;
    biqa_folder folder;
    biqa_backend *be;
    int64_t run;
    const char *dataset;
} job;

static double num(const job *j, const char *key) { return biqa_config_get(&j->cfg, key)->valuedouble; }
static const char *str(const job *j, const char *key) { return biqa_config_get(&j->cfg, key)->valuestring; }

/* The method config from the knobs (each method's header lists its own). */
static int fill_config(const job *j, const biqa_method *m, biqa_pretrain_config *c, biqa_error *err)
{
    memset(c, 0, sizeof *c);
    c->method = m->name;
    c->backbone = str(j, "model.backbone");
    c->seed = (uint64_t)(int64_t)num(j, "run.seed");
    c->epochs = (int)num(j, "pretrain.epochs");
    c->batch_size = (int)num(j, "pretrain.batch_size");
    c->size = (int)num(j, "qpt.patch_size");
    c->lr = num(j, "pretrain.lr");
    c->momentum = num(j, "pretrain.momentum");
    c->weight_decay = num(j, "pretrain.weight_decay");
    c->schedule = strcmp(str(j, "pretrain.schedule"), "step") ? BIQA_SCHED_COSINE : BIQA_SCHED_STEP;
    c->warmup_epochs = (int)num(j, "pretrain.warmup_epochs");
    c->queue_size = (int)num(j, "moco.queue_size");
    c->key_momentum = num(j, "moco.momentum");
    c->temperature = num(j, "moco.temperature");
    c->proj_hidden = (int)num(j, "moco.proj_hidden");
    c->proj_dim = (int)num(j, "moco.proj_dim");
    c->variants = (int)num(j, "qpt.variants");
    c->iou_min = num(j, "qpt.iou_min");
    c->iou_max = num(j, "qpt.iou_max");
    c->threads = (int)num(j, "compute.threads");
    c->run_id = j->run;
    if (m->recipe == BIQA_RECIPE_QPT && !cJSON_IsTrue(biqa_config_get(&j->cfg, "qpt.hflip")))
        return biqa_fail(err, "qpt.hflip: false is not available (the QPT recipe always flips "
                              "patches with p = 0.5, datasets/augment.h)");
    return biqa_chain_sampler_parse(str(j, "degrade.family"), (int64_t)num(j, "degrade.k"),
                                    str(j, "degrade.types"), str(j, "degrade.levels"),
                                    str(j, "degrade.order"), &c->sampler, err);
}

static int begin_run(job *j, const char *method, const char *data, biqa_error *err)
{
    char *canon = biqa_config_canonical(&j->cfg, err);
    if (!canon)
        return -1;
    cJSON *root = cJSON_Parse(canon);
    free(canon);
    if (!root)
        return biqa_fail(err, "config: out of memory");
    cJSON *p = cJSON_AddObjectToObject(root, "pretrain_run");
    cJSON_AddStringToObject(p, "method", method);
    cJSON_AddStringToObject(p, "data", data);
    cJSON_AddNumberToObject(p, "images", j->folder.nitems);
    cJSON_AddNumberToObject(p, "classes", j->folder.nclasses);
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    biqa_run_spec spec = {.kind = "pretrain", .method = method,
                          .backbone = str(j, "model.backbone"), .dataset = j->dataset,
                          .seed = (int64_t)num(j, "run.seed"), .config_json = json};
    int rc = json ? biqa_run_begin(&j->store, &spec, &j->run, err) : biqa_fail(err, "out of memory");
    cJSON_free(json);
    return rc;
}

static int sink_loss(void *ctx, int epoch, double loss, biqa_error *err)
{
    job *j = ctx;
    biqa_metric_row r = {j->dataset, "all", "loss", epoch, loss, NULL};
    return biqa_run_add_metrics(&j->store, j->run, &r, 1, err);
}

static int sink_failure(void *ctx, const char *item, const char *reason, biqa_error *err)
{
    job *j = ctx;
    return biqa_run_add_failure(&j->store, j->run, item, reason, err);
}

static int run_job(job *j, biqa_cli *cli, const biqa_method *m, const char *data, char *ckpt,
                   size_t len, biqa_error *err)
{
    if (biqa_config_from_cli(&j->cfg, cli, err) < 0)
        return -1;
    j->has_cfg = 1;
    j->dataset = str(j, "data.pretrain");
    char dflt[4096];
    if (!data) {
        snprintf(dflt, sizeof dflt, "%s/synthetic-%s/pretrain", cli->root,
                 str(j, "data.synthetic_size"));
        data = dflt;
    }
    if (biqa_folder_index(data, &j->folder, err) < 0)
        return -1;
    if (!(j->be = biqa_backend_create(str(j, "compute.backend"), (int)num(j, "compute.threads"), err)))
        return -1;
    if (biqa_store_open(&j->store, cli->db, BIQA_STORE_WRITE, err) < 0)
        return -1;
    j->has_store = 1;
    biqa_pretrain_config pc;
    if (fill_config(j, m, &pc, err) < 0 || begin_run(j, m->name, data, err) < 0)
        return -1;
    pc.run_id = j->run;
    /* about 20 progress lines per run */
    long steps = (long)pc.epochs * (j->folder.nitems / (pc.batch_size > 0 ? pc.batch_size : 1));
    pc.progress_every = steps / 20 > 1 ? (int)(steps / 20) : 1;
    char *copy = strdup(cli->db), dir[4096];
    snprintf(dir, sizeof dir, "%s/artifacts/run-%lld", copy ? dirname(copy) : ".",
             (long long)j->run);
    free(copy);
    snprintf(ckpt, len, "%s/pretrain.safetensors", dir);
    biqa_info("pretrain %s: run %lld, %d images in %d classes from %s, backbone %s", m->name,
              (long long)j->run, j->folder.nitems, j->folder.nclasses, data, pc.backbone);
    biqa_pretrain_sink sink = {.ctx = j, .epoch_loss = sink_loss, .failure = sink_failure};
    char *bytes = NULL;
    size_t n = 0;
    char sha[BIQA_SHA256_HEX_LEN];
    int rc = biqa_mkdir_p(dir, err);
    if (rc == 0)
        rc = biqa_pretrain(m, &pc, &j->folder, j->be, &sink, ckpt, err);
    if (rc == 0 && (rc = biqa_read_file(ckpt, &bytes, &n, err)) == 0) {
        biqa_sha256_hex(bytes, n, sha);
        free(bytes);
        rc = biqa_run_set_checkpoint(&j->store, j->run, ckpt, sha, err);
    }
    if (rc == 0)
        rc = biqa_run_finish(&j->store, j->run, err);
    else
        biqa_run_fail(&j->store, j->run, err->msg, NULL);
    return rc;
}

int biqa_cmd_pretrain(biqa_cli *cli)
{
    const biqa_args *a = cli->args;
    if (biqa_expect_args(cli, 0, 0, "") != 0)
        return BIQA_EXIT_USAGE;
    const char *name = biqa_arg(a, "method");
    if (!name)
        return biqa_usage_error(a, "missing --method NAME (scratch, supervised, moco, simclr, qpt)");
    const biqa_method *m = biqa_method_find(name);
    if (!m)
        return biqa_usage_error(a, "--method %s: unknown (scratch, supervised, moco, simclr, qpt)",
                                name);
    job j = {0};
    biqa_error err = {{0}};
    char ckpt[4200];
    int rc = run_job(&j, cli, m, biqa_arg(a, "data"), ckpt, sizeof ckpt, &err);
    if (rc == 0) {
        if (cli->json)
            printf("{\"run_id\": %lld, \"method\": \"%s\", \"checkpoint\": \"%s\"}\n",
                   (long long)j.run, m->name, ckpt);
        else
            printf("pretrain %s: run %lld, checkpoint %s\n", m->name, (long long)j.run, ckpt);
    } else {
        biqa_error_line("%s", err.msg);
    }
    biqa_backend_destroy(j.be);
    biqa_folder_free(&j.folder);
    if (j.has_store)
        biqa_store_close(&j.store);
    if (j.has_cfg)
        biqa_config_free(&j.cfg);
    return rc == 0 ? BIQA_EXIT_OK : BIQA_EXIT_FAIL;
}
