/* biqa pretrain: one pretraining method (methods/method.h) on an image
 * folder in the ImageNet train layout, recorded as a run of kind pretrain:
 * method, backbone, dataset (the data.pretrain knob), seed, the resolved
 * config plus a "pretrain" section naming the folder; a "loss" metrics row
 * per epoch (step = epoch, split "all"); every unreadable image as a run
 * failure; the checkpoint <db less .db>.artifacts/run-ID/pretrain.safetensors
 * (the backbone, metadata {"method", "run_id"}) with its SHA-256.
 * Training snapshots go to artifacts/run-ID/snapshot.safetensors every
 * pretrain.snapshot_every steps and at every epoch end, and are removed when
 * the run finishes; --resume reuses or continues an earlier run of the same
 * config (harness/reuse.h).
 *
 * Data-parallel (compute.comm, methods/dist.h): under mpirun/srun (or
 * torchrun variables with cuda) every rank runs this command; rank 0 alone
 * opens the results store, decides the run (new, reused, resumed) and
 * tells the others, writes the checkpoint and records the run, whose
 * config then notes the world size. pretrain.batch_size is the global
 * batch. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/file.h"
#include "core/log.h"
#include "datasets/folder.h"
#include "harness/commands.h"
#include "harness/config.h"
#include "harness/reuse.h"
#include "methods/dist.h"
#include "methods/method.h"
#include "results/runs.h"

typedef struct job {
    biqa_config cfg;
    int has_cfg;
    biqa_store store;
    int has_store;
    biqa_folder folder;
    biqa_backend *be;
    biqa_dist *dist; /* NULL: one process */
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
    c->dist = j->dist;
    c->bn_splits = (int)num(j, "moco.bn_splits");
    if (m->recipe == BIQA_RECIPE_QPT && !cJSON_IsTrue(biqa_config_get(&j->cfg, "qpt.hflip")))
        return biqa_fail(err, "qpt.hflip: false is not available (the QPT recipe always flips "
                              "patches with p = 0.5, datasets/augment.h)");
    return biqa_chain_sampler_parse(str(j, "degrade.family"), (int64_t)num(j, "degrade.k"),
                                    str(j, "degrade.types"), str(j, "degrade.levels"),
                                    str(j, "degrade.order"), &c->sampler, err);
}

/* The run's config: the resolved knobs plus a "pretrain_run" section naming
 * the method and the folder (its config hash identifies the run). */
static char *run_config(const job *j, const char *method, const char *data, biqa_error *err)
{
    char *canon = biqa_config_canonical(&j->cfg, err);
    if (!canon)
        return NULL;
    cJSON *root = cJSON_Parse(canon);
    free(canon);
    if (!root) {
        biqa_fail(err, "config: out of memory");
        return NULL;
    }
    cJSON *p = cJSON_AddObjectToObject(root, "pretrain_run");
    cJSON_AddStringToObject(p, "method", method);
    cJSON_AddStringToObject(p, "data", data);
    cJSON_AddNumberToObject(p, "images", j->folder.nitems);
    cJSON_AddNumberToObject(p, "classes", j->folder.nclasses);
    if (biqa_dist_size(j->dist) > 1)
        cJSON_AddNumberToObject(p, "world_size", biqa_dist_size(j->dist));
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json)
        biqa_fail(err, "config: out of memory");
    return json;
}

/* A new run, or (--resume) the earlier run of the same config: *reused is
 * set when that one had finished (ckpt then names its checkpoint). */
static int open_run(job *j, biqa_cli *cli, const char *method, const char *data, int *reused,
                    int *resume, char *ckpt, size_t len, biqa_error *err)
{
    char *json = run_config(j, method, data, err);
    if (!json)
        return -1;
    biqa_reuse r;
    int rc = biqa_reuse_decide(&j->store, cli, "pretrain", json, "snapshot.safetensors", &r, err);
    *reused = r.kind == BIQA_REUSE_FINISHED, *resume = r.kind == BIQA_REUSE_RESUME && r.from_snapshot;
    if (rc == 0 && r.kind != BIQA_REUSE_NEW) {
        j->run = r.run;
        snprintf(ckpt, len, "%s", r.checkpoint);
    } else if (rc == 0) {
        biqa_run_spec spec = {.kind = "pretrain", .method = method,
                              .backbone = str(j, "model.backbone"), .dataset = j->dataset,
                              .seed = (int64_t)num(j, "run.seed"), .config_json = json};
        rc = biqa_run_begin(&j->store, &spec, &j->run, err);
    }
    cJSON_free(json);
    if (rc == 0)
        rc = biqa_reuse_member(&j->store, cli, j->run, *reused, err);
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

/* The setup of every rank; rank 0 also opens the store and the run, and
 * hands its decision (run id, reused, resumed) to the others. */
static int setup(job *j, biqa_cli *cli, const biqa_method *m, const char *data,
                 biqa_pretrain_config *pc, int *reused, char *ckpt, size_t len, biqa_error *err)
{
    const int lead = biqa_dist_rank(j->dist) == 0;
    int rc = biqa_folder_index(data, &j->folder, err);
    if (rc == 0 && !(j->be = biqa_backend_from_config(&j->cfg, err)))
        rc = -1;
    if (rc == 0)
        rc = biqa_dist_attach(j->dist, j->be, err);
    if (rc == 0 && lead && (rc = biqa_store_open(&j->store, cli->db, BIQA_STORE_WRITE, err)) == 0)
        j->has_store = 1;
    if (rc == 0)
        rc = fill_config(j, m, pc, err);
    if (rc == 0 && lead)
        rc = open_run(j, cli, m->name, data, reused, &pc->resume, ckpt, len, err);
    if (biqa_dist_agree(j->dist, rc, err) < 0) {
        if (j->has_store && j->run > 0 && !*reused)
            biqa_run_fail(&j->store, j->run, err->msg, NULL);
        return -1;
    }
    int64_t decision[3] = {j->run, *reused, pc->resume};
    if (biqa_dist_share(j->dist, decision, sizeof decision, err) < 0)
        return -1;
    j->run = decision[0], *reused = (int)decision[1], pc->resume = (int)decision[2];
    return 0;
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
    /* Before the backend: NCCL ranks pick their GPU first. */
    if (biqa_dist_open(str(j, "compute.comm"), str(j, "compute.backend"), &j->dist, err) < 0)
        return -1;
    const int lead = biqa_dist_rank(j->dist) == 0;
    biqa_pretrain_config pc;
    int reused = 0;
    if (setup(j, cli, m, data, &pc, &reused, ckpt, len, err) < 0)
        return -1;
    if (reused)
        return 0;
    pc.run_id = j->run;
    /* about 20 progress lines per run */
    long steps = (long)pc.epochs * (j->folder.nitems / (pc.batch_size > 0 ? pc.batch_size : 1));
    pc.progress_every = steps / 20 > 1 ? (int)(steps / 20) : 1;
    pc.snapshot_every = (int)num(j, "pretrain.snapshot_every");
    char dir[4096], snapshot[4200];
    biqa_artifact_path(cli->db, j->run, NULL, dir, sizeof dir);
    biqa_artifact_path(cli->db, j->run, "snapshot.safetensors", snapshot, sizeof snapshot);
    biqa_artifact_path(cli->db, j->run, "pretrain.safetensors", ckpt, len);
    pc.snapshot_path = m->step ? snapshot : NULL;
    biqa_info("pretrain %s: run %lld, %d images in %d classes from %s, backbone %s", m->name,
              (long long)j->run, j->folder.nitems, j->folder.nclasses, data, pc.backbone);
    biqa_pretrain_sink sink = {.ctx = j, .epoch_loss = sink_loss, .failure = sink_failure};
    char sha[BIQA_SHA256_HEX_LEN];
    int rc = biqa_dist_agree(j->dist, lead ? biqa_mkdir_p(dir, err) : 0, err);
    if (rc == 0) /* only rank 0 records */
        rc = biqa_pretrain(m, &pc, &j->folder, j->be, lead ? &sink : NULL, ckpt, err);
    const int trained = rc == 0; /* the same on every rank (agreed), unless a rank broke */
    if (lead && rc == 0 && (rc = biqa_sha256_file(ckpt, sha, NULL, err)) == 0)
        rc = biqa_run_set_checkpoint(&j->store, j->run, ckpt, sha, err);
    if (lead && rc == 0)
        rc = biqa_run_finish(&j->store, j->run, err);
    else if (lead)
        biqa_run_fail(&j->store, j->run, err->msg, NULL);
    if (trained)
        rc = biqa_dist_agree(j->dist, rc, err);
    /* The checkpoint holds what a finished run is used for; its snapshot
     * (several times its size) is only for resuming. */
    if (lead && rc == 0)
        unlink(snapshot);
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
    if (rc == 0 && biqa_dist_rank(j.dist) == 0) {
        if (cli->json)
            printf("{\"run_id\": %lld, \"method\": \"%s\", \"checkpoint\": \"%s\"}\n",
                   (long long)j.run, m->name, ckpt);
        else
            printf("pretrain %s: run %lld, checkpoint %s\n", m->name, (long long)j.run, ckpt);
    } else if (rc < 0) {
        biqa_dist_report(j.dist, &err);
    }
    /* The communicator first (it may abort the job), the backend after it. */
    biqa_dist_close(j.dist, rc < 0);
    biqa_backend_destroy(j.be);
    biqa_folder_free(&j.folder);
    if (j.has_store)
        biqa_store_close(&j.store);
    if (j.has_cfg)
        biqa_config_free(&j.cfg);
    return rc == 0 ? BIQA_EXIT_OK : BIQA_EXIT_FAIL;
}
